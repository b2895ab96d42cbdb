// AVX2 quantization of activation rows to int16 groups of 32 (see matmul_internal.h).
#include <immintrin.h>

#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {

namespace {

float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void quantize_group(const float* x, float levels, int16_t* q, float& scale, float& sum) {
  const __m256 magnitude_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 v[4];
  for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + 8 * i);
  const __m256 amax = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], magnitude_mask), _mm256_and_ps(v[1], magnitude_mask)),
                                    _mm256_max_ps(_mm256_and_ps(v[2], magnitude_mask), _mm256_and_ps(v[3], magnitude_mask)));
  sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(v[0], v[1]), _mm256_add_ps(v[2], v[3])));
  const float d = horizontal_max(amax) / levels;
  scale = d;
  const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  __m256i n[4];
  for (int i = 0; i < 4; ++i) n[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));  // round half to even
  // packs interleaves 128-bit lanes: {0..3, 8..11 | 4..7, 12..15}; the permute restores order.
  const __m256i lo = _mm256_permute4x64_epi64(_mm256_packs_epi32(n[0], n[1]), 0xD8);
  const __m256i hi = _mm256_permute4x64_epi64(_mm256_packs_epi32(n[2], n[3]), 0xD8);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), lo);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 16), hi);
}

}  // namespace

void quantize_activation_row_avx2(const float* x, int64_t k, int levels, int16_t* q, float* scale, float* sum) {
  for (int64_t g = 0; g < k / kActGroup; ++g)
    quantize_group(x + g * kActGroup, static_cast<float>(levels), q + g * kActGroup, scale[g], sum[g]);
}

}  // namespace strata::cpu
