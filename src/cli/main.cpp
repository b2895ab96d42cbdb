// strata: one binary, several subcommands.
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

namespace {

const std::vector<strata::cli::Command>& commands() {
  using namespace strata::cli;
  static const std::vector<Command> table = {
      {"run", "generate from a prompt, or chat interactively", run_command},
      {"serve", "OpenAI-compatible HTTP server with a web chat page", serve_command},
      {"bench", "prompt-processing and generation throughput", bench_command},
      {"tokenize", "print the token ids of a text", tokenize_command},
      {"chat-template", "render a chat template on messages", chat_template_command},
      {"make-model", "write a random-weight model file (tests, benchmarks)", make_model_command},
  };
  return table;
}

void usage() {
  std::cerr << "usage: strata <command> [options]\n\ncommands:\n";
  for (const auto& c : commands()) std::cerr << "  " << c.name << std::string(16 - c.name.size(), ' ') << c.summary << "\n";
  std::cerr << "\n'strata <command> --help' describes a command's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : commands()) {
    if (c.name == argv[1]) {
      std::string name = std::string("strata ") + argv[1];
      argv[1] = name.data();
      try {
        return c.run(argc - 1, argv + 1);
      } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
      }
    }
  }
  std::cerr << "strata: unknown command '" << argv[1] << "'\n";
  usage();
  return 2;
}
