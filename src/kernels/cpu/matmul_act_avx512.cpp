// AVX-512 split of int16-quantized activation rows into the two signed bytes that the VNNI
// kernels multiply (see matmul_internal.h): q = 256 hi + lo, lo = the low byte of q read as
// signed, hi = (q - lo) / 256, exact for |q| <= 32639. Also the exact sum of each group.
#include "kernels/cpu/avx512_intrinsics.h"

#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {

void split_activation_row_avx512(const int16_t* q, int64_t k, int8_t* hi, int8_t* lo, int32_t* q_sum) {
  const __m512i ones = _mm512_set1_epi16(1);
  for (int64_t g = 0; g < k / kActGroup; ++g) {
    const __m512i v = _mm512_loadu_si512(q + g * kActGroup);
    const __m256i low = _mm512_cvtepi16_epi8(v);  // truncation: the low byte of each word
    const __m512i high = _mm512_srai_epi16(_mm512_sub_epi16(v, _mm512_cvtepi8_epi16(low)), 8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lo + g * kActGroup), low);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi + g * kActGroup), _mm512_cvtepi16_epi8(high));
    q_sum[g] = _mm512_reduce_add_epi32(_mm512_madd_epi16(v, ones));
  }
}

}  // namespace strata::cpu
