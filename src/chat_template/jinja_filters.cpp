// jinja2's builtin filters as chat templates use them, plus transformers' tojson.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "chat_template/jinja_builtins.h"
#include "chat_template/jinja_error.h"
#include "chat_template/jinja_interpreter.h"

namespace strata::jinja {
namespace {

std::string soft_str(const Value& v) { return v.str(); }

const Value* arg(const CallArgs& args, size_t pos, std::string_view name) { return args.get(pos, name); }

bool flag(const CallArgs& args, size_t pos, std::string_view name) {
  const Value* v = args.get(pos, name);
  return v && v->truthy();
}

// jinja's make_attrgetter: "a.b.0" looks up items (then attributes) step by step.
Value attribute_path(const Value& item, const std::string& path) {
  Value cur = item;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = get_item(cur, numeric ? Value(static_cast<int64_t>(std::strtoll(part.c_str(), nullptr, 10))) : Value(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

std::string attribute_name(const Value* v) {
  if (!v || !v->is_string()) throw RenderError("attribute name must be a string");
  return v->as_string();
}

std::string lower_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Key for sort/unique: strings fold case unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(lower_ascii(v.as_string()));
  return v;
}

Value filter_select(Interpreter& interp, const Value& input, const CallArgs& args, bool by_attribute, bool keep) {
  List out;
  if (!input.truthy()) return Value::list();  // jinja2: `if value:` before iterating
  size_t test_pos = by_attribute ? 1 : 0;
  std::string attr = by_attribute ? attribute_name(arg(args, 0, "attribute")) : "";
  const Value* test = args.positional.size() > test_pos ? &args.positional[test_pos] : nullptr;
  CallArgs test_args;
  for (size_t i = test_pos + 1; i < args.positional.size(); ++i) test_args.positional.push_back(args.positional[i]);
  for (const Value& item : iterate(input)) {
    Value subject = by_attribute ? attribute_path(item, attr) : item;
    bool ok = test ? apply_test(interp, test->str(), subject, test_args) : subject.truthy();
    if (ok == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value filter_map(Interpreter& interp, const Value& input, const CallArgs& args) {
  List out;
  if (!input.truthy()) return Value::list();  // jinja2: `if value:` before iterating
  if (const Value* attr = args.get(99, "attribute")) {
    const Value* dflt = args.get(99, "default");
    for (const Value& item : iterate(input)) {
      Value v = attribute_path(item, attribute_name(attr));
      out.push_back(v.is_undefined() && dflt ? *dflt : v);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty()) throw RenderError("map requires a filter name or attribute=");
  std::string filter = args.positional[0].str();
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : iterate(input)) out.push_back(apply_filter(interp, filter, item, rest));
  return Value::list(std::move(out));
}

Value filter_sort(const Value& input, const CallArgs& args) {
  bool reverse = flag(args, 0, "reverse");
  bool case_sensitive = flag(args, 1, "case_sensitive");
  const Value* attr = arg(args, 2, "attribute");
  List items = iterate(input);
  auto key = [&](const Value& v) { return sort_key(attr ? attribute_path(v, attribute_name(attr)) : v, case_sensitive); };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? less_than(key(b), key(a)) : less_than(key(a), key(b));
  });
  return Value::list(std::move(items));
}

Value filter_unique(const Value& input, const CallArgs& args) {
  bool case_sensitive = flag(args, 0, "case_sensitive");
  const Value* attr = arg(args, 1, "attribute");
  List out, seen;
  for (const Value& item : iterate(input)) {
    Value key = sort_key(attr ? attribute_path(item, attribute_name(attr)) : item, case_sensitive);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= '\x1c' && c <= '\x1e')) {
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

Value filter_indent(const Value& input, const CallArgs& args) {
  const Value* width = arg(args, 0, "width");
  std::string indention = !width ? "    " : width->is_string() ? width->as_string() : std::string(width->as_int(), ' ');
  bool first = flag(args, 1, "first");
  bool blank = flag(args, 2, "blank");
  std::string s = soft_str(input) + "\n";
  std::vector<std::string> lines = split_lines(s);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + indention : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : indention + lines[i]);
  }
  return Value(first ? indention + rv : rv);
}

Value filter_tojson(const Value& input, const CallArgs& args) {
  JsonFormat format;
  format.ensure_ascii = flag(args, 0, "ensure_ascii");
  const Value* indent = arg(args, 1, "indent");
  const Value* separators = arg(args, 2, "separators");
  format.sort_keys = flag(args, 3, "sort_keys");
  if (indent && !indent->is_none()) {
    format.indent = static_cast<int>(indent->as_int());
    format.item_separator = ",";
  }
  if (separators && !separators->is_none()) {
    if (!separators->is_list() || separators->items().size() != 2) throw RenderError("separators must be a pair of strings");
    format.item_separator = separators->items()[0].str();
    format.key_separator = separators->items()[1].str();
  }
  return Value(to_json(input, format));
}

Value to_int(const Value& v, const CallArgs& args) {
  const Value* dflt = arg(args, 0, "default");
  Value fallback = dflt ? *dflt : Value(0);
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) return Value(static_cast<int64_t>(std::trunc(v.as_double())));
  if (v.is_string()) {
    std::string s = python_strip(v.as_string(), nullptr, true, true);
    try {
      size_t used = 0;
      int64_t i = std::stoll(s, &used, 10);
      if (used == s.size()) return Value(i);
      double d = std::stod(s, &used);
      if (used == s.size()) return Value(static_cast<int64_t>(std::trunc(d)));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value to_float(const Value& v, const CallArgs& args) {
  const Value* dflt = arg(args, 0, "default");
  Value fallback = dflt ? *dflt : Value(0.0);
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    std::string s = python_strip(v.as_string(), nullptr, true, true);
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used == s.size()) return Value(d);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value filter_round(const Value& v, const CallArgs& args) {
  const Value* p = arg(args, 0, "precision");
  int64_t precision = p ? p->as_int() : 0;
  std::string method = arg(args, 1, "method") ? arg(args, 1, "method")->str() : "common";
  if (!v.is_number()) throw RenderError("round() requires a number");
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  if (method == "floor") return Value(std::floor(x) / scale);
  if (method == "ceil") return Value(std::ceil(x) / scale);
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  double r = std::nearbyint(x);  // round-half-even like Python
  return Value(r / scale);
}

Value filter_join(const Value& input, const CallArgs& args) {
  const Value* sep = arg(args, 0, "d");
  const Value* attr = arg(args, 1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(input)) {
    out += (first ? "" : (sep ? sep->str() : "")) + (attr ? attribute_path(item, attribute_name(attr)) : item).str();
    first = false;
  }
  return Value(out);
}

Value filter_items(const Value& input) {
  if (input.is_undefined()) return Value::list();
  if (!input.is_dict()) throw RenderError("items filter requires a mapping");
  List out;
  for (const auto& [k, v] : input.dict_ref().entries) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out));
}

Value filter_reverse(const Value& input) {
  if (input.is_string()) {
    auto chars = utf8_chars(input.as_string());
    std::string out;
    for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
    return Value(out);
  }
  List items = iterate(input);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value filter_sum(const Value& input, const CallArgs& args) {
  const Value* attr = arg(args, 0, "attribute");
  const Value* start = arg(args, 1, "start");
  Value total = start ? *start : Value(0);
  for (const Value& item : iterate(input)) total = binary_op("+", total, attr ? attribute_path(item, attribute_name(attr)) : item);
  return total;
}

Value filter_min_max(const Value& input, const CallArgs& args, bool want_max) {
  bool case_sensitive = flag(args, 0, "case_sensitive");
  const Value* attr = arg(args, 1, "attribute");
  List items = iterate(input);
  if (items.empty()) return Value::undefined("no items in sequence");
  auto key = [&](const Value& v) { return sort_key(attr ? attribute_path(v, attribute_name(attr)) : v, case_sensitive); };
  Value best = items[0];
  for (const Value& item : items)
    if (want_max ? less_than(key(best), key(item)) : less_than(key(item), key(best))) best = item;
  return best;
}

Value filter_batch(const Value& input, const CallArgs& args) {
  const Value* count = arg(args, 0, "linecount");
  const Value* fill = arg(args, 1, "fill_with");
  if (!count || count->as_int() <= 0) throw RenderError("batch needs a positive line count");
  size_t n = static_cast<size_t>(count->as_int());
  List batches, current;
  for (const Value& item : iterate(input)) {
    current.push_back(item);
    if (current.size() == n) batches.push_back(Value::list(std::exchange(current, {})));
  }
  if (!current.empty()) {
    while (fill && !fill->is_none() && current.size() < n) current.push_back(*fill);
    batches.push_back(Value::list(std::move(current)));
  }
  return Value::list(std::move(batches));
}

// str.center: Python puts the extra space on the right when the padding is odd
// and the string's length is even, on the left otherwise.
Value filter_center(const Value& input, const CallArgs& args) {
  std::string s = soft_str(input);
  const Value* width_arg = arg(args, 0, "width");
  int64_t width = width_arg ? width_arg->as_int() : 80;
  int64_t len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return Value(s);
  int64_t pad = width - len;
  int64_t left = pad / 2 + (pad & width & 1);
  return Value(std::string(left, ' ') + s + std::string(pad - left, ' '));
}

}  // namespace

Value apply_filter(Interpreter& interp, const std::string& name, const Value& input, const CallArgs& args) {
  if (name == "length" || name == "count") return Value(length_of(input));
  if (name == "default" || name == "d") {
    const Value* dflt = arg(args, 0, "default_value");
    bool use_default = input.is_undefined() || (flag(args, 1, "boolean") && !input.truthy());
    return use_default ? (dflt ? *dflt : Value("")) : input;
  }
  if (name == "tojson") return filter_tojson(input, args);
  if (name == "trim") return Value(python_strip(soft_str(input), arg(args, 0, "chars"), true, true));
  if (name == "string") return Value(soft_str(input));
  if (name == "safe") return Value::markup(soft_str(input));
  if (name == "e" || name == "escape") return input.is_markup() ? input : Value::markup(html_escape(soft_str(input)));
  if (name == "forceescape") return Value::markup(html_escape(soft_str(input)));
  if (name == "title") return Value(jinja_title(soft_str(input)));
  if (name == "upper" || name == "lower" || name == "capitalize")
    return get_attribute(Value(soft_str(input)), name).callable().call({});
  if (name == "replace") {
    CallArgs a;
    a.positional = {Value(arg(args, 0, "old") ? arg(args, 0, "old")->str() : ""),
                    Value(arg(args, 1, "new") ? arg(args, 1, "new")->str() : "")};
    if (const Value* c = arg(args, 2, "count"); c && !c->is_none()) a.positional.push_back(*c);
    return get_attribute(Value(soft_str(input)), "replace").callable().call(a);
  }
  if (name == "join") return filter_join(input, args);
  if (name == "first") {
    List items = iterate(input);
    return items.empty() ? Value::undefined("no first item, sequence was empty") : items.front();
  }
  if (name == "last") {
    List items = iterate(input);
    return items.empty() ? Value::undefined("no last item, sequence was empty") : items.back();
  }
  if (name == "list") return Value::list(iterate(input));
  if (name == "int") return to_int(input, args);
  if (name == "float") return to_float(input, args);
  if (name == "abs") {
    if (!input.is_number()) throw RenderError("bad operand type for abs(): '" + input.type_name() + "'");
    return input.is_float() ? Value(std::fabs(input.as_double())) : Value(static_cast<int64_t>(std::llabs(input.as_int())));
  }
  if (name == "round") return filter_round(input, args);
  if (name == "items") return filter_items(input);
  if (name == "selectattr") return filter_select(interp, input, args, true, true);
  if (name == "rejectattr") return filter_select(interp, input, args, true, false);
  if (name == "select") return filter_select(interp, input, args, false, true);
  if (name == "reject") return filter_select(interp, input, args, false, false);
  if (name == "map") return filter_map(interp, input, args);
  if (name == "unique") return filter_unique(input, args);
  if (name == "reverse") return filter_reverse(input);
  if (name == "sort") return filter_sort(input, args);
  if (name == "indent") return filter_indent(input, args);
  if (name == "wordcount") {
    std::string s = soft_str(input);
    int64_t words = 0;
    bool in_word = false;
    for (unsigned char c : s) {
      bool w = std::isalnum(c) || c == '_' || c >= 0x80;
      if (w && !in_word) ++words;
      in_word = w;
    }
    return Value(words);
  }
  if (name == "sum") return filter_sum(input, args);
  if (name == "batch") return filter_batch(input, args);
  if (name == "center") return filter_center(input, args);
  if (name == "min" || name == "max") return filter_min_max(input, args, name == "max");
  if (name == "attr") return get_attribute(input, attribute_name(arg(args, 0, "name")));
  if (name == "dictsort") {
    List items = filter_items(input).items();
    bool case_sensitive = flag(args, 0, "case_sensitive");
    bool by_value = arg(args, 1, "by") && arg(args, 1, "by")->str() == "value";
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      return less_than(sort_key(a.items()[by_value], case_sensitive), sort_key(b.items()[by_value], case_sensitive));
    });
    return Value::list(std::move(items));
  }
  throw RenderError("no filter named '" + name + "'");
}

}  // namespace strata::jinja
