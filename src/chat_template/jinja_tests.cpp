// jinja2's builtin tests (`x is defined`, `x is string`, `n is divisibleby 3`, ...).
#include <algorithm>
#include <cctype>

#include "chat_template/jinja_builtins.h"
#include "chat_template/jinja_error.h"

namespace strata::jinja {
namespace {

const Value& required(const CallArgs& args, const std::string& test) {
  const Value* v = args.get(0, "other");
  if (!v && !args.positional.empty()) v = &args.positional[0];
  if (!v) throw RenderError("test '" + test + "' needs an argument");
  return *v;
}

bool all_chars(const std::string& s, bool upper) {
  bool cased = false;
  for (unsigned char c : s) {
    if (std::isalpha(c)) {
      cased = true;
      if (upper ? std::islower(c) : std::isupper(c)) return false;
    }
  }
  return cased;
}

}  // namespace

bool apply_test(Interpreter&, const std::string& name, const Value& v, const CallArgs& args) {
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_callable();
  if (name == "escaped") return false;
  if (name == "lower") return v.is_string() && all_chars(v.as_string(), false);
  if (name == "upper") return v.is_string() && all_chars(v.as_string(), true);
  if (name == "odd" || name == "even") {
    if (!v.is_int() && !v.is_bool()) throw RenderError("test '" + name + "' requires an integer");
    return (python_mod(v.as_int(), 2) == 1) == (name == "odd");
  }
  if (name == "divisibleby") {
    const Value& n = required(args, name);
    return python_mod(v.as_int(), n.as_int()) == 0;
  }
  if (name == "equalto" || name == "eq" || name == "==") return v.equals(required(args, name));
  if (name == "ne" || name == "!=") return !v.equals(required(args, name));
  if (name == "lt" || name == "lessthan" || name == "<") return compare_op("<", v, required(args, name));
  if (name == "le" || name == "<=") return compare_op("<=", v, required(args, name));
  if (name == "gt" || name == "greaterthan" || name == ">") return compare_op(">", v, required(args, name));
  if (name == "ge" || name == ">=") return compare_op(">=", v, required(args, name));
  if (name == "in") return contains(required(args, name), v);
  if (name == "sameas") {
    const Value& other = required(args, name);
    if (v.is_list() && other.is_list()) return &v.items() == &other.items();
    if (v.is_dict() && other.is_dict()) return &v.dict_ref() == &other.dict_ref();
    return v.kind() == other.kind() && v.equals(other);
  }
  throw RenderError("no test named '" + name + "'");
}

}  // namespace strata::jinja
