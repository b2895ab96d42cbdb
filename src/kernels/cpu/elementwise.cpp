#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "kernels/cpu/quant.h"
#include "kernels/cpu/rows.h"
#include "kernels/cpu/vector_ops.h"
#include "kernels/cpu/weight_tiles.h"

namespace strata::cpu {

namespace {

void check_same_rows(const Rows<float>& y, const Rows<const float>& x, const char* op, const Tensor& yt,
                     const Tensor& xt) {
  if (y.count() != x.count() || y.width() != x.width())
    throw Error(std::string(op) + ": shapes differ: " + yt.describe() + " vs " + xt.describe());
}

const float* dense_f32_vector(const Tensor& t, int64_t n, const char* op, const char* what) {
  if (t.dtype() != DType::F32 || t.numel() != n || !t.is_contiguous())
    throw Error(std::string(op) + ": " + what + " must be dense f32 of " + std::to_string(n) + " elements, got " +
                t.describe());
  return t.data<float>();
}

const int32_t* index_vector(const Tensor& t, const char* op) {
  if (t.dtype() != DType::I32 || t.ndim() != 1 || (t.size(0) > 1 && t.stride(0) != 1))
    throw Error(std::string(op) + ": indices must be a dense i32 vector, got " + t.describe());
  return t.data<int32_t>();
}

float mean_square(const float* x, int64_t n) {
  // Eight partial sums: vectorisable without reassociation flags, and more accurate.
  float partial[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) partial[j] += x[i + j] * x[i + j];
  double sum = 0;
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  for (float p : partial) sum += p;
  return static_cast<float>(sum / static_cast<double>(n));
}

}  // namespace

void add_bias(ThreadPool& pool, Tensor& y, const Tensor& bias) {
  const auto rows = mutable_rows(y, "add_bias");
  const float* b = dense_f32_vector(bias, rows.width(), "add_bias", "bias");
  for_row_ranges(pool, rows.count(), rows.width(), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* row = rows[r];
      for (int64_t i = 0; i < rows.width(); ++i) row[i] += b[i];
    }
  });
}

void rms_norm(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& weight, float eps) {
  const auto out = mutable_rows(y, "rms_norm");
  const auto in = const_rows(x, "rms_norm");
  check_same_rows(out, in, "rms_norm", y, x);
  const int64_t width = in.width();
  const float* w = dense_f32_vector(weight, width, "rms_norm", "weight");
  for_row_ranges(pool, in.count(), width, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* src = in[r];
      float* dst = out[r];
      const float inv_rms = 1.f / std::sqrt(mean_square(src, width) + eps);
      for (int64_t i = 0; i < width; ++i) dst[i] = src[i] * inv_rms * w[i];
    }
  });
}

void silu_mul(ThreadPool& pool, Tensor& y, const Tensor& gate, const Tensor& up) {
  const auto out = mutable_rows(y, "silu_mul");
  const auto g = const_rows(gate, "silu_mul");
  const auto u = const_rows(up, "silu_mul");
  check_same_rows(out, g, "silu_mul", y, gate);
  check_same_rows(out, u, "silu_mul", y, up);
  const auto kernel = vector_ops().silu_mul;
  // An exponential per element: worth splitting from a few thousand elements on, and a
  // single decode row is split by columns so that it too spreads over the pool.
  constexpr int64_t kSerialElements = 4096;
  if (out.count() == 1 && out.width() > kSerialElements && pool.size() > 1) {
    float* y0 = out[0];
    const float *g0 = g[0], *u0 = u[0];
    auto columns = [&](int64_t begin, int64_t end) { kernel(y0 + begin, g0 + begin, u0 + begin, end - begin); };
    const auto* f = &columns;  // one pointer: fits std::function's buffer, no allocation
    pool.parallel_for(out.width(), kSerialElements / 2, [f](int64_t begin, int64_t end) { (*f)(begin, end); });
    return;
  }
  for_row_ranges(
      pool, out.count(), out.width(),
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) kernel(out[r], g[r], u[r], out.width());
      },
      kSerialElements);
}

