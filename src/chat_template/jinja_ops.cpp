// Operators and access on values with Python's semantics (as jinja2 delegates to Python).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "chat_template/jinja_builtins.h"
#include "chat_template/jinja_error.h"

namespace strata::jinja {
namespace {

constexpr size_t kMaxStringBytes = 64u << 20;

std::string object_name(const Value& v) { return "'" + v.type_name() + " object'"; }

Value missing(const Value& obj, const std::string& what) {
  return Value::undefined(object_name(obj) + " has no " + what);
}

[[noreturn]] void type_error(const std::string& op, const Value& a, const Value& b) {
  throw RenderError("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" +
                    b.type_name() + "'");
}

void check_size(size_t bytes) {
  if (bytes > kMaxStringBytes) throw RenderError("string result too large (limit 64 MiB)");
}

// Python slice index normalization for a sequence of length n.
void slice_indices(int64_t n, const Value& start, const Value& stop, int64_t step, int64_t& lo, int64_t& hi) {
  auto clamp = [&](const Value& v, int64_t dflt, bool is_start) -> int64_t {
    if (v.is_none() || v.is_undefined()) return dflt;
    if (!v.is_int() && !v.is_bool()) throw RenderError("slice indices must be integers or None");
    int64_t i = v.as_int();
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
    (void)is_start;
  };
  if (step > 0) {
    lo = clamp(start, 0, true);
    hi = clamp(stop, n, false);
  } else {
    lo = clamp(start, n - 1, true);
    hi = clamp(stop, -1, false);
  }
}

void check_overflow(bool overflow) {
  if (overflow) throw RenderError("integer overflow");
}

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  bool ints = !a.is_float() && !b.is_float();
  if (op == "/") {
    if (b.as_double() == 0) throw RenderError("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (ints) {
    int64_t x = a.as_int(), y = b.as_int(), r = 0;
    if (op == "+") return check_overflow(__builtin_add_overflow(x, y, &r)), Value(r);
    if (op == "-") return check_overflow(__builtin_sub_overflow(x, y, &r)), Value(r);
    if (op == "*") return check_overflow(__builtin_mul_overflow(x, y, &r)), Value(r);
    if (op == "//") return Value(floor_div(x, y));
    if (op == "%") return Value(python_mod(x, y));
    if (op == "**") {
      if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
      int64_t result = 1;
      for (int64_t i = 0; i < y; ++i) {
        check_overflow(__builtin_mul_overflow(result, x, &result));
        if (result == 0 || result == 1) break;
      }
      return Value(result);
    }
  }
  double x = a.as_double(), y = b.as_double();
  if (op == "+") return Value(x + y);
  if (op == "-") return Value(x - y);
  if (op == "*") return Value(x * y);
  if (op == "**") return Value(std::pow(x, y));
  if (y == 0) throw RenderError("float division by zero");
  if (op == "//") return Value(std::floor(x / y));
  double m = std::fmod(x, y);
  if (m != 0 && ((m < 0) != (y < 0))) m += y;
  return Value(m);
}

Value repeat(const Value& seq, int64_t times) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    check_size(seq.as_string().size() * static_cast<size_t>(times));
    std::string out;
    for (int64_t i = 0; i < times; ++i) out += seq.as_string();
    return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
  }
  check_size(seq.items().size() * static_cast<size_t>(times));
  List out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return seq.kind() == Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

// Python's `fmt % args` for the common conversions: %s %r %d %i %f %x %% with an
// optional width and precision (e.g. %5.2f).
std::string percent_format(const std::string& fmt, const Value& args) {
  List values = args.kind() == Kind::Tuple ? args.items() : List{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    size_t j = i + 1;
    while (j < fmt.size() && std::strchr("-+ 0#.123456789", fmt[j])) ++j;
    if (j >= fmt.size()) throw RenderError("incomplete format");
    std::string spec = fmt.substr(i + 1, j - i - 1);
    char conv = fmt[j];
    i = j;
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next >= values.size()) throw RenderError("not enough arguments for format string");
    const Value& v = values[next++];
    char buf[512];
    if (conv == 's' || conv == 'r') {
      std::string text = conv == 's' ? v.str() : v.repr();
      std::snprintf(buf, sizeof buf, ("%" + spec + "s").c_str(), text.c_str());
      out += spec.empty() ? text : std::string(buf);
    } else if (conv == 'd' || conv == 'i' || conv == 'x' || conv == 'X' || conv == 'o') {
      if (!v.is_number()) throw RenderError("%" + std::string(1, conv) + " format: a real number is required");
      long long n = v.is_float() ? static_cast<long long>(v.as_double()) : static_cast<long long>(v.as_int());
      std::snprintf(buf, sizeof buf, ("%" + spec + "ll" + std::string(1, conv == 'i' ? 'd' : conv)).c_str(), n);
      out += buf;
    } else if (conv == 'f' || conv == 'F' || conv == 'e' || conv == 'E' || conv == 'g' || conv == 'G') {
      if (!v.is_number()) throw RenderError("must be real number, not " + v.type_name());
      std::snprintf(buf, sizeof buf, ("%" + spec + std::string(1, conv)).c_str(), v.as_double());
      out += buf;
    } else {
      throw RenderError(std::string("unsupported format character '") + conv + "'");
    }
  }
  if (next < values.size()) throw RenderError("not all arguments converted during string formatting");
  check_size(out.size());
  return out;
}

}  // namespace

