#include "tokenizer/utf8.h"

#include "core/utf8_append.h"

namespace strata::utf8 {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Allowed range of the second byte for a given lead byte (Unicode Table 3-7).
bool second_byte_ok(unsigned char lead, unsigned char c) {
  if (lead == 0xE0) return c >= 0xA0 && c <= 0xBF;
  if (lead == 0xED) return c >= 0x80 && c <= 0x9F;
  if (lead == 0xF0) return c >= 0x90 && c <= 0xBF;
  if (lead == 0xF4) return c >= 0x80 && c <= 0x8F;
  return is_continuation(c);
}

int expected_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

struct ByteLevelTables {
  std::array<std::string, 256> byte_to_char;
  std::array<int16_t, 324> char_to_byte{};  // every mapped character is below U+0144
};

ByteLevelTables build_byte_level_tables() {
  ByteLevelTables t;
  t.char_to_byte.fill(-1);
  // Printable bytes map to themselves; the rest to U+0100 upwards in byte order.
  auto printable = [](int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  int next_extra = 0;
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = printable(b) ? static_cast<char32_t>(b) : 0x100 + next_extra++;
    t.byte_to_char[b] = encode(cp);
    t.char_to_byte[cp] = static_cast<int16_t>(b);
  }
  return t;
}

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables = build_byte_level_tables();
  return tables;
}

}  // namespace

size_t valid_sequence_length(std::string_view s, size_t pos, bool* needed_more) {
  if (needed_more) *needed_more = false;
  const auto lead = static_cast<unsigned char>(s[pos]);
  const int len = expected_length(lead);
  if (len == 0) return 0;
  for (int i = 1; i < len; ++i) {
    if (pos + i >= s.size()) {
      if (needed_more) *needed_more = true;
      return 0;
    }
    const auto c = static_cast<unsigned char>(s[pos + i]);
    if (!(i == 1 ? second_byte_ok(lead, c) : is_continuation(c))) return 0;
  }
  return static_cast<size_t>(len);
}

char32_t next_codepoint(std::string_view s, size_t& pos) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  const int len = expected_length(lead);
  if (len == 1) {
    ++pos;
    return lead;
  }
  if (len == 0) {
    ++pos;
    return kReplacement;
  }
  char32_t cp = lead & (0xFF >> (len + 1));
  size_t i = 1;
  for (; i < static_cast<size_t>(len); ++i) {
    if (pos + i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[pos + i]);
    if (!(i == 1 ? second_byte_ok(lead, c) : is_continuation(c))) break;
    cp = (cp << 6) | (c & 0x3F);
  }
  pos += i;  // a maximal subpart that failed is consumed as one replacement
  return i == static_cast<size_t>(len) ? cp : kReplacement;
}

void append(std::string& out, char32_t cp) { append_utf8(out, cp); }

std::string encode(char32_t cp) {
  std::string s;
  append(s, cp);
  return s;
}

bool is_valid(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t len = valid_sequence_length(s, pos);
    if (len == 0) return false;
    pos += len;
  }
  return true;
}

std::string sanitize(std::string_view s) {
  if (is_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t pos = 0; pos < s.size();) append(out, next_codepoint(s, pos));
  return out;
}

std::vector<char32_t> to_codepoints(std::string_view s) {
  std::vector<char32_t> cps;
  cps.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) cps.push_back(next_codepoint(s, pos));
  return cps;
}

std::string from_codepoints(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) append(out, cp);
  return out;
}

std::vector<std::string_view> split_chars(std::string_view s) {
  std::vector<std::string_view> chars;
  chars.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    size_t len = valid_sequence_length(s, pos);
    if (len == 0) len = 1;
    chars.push_back(s.substr(pos, len));
    pos += len;
  }
  return chars;
}

const std::array<std::string, 256>& byte_to_char_table() { return byte_level_tables().byte_to_char; }

std::optional<uint8_t> char_to_byte(char32_t cp) {
  const auto& table = byte_level_tables().char_to_byte;
  if (cp >= table.size() || table[cp] < 0) return std::nullopt;
  return static_cast<uint8_t>(table[cp]);
}

}  // namespace strata::utf8
