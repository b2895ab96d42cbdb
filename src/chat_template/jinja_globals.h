#pragma once
// Builtin global functions every template sees (range, dict, namespace).
#include "chat_template/jinja_value.h"

namespace strata::jinja {

void add_builtin_globals(Dict& globals);

}  // namespace strata::jinja
