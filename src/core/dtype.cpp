#include "core/dtype.h"

#include <array>
#include <cctype>
#include <string>

namespace strata {

namespace {
// Block layouts follow GGUF: Q8_0 = f16 scale + 32 int8; Q4_0 = f16 d + 16 bytes;
// Q4_1 = f16 d, f16 m + 16 bytes; Q5_0 = d + 4 bytes high bits + 16; Q5_1 = d, m + 4 + 16;
// K-quants use 256-element super-blocks.
constexpr std::array<DTypeInfo, 12> kInfos = {{
    {"f32", 1, 4, false},
    {"f16", 1, 2, false},
    {"bf16", 1, 2, false},
    {"i32", 1, 4, false},
    {"q8_0", 32, 34, true},
    {"q4_0", 32, 18, true},
    {"q4_1", 32, 20, true},
    {"q5_0", 32, 22, true},
    {"q5_1", 32, 24, true},
    {"q4_k", 256, 144, true},
    {"q5_k", 256, 176, true},
    {"q6_k", 256, 210, true},
}};
}  // namespace

const DTypeInfo& dtype_info(DType t) { return kInfos[static_cast<size_t>(t)]; }

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < kInfos.size(); ++i)
    if (kInfos[i].name == lower) return static_cast<DType>(i);
  return std::nullopt;
}

}  // namespace strata
