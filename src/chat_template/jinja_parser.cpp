#include "chat_template/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

#include "chat_template/jinja_error.h"
#include "chat_template/jinja_lexer.h"

namespace strata::jinja {
namespace {

constexpr int kMaxNesting = 200;

ExprPtr make_expr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

StmtPtr make_stmt(StmtKind kind, int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = line;
  return s;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Body parse_all() {
    std::string found;
    Body body = parse_body({}, &found);
    return body;
  }

 private:
  // RAII guard for the nesting limit.
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
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
  Body parse_body(std::initializer_list<const char*> end_names, std::string* found) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.type == TokenType::End) {
        if (end_names.size() == 0) return body;
        fail(t, std::string("unexpected end of template; expected '") + *end_names.begin() + "'");
      }
      if (t.type == TokenType::Data) {
        auto s = make_stmt(StmtKind::Text, t.line);
        s->text = next().text;
        body.push_back(std::move(s));
      } else if (t.type == TokenType::VarBegin) {
        next();
        auto s = make_stmt(StmtKind::Print, t.line);
        s->expr = parse_tuple(true);
        if (peek().type != TokenType::VarEnd) fail(peek(), "expected '}}', got " + describe(peek()));
        next();
        body.push_back(std::move(s));
      } else if (t.type == TokenType::BlockBegin) {
        next();
        const Token& name = peek();
        for (const char* end : end_names) {
          if (name.type == TokenType::Name && name.text == end) {
            *found = next().text;
            return body;
          }
        }
        body.push_back(parse_statement());
      } else {
        fail(t, "unexpected " + describe(t));
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& t = peek();
    if (t.type != TokenType::Name) fail(t, "expected a tag name, got " + describe(t));
    const std::string tag = t.text;
    int line = t.line;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "generation") {
      next();
      expect_block_end();
      auto s = make_stmt(StmtKind::Scope, line);
      std::string found;
      s->body = parse_body({"endgeneration"}, &found);
      expect_block_end();
      return s;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail(t, "'" + tag + "' outside of a loop");
      next();
      expect_block_end();
      return make_stmt(tag == "break" ? StmtKind::Break : StmtKind::Continue, line);
    }
    fail(t, "unknown or unsupported tag '" + tag + "'");
  }

  StmtPtr parse_if() {
    auto s = make_stmt(StmtKind::If, next().line);
    while (true) {
      ExprPtr cond = parse_tuple(false);
      expect_block_end();
      std::string found;
      Body body = parse_body({"elif", "else", "endif"}, &found);
      s->branches.emplace_back(std::move(cond), std::move(body));
      if (found == "elif") continue;
      if (found == "else") {
        expect_block_end();
        Body else_body = parse_body({"endif"}, &found);
        s->branches.emplace_back(nullptr, std::move(else_body));
      }
      expect_block_end();
      return s;
    }
  }

  ExprPtr parse_assign_target(bool allow_namespace) {
    int line = peek().line;
    std::vector<ExprPtr> names;
    bool paren = is_op("(");
    if (paren) next();
    do {
      auto n = make_expr(ExprKind::Name, peek().line);
      n->name = expect_name();
      if (allow_namespace && is_op(".")) {
        next();
        auto attr = make_expr(ExprKind::GetAttr, n->line);
        attr->name = expect_name();
        attr->children.push_back(std::move(n));
        return attr;
      }
      names.push_back(std::move(n));
    } while (is_op(",") && (next(), peek().type == TokenType::Name));
    if (paren) expect_op(")");
    if (names.size() == 1 && !paren) return std::move(names[0]);
    auto tuple = make_expr(ExprKind::Tuple, line);
    tuple->children = std::move(names);
    return tuple;
  }

  StmtPtr parse_for() {
    auto s = make_stmt(StmtKind::For, next().line);
    ExprPtr target = parse_assign_target(false);
    if (target->kind == ExprKind::Name) {
      s->targets.push_back(target->name);
    } else {
      for (auto& c : target->children) s->targets.push_back(c->name);
    }
    if (!is_name("in")) fail(peek(), "expected 'in' in for loop, got " + describe(peek()));
    next();
    s->expr = parse_tuple(false);
    if (is_name("if")) {
      next();
      s->filter = parse_expression(true);
    }
    if (is_name("recursive")) fail(peek(), "recursive for loops are not supported");
    expect_block_end();
    ++loop_depth_;
    std::string found;
    s->body = parse_body({"endfor", "else"}, &found);
    --loop_depth_;
    if (found == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"}, &found);
    }
    expect_block_end();
    return s;
  }

