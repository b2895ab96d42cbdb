#include <gtest/gtest.h>

#include <cstdint>

#include "core/aligned_vector.h"

namespace strata {
namespace {

TEST(AlignedVector, DataStartsOnACacheLineWhateverTheSize) {
  for (size_t n : {1, 3, 17, 1000, 100000, 3000000}) {
    AlignedVector<float> v(n, 1.0f);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % 64, 0u) << n;
    v.resize(n * 2 + 5);  // reallocation keeps the alignment and the contents
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % 64, 0u) << n;
    EXPECT_EQ(v[n - 1], 1.0f);
  }
}

}  // namespace
}  // namespace strata
