// The global functions of jinja2's sandbox that templates call: range (bounded like the
// sandbox's MAX_RANGE), dict and namespace (as transformers defines them).
#include "chat_template/jinja_globals.h"

#include "chat_template/jinja_error.h"

namespace strata::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

Value range_function(const CallArgs& args) {
  if (!args.keyword.empty()) throw RenderError("range() takes no keyword arguments");
  for (const Value& a : args.positional)
    if (!a.is_int() && !a.is_bool()) throw RenderError("'" + a.type_name() + "' object cannot be interpreted as an integer");
  int64_t start = 0, stop = 0, step = 1;
  const auto& p = args.positional;
  if (p.size() == 1) {
    stop = p[0].as_int();
  } else if (p.size() == 2 || p.size() == 3) {
    start = p[0].as_int();
    stop = p[1].as_int();
    if (p.size() == 3) step = p[2].as_int();
  } else {
    throw RenderError("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  }
  if (step == 0) throw RenderError("range() arg 3 must not be zero");
  long double span = step > 0 ? (static_cast<long double>(stop) - start) : (static_cast<long double>(start) - stop);
  long double count = span <= 0 ? 0 : (span + std::abs(step) - 1) / std::abs(static_cast<long double>(step));
  if (count > kMaxRange)
    throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  List out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
  return Value::list(std::move(out));
}

void fill_from_args(Value& target, const CallArgs& args, bool check_names) {
  for (const Value& p : args.positional) {
    if (!p.is_dict() && !p.is_namespace()) throw RenderError("expected a mapping argument");
    for (const auto& [k, v] : p.dict_ref().entries) target.dict_ref().set(k, v);
  }
  for (const auto& [k, v] : args.keyword) target.dict_ref().set(Value(k), v);
  if (!check_names) return;
  for (const auto& [k, v] : target.dict_ref().entries)
    if (k.is_string() && !k.as_string().empty() && k.as_string()[0] == '_')
      throw RenderError("chat templates cannot store underscore-prefixed attributes on a namespace");
}

}  // namespace

void add_builtin_globals(Dict& globals) {
  globals.set(Value("range"), Value::function("range", range_function));
  globals.set(Value("dict"), Value::function("dict", [](const CallArgs& args) {
    Value d = Value::dict();
    fill_from_args(d, args, false);
    return d;
  }));
  globals.set(Value("namespace"), Value::function("namespace", [](const CallArgs& args) {
    Value ns = Value::ns();
    fill_from_args(ns, args, true);
    return ns;
  }));
}

}  // namespace strata::jinja
