#pragma once
// Jinja's operators, attribute/item access, filters, tests and Python methods on values.
// Each group lives in its own file (jinja_ops, jinja_filters, jinja_tests, jinja_methods).
#include <optional>
#include <string>

#include "chat_template/jinja_value.h"

namespace strata::jinja {

class Interpreter;

// jinja_ops.cpp
Value get_attribute(const Value& obj, const std::string& name);   // obj.name
Value get_item(const Value& obj, const Value& key);               // obj[key]
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
List iterate(const Value& v);                                      // for x in v
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool compare_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);          // item in container
int64_t length_of(const Value& v);                                 // len(v)
[[noreturn]] void throw_undefined(const Value& v);

// jinja_methods.cpp: str/dict/list methods as bound callables, or nullopt.
std::optional<Value> bound_method(const Value& obj, const std::string& name);
std::string jinja_title(const std::string& s);  // the |title filter (not str.title)
std::string python_strip(const std::string& s, const Value* chars, bool left, bool right);

// jinja_filters.cpp / jinja_tests.cpp
Value apply_filter(Interpreter& interp, const std::string& name, const Value& input, const CallArgs& args);
bool apply_test(Interpreter& interp, const std::string& name, const Value& value, const CallArgs& args);

}  // namespace strata::jinja
