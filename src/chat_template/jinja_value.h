#pragma once
// The Jinja runtime value: Python's data model as far as chat templates see it. Lists and
// dicts are shared by reference (as in Python), dicts keep insertion order, and
// Undefined is distinct from None so that `{{ x }}` of a missing name prints nothing.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata::jinja {

class Value;
using List = std::vector<Value>;
struct Dict;
struct CallArgs;
using NativeFunction = std::function<Value(const CallArgs&)>;

struct Callable {
  std::string name;
  NativeFunction call;
};

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Callable };

class Value {
 public:
  Value() = default;  // Undefined
  static Value undefined(std::string hint = "") { Value v; v.data_ = std::move(hint); v.kind_ = Kind::Undefined; return v; }
  static Value none() { Value v; v.kind_ = Kind::None; return v; }
  Value(bool b) : kind_(Kind::Bool), data_(b) {}
  Value(int v) : kind_(Kind::Int), data_(int64_t{v}) {}
  Value(int64_t v) : kind_(Kind::Int), data_(v) {}
  Value(double v) : kind_(Kind::Float), data_(v) {}
  Value(std::string s) : kind_(Kind::String), data_(std::move(s)) {}
  Value(const char* s) : kind_(Kind::String), data_(std::string(s)) {}
  // A markupsafe.Markup string (from |safe or |escape): `+` escapes plain strings joined to it.
  static Value markup(std::string s) { Value v(std::move(s)); v.markup_ = true; return v; }
  static Value list(List items = {});
  static Value tuple(List items);
  static Value dict();
  static Value ns();
  static Value function(std::string name, NativeFunction fn);
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_markup() const { return kind_ == Kind::String && markup_; }
  bool is_list() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;     // bool and int
  double as_double() const;   // bool, int and float
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const std::string& undefined_hint() const { return std::get<std::string>(data_); }
  List& items() const { return *std::get<std::shared_ptr<List>>(data_); }
  Dict& dict_ref() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  const Callable& callable() const { return *std::get<std::shared_ptr<Callable>>(data_); }

  bool truthy() const;
  bool equals(const Value& other) const;  // Python ==
  // Python str() (Undefined prints empty) and repr().
  std::string str() const;
  std::string repr() const;
  std::string type_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool markup_ = false;
  std::variant<std::string, bool, int64_t, double, std::shared_ptr<List>, std::shared_ptr<Dict>,
               std::shared_ptr<Callable>>
      data_ = std::string();
};

struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  const Value* find(std::string_view key) const;
  void set(const Value& key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // The argument at `position` or named `name`, or nullptr.
  const Value* get(size_t position, std::string_view name) const;
};

// Python's -3 // 2 and -3 % 2 semantics.
int64_t floor_div(int64_t a, int64_t b);
int64_t python_mod(int64_t a, int64_t b);
// Python's repr(float): shortest round-trip digits, '1.0', '1e+16'.
std::string python_float_repr(double d);
// Python's comparison (<) for numbers, strings and lists; throws on other types.
bool less_than(const Value& a, const Value& b);
// json.dumps(x, ensure_ascii=False, indent, separators, sort_keys).
struct JsonFormat {
  int indent = -1;  // -1: none
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};
std::string to_json(const Value& v, const JsonFormat& format);

// markupsafe.escape: & < > " ' as HTML entities.
std::string html_escape(const std::string& s);

// UTF-8 helpers: Python strings count code points.
std::vector<std::string> utf8_chars(std::string_view s);
size_t utf8_length(std::string_view s);

}  // namespace strata::jinja
