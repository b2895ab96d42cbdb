#pragma once
// Recursive-descent parser from tokens to the syntax tree, following jinja2's grammar and
// operator precedence. Nesting is bounded so that hostile input cannot exhaust the stack.
#include <string>

#include "chat_template/jinja_ast.h"

namespace strata::jinja {

// Throws strata::Error naming the line and column on a syntax error or an unsupported tag.
Body parse_template(const std::string& source);

}  // namespace strata::jinja
