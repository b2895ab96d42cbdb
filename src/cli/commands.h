#pragma once
// The strata subcommands. Each lives in its own cmd_<name>.cpp, parses its own flags
// (CLI11) and returns the process exit code.
#include <functional>
#include <string_view>
#include <vector>

namespace strata::cli {

struct Command {
  std::string_view name;
  std::string_view summary;
  std::function<int(int argc, char** argv)> run;  // argv[0] is "strata <name>"
};

int run_command(int argc, char** argv);  // strata run
int serve_command(int argc, char** argv);
int bench_command(int argc, char** argv);          // dispatches `bench offline` and `bench serve`
int bench_offline_command(int argc, char** argv);  // strata bench offline (cmd_bench_offline.cpp)
int bench_serve_command(int argc, char** argv);    // strata bench serve (cmd_bench_serve.cpp)
int tokenize_command(int argc, char** argv);
int chat_template_command(int argc, char** argv);
int make_model_command(int argc, char** argv);

}  // namespace strata::cli
