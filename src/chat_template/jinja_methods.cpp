// Python methods of str, dict and list that templates call (`content.strip()`,
// `message.get('x')`). Mutating methods raise, as in jinja2's ImmutableSandboxedEnvironment.
#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "chat_template/jinja_builtins.h"
#include "chat_template/jinja_error.h"
#include "core/utf8_append.h"

namespace strata::jinja {
namespace {

bool is_python_space(const std::string& ch) {
  static const std::set<std::string> kUnicodeSpaces = {
      "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83",
      "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89",
      "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"};
  if (ch.size() == 1) {
    unsigned char c = ch[0];
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  }
  return kUnicodeSpaces.count(ch) > 0;
}

std::string join_chars(const std::vector<std::string>& chars, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) out += chars[i];
  return out;
}

const std::string& string_arg(const CallArgs& args, size_t pos, std::string_view name, const std::string& method) {
  const Value* v = args.get(pos, name);
  if (!v || !v->is_string()) throw RenderError(method + "() argument must be str");
  return v->as_string();
}

Value python_split(const std::string& s, const CallArgs& args, bool from_right) {
  const Value* sep = args.get(0, "sep");
  const Value* maxsplit_arg = args.get(1, "maxsplit");
  int64_t maxsplit = maxsplit_arg ? maxsplit_arg->as_int() : -1;
  List parts;
  if (!sep || sep->is_none()) {
    std::vector<std::string> chars = utf8_chars(s);
    std::vector<std::pair<size_t, size_t>> words;
    size_t i = 0;
    while (i < chars.size()) {
      while (i < chars.size() && is_python_space(chars[i])) ++i;
      if (i == chars.size()) break;
      size_t j = i;
      while (j < chars.size() && !is_python_space(chars[j])) ++j;
      words.emplace_back(i, j);
      i = j;
    }
    if (maxsplit >= 0 && static_cast<int64_t>(words.size()) > maxsplit + 1) {
      // The unsplit remainder keeps its inner whitespace (trimmed at the split end only).
      if (!from_right) {
        for (int64_t w = 0; w < maxsplit; ++w) parts.emplace_back(join_chars(chars, words[w].first, words[w].second));
        size_t rest_end = words.back().second;
        parts.emplace_back(join_chars(chars, words[maxsplit].first, rest_end));
      } else {
        size_t k = words.size() - maxsplit;
        parts.emplace_back(join_chars(chars, words[0].first, words[k - 1].second));
        for (size_t w = k; w < words.size(); ++w) parts.emplace_back(join_chars(chars, words[w].first, words[w].second));
      }
      return Value::list(std::move(parts));
    }
    for (auto [a, b] : words) parts.emplace_back(join_chars(chars, a, b));
    return Value::list(std::move(parts));
  }
  if (!sep->is_string()) throw RenderError("must be str or None, not " + sep->type_name());
  const std::string& d = sep->as_string();
  if (d.empty()) throw RenderError("empty separator");
  std::vector<std::string> pieces;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(pieces.size()) < maxsplit) {
      size_t p = s.find(d, start);
      if (p == std::string::npos) break;
      pieces.push_back(s.substr(start, p - start));
      start = p + d.size();
    }
    pieces.push_back(s.substr(start));
  } else {
    size_t end = s.size();
    std::vector<std::string> rev;
    while (maxsplit < 0 || static_cast<int64_t>(rev.size()) < maxsplit) {
      if (end < d.size()) break;
      size_t p = s.rfind(d, end - d.size());
      if (p == std::string::npos) break;
      rev.push_back(s.substr(p + d.size(), end - p - d.size()));
      end = p;
    }
    rev.push_back(s.substr(0, end));
    pieces.assign(rev.rbegin(), rev.rend());
  }
  for (auto& p : pieces) parts.emplace_back(std::move(p));
  return Value::list(std::move(parts));
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) throw RenderError("startswith/endswith first arg must be str or a tuple of str");
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list()) {
    for (const Value& a : affix.items())
      if (one(a)) return true;
    return false;
  }
  return one(affix);
}

// Unicode case mapping through the C.UTF-8 locale (an immutable handle made once).
locale_t utf8_locale() {
  static const locale_t locale = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    return l ? l : newlocale(LC_CTYPE_MASK, "C", static_cast<locale_t>(0));
  }();
  return locale;
}

