// Python's json.dumps(ensure_ascii=False) byte for byte: the tojson filter that
// transformers installs is exactly that call.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat_template/jinja_error.h"
#include "chat_template/jinja_value.h"

namespace strata::jinja {
namespace {

void append_escaped_codepoint(std::string& out, uint32_t cp) {
  char buf[16];
  if (cp >= 0x10000) {
    cp -= 0x10000;
    std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
  } else {
    std::snprintf(buf, sizeof buf, "\\u%04x", cp);
  }
  out += buf;
}

// Decodes the UTF-8 sequence at s[i] (advancing i) for ensure_ascii output.
uint32_t decode_utf8(const std::string& s, size_t& i) {
  unsigned char c = s[i];
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  uint32_t cp = extra == 3 ? (c & 0x07) : extra == 2 ? (c & 0x0F) : extra == 1 ? (c & 0x1F) : c;
  for (int k = 0; k < extra && i + 1 < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[++i]) & 0x3F);
  return cp;
}

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (ensure_ascii && c >= 0x80) {
      append_escaped_codepoint(out, decode_utf8(s, i));
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return python_float_repr(d);
}

std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Kind::String: return key.as_string();
    case Kind::Bool: return key.as_bool() ? "true" : "false";
    case Kind::None: return "null";
    case Kind::Int: return std::to_string(key.as_int());
    case Kind::Float: return json_float(key.as_double());
    default:
      throw RenderError("keys must be str, int, float, bool or None, not " + key.type_name());
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonFormat& format) : format_(format) {}

  void write(const Value& v, int level, std::string& out) {
    if (level > 200) throw RenderError("tojson: value nested too deeply");
    switch (v.kind()) {
      case Kind::None: out += "null"; return;
      case Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
      case Kind::Int: out += std::to_string(v.as_int()); return;
      case Kind::Float: out += json_float(v.as_double()); return;
      case Kind::String: append_json_string(out, v.as_string(), format_.ensure_ascii); return;
      case Kind::List:
      case Kind::Tuple: write_list(v.items(), level, out); return;
      case Kind::Dict: write_dict(v.dict_ref(), level, out); return;
      default:
        throw RenderError("Object of type " + v.type_name() + " is not JSON serializable");
    }
  }

 private:
  void newline(int level, std::string& out) const {
    if (format_.indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(format_.indent) * level, ' ');
  }

  void write_list(const List& items, int level, std::string& out) {
    if (items.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += format_.item_separator;
      newline(level + 1, out);
      write(items[i], level + 1, out);
    }
    newline(level, out);
    out += ']';
  }

  void write_dict(const Dict& dict, int level, std::string& out) {
    if (dict.entries.empty()) {
      out += "{}";
      return;
    }
    std::vector<std::pair<std::string, const Value*>> entries;
    for (const auto& [k, v] : dict.entries) entries.emplace_back(json_key(k), &v);
    if (format_.sort_keys)
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
    out += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out += format_.item_separator;
      newline(level + 1, out);
      append_json_string(out, entries[i].first, format_.ensure_ascii);
      out += format_.key_separator;
      write(*entries[i].second, level + 1, out);
    }
    newline(level, out);
    out += '}';
  }

  const JsonFormat& format_;
};

}  // namespace

std::string to_json(const Value& v, const JsonFormat& format) {
  std::string out;
  JsonWriter(format).write(v, 0, out);
  return out;
}

}  // namespace strata::jinja
