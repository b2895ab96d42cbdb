#include "kernels/cuda/tensor_args.h"

#include <string>

#include "core/error.h"
#include "kernels/cuda/weight_layout.h"

namespace strata::cuda {

void require_device(const Tensor& t, const char* op) {
  if (!t.defined() || t.device() != Device::CUDA)
    throw Error(std::string(op) + ": tensor " + t.describe() + " is not in GPU memory");
}

RowsF32 rows_f32(const Tensor& t, const char* op) {
  require_device(t, op);
  if (t.dtype() != DType::F32) throw Error(std::string(op) + ": expected f32, got " + t.describe());
  if (t.ndim() < 1 || t.ndim() > 3 || (t.size(-1) > 1 && t.stride(-1) != 1))
    throw Error(std::string(op) + ": expected a tensor of rank 1..3 with dense rows, got " + t.describe());
  RowsF32 r;
  r.base = const_cast<float*>(t.data<float>());
  r.width = t.size(-1);
  r.inner_count = t.ndim() == 3 ? t.size(1) : 1;
  r.count = t.ndim() == 1 ? 1 : t.size(0) * r.inner_count;
  r.outer_stride = t.ndim() >= 2 ? t.stride(0) : 0;
  r.inner_stride = t.ndim() == 3 ? t.stride(1) : 0;
  return r;
}

void check_same_rows(const RowsF32& a, const RowsF32& b, const char* op, const Tensor& at, const Tensor& bt) {
  if (a.count != b.count || a.width != b.width)
    throw Error(std::string(op) + ": shapes differ: " + at.describe() + " vs " + bt.describe());
}

const float* dense_f32(const Tensor& t, int64_t n, const char* op, const char* what) {
  require_device(t, op);
  if (t.dtype() != DType::F32 || t.numel() != n || !t.is_contiguous())
    throw Error(std::string(op) + ": " + what + " must be dense f32 of " + std::to_string(n) + " elements, got " +
                t.describe());
  return t.data<float>();
}

const int32_t* index_vector(const Tensor& t, const char* op) {
  require_device(t, op);
  if (t.dtype() != DType::I32 || t.ndim() != 1 || (t.size(0) > 1 && t.stride(0) != 1))
    throw Error(std::string(op) + ": indices must be a dense i32 vector, got " + t.describe());
  return t.data<int32_t>();
}

void check_heads(const Tensor& t, int64_t tokens, int64_t heads, int64_t head_dim, const char* op, const char* what) {
  require_device(t, op);
  if (t.dtype() != DType::F32 || t.ndim() != 3 || t.size(0) != tokens || t.size(1) != heads ||
      t.size(2) != head_dim || t.stride(2) != 1)
    throw Error(std::string(op) + ": " + what + " must be f32 [" + std::to_string(tokens) + ", " +
                std::to_string(heads) + ", " + std::to_string(head_dim) + "] with dense rows, got " + t.describe());
}

WeightRef weight_ref(const Tensor& w, const char* op) {
  require_device(w, op);
  if (w.ndim() != 2 || !w.is_contiguous())
    throw Error(std::string(op) + ": weight must be a dense 2-D tensor, got " + w.describe());
  if (!kept_on_device(w.dtype()) || w.dtype() == DType::I32)
    throw Error(std::string(op) + ": no CUDA kernel reads weights of type " + std::string(dtype_name(w.dtype())));
  if (is_repacked(w.dtype()) && (w.byte_offset() != 0 || w.nbytes() != w.storage()->bytes))
    throw Error(std::string(op) + ": a quantized weight must be a whole uploaded tensor, got a view " + w.describe());
  return {w.raw_data(), w.dtype(), w.size(0), w.size(1)};
}

KVLayer kv_layer(const KVStorage& kv, int layer, const char* op) {
  check_kv_layer(kv, layer, op);
  const auto& l = kv.layout;
  const Tensor& k = kv.k[static_cast<size_t>(layer)];
  const Tensor& v = kv.v[static_cast<size_t>(layer)];
  require_device(k, op);
  require_device(v, op);
  KVLayer c;
  c.k = const_cast<void*>(k.raw_data());
  c.v = const_cast<void*>(v.raw_data());
  c.f16 = l.dtype == DType::F16;
  c.block_size = l.block_size;
  c.kv_heads = l.num_kv_heads;
  c.head_dim = l.head_dim;
  c.num_slots = int64_t{l.num_blocks} * l.block_size;
  return c;
}

int rotary_pairs(const RopeConfig& cfg) { return (cfg.rotary_dim > 0 ? cfg.rotary_dim : cfg.head_dim) / 2; }

}  // namespace strata::cuda
