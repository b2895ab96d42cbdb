// y = x · wᵀ on the GPU. Few rows (decode) go to the GEMV kernels, which read each weight
// once in its stored format (block-quantized weights with opt-in int8 activations,
// quantized once per matmul_many call); more rows go to cuBLAS on the tensor cores (bf16 or f16
// operands, f32 accumulation and output), with quantized weights dequantized to bf16 a
// slab of rows at a time so that the scratch stays small.
#include <algorithm>
#include <optional>
#include <span>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/tensor_args.h"
#include "kernels/cuda/weight_layout.h"

namespace strata::cuda {

namespace {

constexpr size_t kDequantSlabBytes = size_t{64} << 20;

// Column-major cuBLAS view of row-major y[M, N] = x[M, K] · w[N, K]ᵀ: yᵀ = w · xᵀ, i.e.
// C (N x M, ldc = y row stride) = op_T(A = w, K x N) · B (xᵀ, K x M).
void gemm(cublasHandle_t handle, int64_t n, int64_t m, int64_t k, const void* w, cudaDataType wtype, const void* x,
          cudaDataType xtype, int64_t ldx, float* y, int64_t ldy, bool accumulate) {
  const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
  cublas_check(cublas_api().gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
                            static_cast<int>(k), &alpha, w, wtype, static_cast<int>(k), x, xtype,
                            static_cast<int>(ldx), &beta, y, CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

// The weight of y = x · wᵀ, after checking the three tensors.
WeightRef checked_product(const Tensor& y, const Tensor& x, const Tensor& w) {
  require_device(y, "matmul");
  require_device(x, "matmul");
  const auto fail = [&](const std::string& why) {
    throw Error("matmul: " + why + " (y " + y.describe() + ", x " + x.describe() + ", w " + w.describe() + ")");
  };
  if (x.dtype() != DType::F32 || y.dtype() != DType::F32) fail("x and y must be f32");
  if (x.ndim() != 2 || y.ndim() != 2 || w.ndim() != 2) fail("x, y and w must be 2-D");
  if (x.size(1) != w.size(1) || y.size(0) != x.size(0) || y.size(1) != w.size(0)) fail("shape mismatch");
  if (x.stride(1) != 1 || y.stride(1) != 1) fail("rows must be dense");
  return weight_ref(w, "matmul");
}

// Whether the GEMV kernels take these activations with a weight of this row length.
bool gemv_fits(const Tensor& x, int64_t cols) {
  return x.size(0) <= kMaxGemvRows && cols % 8 == 0 && x.stride(0) % 4 == 0 &&
         reinterpret_cast<uintptr_t>(x.data<float>()) % 16 == 0;
}

}  // namespace

void CudaBackend::matmul(Tensor& y, const Tensor& x, const Tensor& w) {
  const MatmulTarget target{&y, &w};
  run_products(x, std::span(&target, 1), false);
}

void CudaBackend::matmul_many(const Tensor& x, std::span<const MatmulTarget> targets) {
  run_products(x, targets, false);
}

void CudaBackend::matmul_accumulate(Tensor& y, const Tensor& x, const Tensor& w) {
  if (!fuse_products_) {
    require_device(y, "matmul_accumulate");
    void* buffer = unfused_product_.get(*allocator_, static_cast<size_t>(y.size(0) * y.size(1)) * sizeof(float));
    Tensor product = Tensor::view_of(Storage::wrap(buffer, static_cast<size_t>(y.size(0) * y.size(1)) * sizeof(float),
                                                   Device::CUDA, nullptr),
                                     0, DType::F32, {y.size(0), y.size(1)});
    matmul(product, x, w);
    add(y, y, product);
    return;
  }
  const MatmulTarget target{&y, &w};
  run_products(x, std::span(&target, 1), true);
}

// The products of one input (q, k and v; gate and up): those that take the f32 GEMV go
// out as one launch per run of equal weight formats (decode pays for every launch); the
// integer GEMV quantizes the input once, on the first product that needs it.
void CudaBackend::run_products(const Tensor& x, std::span<const MatmulTarget> targets, bool accumulate) {
  if (batch_invariant_ && x.size(0) > kMaxGemvRows) {
    run_products_in_row_groups(x, targets, accumulate);
    return;
  }
  HalfInput x_half;
  std::optional<QuantizedRows> x_q8;
  std::optional<SplitRows> x_split;
  GemvTarget pending[kMaxGemvTargets];
  int num_pending = 0;
  const auto flush = [&] {
    if (num_pending == 0) return;
    if (record_gemv(pending, num_pending, x, GemvNorm{})) {
      num_pending = 0;
      return;
    }
    const bool split = takes_split_gemv(pending[0].w, x.size(0));
    if (split && !x_split) x_split = split_input(x, pending[0].w.dtype, GemvNorm{});
    launch_gemv_many(pending, num_pending, x.data<float>(), x.stride(0), x.size(0), launch_stream(), GemvNorm{},
                     split ? &*x_split : nullptr, nullptr, takes_half_gemv(pending[0].w, x.size(0)));
    num_pending = 0;
  };
  for (const MatmulTarget& target : targets) {
    Tensor& y = *target.y;
    const WeightRef wr = checked_product(y, x, *target.w);
    if (x.size(0) == 0 || wr.rows == 0) continue;
    const bool small = gemv_fits(x, wr.cols);
    if (small && takes_integer_gemv(wr) && !accumulate) {
      if (!x_q8) x_q8 = quantize_input(x);
      launch_gemv_q8(y.data<float>(), y.stride(0), *x_q8, wr, launch_stream());
    } else if (small) {
      if (num_pending == kMaxGemvTargets || !fuse_products_ ||
          (num_pending > 0 && (pending[0].w.dtype != wr.dtype || pending[0].w.cols != wr.cols)))
        flush();
      pending[num_pending++] = GemvTarget{y.data<float>(), y.stride(0), wr, accumulate};
    } else {
      matmul_tensor_cores(y, x, wr, accumulate, x_half);
    }
  }
  flush();
}

// Batch-invariant mode: the GEMV kernels, whose arithmetic for a row is the same whatever
// rows share the launch, over groups of at most kMaxGemvRows rows.
void CudaBackend::run_products_in_row_groups(const Tensor& x, std::span<const MatmulTarget> targets, bool accumulate) {
  std::vector<Tensor> ys(targets.size());
  std::vector<MatmulTarget> group(targets.size());
  for (int64_t first = 0; first < x.size(0); first += kMaxGemvRows) {
    const int64_t end = std::min<int64_t>(x.size(0), first + kMaxGemvRows);
    for (size_t i = 0; i < targets.size(); ++i) {
      ys[i] = targets[i].y->slice(0, first, end);
      group[i] = MatmulTarget{&ys[i], targets[i].w};
    }
    run_products(x.slice(0, first, end), group, accumulate);
  }
}

bool CudaBackend::quantized_gemv_reads(CudaBackendOptions::QuantizedActivations mode, const WeightRef& w) const {
  return quantized_activations_ == mode && gemv_q8_supports(w.dtype) && w.cols % 32 == 0;
}

bool CudaBackend::takes_integer_gemv(const WeightRef& w) const {
  return quantized_gemv_reads(CudaBackendOptions::QuantizedActivations::Int8, w);
}

bool CudaBackend::takes_split_gemv(const WeightRef& w, int64_t m) const {
  return quantized_gemv_reads(CudaBackendOptions::QuantizedActivations::Int16, w) ||
         (quantized_gemv_reads(CudaBackendOptions::QuantizedActivations::F16, w) && !takes_half_gemv(w, m));
}

bool CudaBackend::takes_half_gemv(const WeightRef& w, int64_t m) const {
  return quantized_activations_ == CudaBackendOptions::QuantizedActivations::F16 &&
         gemv_half_mma_takes(w.dtype, m, w.cols);
}

SplitRows CudaBackend::split_input(const Tensor& x, DType weights, const GemvNorm& norm) {
  const int64_t rows = x.size(0), cols = x.size(1);
  const SplitRows out = split_rows_view(activations_split_.get(*allocator_, split_rows_bytes(rows, cols)), rows, cols);
  // The CPU backend's rounding, so that both backends' quantized products see the same integers.
  launch_split_rows(x.data<float>(), x.stride(0), norm, cpu::activation_levels(weights), out, launch_stream());
  return out;
}

CudaBackend::GemvInput CudaBackend::gemv_input(const Tensor& x, const WeightRef& w, const GemvNorm& norm) {
  GemvInput in;
  if (takes_split_gemv(w, x.size(0))) in.split = split_input(x, w.dtype, norm);  // normalized as it is quantized
  else in.norm = norm;
  in.half = takes_half_gemv(w, x.size(0));
  return in;
}

std::optional<GemvNorm> CudaBackend::folded_norm(const NormedInput& in, std::span<const WeightRef> weights) const {
  const Tensor& x = in.x;
  if (!fuse_products_ || weights.empty() || weights.size() > static_cast<size_t>(kMaxGemvTargets)) return std::nullopt;
  if (x.device() != Device::CUDA || x.dtype() != DType::F32 || x.ndim() != 2 || x.stride(1) != 1) return std::nullopt;
  const int64_t cols = x.size(1);
  if (x.size(0) == 0 || !gemv_fits(x, cols)) return std::nullopt;
  for (const WeightRef& w : weights)
    if (w.dtype != weights[0].dtype || w.cols != cols || w.rows == 0 || takes_integer_gemv(w)) return std::nullopt;
  // Split activations take the norm in their quantization kernel, the f16 ones in the
  // product's staging, at any size.
  if (!takes_split_gemv(weights[0], x.size(0)) && !takes_half_gemv(weights[0], x.size(0)) &&
      !gemv_norm_folds(weights[0].dtype, x.size(0), cols))
    return std::nullopt;
  return GemvNorm{dense_f32(in.weight, cols, "rms_norm", "weight"), in.eps};
}

void CudaBackend::norm_matmul_many(const NormedInput& in, std::span<const MatmulTarget> targets) {
  std::optional<GemvNorm> norm;
  WeightRef weights[kMaxGemvTargets];
  if (targets.size() <= static_cast<size_t>(kMaxGemvTargets)) {
    for (size_t i = 0; i < targets.size(); ++i) weights[i] = checked_product(*targets[i].y, in.x, *targets[i].w);
    norm = folded_norm(in, std::span(weights, targets.size()));
  }
  if (!norm) {
    std::optional<HalfInput> xh;
    if (targets.size() <= static_cast<size_t>(kMaxGemvTargets))
      xh = normed_tensor_core_input(in, std::span(weights, targets.size()));
    if (!xh) {
      Backend::norm_matmul_many(in, targets);
      return;
    }
    tensor_core_products(in.x, targets, std::span(weights, targets.size()), *xh);
    return;
  }
  GemvTarget gemv[kMaxGemvTargets];
  for (size_t i = 0; i < targets.size(); ++i)
    gemv[i] = GemvTarget{targets[i].y->data<float>(), targets[i].y->stride(0), weights[i], false};
  if (record_gemv(gemv, static_cast<int>(targets.size()), in.x, *norm)) return;
  const GemvInput input = gemv_input(in.x, weights[0], *norm);
  launch_gemv_many(gemv, static_cast<int>(targets.size()), in.x.data<float>(), in.x.stride(0), in.x.size(0),
                   launch_stream(), input.norm, input.split_rows(), nullptr, input.half);
}

void CudaBackend::norm_qkv_rope_store(const NormedInput& in, const QkvProducts& p, KVStorage& kv, int layer,
                                      const BatchTensors& batch, const RopeConfig& cfg) {
  // The GEMV's epilogue rotates a warp's two rows: adjacent pairs over the whole head,
  // with q, k and v the heads views of the products' rows.
  const auto heads_of_rows = [&](const Tensor& heads, const Tensor& rows) {
    return heads.defined() && heads.raw_data() == rows.raw_data() && heads.ndim() == 3 &&
           heads.size(2) == cfg.head_dim && heads.stride(2) == 1 && heads.stride(1) == cfg.head_dim &&
           heads.stride(0) == rows.stride(0);
  };
  const bool epilogue_rotates = rope_epilogue_ && !cfg.neox && 2 * rotary_pairs(cfg) == cfg.head_dim &&
                                in.x.size(0) == batch.num_tokens && heads_of_rows(p.q_heads, p.q) &&
                                heads_of_rows(p.k_heads, p.k) && heads_of_rows(p.v_heads, p.v);
  if (epilogue_rotates) {
    Tensor* ys[] = {&p.q, &p.k, &p.v};
    const Tensor* ws[] = {&p.wq, &p.wk, &p.wv};
    WeightRef weights[3];
    for (int i = 0; i < 3; ++i) weights[i] = checked_product(*ys[i], in.x, *ws[i]);
    const std::optional<GemvNorm> norm = folded_norm(in, weights);
    GemvRope rope;
    rope.cache = kv_layer(kv, layer, "norm_qkv_rope_store");
    if (norm && rope.cache.head_dim == cfg.head_dim && weights[1].rows == int64_t{rope.cache.kv_heads} * cfg.head_dim) {
      rope.positions = batch.positions.data<int32_t>();
      rope.slots = batch.slot_mapping.data<int32_t>();
      rope.inv_freq = rope_frequencies(cfg);
      GemvTarget gemv[3];
      for (int i = 0; i < 3; ++i) gemv[i] = GemvTarget{ys[i]->data<float>(), ys[i]->stride(0), weights[i], false};
      if (record_gemv(gemv, 3, in.x, *norm, &rope)) return;
      const GemvInput input = gemv_input(in.x, weights[0], *norm);
      launch_gemv_many(gemv, 3, in.x.data<float>(), in.x.stride(0), in.x.size(0), launch_stream(), input.norm,
                       input.split_rows(), &rope, input.half);
      return;
    }
  }
  Backend::norm_qkv_rope_store(in, p, kv, layer, batch, cfg);
}

void CudaBackend::matmul_swiglu(Tensor& gate, Tensor& up, const Tensor& x, const Tensor& w_gate, const Tensor& w_up) {
  swiglu(gate, up, x, w_gate, w_up, nullptr);
}

void CudaBackend::norm_matmul_swiglu(const NormedInput& in, Tensor& gate, Tensor& up, const Tensor& w_gate,
                                     const Tensor& w_up) {
  swiglu(gate, up, in.x, w_gate, w_up, &in);
}

// Both products in one GEMV launch whose store is silu(gate) * up (and the norm folded in
// where it fits), when the GEMV takes them; otherwise the separate operations.
void CudaBackend::swiglu(Tensor& gate, Tensor& up, const Tensor& x, const Tensor& w_gate, const Tensor& w_up,
                         const NormedInput* in) {
  const WeightRef g = checked_product(gate, x, w_gate), u = checked_product(up, x, w_up);
  const bool gemv =
      fuse_products_ && gemv_fits(x, g.cols) && !takes_integer_gemv(g) && g.dtype == u.dtype && g.rows == u.rows;
  std::optional<GemvNorm> norm;
  if (in) {
    const WeightRef weights[] = {g, u};
    norm = folded_norm(*in, weights);
  }
  if (!gemv || (in && !norm)) {
    const WeightRef weights[] = {g, u};
    std::optional<HalfInput> xh;
    if (in) xh = normed_tensor_core_input(*in, weights);
    if (xh) {
      const MatmulTarget targets[] = {{&gate, &w_gate}, {&up, &w_up}};
      tensor_core_products(x, targets, weights, *xh);
      silu_mul(gate, gate, up);
    } else if (in) {
      Backend::norm_matmul_swiglu(*in, gate, up, w_gate, w_up);
    } else {
      Backend::matmul_swiglu(gate, up, x, w_gate, w_up);
    }
    return;
  }
  const GemvTarget gate_target{gate.data<float>(), gate.stride(0), g, false};
  if (record_gemv(&gate_target, 1, x, norm.value_or(GemvNorm{}), nullptr, &u)) return;
  const GemvInput input = gemv_input(x, g, norm.value_or(GemvNorm{}));
  launch_gemv_swiglu(gate.data<float>(), gate.stride(0), x.data<float>(), x.stride(0), x.size(0), g, u, launch_stream(),
                     input.norm, input.split_rows(), input.half);
}

// On the tensor cores: the gate and up products' f32 rows go through one kernel to the
// down product's bf16/f16 input (silu_mul and the conversion were two passes and an f32
// copy); the GEMV path and anything else take the operations one by one.
void CudaBackend::norm_swiglu_mlp(const NormedInput& in, Tensor& residual, Tensor& gate, Tensor& up,
                                  const Tensor& w_gate, const Tensor& w_up, const Tensor& w_down) {
  const WeightRef g = checked_product(gate, in.x, w_gate), u = checked_product(up, in.x, w_up);
  const WeightRef d = checked_product(residual, gate, w_down);
  const WeightRef weights[] = {g, u};
  std::optional<HalfInput> xh;
  if (swiglu_half_input_ && tensor_core_input(d) == tensor_core_input(g)) xh = normed_tensor_core_input(in, weights);
  if (!xh) {
    Backend::norm_swiglu_mlp(in, residual, gate, up, w_gate, w_up, w_down);
    return;
  }
  const MatmulTarget targets[] = {{&gate, &w_gate}, {&up, &w_up}};
  tensor_core_products(in.x, targets, weights, *xh);
  const int64_t m = gate.size(0), cols = gate.size(1);
  void* activation = swiglu_half_.get(*allocator_, static_cast<size_t>(m * cols) * 2);
  launch_swiglu_rows(gate.data<float>(), gate.stride(0), up.data<float>(), up.stride(0), m, cols, activation, xh->type,
                     launch_stream());
  HalfInput down_input{xh->type, activation};
  matmul_tensor_cores(residual, gate, d, true, down_input);
}

QuantizedRows CudaBackend::quantize_input(const Tensor& x) {
  const int64_t rows = x.size(0), cols = x.size(1);
  void* buffer = activations_q8_.get(*allocator_, quantized_rows_bytes(rows, cols));
  const QuantizedRows out = quantized_rows_view(buffer, rows, cols);
  launch_quantize_rows(x.data<float>(), x.stride(0), out, launch_stream());
  return out;
}

DType CudaBackend::tensor_core_input(const WeightRef& w) {
  if (w.dtype == DType::F32) return DType::F32;
  return w.dtype == DType::F16 ? DType::F16 : DType::BF16;
}

std::optional<CudaBackend::HalfInput> CudaBackend::normed_tensor_core_input(const NormedInput& in,
                                                                            std::span<const WeightRef> weights) {
  const Tensor& x = in.x;
  if (weights.empty() || x.device() != Device::CUDA || x.dtype() != DType::F32 || x.ndim() != 2 || x.stride(1) != 1)
    return std::nullopt;
  const int64_t m = x.size(0), cols = x.size(1);
  const DType type = tensor_core_input(weights[0]);
  if (batch_invariant_ || m == 0 || type == DType::F32 || gemv_fits(x, cols)) return std::nullopt;
  for (const WeightRef& w : weights)
    if (tensor_core_input(w) != type || w.cols != cols) return std::nullopt;
  void* out = activations_half_.get(*allocator_, static_cast<size_t>(m * cols) * 2);
  launch_rms_norm_rows(x.data<float>(), x.stride(0), m, cols, dense_f32(in.weight, cols, "rms_norm", "weight"), in.eps,
                       out, type, vector_norm_, launch_stream());
  return HalfInput{type, out};
}

namespace {

// Whether product b continues product a in both operands: b's weight rows follow a's in
// one allocation (F32/F16/BF16, stored as given) and b's outputs are the next columns of
// the same rows, so that one GEMM over both weights writes both.
bool continues(const WeightRef& a, const Tensor& ya, const WeightRef& b, const Tensor& yb) {
  if (a.dtype != b.dtype || a.cols != b.cols || is_repacked(a.dtype)) return false;
  const auto* a_end = static_cast<const char*>(a.data) + a.rows * dtype_row_bytes(a.dtype, a.cols);
  return a_end == b.data && ya.size(0) == yb.size(0) && ya.stride(0) == yb.stride(0) &&
         ya.data<float>() + ya.size(1) == yb.data<float>();
}

}  // namespace

void CudaBackend::tensor_core_products(const Tensor& x, std::span<const MatmulTarget> targets,
                                       std::span<const WeightRef> weights, HalfInput& xh) {
  for (size_t first = 0; first < targets.size();) {
    WeightRef merged = weights[first];
    size_t end = first + 1;
    while (end < targets.size() && continues(weights[end - 1], *targets[end - 1].y, weights[end], *targets[end].y))
      merged.rows += weights[end++].rows;
    matmul_tensor_cores(targets[first].y->data<float>(), targets[first].y->stride(0), x, merged, false, xh);
    first = end;
  }
}

void CudaBackend::matmul_tensor_cores(Tensor& y, const Tensor& x, const WeightRef& w, bool accumulate,
                                      HalfInput& x_half) {
  matmul_tensor_cores(y.data<float>(), y.stride(0), x, w, accumulate, x_half);
}

void CudaBackend::matmul_tensor_cores(float* out, int64_t y_stride, const Tensor& x, const WeightRef& w,
                                      bool accumulate, HalfInput& x_half) {
  const int64_t m = x.size(0), k = w.cols, n = w.rows;
  const DType act_type = tensor_core_input(w);
  if (act_type == DType::F32) {
    // f32 weights (tests, tiny models): plain SGEMM, no rounding of either operand.
    gemm(cublas_handle(), n, m, k, w.data, CUDA_R_32F, x.data<float>(), CUDA_R_32F, x.stride(0), out, y_stride, accumulate);
    return;
  }
  if (x_half.type != act_type) {
    void* buffer = activations_half_.get(*allocator_, static_cast<size_t>(m * k) * 2);
    launch_convert_rows(x.data<float>(), x.stride(0), m, k, buffer, act_type, launch_stream());
    x_half = HalfInput{act_type, buffer};
  }
  const void* xh = x_half.data;
  if (w.dtype == DType::F16 || w.dtype == DType::BF16) {
    const cudaDataType t = w.dtype == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
    gemm(cublas_handle(), n, m, k, w.data, t, xh, t, k, out, y_stride, accumulate);
    return;
  }
  const int64_t slab_rows = std::max<int64_t>(1, static_cast<int64_t>(kDequantSlabBytes) / (k * 2));
  void* slab = weights_bf16_.get(*allocator_, static_cast<size_t>(std::min(slab_rows, n) * k) * 2);
  for (int64_t first = 0; first < n; first += slab_rows) {
    const int64_t rows = std::min(slab_rows, n - first);
    launch_dequantize_rows(w, first, rows, slab, launch_stream());
    gemm(cublas_handle(), rows, m, k, slab, CUDA_R_16BF, xh, CUDA_R_16BF, k, out + first, y_stride, accumulate);
  }
}

}  // namespace strata::cuda
