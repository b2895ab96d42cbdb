// AVX2 + FMA + F16C versions of the vector ops. Compiled with -mavx2 -mfma -mf16c; every
// helper stays in the anonymous namespace and uses intrinsics only, so no ISA-specific
// copy of a shared inline function can leak into generic code.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/argmax_lanes.h"
#include "kernels/cpu/vector_ops.h"

namespace strata::cpu {
namespace {

// Lanes [0, n) set, for masked loads and stores of a tail of n < 8 elements.
__m256i tail_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__m256 load_f16x8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

__m256 load_f16_tail(const uint16_t* p, int64_t n) {
  alignas(16) uint16_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) buf[i] = p[i];
  return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(buf)));
}

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), acc1);
  }
  return horizontal_sum(_mm256_add_ps(acc0, acc1));
}

float dot_f16(const float* a, const uint16_t* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_f16x8(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_f16x8(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_f16x8(b + i), acc0);
  if (i < n) acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, tail_mask(n - i)), load_f16_tail(b + i, n - i), acc1);
  return horizontal_sum(_mm256_add_ps(acc0, acc1));
}

void scale_add_f32(float* acc, float acc_scale, const float* v, float w, int64_t n) {
  const __m256 s = _mm256_set1_ps(acc_scale), wv = _mm256_set1_ps(w);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(_mm256_loadu_ps(v + i), wv, _mm256_mul_ps(_mm256_loadu_ps(acc + i), s)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 r = _mm256_fmadd_ps(_mm256_maskload_ps(v + i, m), wv, _mm256_mul_ps(_mm256_maskload_ps(acc + i, m), s));
    _mm256_maskstore_ps(acc + i, m, r);
  }
}

void scale_add_f16(float* acc, float acc_scale, const uint16_t* v, float w, int64_t n) {
  const __m256 s = _mm256_set1_ps(acc_scale), wv = _mm256_set1_ps(w);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(load_f16x8(v + i), wv, _mm256_mul_ps(_mm256_loadu_ps(acc + i), s)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 r = _mm256_fmadd_ps(load_f16_tail(v + i, n - i), wv, _mm256_mul_ps(_mm256_maskload_ps(acc + i, m), s));
    _mm256_maskstore_ps(acc + i, m, r);
  }
}

// Four rows at a time: one dot product alone is a chain of dependent FMAs and a
// horizontal sum, so interleaving independent rows is what keeps the FMA units busy.
template <bool kHalf, typename Row>
void dot_rows(const float* q, const Row* rows, int64_t row_stride, int64_t count, int64_t n, float* scores) {
  auto load = [](const Row* p) {
    if constexpr (kHalf) return load_f16x8(reinterpret_cast<const uint16_t*>(p));
    else return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  };
  int64_t j = 0;
  if (n % 8 == 0)
    for (; j + 4 <= count; j += 4) {
      const Row* r = rows + j * row_stride;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int64_t i = 0; i < n; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        a0 = _mm256_fmadd_ps(qv, load(r + i), a0);
        a1 = _mm256_fmadd_ps(qv, load(r + row_stride + i), a1);
        a2 = _mm256_fmadd_ps(qv, load(r + 2 * row_stride + i), a2);
        a3 = _mm256_fmadd_ps(qv, load(r + 3 * row_stride + i), a3);
      }
      // Four horizontal sums at once: two rounds of hadd, then fold the 128-bit halves.
      const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
      _mm_storeu_ps(scores + j, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
  for (; j < count; ++j) {
    if constexpr (kHalf) scores[j] = dot_f16(q, reinterpret_cast<const uint16_t*>(rows + j * row_stride), n);
    else scores[j] = dot_f32(q, reinterpret_cast<const float*>(rows + j * row_stride), n);
  }
}

// acc[i] += sum_j w[j] * row_j[i], 32 columns at a time held in four registers while the
// rows stream past; a column tail falls back to scale_add per row.
template <bool kHalf, typename Row>
void accumulate_rows(float* acc, const Row* rows, int64_t row_stride, const float* w, int64_t count, int64_t n) {
  auto load = [](const Row* p) {
    if constexpr (kHalf) return load_f16x8(reinterpret_cast<const uint16_t*>(p));
    else return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  };
  int64_t c = 0;
  for (; c + 32 <= n; c += 32) {
    __m256 a[4];
    for (int k = 0; k < 4; ++k) a[k] = _mm256_loadu_ps(acc + c + 8 * k);
    for (int64_t j = 0; j < count; ++j) {
      const __m256 wj = _mm256_set1_ps(w[j]);
      const Row* row = rows + j * row_stride + c;
      for (int k = 0; k < 4; ++k) a[k] = _mm256_fmadd_ps(load(row + 8 * k), wj, a[k]);
    }
    for (int k = 0; k < 4; ++k) _mm256_storeu_ps(acc + c + 8 * k, a[k]);
  }
  if (c < n)
    for (int64_t j = 0; j < count; ++j) {
      if constexpr (kHalf) scale_add_f16(acc + c, 1.f, reinterpret_cast<const uint16_t*>(rows + j * row_stride + c), w[j], n - c);
      else scale_add_f32(acc + c, 1.f, reinterpret_cast<const float*>(rows + j * row_stride + c), w[j], n - c);
    }
}

// e^x for x in [-87, 88]: 2^k * e^r with |r| <= ln2/2, e^r by its Taylor series to r^6
// (relative error about 1e-7, enough for activations).
__m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i pow2k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2k));
}