std::u32string decode(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    char32_t cp = extra == 3 ? (c & 0x07) : extra == 2 ? (c & 0x0F) : extra == 1 ? (c & 0x1F) : c;
    for (int k = 0; k < extra && i + 1 < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F);
    out += cp;
  }
  return out;
}

std::string encode(const std::u32string& s) {
  std::string out;
  for (char32_t cp : s) append_utf8(out, cp);
  return out;
}

char32_t to_upper(char32_t c) { return static_cast<char32_t>(towupper_l(static_cast<wint_t>(c), utf8_locale())); }
char32_t to_lower(char32_t c) { return static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), utf8_locale())); }
bool is_cased(char32_t c) { return to_upper(c) != c || to_lower(c) != c; }

enum class CaseMap { Upper, Lower, Title, Capitalize };

std::string map_case(const std::string& s, CaseMap mode) {
  std::u32string cps = decode(s);
  bool prev_cased = false;
  for (size_t i = 0; i < cps.size(); ++i) {
    char32_t c = cps[i];
    switch (mode) {
      case CaseMap::Upper: cps[i] = to_upper(c); break;
      case CaseMap::Lower: cps[i] = to_lower(c); break;
      case CaseMap::Capitalize: cps[i] = i == 0 ? to_upper(c) : to_lower(c); break;
      case CaseMap::Title:
        cps[i] = prev_cased ? to_lower(c) : to_upper(c);
        prev_cased = is_cased(c);
        break;
    }
  }
  return encode(cps);
}

std::string python_replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (from.empty()) {
    std::string out;
    auto chars = utf8_chars(s);
    int64_t n = 0;
    for (const auto& c : chars) {
      if (count < 0 || n < count) {
        out += to;
        ++n;
      }
      out += c;
    }
    if (count < 0 || n < count) out += to;
    return out;
  }
  std::string out;
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t p = s.find(from, start);
    if (p == std::string::npos) break;
    out += s.substr(start, p - start) + to;
    start = p + from.size();
    ++n;
  }
  return out + s.substr(start);
}

int64_t codepoint_index(const std::string& s, size_t byte_pos) {
  if (byte_pos == std::string::npos) return -1;
  return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, byte_pos)));
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& args) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value* chars = args.get(0, "chars");
    return Value(python_strip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") return python_split(s, args, name == "rsplit");
  if (name == "startswith" || name == "endswith") {
    const Value* affix = args.get(0, "prefix");
    if (!affix) throw RenderError(name + "() takes at least 1 argument");
    return Value(affix_match(s, *affix, name == "startswith"));
  }
  if (name == "upper") return Value(map_case(s, CaseMap::Upper));
  if (name == "lower") return Value(map_case(s, CaseMap::Lower));
  if (name == "title") return Value(map_case(s, CaseMap::Title));
  if (name == "capitalize") return Value(map_case(s, CaseMap::Capitalize));
  if (name == "replace") {
    const Value* count = args.get(2, "count");
    return Value(python_replace(s, string_arg(args, 0, "old", name), string_arg(args, 1, "new", name),
                                count ? count->as_int() : -1));
  }
  if (name == "find" || name == "index") {
    int64_t i = codepoint_index(s, s.find(string_arg(args, 0, "sub", name)));
    if (i < 0 && name == "index") throw RenderError("substring not found");
    return Value(i);
  }
  if (name == "rfind") return Value(codepoint_index(s, s.rfind(string_arg(args, 0, "sub", name))));
  if (name == "count") {
    const std::string& sub = string_arg(args, 0, "sub", name);
    if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s) + 1));
    int64_t n = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return Value(n);
  }
  if (name == "join") {
    const Value* items = args.get(0, "iterable");
    if (!items) throw RenderError("join() takes exactly one argument");
    std::string out;
    bool first = true;
    for (const Value& v : iterate(*items)) {
      if (!v.is_string()) throw RenderError("sequence item: expected str instance, " + v.type_name() + " found");
      out += (first ? "" : s) + v.as_string();
      first = false;
    }
    return Value(out);
  }
  auto all_chars = [&](int (*pred)(int)) {
    if (s.empty()) return Value(false);
    for (unsigned char c : s)
      if (!pred(c)) return Value(false);
    return Value(true);
  };
  if (name == "isdigit") return all_chars(::isdigit);
  if (name == "isalpha") return all_chars(::isalpha);
  if (name == "isalnum") return all_chars(::isalnum);
  if (name == "isspace") return all_chars(::isspace);
  if (name == "islower") return Value(s != map_case(s, CaseMap::Upper) && s == map_case(s, CaseMap::Lower));
  if (name == "isupper") return Value(s != map_case(s, CaseMap::Lower) && s == map_case(s, CaseMap::Upper));
  throw RenderError("'str' object has no attribute '" + name + "'");
}