[[noreturn]] void throw_undefined(const Value& v) {
  const std::string& hint = v.undefined_hint();
  throw RenderError(hint.empty() ? "undefined value" : hint);
}

Value get_attribute(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) throw_undefined(obj);
  if (auto method = bound_method(obj, name)) return *method;
  if (obj.is_dict() || obj.is_namespace()) {
    if (const Value* v = obj.dict_ref().find(std::string_view(name))) return *v;
  }
  return missing(obj, "attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) throw_undefined(obj);
  if (obj.is_dict() || obj.is_namespace()) {
    if (const Value* v = obj.dict_ref().find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      int64_t n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.items()[i];
    } else {
      auto chars = utf8_chars(obj.as_string());
      int64_t n = static_cast<int64_t>(chars.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value(chars[i]);
    }
    return missing(obj, "element " + std::to_string(key.as_int()));
  }
  if (key.is_string()) {
    if (auto method = bound_method(obj, key.as_string())) return *method;
  }
  return missing(obj, "element " + key.repr());
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step_value) {
  if (obj.is_undefined()) throw_undefined(obj);
  int64_t step = (step_value.is_none() || step_value.is_undefined()) ? 1 : step_value.as_int();
  if (step == 0) throw RenderError("slice step cannot be zero");
  bool is_string = obj.is_string();
  if (!is_string && !obj.is_list()) throw RenderError(object_name(obj) + " is not subscriptable");
  std::vector<std::string> chars;
  if (is_string) chars = utf8_chars(obj.as_string());
  int64_t n = is_string ? static_cast<int64_t>(chars.size()) : static_cast<int64_t>(obj.items().size());
  int64_t lo = 0, hi = 0;
  slice_indices(n, start, stop, step, lo, hi);
  std::string s;
  List l;
  for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
    if (is_string) {
      s += chars[i];
    } else {
      l.push_back(obj.items()[i]);
    }
  }
  if (is_string) return Value(std::move(s));
  return obj.kind() == Kind::Tuple ? Value::tuple(std::move(l)) : Value::list(std::move(l));
}

List iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::List:
    case Kind::Tuple: return v.items();
    case Kind::String: {
      List out;
      for (auto& c : utf8_chars(v.as_string())) out.emplace_back(std::move(c));
      return out;
    }
    case Kind::Dict: {
      List out;
      for (const auto& [k, _] : v.dict_ref().entries) out.push_back(k);
      return out;
    }
    default: throw RenderError(object_name(v) + " is not iterable");
  }
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return 0;
    case Kind::String: return static_cast<int64_t>(utf8_length(v.as_string()));
    case Kind::List:
    case Kind::Tuple: return static_cast<int64_t>(v.items().size());
    case Kind::Dict: return static_cast<int64_t>(v.dict_ref().entries.size());
    default: throw RenderError("object of type '" + v.type_name() + "' has no len()");
  }
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string out = a.str() + b.str();
    check_size(out.size());
    return Value(std::move(out));
  }
  if (a.is_undefined()) throw_undefined(a);
  if (b.is_undefined()) throw_undefined(b);
  if (a.is_number() && b.is_number()) return arithmetic(op, a, b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      check_size(a.as_string().size() + b.as_string().size());
      if (a.is_markup() || b.is_markup()) {
        auto safe = [](const Value& v) { return v.is_markup() ? v.as_string() : html_escape(v.as_string()); };
        return Value::markup(safe(a) + safe(b));
      }
      return Value(a.as_string() + b.as_string());
    }
    if (a.is_list() && b.is_list() && a.kind() == b.kind()) {
      List out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return a.kind() == Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
  }
  if (op == "%" && a.is_string()) return Value(percent_format(a.as_string(), b));
  type_error(op, a, b);
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined: return false;
    case Kind::String:
      if (!item.is_string()) throw RenderError("'in <string>' requires string as left operand, not " + item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Kind::List:
    case Kind::Tuple:
      for (const Value& v : container.items())
        if (v.equals(item)) return true;
      return false;
    case Kind::Dict: return container.dict_ref().find(item) != nullptr;
    default: throw RenderError("argument of type '" + container.type_name() + "' is not iterable");
  }
}

bool compare_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return a.equals(b);
  if (op == "!=") return !a.equals(b);
  if (op == "in") return contains(b, a);
  if (op == "notin") return !contains(b, a);
  if (op == "<") return less_than(a, b);
  if (op == ">") return less_than(b, a);
  if (op == "<=") return less_than(a, b) || a.equals(b);
  if (op == ">=") return less_than(b, a) || a.equals(b);
  throw RenderError("unknown comparison operator " + op);
}

}  // namespace strata::jinja