__m256 silu_mul8(__m256 g, __m256 u) {
  const __m256 denom = _mm256_add_ps(_mm256_set1_ps(1.f), exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g)));
  return _mm256_mul_ps(_mm256_div_ps(g, denom), u);
}

void silu_mul(float* y, const float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, silu_mul8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, silu_mul8(_mm256_maskload_ps(gate + i, m), _mm256_maskload_ps(up + i, m)));
  }
}

float exp_shift_sum(float* x, float shift, int64_t n) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    const __m256 e = _mm256_and_ps(exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), s)), _mm256_castsi256_ps(m));
    _mm256_maskstore_ps(x + i, m, e);
    sum = _mm256_add_ps(sum, e);
  }
  return horizontal_sum(sum);
}

void f32_to_f16(uint16_t* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  if (i < n) {
    alignas(16) uint16_t buf[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(buf),
                    _mm256_cvtps_ph(_mm256_maskload_ps(src + i, tail_mask(n - i)), _MM_FROUND_TO_NEAREST_INT));
    for (int64_t j = 0; i + j < n; ++j) dst[i + j] = buf[j];
  }
}

void f16_to_f32(float* dst, const uint16_t* src, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(src + i));
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

// As the AVX-512 version, eight lanes.
int64_t argmax(const float* x, int64_t n) {
  if (x[0] != x[0] || n < 16) {
    return argmax_scalar(x, n);
  }
  __m256 best = _mm256_set1_ps(x[0]);
  __m256i best_index = _mm256_setzero_si256(), index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i step = _mm256_set1_epi32(8);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 greater = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, v, greater);
    best_index = _mm256_blendv_epi8(best_index, index, _mm256_castps_si256(greater));
    index = _mm256_add_epi32(index, step);
  }
  alignas(32) float values[8];
  alignas(32) int32_t indices[8];
  _mm256_store_ps(values, best);
  _mm256_store_si256(reinterpret_cast<__m256i*>(indices), best_index);
  return argmax_of_lanes(values, indices, 8, x, i, n);
}

constexpr VectorOps kAvx2{"avx2", dot_f32, dot_f16, scale_add_f32, scale_add_f16, dot_rows<false, float>, dot_rows<true, uint16_t>,
                          accumulate_rows<false, float>, accumulate_rows<true, uint16_t>, silu_mul, exp_shift_sum, f32_to_f16,
                          f16_to_f32, argmax};

}  // namespace

const VectorOps& vector_ops_avx2_table() { return kAvx2; }

}  // namespace strata::cpu
