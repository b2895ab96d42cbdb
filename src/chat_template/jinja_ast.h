#pragma once
// The syntax tree of a parsed template: one generic node type for expressions and one for
// statements; each carries its source line for error messages.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat_template/jinja_value.h"

namespace strata::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  Literal,    // literal
  Name,       // name
  List,       // children
  Tuple,      // children
  Dict,       // children: key0, value0, key1, value1, ...
  GetAttr,    // children[0] . name
  GetItem,    // children[0] [ children[1] ]
  Slice,      // children[0] [ children[1] : children[2] : children[3] ] (null when omitted)
  Call,       // children[0] ( children[1..], kwargs )
  Filter,     // name ( children[0] = input (null in filter blocks), children[1..], kwargs )
  Test,       // children[0] is [not] name ( children[1..] )
  Not,        // not children[0]
  Negate,     // - children[0]
  Plus,       // + children[0]
  Binary,     // children[0] op children[1]: + - * / // % ** ~
  Compare,    // children[0] ops[0] children[1] ops[1] children[2] ...
  And,
  Or,
  Conditional,  // children[0] if children[1] else children[2] (null when omitted)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value literal;
  std::string name;  // variable, attribute, filter or test name; binary operator
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // Compare
  bool negated = false;          // Test
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
  Text,         // text
  Print,        // expr
  If,           // branches (cond null for else)
  For,          // targets in expr [if filter] body [else else_body]
  Set,          // target = expr
  SetBlock,     // target = rendered body (| filter in expr, input null)
  Macro,        // name(params) body
  CallBlock,    // expr is the call; params are the caller's
  FilterBlock,  // expr is the filter chain (input null); body
  With,         // assignments (targets/values), body
  Break,
  Continue,
  Scope,        // a body rendered as is ({% generation %})
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr target;
  ExprPtr filter;
  std::vector<std::pair<ExprPtr, Body>> branches;
  std::vector<std::string> targets;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro/caller params, with defaults
  std::vector<std::pair<ExprPtr, ExprPtr>> assignments;  // with
  Body body;
  Body else_body;
};

}  // namespace strata::jinja
