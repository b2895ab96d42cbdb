#include "tokenizer/unicode_data.h"

#include <algorithm>
#include <cstdint>

#include "tokenizer/utf8.h"

namespace strata::unicode {

namespace {

struct CanonicalDecomposition { char32_t cp, first, second; };
struct CanonicalComposition { char32_t first, second, composed; };
struct CombiningClass { char32_t cp; uint8_t ccc; };
struct LowercaseMapping { char32_t cp; char32_t lower[3]; };
struct CategoryRun { char32_t first; uint8_t category; };

#include "tokenizer/unicode_tables.inc"

// Hangul syllables compose and decompose arithmetically (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

template <typename Table, typename Key>
const auto* find_by_cp(const Table& table, Key cp) {
  auto it = std::lower_bound(std::begin(table), std::end(table), cp,
                             [](const auto& e, Key k) { return e.cp < k; });
  return (it != std::end(table) && it->cp == cp) ? &*it : nullptr;
}

uint8_t combining_class(char32_t cp) {
  const auto* e = find_by_cp(kCombiningClasses, cp);
  return e ? e->ccc : 0;
}

void decompose_into(char32_t cp, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* d = find_by_cp(kDecompositions, cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose_into(d->first, out);
  if (d->second) decompose_into(d->second, out);
}

// Canonical ordering: stable sort of each run of non-starters by combining class.
void reorder_marks(std::vector<char32_t>& text) {
  for (size_t i = 0; i < text.size();) {
    if (combining_class(text[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < text.size() && combining_class(text[end]) != 0) ++end;
    std::stable_sort(text.begin() + i, text.begin() + end,
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = end;
  }
}

std::optional<char32_t> compose_pair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase && second < kVBase + kVCount)
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount)
    return first + (second - kTBase);
  auto it = std::lower_bound(std::begin(kCompositions), std::end(kCompositions), std::pair{first, second},
                             [](const CanonicalComposition& e, std::pair<char32_t, char32_t> k) {
                               return std::pair{e.first, e.second} < k;
                             });
  if (it != std::end(kCompositions) && it->first == first && it->second == second) return it->composed;
  return std::nullopt;
}

}  // namespace

Category category(char32_t cp) {
  auto it = std::upper_bound(std::begin(kCategoryRuns), std::end(kCategoryRuns), cp,
                             [](char32_t k, const CategoryRun& r) { return k < r.first; });
  return static_cast<Category>(std::prev(it)->category);
}

bool is_mark(char32_t cp) {
  const auto c = category(cp);
  return c == Category::Mn || c == Category::Mc || c == Category::Me;
}

bool is_punctuation(char32_t cp) {
  const auto c = category(cp);
  return c >= Category::Pc && c <= Category::Po;
}

bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

std::vector<char32_t> nfd(const std::vector<char32_t>& text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  for (char32_t cp : text) decompose_into(cp, out);
  reorder_marks(out);
  return out;
}

std::vector<char32_t> nfc(const std::vector<char32_t>& text) {
  std::vector<char32_t> d = nfd(text);
  std::vector<char32_t> out;
  out.reserve(d.size());
  size_t starter = SIZE_MAX;  // index in `out` of the last starter
  uint8_t last_class = 0;
  for (char32_t cp : d) {
    const uint8_t cls = combining_class(cp);
    if (starter != SIZE_MAX && (last_class < cls || (last_class == 0 && out.size() == starter + 1))) {
      if (auto composed = compose_pair(out[starter], cp)) {
        out[starter] = *composed;
        continue;
      }
    }
    if (cls == 0) starter = out.size();
    last_class = cls;
    out.push_back(cp);
  }
  return out;
}

std::string nfd(std::string_view text) { return utf8::from_codepoints(nfd(utf8::to_codepoints(text))); }

std::string nfc(std::string_view text) {
  // Below U+0300 nothing composes or reorders, so such text is already NFC; a UTF-8
  // lead byte of 0xCC or more is the first sign of a code point at or above U+0300.
  const bool below_u0300 =
      std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0xCC; });
  if (below_u0300) return std::string(text);
  return utf8::from_codepoints(nfc(utf8::to_codepoints(text)));
}

namespace {

bool is_cased(char32_t cp) {
  const auto c = category(cp);
  return c == Category::Lu || c == Category::Ll || c == Category::Lt;
}

// An approximation of Case_Ignorable: marks, format characters, modifiers, and the
// word-internal punctuation Unicode lists (apostrophes, period, colon, middle dot).
bool is_case_ignorable(char32_t cp) {
  const auto c = category(cp);
  return c == Category::Mn || c == Category::Me || c == Category::Cf || c == Category::Lm || c == Category::Sk ||
         cp == '\'' || cp == '.' || cp == ':' || cp == 0x00B7 || cp == 0x2019 || cp == 0x2018 || cp == 0x2024;
}

// Unicode's Final_Sigma condition for U+03A3 at index i.
bool is_final_sigma(const std::vector<char32_t>& cps, size_t i) {
  size_t before = i;
  while (before > 0 && is_case_ignorable(cps[before - 1])) --before;
  if (before == 0 || !is_cased(cps[before - 1])) return false;
  size_t after = i + 1;
  while (after < cps.size() && is_case_ignorable(cps[after])) ++after;
  return after == cps.size() || !is_cased(cps[after]);
}

}  // namespace

std::string lowercase(std::string_view text) {
  const auto cps = utf8::to_codepoints(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    const char32_t cp = cps[i];
    if (cp == 0x03A3 && is_final_sigma(cps, i)) {
      utf8::append(out, 0x03C2);  // ς
      continue;
    }
    const auto* m = find_by_cp(kLowercase, cp);
    if (!m) {
      utf8::append(out, cp);
      continue;
    }
    for (char32_t lo : m->lower)
      if (lo) utf8::append(out, lo);
  }
  return out;
}

}  // namespace strata::unicode
