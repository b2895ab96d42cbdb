#pragma once
// Checking Tensors on the host and turning them into the raw views the kernels take.
#include <cstdint>

#include "core/tensor.h"
#include "kernels/backend.h"
#include "kernels/cuda/launch.h"

namespace strata::cuda {

void require_device(const Tensor& t, const char* op);
// An f32 tensor of rank 1..3 with a dense last dimension, in device memory.
RowsF32 rows_f32(const Tensor& t, const char* op);
void check_same_rows(const RowsF32& a, const RowsF32& b, const char* op, const Tensor& at, const Tensor& bt);
const float* dense_f32(const Tensor& t, int64_t n, const char* op, const char* what);
const int32_t* index_vector(const Tensor& t, const char* op);
// f32 [tokens, heads, head_dim] with dense rows (any leading strides).
void check_heads(const Tensor& t, int64_t tokens, int64_t heads, int64_t head_dim, const char* op, const char* what);
// A dense 2-D weight in device memory; repacked dtypes must be whole uploaded tensors.
WeightRef weight_ref(const Tensor& w, const char* op);
// One layer of a paged cache in device memory, checked.
KVLayer kv_layer(const KVStorage& kv, int layer, const char* op);
// Rotary pairs of a head (rotary_dim / 2; the whole head when rotary_dim is unset).
int rotary_pairs(const RopeConfig& cfg);

}  // namespace strata::cuda
