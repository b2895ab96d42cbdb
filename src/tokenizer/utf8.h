#pragma once
// UTF-8 helpers shared by the tokenizer pipeline: decoding with the Unicode "maximal
// subpart" replacement rule (the one Python's bytes.decode(errors="replace") applies),
// encoding, and the GPT-2 byte <-> printable-character mapping of byte-level BPE.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

// Length in bytes of the valid character starting at s[pos], or 0 when the bytes there
// are not a complete valid sequence. `needed_more` is set when the sequence is a valid
// prefix cut off by the end of `s`.
size_t valid_sequence_length(std::string_view s, size_t pos, bool* needed_more = nullptr);

// Decodes the character at s[pos] and advances pos; invalid bytes yield U+FFFD, one per
// maximal subpart.
char32_t next_codepoint(std::string_view s, size_t& pos);

void append(std::string& out, char32_t cp);
std::string encode(char32_t cp);

// Replaces invalid sequences by U+FFFD (one per maximal subpart).
std::string sanitize(std::string_view s);
bool is_valid(std::string_view s);

std::vector<char32_t> to_codepoints(std::string_view s);
std::string from_codepoints(const std::vector<char32_t>& cps);

// Splits into single characters (each a UTF-8 string view into s); s must be valid.
std::vector<std::string_view> split_chars(std::string_view s);

// Byte-level BPE alphabet: each byte maps to one printable character (GPT-2's table).
const std::array<std::string, 256>& byte_to_char_table();
// The inverse: the byte for a byte-level character, nullopt for any other character.
std::optional<uint8_t> char_to_byte(char32_t cp);

}  // namespace strata::utf8
