#include "chat_template/jinja_lexer.h"

#include "core/utf8_append.h"

#include <cstdint>
#include <cctype>
#include <cstring>

#include "chat_template/jinja_error.h"

namespace strata::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }


// jinja2 normalizes every newline to \n and drops one trailing newline.
std::string normalize_source(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(const std::string& source, const LexerOptions& options)
      : src_(normalize_source(source)), options_(options) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      size_t start = find_tag_start(pos_);
      if (start == std::string::npos) {
        emit_data(src_.substr(pos_), line_);
        break;
      }
      lex_tag(start);
    }
    out_.push_back({TokenType::End, "", line_, 0});
    return std::move(out_);
  }

 private:
  size_t find_tag_start(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void advance_to(size_t new_pos) {
    for (size_t i = pos_; i < new_pos && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line_;
        line_start_ = i + 1;
      }
    }
    pos_ = new_pos;
  }

  int column() const { return static_cast<int>(pos_ - line_start_) + 1; }

  void emit_data(std::string text, int line) {
    if (!text.empty()) out_.push_back({TokenType::Data, std::move(text), line, 0});
  }

  // lstrip_blocks: drop spaces between the line's start and a block or comment tag.
  std::string lstrip_text(std::string text) const {
    size_t l_pos = text.rfind('\n');
    l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
    if (l_pos == 0 && !line_starting_) return text;
    if (l_pos == text.size()) return text;
    for (size_t i = l_pos; i < text.size(); ++i)
      if (!is_space(text[i])) return text;
    return text.substr(0, l_pos);
  }

  bool looks_like_raw(size_t after_modifier) const {
    size_t i = after_modifier;
    while (i < src_.size() && is_space(src_[i])) ++i;
    if (src_.compare(i, 3, "raw") != 0) return false;
    i += 3;
    if (i < src_.size() && is_name_char(src_[i])) return false;
    while (i < src_.size() && is_space(src_[i])) ++i;
    return src_.compare(i, 2, "%}") == 0 || src_.compare(i, 3, "-%}") == 0;
  }

  void lex_tag(size_t start) {
    char kind = src_[start + 1];
    char modifier = start + 2 < src_.size() ? src_[start + 2] : '\0';
    if (modifier != '-' && modifier != '+') modifier = '\0';
    std::string text = src_.substr(pos_, start - pos_);
    if (modifier == '-') {
      size_t end = text.size();
      while (end > 0 && is_space(text[end - 1])) --end;
      text.resize(end);
    } else if (modifier == '\0' && options_.lstrip_blocks && kind != '{') {
      text = lstrip_text(std::move(text));
    }
    emit_data(std::move(text), line_);
    advance_to(start + 2 + (modifier ? 1 : 0));
    if (kind == '#') {
      lex_comment();
    } else if (kind == '%' && looks_like_raw(pos_)) {
      lex_raw();
    } else {
      lex_expression(kind == '%');
    }
  }

  // After a closing tag: '-' strips all following whitespace, trim_blocks one newline.
  void finish_close(size_t close_end, bool strip, bool trim_newline) {
    size_t p = close_end;
    if (strip) {
      while (p < src_.size() && is_space(src_[p])) ++p;
    } else if (trim_newline && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    line_starting_ = p > 0 && src_[p - 1] == '\n';
    advance_to(p);
  }

  void lex_comment() {
    size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) throw syntax_error(line_, column(), "missing end of comment tag");
    bool strip = end > pos_ && src_[end - 1] == '-';
    finish_close(end + 2, strip, options_.trim_blocks);
  }

  void lex_raw() {
    size_t close = src_.find("%}", pos_);
    bool strip = src_[close - 1] == '-';
    finish_close(close + 2, strip, false);
    for (size_t i = src_.find("{%", pos_); i != std::string::npos; i = src_.find("{%", i + 2)) {
      size_t j = i + 2;
      char modifier = (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) ? src_[j++] : '\0';
      while (j < src_.size() && is_space(src_[j])) ++j;
      if (src_.compare(j, 6, "endraw") != 0) continue;
      j += 6;
      while (j < src_.size() && is_space(src_[j])) ++j;
      bool end_strip = src_.compare(j, 3, "-%}") == 0;
      if (!end_strip && src_.compare(j, 2, "%}") != 0) continue;
      std::string text = src_.substr(pos_, i - pos_);
      if (modifier == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (modifier == '\0' && options_.lstrip_blocks) {
        text = lstrip_text(std::move(text));
      }
      emit_data(std::move(text), line_);
      advance_to(i);
      finish_close(j + (end_strip ? 3 : 2), end_strip, options_.trim_blocks);
      return;
    }
    throw syntax_error(line_, column(), "missing endraw for raw block");
  }

  void lex_expression(bool block) {
    out_.push_back({block ? TokenType::BlockBegin : TokenType::VarBegin, "", line_, column()});
    int depth = 0;
    const char* close = block ? "%}" : "}}";
    while (true) {
      size_t p = pos_;
      while (p < src_.size() && is_space(src_[p])) ++p;
      advance_to(p);
      if (pos_ >= src_.size())
        throw syntax_error(line_, column(), std::string("unexpected end of template, expected '") + close + "'");
      if (depth == 0) {
        bool dash = src_[pos_] == '-' && src_.compare(pos_ + 1, 2, close) == 0;
        if (dash || src_.compare(pos_, 2, close) == 0) {
          out_.push_back({block ? TokenType::BlockEnd : TokenType::VarEnd, "", line_, column()});
          finish_close(pos_ + (dash ? 3 : 2), dash, block && options_.trim_blocks);
          return;
        }
      }
      lex_token(depth);
    }
  }

  void lex_token(int& depth) {
    char c = src_[pos_];
    int line = line_, col = column();
    if (is_name_start(c)) {
      size_t e = pos_;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      out_.push_back({TokenType::Name, src_.substr(pos_, e - pos_), line, col});
      advance_to(e);
    } else if (is_digit(c)) {
      lex_number(line, col);
    } else if (c == '\'' || c == '"') {
      lex_string(c, line, col);
    } else {
      lex_operator(depth, line, col);
    }
  }

  void lex_number(int line, int col) {
    size_t e = pos_;
    auto digits = [&] { while (e < src_.size() && (is_digit(src_[e]) || src_[e] == '_')) ++e; };
    digits();
    bool is_float = false;
    bool after_dot = pos_ > 0 && src_[pos_ - 1] == '.';
    if (!after_dot && e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
      ++e;
      digits();
      is_float = true;
    }
    if (!after_dot && e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && is_digit(src_[x])) {
        e = x;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = pos_; i < e; ++i)
      if (src_[i] != '_') text += src_[i];
    out_.push_back({is_float ? TokenType::Float : TokenType::Int, text, line, col});
    advance_to(e);
  }

  uint32_t read_hex(size_t& i, int n) {
    uint32_t v = 0;
    for (int k = 0; k < n; ++k, ++i) {
      char c = i < src_.size() ? src_[i] : '\0';
      int digit = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (digit < 0) throw syntax_error(line_, column(), "truncated \\x/\\u escape in string literal");
      v = v * 16 + static_cast<uint32_t>(digit);
    }
    if (v > 0x10FFFF) throw syntax_error(line_, column(), "invalid unicode escape in string literal");
    return v;
  }

  void lex_string(char quote, int line, int col) {
    std::string value;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= src_.size()) throw syntax_error(line, col, "unterminated string literal");
      char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) throw syntax_error(line, col, "unterminated string literal");
      char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case 'a': value += '\a'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;
        case 'x': append_utf8(value, read_hex(i, 2)); break;
        case 'u': append_utf8(value, read_hex(i, 4)); break;
        case 'U': append_utf8(value, read_hex(i, 8)); break;
        default: value += '\\'; value += e;
      }
    }
    out_.push_back({TokenType::String, std::move(value), line, col});
    advance_to(i + 1);
  }

  void lex_operator(int& depth, int line, int col) {
    static const char* const kTwoChar[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : kTwoChar) {
      if (src_.compare(pos_, 2, op) == 0) {
        out_.push_back({TokenType::Op, op, line, col});
        advance_to(pos_ + 2);
        return;
      }
    }
    char c = src_[pos_];
    if (!std::strchr("+-*/%~<>=()[]{},.:|", c))
      throw syntax_error(line, col, std::string("unexpected character '") + c + "'");
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') {
      if (depth == 0) throw syntax_error(line, col, std::string("unexpected '") + c + "'");
      --depth;
    }
    out_.push_back({TokenType::Op, std::string(1, c), line, col});
    advance_to(pos_ + 1);
  }

  std::string src_;
  LexerOptions options_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const LexerOptions& options) {
  return Lexer(source, options).run();
}

}  // namespace strata::jinja
