#include "chat_template/jinja_expr_parser.h"

#include <cerrno>
#include <cstdlib>

namespace strata::jinja {

ExprPtr make_expr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}


bool ExprParser::at_tuple_end() const {
  const Token& t = peek();
  return t.type == TokenType::BlockEnd || t.type == TokenType::VarEnd || t.type == TokenType::End ||
         is_op(")") || is_op("]") || is_op("}") || (t.type == TokenType::Name && t.text == "in");
}

ExprPtr ExprParser::parse_tuple(bool with_condexpr, bool explicit_parens) {
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

ExprPtr ExprParser::parse_expression(bool with_condexpr) {
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

ExprPtr ExprParser::binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
  auto e = make_expr(kind, line);
  e->name = std::move(op);
  e->children.push_back(std::move(left));
  e->children.push_back(std::move(right));
  return e;
}

ExprPtr ExprParser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name("or")) {
    int line = next().line;
    left = binary(ExprKind::Or, "or", std::move(left), parse_and(), line);
  }
  return left;
}

ExprPtr ExprParser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name("and")) {
    int line = next().line;
    left = binary(ExprKind::And, "and", std::move(left), parse_not(), line);
  }
  return left;
}

ExprPtr ExprParser::parse_not() {
  if (is_name("not")) {
    DepthGuard guard(*this);
    auto e = make_expr(ExprKind::Not, next().line);
    e->children.push_back(parse_not());
    return e;
  }
  return parse_compare();
}

ExprPtr ExprParser::parse_compare() {
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

ExprPtr ExprParser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token& t = next();
    left = binary(ExprKind::Binary, t.text, std::move(left), parse_concat(), t.line);
  }
  return left;
}

ExprPtr ExprParser::parse_concat() {
  ExprPtr left = parse_math2();
  while (is_op("~")) {
    const Token& t = next();
    left = binary(ExprKind::Binary, "~", std::move(left), parse_math2(), t.line);
  }
  return left;
}

ExprPtr ExprParser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    const Token& t = next();
    left = binary(ExprKind::Binary, t.text, std::move(left), parse_pow(), t.line);
  }
  return left;
}

ExprPtr ExprParser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    const Token& t = next();
    left = binary(ExprKind::Binary, "**", std::move(left), parse_unary(true), t.line);
  }
  return left;
}

ExprPtr ExprParser::parse_unary(bool with_filter) {
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

ExprPtr ExprParser::literal(Value v, int line) {
  auto e = make_expr(ExprKind::Literal, line);
  e->literal = std::move(v);
  return e;
}

ExprPtr ExprParser::parse_primary() {
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
    case TokenType::Float:
      next();
      return literal(Value(std::strtod(t.text.c_str(), nullptr)), t.line);
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

ExprPtr ExprParser::parse_list() {
  auto e = make_expr(ExprKind::List, next().line);
  while (!is_op("]")) {
    if (!e->children.empty()) expect_op(",");
    if (is_op("]")) break;
    e->children.push_back(parse_expression(true));
  }
  next();
  return e;
}

ExprPtr ExprParser::parse_dict() {
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

ExprPtr ExprParser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".")) {
      const Token& dot = next();
      if (peek().type == TokenType::Int) {
        auto e = make_expr(ExprKind::GetItem, dot.line);
        e->children.push_back(std::move(node));
        const Token& index = next();
        errno = 0;
        long long v = std::strtoll(index.text.c_str(), nullptr, 10);
        if (errno == ERANGE) fail(index, "integer literal out of range");
        e->children.push_back(literal(Value(static_cast<int64_t>(v)), dot.line));
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

ExprPtr ExprParser::parse_subscript(ExprPtr node) {
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

void ExprParser::parse_args(Expr& call) {
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

ExprPtr ExprParser::parse_call(ExprPtr node) {
  auto e = make_expr(ExprKind::Call, peek().line);
  e->children.push_back(std::move(node));
  parse_args(*e);
  return e;
}

std::string ExprParser::parse_dotted_name() {
  std::string name = expect_name();
  while (is_op(".")) {
    next();
    name += "." + expect_name();
  }
  return name;
}

ExprPtr ExprParser::parse_filter_chain(ExprPtr node, bool leading_pipe) {
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

ExprPtr ExprParser::parse_test(ExprPtr node) {
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

ExprPtr ExprParser::parse_filter_expr(ExprPtr node) {
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

}  // namespace strata::jinja
