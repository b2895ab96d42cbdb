#pragma once
// Splits a template into text and tag tokens with jinja2's whitespace rules as Hugging
// Face configures them (trim_blocks, lstrip_blocks, `-`/`+` modifiers, comments and raw
// blocks resolved here), so the parser only sees data and expression tokens.
#include <string>
#include <vector>

namespace strata::jinja {

enum class TokenType { Data, BlockBegin, BlockEnd, VarBegin, VarEnd, Name, String, Int, Float, Op, End };

struct Token {
  TokenType type;
  std::string text;  // string literals: already unescaped
  int line = 0;
  int column = 0;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

std::vector<Token> tokenize(const std::string& source, const LexerOptions& options = {});

}  // namespace strata::jinja
