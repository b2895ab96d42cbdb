#pragma once
// The expression half of the template parser (jinja2's grammar and operator precedence),
// plus the token cursor both halves share. Nesting is bounded (kMaxNesting) so hostile
// input cannot exhaust the stack.
#include <string>
#include <vector>

#include "chat_template/jinja_ast.h"
#include "chat_template/jinja_error.h"
#include "chat_template/jinja_lexer.h"

namespace strata::jinja {

inline constexpr int kMaxNesting = 200;

ExprPtr make_expr(ExprKind kind, int line);

class ExprParser {
 public:
  explicit ExprParser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

 protected:
  // RAII guard for the nesting limit.
  struct DepthGuard {
    ExprParser& p;
    explicit DepthGuard(ExprParser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.fail(p.peek(), "template nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  const Token& peek(size_t k = 0) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = peek();
    if (i_ < toks_.size() - 1) ++i_;
    return t;
  }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).type == TokenType::Op && peek(k).text == op; }
  bool is_name(const char* name, size_t k = 0) const {
    return peek(k).type == TokenType::Name && peek(k).text == name;
  }
  [[noreturn]] void fail(const Token& t, const std::string& message) const {
    throw syntax_error(t.line, t.column, message);
  }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(peek(), std::string("expected '") + op + "', got " + describe(peek()));
    next();
  }
  std::string expect_name() {
    if (peek().type != TokenType::Name) fail(peek(), "expected a name, got " + describe(peek()));
    return next().text;
  }
  void expect_block_end() {
    if (peek().type != TokenType::BlockEnd) fail(peek(), "expected end of statement block, got " + describe(peek()));
    next();
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::End: return "end of template";
      case TokenType::BlockEnd: return "'%}'";
      case TokenType::VarEnd: return "'}}'";
      case TokenType::Data: return "text";
      default: return "'" + t.text + "'";
    }
  }

  // Parses statements until a block tag whose name is in `end_names`; consumes that name.

  bool at_tuple_end() const;
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens = false);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right, int line);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr literal(Value v, int line);
  ExprPtr parse_primary();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  void parse_args(Expr& call);
  ExprPtr parse_call(ExprPtr node);
  std::string parse_dotted_name();
  ExprPtr parse_filter_chain(ExprPtr node, bool leading_pipe = true);
  ExprPtr parse_test(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace strata::jinja
