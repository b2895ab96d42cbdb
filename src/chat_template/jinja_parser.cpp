#include "chat_template/jinja_parser.h"

#include <initializer_list>

#include "chat_template/jinja_expr_parser.h"

namespace strata::jinja {
namespace {

StmtPtr make_stmt(StmtKind kind, int line) {
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  s->line = line;
  return s;
}

// The statement half: tags, bodies and their end tags; expressions come from ExprParser.
class Parser : public ExprParser {
 public:
  using ExprParser::ExprParser;

  Body parse_all() {
    std::string found;
    return parse_body({}, &found);
  }

 private:
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

};

}  // namespace

Body parse_template(const std::string& source) {
  return Parser(tokenize(source)).parse_all();
}

}  // namespace strata::jinja