Value dict_method(const Value& obj, const std::string& name, const CallArgs& args) {
  const Dict& d = obj.dict_ref();
  if (name == "get") {
    const Value* key = args.get(0, "key");
    if (!key) throw RenderError("get expected at least 1 argument");
    if (const Value* v = d.find(*key)) return *v;
    const Value* dflt = args.get(1, "default");
    return dflt ? *dflt : Value::none();
  }
  List out;
  for (const auto& [k, v] : d.entries) {
    if (name == "items") out.push_back(Value::tuple({k, v}));
    if (name == "keys") out.push_back(k);
    if (name == "values") out.push_back(v);
  }
  return Value::list(std::move(out));
}

Value list_method(const Value& obj, const std::string& name, const CallArgs& args) {
  const Value* item = args.get(0, "value");
  if (!item) throw RenderError(name + "() takes exactly one argument");
  const List& l = obj.items();
  if (name == "count") return Value(static_cast<int64_t>(std::count_if(l.begin(), l.end(), [&](const Value& v) { return v.equals(*item); })));
  for (size_t i = 0; i < l.size(); ++i)
    if (l[i].equals(*item)) return Value(static_cast<int64_t>(i));
  throw RenderError(item->repr() + " is not in list");
}

bool is_one_of(const std::string& name, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

Value unsafe_method(const Value& obj, const std::string& name) {
  std::string message = "access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe";
  return Value::function(name, [message](const CallArgs&) -> Value { throw RenderError(message); });
}

}  // namespace

std::string python_strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::vector<std::string> cs = utf8_chars(s);
  std::set<std::string> strip_set;
  bool whitespace = !chars || chars->is_none();
  if (!whitespace) {
    if (!chars->is_string()) throw RenderError("strip arg must be None or str");
    for (auto& c : utf8_chars(chars->as_string())) strip_set.insert(c);
  }
  auto strip_it = [&](const std::string& c) { return whitespace ? is_python_space(c) : strip_set.count(c) > 0; };
  size_t lo = 0, hi = cs.size();
  if (left)
    while (lo < hi && strip_it(cs[lo])) ++lo;
  if (right)
    while (hi > lo && strip_it(cs[hi - 1])) --hi;
  return join_chars(cs, lo, hi);
}

std::string jinja_title(const std::string& s) {
  // jinja's do_title: words split at runs of '-', whitespace, '(', '{', '[', '<'; each piece
  // gets its first character upper-cased and the rest lower-cased.
  std::u32string cps = decode(s);
  auto is_break = [](char32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || (c < 0x80 && std::isspace(static_cast<int>(c)));
  };
  for (size_t i = 0; i < cps.size();) {
    size_t j = i;
    bool breaking = is_break(cps[i]);
    while (j < cps.size() && is_break(cps[j]) == breaking) ++j;
    cps[i] = to_upper(cps[i]);
    for (size_t k = i + 1; k < j; ++k) cps[k] = to_lower(cps[k]);
    i = j;
  }
  return encode(cps);
}

std::optional<Value> bound_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    static const std::set<std::string> kNames = {
        "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "index", "count", "join", "isdigit",
        "isalpha", "isalnum", "isspace", "islower", "isupper"};
    if (!kNames.count(name)) return std::nullopt;
    std::string s = obj.as_string();
    return Value::function(name, [s, name](const CallArgs& args) { return string_method(s, name, args); });
  }
  if (obj.is_dict()) {
    if (is_one_of(name, {"get", "items", "keys", "values"}))
      return Value::function(name, [obj, name](const CallArgs& args) { return dict_method(obj, name, args); });
    if (is_one_of(name, {"pop", "popitem", "setdefault", "update", "clear"})) return unsafe_method(obj, name);
    return std::nullopt;
  }
  if (obj.is_list()) {
    if (is_one_of(name, {"index", "count"}))
      return Value::function(name, [obj, name](const CallArgs& args) { return list_method(obj, name, args); });
    if (is_one_of(name, {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"}))
      return unsafe_method(obj, name);
  }
  return std::nullopt;
}

}  // namespace strata::jinja