void add(ThreadPool& pool, Tensor& y, const Tensor& a, const Tensor& b) {
  const auto out = mutable_rows(y, "add");
  const auto ra = const_rows(a, "add");
  const auto rb = const_rows(b, "add");
  check_same_rows(out, ra, "add", y, a);
  check_same_rows(out, rb, "add", y, b);
  for_row_ranges(pool, out.count(), out.width(), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* dst = out[r];
      const float *pa = ra[r], *pb = rb[r];
      for (int64_t i = 0; i < out.width(); ++i) dst[i] = pa[i] + pb[i];
    }
  });
}

void gather_rows(Tensor& y, const Tensor& x, const Tensor& rows) {
  const auto out = mutable_rows(y, "gather_rows");
  const auto in = const_rows(x, "gather_rows");
  const int32_t* index = index_vector(rows, "gather_rows");
  if (y.ndim() != 2 || x.ndim() != 2 || out.count() != rows.size(0) || out.width() != in.width())
    throw Error("gather_rows: " + y.describe() + " from " + x.describe() + " by " + rows.describe());
  for (int64_t l = 0; l < out.count(); ++l) {
    if (index[l] < 0 || index[l] >= in.count())
      throw Error("gather_rows: row " + std::to_string(index[l]) + " out of range for " + x.describe());
    std::memcpy(out[l], in[index[l]], static_cast<size_t>(out.width()) * sizeof(float));
  }
}

void argmax_rows(Tensor& ids, const Tensor& logits) {
  const auto in = const_rows(logits, "argmax_rows");
  if (logits.ndim() != 2 || ids.dtype() != DType::I32 || ids.ndim() != 1 || ids.size(0) != in.count() ||
      (ids.size(0) > 1 && ids.stride(0) != 1))
    throw Error("argmax_rows: " + ids.describe() + " from " + logits.describe());
  int32_t* out = ids.data<int32_t>();
  const VectorOps& ops = vector_ops();
  for (int64_t l = 0; l < in.count(); ++l) out[l] = in.width() == 0 ? 0 : static_cast<int32_t>(ops.argmax(in[l], in.width()));
}

namespace {

void row_to_f32(DType dtype, const void* src, float* dst, int64_t n) {
  switch (dtype) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(static_cast<const uint16_t*>(src)[i]);
      break;
    case DType::I32: throw Error("embedding: an i32 table cannot be converted to f32");
    default: dequantize_row(dtype, src, dst, n);
  }
}

}  // namespace

void embedding(ThreadPool& pool, Tensor& y, const Tensor& table, const Tensor& ids) {
  const auto out = mutable_rows(y, "embedding");
  const int32_t* index = index_vector(ids, "embedding");
  if (y.ndim() != 2 || table.ndim() != 2 || out.count() != ids.size(0) || out.width() != table.size(1) ||
      (table.size(1) > 1 && table.stride(1) != 1))
    throw Error("embedding: " + y.describe() + " from table " + table.describe() + " by " + ids.describe());
  const auto& info = dtype_info(table.dtype());
  const size_t row_stride_bytes = static_cast<size_t>(table.stride(0) / info.block_size * info.block_bytes);
  const char* base = static_cast<const char*>(table.raw_data());
  for (int64_t t = 0; t < out.count(); ++t)
    if (index[t] < 0 || index[t] >= table.size(0))
      throw Error("embedding: token id " + std::to_string(index[t]) + " out of range for " + table.describe());
  if (table.block_order() == BlockOrder::Tiles16) {
    // The CPU backend's tile order (a tied output matrix): each row is gathered back first.
    require_whole_if_tiled(table, "embedding");
    for_row_ranges(pool, out.count(), out.width(), [&](int64_t begin, int64_t end) {
      std::vector<uint8_t> row(row_stride_bytes);
      for (int64_t t = begin; t < end; ++t) {
        untile_row(table.dtype(), reinterpret_cast<const uint8_t*>(base), table.size(0), table.size(1), index[t],
                   row.data());
        row_to_f32(table.dtype(), row.data(), out[t], out.width());
      }
    });
    return;
  }
  for_row_ranges(pool, out.count(), out.width(), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      row_to_f32(table.dtype(), base + static_cast<size_t>(index[t]) * row_stride_bytes, out[t], out.width());
  });
}

}  // namespace strata::cpu
