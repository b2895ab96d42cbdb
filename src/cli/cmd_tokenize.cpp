// strata tokenize -m MODEL_OR_TOKENIZER [TEXT]: prints the token ids of TEXT (or of stdin).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "tokenizer/tokenizer.h"

namespace strata::cli {

namespace {

struct TokenizeOptions {
  std::string model;
  std::optional<std::string> text;
  bool json = false;
  bool no_special = false;        // do not add bos/eos
  bool no_parse_special = false;  // "<|im_start|>" etc. are plain text
};

void print_ids(const std::vector<int32_t>& ids) {
  for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
  std::cout << "\n";
}

void print_json(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    // The token's text as it reads after its predecessor (SentencePiece strips the space
    // of a first token only); a partial UTF-8 character shows as U+FFFD.
    std::string piece = tok.decode_bytes(std::span(ids).subspan(i, 1), false);
    if (i > 0) {
      const std::string before = tok.decode_bytes(std::span(ids).subspan(i - 1, 1), false);
      const std::string both = tok.decode_bytes(std::span(ids).subspan(i - 1, 2), false);
      if (both.compare(0, before.size(), before) == 0) piece = both.substr(before.size());
    }
    out.push_back({{"id", ids[i]}, {"piece", piece}});
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

int tokenize_command(int argc, char** argv) {
  CLI::App app{"Print the token ids of a text (from the argument, or stdin when absent)."};
  TokenizeOptions o;
  app.add_option("-m,--model", o.model, "GGUF model, tokenizer.json, or a directory holding one")->required();
  app.add_option("text", o.text, "text to tokenize (default: read stdin)");
  app.add_flag("--json", o.json, R"(print [{"id":..,"piece":".."},...])");
  app.add_flag("--no-special", o.no_special, "do not add the model's bos/eos tokens");
  app.add_flag("--no-parse-special", o.no_parse_special, "tokenize special-token text as plain text");
  CLI11_PARSE(app, argc, argv);

  const std::string text = o.text ? *o.text
                                  : std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  const auto tokenizer = Tokenizer::load(o.model);
  const auto ids = tokenizer->encode(text, !o.no_special, !o.no_parse_special);
  if (o.json) print_json(*tokenizer, ids);
  else print_ids(ids);
  return 0;
}

}  // namespace strata::cli