  StmtPtr parse_set() {
    int line = next().line;
    ExprPtr target = parse_assign_target(true);
    if (is_op("=")) {
      next();
      auto s = make_stmt(StmtKind::Set, line);
      s->target = std::move(target);
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    auto s = make_stmt(StmtKind::SetBlock, line);
    s->target = std::move(target);
    if (is_op("|")) s->filter = parse_filter_chain(nullptr);
    expect_block_end();
    std::string found;
    s->body = parse_body({"endset"}, &found);
    expect_block_end();
    return s;
  }

  void parse_params(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string name = expect_name();
      ExprPtr def;
      if (is_op("=")) {
        next();
        def = parse_expression(true);
      }
      s.params.emplace_back(std::move(name), std::move(def));
    }
    next();
  }

  StmtPtr parse_macro() {
    auto s = make_stmt(StmtKind::Macro, next().line);
    s->text = expect_name();
    parse_params(*s);
    expect_block_end();
    std::string found;
    int saved_loops = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_body({"endmacro"}, &found);
    loop_depth_ = saved_loops;
    if (peek().type == TokenType::Name) next();  // {% endmacro name %}
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = make_stmt(StmtKind::CallBlock, next().line);
    if (is_op("(")) parse_params(*s);
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::Call) fail(peek(), "expected a call in a call block");
    expect_block_end();
    std::string found;
    s->body = parse_body({"endcall"}, &found);
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = make_stmt(StmtKind::FilterBlock, next().line);
    s->filter = parse_filter_chain(nullptr, /*leading_pipe=*/false);
    expect_block_end();
    std::string found;
    s->body = parse_body({"endfilter"}, &found);
    expect_block_end();
    return s;
  }

  StmtPtr parse_with() {
    auto s = make_stmt(StmtKind::With, next().line);
    while (peek().type != TokenType::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      ExprPtr target = parse_assign_target(false);
      expect_op("=");
      s->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    expect_block_end();
    std::string found;
    s->body = parse_body({"endwith"}, &found);
    expect_block_end();
    return s;
  }

  // ---- expressions ----

  bool at_tuple_end() const {
    const Token& t = peek();
    return t.type == TokenType::BlockEnd || t.type == TokenType::VarEnd || t.type == TokenType::End ||
           is_op(")") || is_op("]") || is_op("}") || (t.type == TokenType::Name && t.text == "in");
  }

  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens = false) {
    int line = peek().line;
    std::vector<ExprPtr> items;
    bool saw_comma = false;
    while (true) {
      if (!items.empty()) {
        if (!is_op(",")) break;
        next();
        saw_comma = true;
      }
      if (at_tuple_end()) break;
      items.push_back(parse_expression(with_condexpr));
    }
    if (items.size() == 1 && !saw_comma) return std::move(items[0]);
    if (items.empty() && !explicit_parens) fail(peek(), "expected an expression, got " + describe(peek()));
    auto tuple = make_expr(ExprKind::Tuple, line);
    tuple->children = std::move(items);
    return tuple;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      auto cond = make_expr(ExprKind::Conditional, next().line);
      cond->children.push_back(std::move(expr));
      cond->children.push_back(parse_or());
      if (is_name("else")) {
        next();
        cond->children.push_back(parse_expression(true));
      } else {
        cond->children.push_back(nullptr);
      }
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = make_expr(kind, line);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      int line = next().line;
      left = binary(ExprKind::Or, "or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      int line = next().line;
      left = binary(ExprKind::And, "and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto e = make_expr(ExprKind::Not, next().line);
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = peek().line;
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    static const char* const kOps[] = {"==", "!=", "<", ">", "<=", ">="};
    while (true) {
      std::string op;
      for (const char* o : kOps)
        if (is_op(o)) op = o;
      if (!op.empty()) {
        next();
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make_expr(ExprKind::Compare, line);
        cmp->children.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, t.text, std::move(left), parse_concat(), t.line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, "~", std::move(left), parse_math2(), t.line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, t.text, std::move(left), parse_pow(), t.line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      left = binary(ExprKind::Binary, "**", std::move(left), parse_unary(true), t.line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      node = make_expr(t.text == "-" ? ExprKind::Negate : ExprKind::Plus, t.line);
      node->children.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr literal(Value v, int line) {
    auto e = make_expr(ExprKind::Literal, line);
    e->literal = std::move(v);
    return e;
  }

  ExprPtr parse_primary() {
    DepthGuard guard(*this);
    const Token& t = peek();
    switch (t.type) {
      case TokenType::Name: {
        next();
        if (t.text == "true" || t.text == "True") return literal(Value(true), t.line);
        if (t.text == "false" || t.text == "False") return literal(Value(false), t.line);
        if (t.text == "none" || t.text == "None") return literal(Value::none(), t.line);
        auto e = make_expr(ExprKind::Name, t.line);
        e->name = t.text;
        return e;
      }
      case TokenType::String: {
        std::string s;
        int line = t.line;
        while (peek().type == TokenType::String) s += next().text;
        return literal(Value(std::move(s)), line);
      }
      case TokenType::Int:
        next();
        try {
          return literal(Value(static_cast<int64_t>(std::stoll(t.text))), t.line);
        } catch (const std::exception&) {
          fail(t, "integer literal out of range");
        }
      case TokenType::Float: next(); return literal(Value(std::stod(t.text)), t.line);
      default: break;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(true, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) return parse_list();
    if (is_op("{")) return parse_dict();
    fail(t, "unexpected " + describe(t));
  }

  ExprPtr parse_list() {
    auto e = make_expr(ExprKind::List, next().line);
    while (!is_op("]")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("]")) break;
      e->children.push_back(parse_expression(true));
    }
    next();
    return e;
  }

  ExprPtr parse_dict() {
    auto e = make_expr(ExprKind::Dict, next().line);
    while (!is_op("}")) {
      if (!e->children.empty()) expect_op(",");
      if (is_op("}")) break;
      e->children.push_back(parse_expression(true));
      expect_op(":");
      e->children.push_back(parse_expression(true));
    }
    next();
    return e;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".")) {
        const Token& dot = next();
        if (peek().type == TokenType::Int) {
          auto e = make_expr(ExprKind::GetItem, dot.line);
          e->children.push_back(std::move(node));
          e->children.push_back(literal(Value(static_cast<int64_t>(std::stoll(next().text))), dot.line));
          node = std::move(e);
        } else {
          auto e = make_expr(ExprKind::GetAttr, dot.line);
          e->name = expect_name();
          e->children.push_back(std::move(node));
          node = std::move(e);
        }
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    int line = next().line;
    std::vector<ExprPtr> parts(3);
    bool is_slice = false;
    size_t part = 0;
    while (!is_op("]")) {
      if (is_op(":")) {
        next();
        is_slice = true;
        if (++part > 2) fail(peek(), "too many ':' in slice");
        continue;
      }
      if (parts[part]) fail(peek(), "expected ']' or ':', got " + describe(peek()));
      parts[part] = parse_expression(true);
    }
    next();
    auto e = make_expr(is_slice ? ExprKind::Slice : ExprKind::GetItem, line);
    e->children.push_back(std::move(node));
    if (!is_slice) {
      if (!parts[0]) fail(peek(), "expected an index inside '[]'");
      e->children.push_back(std::move(parts[0]));
    } else {
      for (auto& p : parts) e->children.push_back(std::move(p));
    }
    return e;
  }

  void parse_args(Expr& call) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail(peek(), "*args and **kwargs in calls are not supported");
      if (peek().type == TokenType::Name && is_op("=", 1)) {
        std::string key = next().text;
        next();
        call.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!call.kwargs.empty()) fail(peek(), "positional argument after keyword argument");
        call.children.push_back(parse_expression(true));
      }
    }
    next();
  }

  ExprPtr parse_call(ExprPtr node) {
    auto e = make_expr(ExprKind::Call, peek().line);
    e->children.push_back(std::move(node));
    parse_args(*e);
    return e;
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    return name;
  }

  ExprPtr parse_filter_chain(ExprPtr node, bool leading_pipe = true) {
    bool first = true;
    while ((first && !leading_pipe) || is_op("|")) {
      if (!(first && !leading_pipe)) next();
      first = false;
      auto f = make_expr(ExprKind::Filter, peek().line);
      f->name = parse_dotted_name();
      f->children.push_back(std::move(node));
      if (is_op("(")) parse_args(*f);
      node = std::move(f);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    auto t = make_expr(ExprKind::Test, next().line);
    if (is_name("not")) {
      next();
      t->negated = true;
    }
    t->name = parse_dotted_name();
    t->children.push_back(std::move(node));
    const Token& n = peek();
    bool arg_start = n.type == TokenType::Name || n.type == TokenType::String || n.type == TokenType::Int ||
                     n.type == TokenType::Float || is_op("[") || is_op("{");
    if (is_op("(")) {
      parse_args(*t);
    } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
      t->children.push_back(parse_postfix(parse_primary()));
    }
    return t;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) {
  return Parser(tokenize(source)).parse_all();
}

}  // namespace strata::jinja
