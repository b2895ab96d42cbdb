// AVX-512 (F, BW, VL, DQ) versions of the vector ops; tails use masked loads and stores.
// Same rules as the AVX2 file: anonymous namespace, intrinsics only.
#include "kernels/cpu/avx512_intrinsics.h"

#include <cstdint>

#include "kernels/cpu/argmax_lanes.h"
#include "kernels/cpu/vector_ops.h"

namespace strata::cpu {
namespace {

__mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

__m512 load_f16x16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
__m512 load_f16_tail(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_f16(const float* a, const uint16_t* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load_f16x16(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), load_f16x16(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load_f16x16(b + i), acc0);
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), load_f16_tail(b + i, m), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void scale_add_f32(float* acc, float acc_scale, const float* v, float w, int64_t n) {
  const __m512 s = _mm512_set1_ps(acc_scale), wv = _mm512_set1_ps(w);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(acc + i, _mm512_fmadd_ps(_mm512_loadu_ps(v + i), wv, _mm512_mul_ps(_mm512_loadu_ps(acc + i), s)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, v + i), wv, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + i), s));
    _mm512_mask_storeu_ps(acc + i, m, r);
  }
}

void scale_add_f16(float* acc, float acc_scale, const uint16_t* v, float w, int64_t n) {
  const __m512 s = _mm512_set1_ps(acc_scale), wv = _mm512_set1_ps(w);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(acc + i, _mm512_fmadd_ps(load_f16x16(v + i), wv, _mm512_mul_ps(_mm512_loadu_ps(acc + i), s)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 r = _mm512_fmadd_ps(load_f16_tail(v + i, m), wv, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + i), s));
    _mm512_mask_storeu_ps(acc + i, m, r);
  }
}

// The four horizontal sums of a0..a3 at once: fold each to 256 bits, then two rounds of
// hadd and a fold of the 128-bit halves (far fewer shuffles than four reductions).
__m128 horizontal_sums4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  auto fold = [](__m512 a) { return _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1)); };
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(fold(a0), fold(a1)), _mm256_hadd_ps(fold(a2), fold(a3)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// Four rows at a time: one dot product alone is a chain of dependent FMAs and a
// horizontal sum, so interleaving independent rows is what keeps the FMA units busy.
template <bool kHalf, typename Row>
void dot_rows(const float* q, const Row* rows, int64_t row_stride, int64_t count, int64_t n, float* scores) {
  auto load = [](const Row* p, __mmask16 m) {
    if constexpr (kHalf) return load_f16_tail(reinterpret_cast<const uint16_t*>(p), m);
    else return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(p));
  };
  int64_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const Row* r = rows + j * row_stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
      const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xffff) : tail_mask(n - i);
      const __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
      a0 = _mm512_fmadd_ps(qv, load(r + i, m), a0);
      a1 = _mm512_fmadd_ps(qv, load(r + row_stride + i, m), a1);
      a2 = _mm512_fmadd_ps(qv, load(r + 2 * row_stride + i, m), a2);
      a3 = _mm512_fmadd_ps(qv, load(r + 3 * row_stride + i, m), a3);
    }
    _mm_storeu_ps(scores + j, horizontal_sums4(a0, a1, a2, a3));
  }
  for (; j < count; ++j) {
    if constexpr (kHalf) scores[j] = dot_f16(q, reinterpret_cast<const uint16_t*>(rows + j * row_stride), n);
    else scores[j] = dot_f32(q, reinterpret_cast<const float*>(rows + j * row_stride), n);
  }
}

// acc[i] += sum_j w[j] * row_j[i], 64 columns at a time held in four registers while the
// rows stream past (the rows of one chunk stay in L1 between column blocks).
template <bool kHalf, typename Row>
void accumulate_rows(float* acc, const Row* rows, int64_t row_stride, const float* w, int64_t count, int64_t n) {
  auto load = [](const Row* p, __mmask16 m) {
    if constexpr (kHalf) return load_f16_tail(reinterpret_cast<const uint16_t*>(p), m);
    else return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(p));
  };
  for (int64_t c = 0; c < n; c += 64) {
    __mmask16 m[4];
    __m512 a[4];
    for (int k = 0; k < 4; ++k) {
      const int64_t left = n - c - 16 * k;
      m[k] = left >= 16 ? static_cast<__mmask16>(0xffff) : left <= 0 ? static_cast<__mmask16>(0) : tail_mask(left);
      a[k] = _mm512_maskz_loadu_ps(m[k], acc + c + 16 * k);
    }
    for (int64_t j = 0; j < count; ++j) {
      const __m512 wj = _mm512_set1_ps(w[j]);
      const Row* row = rows + j * row_stride + c;
      for (int k = 0; k < 4; ++k) a[k] = _mm512_fmadd_ps(load(row + 16 * k, m[k]), wj, a[k]);
    }
    for (int k = 0; k < 4; ++k) _mm512_mask_storeu_ps(acc + c + 16 * k, m[k], a[k]);
  }
}

// e^x as in the AVX2 file: 2^k * e^r, Taylor series of e^r to r^6.
__m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, k);
}

__m512 silu_mul16(__m512 g, __m512 u) {
  const __m512 denom = _mm512_add_ps(_mm512_set1_ps(1.f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g)));
  return _mm512_mul_ps(_mm512_div_ps(g, denom), u);
}

void silu_mul(float* y, const float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, silu_mul16(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, silu_mul16(_mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

float exp_shift_sum(float* x, float shift, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
    _mm512_storeu_ps(x + i, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), s)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

void f32_to_f16(uint16_t* dst, const float* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm256_mask_storeu_epi16(dst + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT));
  }
}

void f16_to_f32(float* dst, const uint16_t* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load_f16x16(src + i));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(dst + i, m, load_f16_tail(src + i, m));
  }
}

// Sixteen lanes each keep the largest value of their elements and its first index (a strict
// greater-than: NaNs never win, earlier indices win ties); then the lanes' best, ties to the
// lowest index. x[0] a NaN: index 0, as the scalar loop gives.
int64_t argmax(const float* x, int64_t n) {
  if (x[0] != x[0] || n < 32) {
    return argmax_scalar(x, n);
  }
  __m512 best = _mm512_set1_ps(x[0]);
  __m512i best_index = _mm512_setzero_si512(), index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(16);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __mmask16 greater = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), best, _CMP_GT_OQ);
    best = _mm512_mask_loadu_ps(best, greater, x + i);
    best_index = _mm512_mask_mov_epi32(best_index, greater, index);
    index = _mm512_add_epi32(index, step);
  }
  alignas(64) float values[16];
  alignas(64) int32_t indices[16];
  _mm512_store_ps(values, best);
  _mm512_store_si512(indices, best_index);
  return argmax_of_lanes(values, indices, 16, x, i, n);
}

constexpr VectorOps kAvx512{"avx512", dot_f32, dot_f16, scale_add_f32, scale_add_f16, dot_rows<false, float>, dot_rows<true, uint16_t>,
                            accumulate_rows<false, float>, accumulate_rows<true, uint16_t>, silu_mul, exp_shift_sum, f32_to_f16,
                            f16_to_f32, argmax};

}  // namespace

const VectorOps& vector_ops_avx512_table() { return kAvx512; }

}  // namespace strata::cpu
