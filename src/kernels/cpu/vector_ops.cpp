#include "kernels/cpu/vector_ops.h"

#include <cmath>

#include "core/cpu_features.h"
#include "core/half.h"
#include "kernels/cpu/argmax_lanes.h"

namespace strata::cpu {

// Defined in vector_ops_avx2.cpp / vector_ops_avx512.cpp, compiled for those ISAs; only
// called after the CPUID check below.
const VectorOps& vector_ops_avx2_table();
const VectorOps& vector_ops_avx512_table();

namespace {

float to_f32(float x) { return x; }
float to_f32(uint16_t h) { return fp16_to_fp32(h); }

float dot_f32(const float* a, const float* b, int64_t n) {
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot_f16(const float* a, const uint16_t* b, int64_t n) {
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * fp16_to_fp32(b[i]);
  return sum;
}

void scale_add_f32(float* acc, float acc_scale, const float* v, float w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = acc[i] * acc_scale + w * v[i];
}

void scale_add_f16(float* acc, float acc_scale, const uint16_t* v, float w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] = acc[i] * acc_scale + w * fp16_to_fp32(v[i]);
}

template <typename Row>
void dot_rows(const float* q, const Row* rows, int64_t row_stride, int64_t count, int64_t n, float* scores) {
  for (int64_t j = 0; j < count; ++j) {
    const Row* row = rows + j * row_stride;
    float sum = 0.f;
    for (int64_t i = 0; i < n; ++i) sum += q[i] * to_f32(row[i]);
    scores[j] = sum;
  }
}

template <typename Row>
void accumulate_rows(float* acc, const Row* rows, int64_t row_stride, const float* w, int64_t count, int64_t n) {
  for (int64_t j = 0; j < count; ++j) {
    const Row* row = rows + j * row_stride;
    for (int64_t i = 0; i < n; ++i) acc[i] += w[j] * to_f32(row[i]);
  }
}

void silu_mul(float* y, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    y[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

float exp_shift_sum(float* x, float shift, int64_t n) {
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - shift));
  return sum;
}

void f32_to_f16(uint16_t* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

void f16_to_f32(float* dst, const uint16_t* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

constexpr VectorOps kGeneric{"generic", dot_f32, dot_f16, scale_add_f32, scale_add_f16,
                             dot_rows<float>, dot_rows<uint16_t>, accumulate_rows<float>,
                             accumulate_rows<uint16_t>, silu_mul, exp_shift_sum, f32_to_f16, f16_to_f32,
                             argmax_scalar};

const VectorOps& choose_vector_ops() {
  if (const VectorOps* ops = vector_ops_avx512()) return *ops;
  if (const VectorOps* ops = vector_ops_avx2()) return *ops;
  return kGeneric;
}

}  // namespace

const VectorOps& vector_ops_generic() { return kGeneric; }
const VectorOps* vector_ops_avx2() { return cpu_has_avx2_fma_f16c() ? &vector_ops_avx2_table() : nullptr; }
const VectorOps* vector_ops_avx512() { return cpu_has_avx512() ? &vector_ops_avx512_table() : nullptr; }

const VectorOps& vector_ops() {
  static const VectorOps& chosen = choose_vector_ops();
  return chosen;
}

}  // namespace strata::cpu
