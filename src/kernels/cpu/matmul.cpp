#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "core/aligned_vector.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/thread_pool.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/weight_tiles.h"

namespace strata::cpu {

namespace {

// A float activation row padded to the kernels' vector width.
int64_t padded_float_row(MatmulIsa isa, int64_t k) {
  const int64_t lanes = isa == MatmulIsa::Avx512 ? 16 : 8;
  return (k + lanes - 1) / lanes * lanes;
}

bool is_weight_dtype(DType t) { return t != DType::I32; }
bool is_float_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

void check_operands(const Tensor& y, const Tensor& x, const Tensor& w) {
  const auto fail = [&](const std::string& why) {
    throw Error("matmul: " + why + " (y " + y.describe() + ", x " + x.describe() + ", w " + w.describe() + ")");
  };
  if (x.device() != Device::CPU || y.device() != Device::CPU || w.device() != Device::CPU)
    fail("operands must be host tensors");
  if (x.dtype() != DType::F32 || y.dtype() != DType::F32) fail("x and y must be f32");
  if (x.ndim() != 2 || y.ndim() != 2 || w.ndim() != 2) fail("x, y and w must be 2-D");
  if (!is_weight_dtype(w.dtype())) fail("unsupported weight dtype");
  if (x.size(1) != w.size(1) || y.size(0) != x.size(0) || y.size(1) != w.size(0)) fail("shape mismatch");
  if (x.stride(1) != 1 || y.stride(1) != 1 || !w.is_contiguous()) fail("rows must be dense");
  require_whole_if_tiled(w, "matmul");
}

// int8 groups: the weights' offsets (Q4_1, Q5_1, K-quants) meet the sum of the rounded
// activations, scale * sum(q), as llama.cpp's Q8_1 blocks carry it, not the exact sum: the
// product is then that of one rounded row with the whole weight. With the exact sum, the
// offset term skipped the rounding errors that the rest of the product saw, and on SmolLM2's
// outlier-heavy groups those no longer cancelled: top-1 agreement with transformers fell to
// 84.1% (AVX2 kernels) against 95.7% for the generic kernel, which multiplies dequantized
// rows. (int16 groups round finely enough that either sum gives the same top tokens.)
void sums_of_quantized_groups(const int16_t* q, const float* scale, int64_t groups, float* sum) {
  for (int64_t g = 0; g < groups; ++g) {
    int32_t total = 0;
    for (int64_t i = 0; i < kActGroup; ++i) total += q[g * kActGroup + i];
    sum[g] = scale[g] * static_cast<float>(total);
  }
}

// Copies (float weights) or quantizes (block weights) the activation rows.
void prepare_activations(MatmulIsa isa, ThreadPool& pool, MatmulScratch& s, const Tensor& x, MatmulProblem& p) {
  const float* x_base = x.data<float>();
  const int64_t x_stride = x.stride(0);
  if (is_float_dtype(p.wtype)) {
    p.xf_stride = padded_float_row(isa, p.k);
    s.xf.assign(static_cast<size_t>(p.m * p.xf_stride), 0.0f);
    for (int64_t r = 0; r < p.m; ++r)
      std::copy_n(x_base + r * x_stride, p.k, s.xf.data() + r * p.xf_stride);
    p.xf = s.xf.data();
    return;
  }
  const int64_t groups = p.k / kActGroup, stride = padded_groups(groups);
  s.q.resize(static_cast<size_t>(p.m * p.k));
  s.scale.assign(static_cast<size_t>(p.m * stride), 0.0f);
  s.sum.assign(static_cast<size_t>(p.m * stride), 0.0f);
  p.xq = {.q = s.q.data(), .scale = s.scale.data(), .sum = s.sum.data(), .groups = groups, .group_stride = stride};
  // The AVX-512 family quantizes exactly as the AVX2 one (its outputs equal AVX2's) and
  // splits the result into bytes for vpdpbusd.
  const auto quantize = isa == MatmulIsa::Generic ? quantize_activation_row_generic : quantize_activation_row_avx2;
  const bool split = isa == MatmulIsa::Avx512;
  if (split) {
    s.hi.resize(static_cast<size_t>(p.m * p.k));
    s.lo.resize(static_cast<size_t>(p.m * p.k));
    s.q_sum.assign(static_cast<size_t>(p.m * stride), 0);
    p.xq.hi = s.hi.data(), p.xq.lo = s.lo.data(), p.xq.q_sum = s.q_sum.data();
  }
  const int levels = s.int8 ? kInt8ActivationLevels : activation_levels(p.wtype);
  p.xq.hi_zero = s.int8;
  const auto rows = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      quantize(x_base + r * x_stride, p.k, levels, s.q.data() + r * p.k, s.scale.data() + r * stride,
               s.sum.data() + r * stride);
      if (s.int8) sums_of_quantized_groups(s.q.data() + r * p.k, s.scale.data() + r * stride, groups, s.sum.data() + r * stride);
      if (split)
        split_activation_row_avx512(s.q.data() + r * p.k, p.k, s.hi.data() + r * p.k, s.lo.data() + r * p.k,
                                    s.q_sum.data() + r * stride);
    }
  };
  if (p.m * p.k < 16384) rows(0, p.m);  // not worth waking the pool
  else pool.parallel_for(p.m, 1, rows);
}

// Splits the output columns of all problems (one parallel job) over the pool in whole
// units of the kernels' column groups, so that every thread count and every grouping of
// the problems gives the same per-column arithmetic.
void run_columns(MatmulIsa isa, ThreadPool& pool, std::span<const MatmulProblem> problems) {
  const auto kernel = isa == MatmulIsa::Avx512 ? matmul_columns_avx512
                      : isa == MatmulIsa::Avx2 ? matmul_columns_avx2
                                               : matmul_columns_generic;
  // Units of columns: the quantized kernels' tiles (8 rows, 16 for AVX-512), or for float
  // weights a multiple of their panels' rows (3 rows for AVX2, 4 for AVX-512): a share
  // should not end in a narrower tile.
  const bool quantized = !is_float_dtype(problems.front().wtype);
  const int64_t unit = isa == MatmulIsa::Avx512 ? (quantized ? kAvx512Tile : 24) : (quantized ? 8 : 24);
  int64_t units = 0, work = 0;
  for (const MatmulProblem& p : problems) units += (p.n + unit - 1) / unit, work += p.m * p.n * p.k;
  const int threads = static_cast<int>(std::min<int64_t>(pool.size(), units));
  if (threads <= 1 || work < 65536) {
    for (const MatmulProblem& p : problems) kernel(p, 0, p.n);
    return;
  }
  // One row (decode) streams the weights from memory: one contiguous share per thread keeps
  // each thread's stream, and its prefetching, whole (finer chunks measured slower). More
  // rows are compute-bound: chunks taken in turn from a shared counter let a thread whose
  // core runs faster (another process, a noisy neighbour on the other) take more of them
  // instead of spinning until the slow share is done (pp512 +28% Q4_1, +8% F16, loaded).
  constexpr int64_t kChunksPerThread = 32;
  const int64_t per_thread = problems.front().m == 1 ? 1 : kChunksPerThread;
  const int64_t chunks = std::min<int64_t>(units, threads * per_thread);
  std::atomic<int64_t> next{0};
  pool.run([&](int t, int) {
    if (t >= threads) return;
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      // Units [begin, end) of the problems laid end to end.
      const int64_t begin = units * c / chunks, end = units * (c + 1) / chunks;
      int64_t first = 0;  // first unit of the current problem
      for (const MatmulProblem& p : problems) {
        const int64_t count_p = (p.n + unit - 1) / unit;
        const int64_t lo = std::max(begin, first) - first, hi = std::min(end, first + count_p) - first;
        if (lo < hi) kernel(p, lo * unit, std::min(p.n, hi * unit));
        first += count_p;
      }
    }
  });
}

MatmulProblem make_problem(Tensor& y, const Tensor& x, const Tensor& w) {
  check_operands(y, x, w);
  MatmulProblem p;
  p.m = x.size(0);
  p.n = w.size(0);
  p.k = x.size(1);
  p.wtype = w.dtype();
  p.w = static_cast<const uint8_t*>(w.raw_data());
  p.w_row_bytes = dtype_row_bytes(p.wtype, p.k);
  p.tiled = w.block_order() == BlockOrder::Tiles16;
  p.y = y.data<float>();
  p.y_stride = y.stride(0);
  return p;
}

// Whether two weight dtypes take the same prepared activations.
bool same_activations(DType a, DType b) {
  if (is_float_dtype(a) || is_float_dtype(b)) return is_float_dtype(a) && is_float_dtype(b);
  return activation_levels(a) == activation_levels(b);
}

}  // namespace

MatmulIsa best_matmul_isa() { return supported_matmul_isas().front(); }

std::vector<MatmulIsa> supported_matmul_isas() {
  std::vector<MatmulIsa> isas;
  if (cpu_has_avx512_vnni()) isas.push_back(MatmulIsa::Avx512);
  if (cpu_has_avx2_fma_f16c()) isas.push_back(MatmulIsa::Avx2);
  isas.push_back(MatmulIsa::Generic);
  return isas;
}

const char* matmul_isa_name(MatmulIsa isa) {
  switch (isa) {
    case MatmulIsa::Avx512: return "avx512";
    case MatmulIsa::Avx2: return "avx2";
    default: return "generic";
  }
}

void matmul_with(MatmulIsa isa, ThreadPool& pool, MatmulScratch& scratch, Tensor& y, const Tensor& x,
                 const Tensor& w) {
  const MatmulTarget target{&y, &w};
  matmul_targets(isa, pool, scratch, x, std::span(&target, 1), false);
}

void matmul_with(MatmulIsa isa, ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w) {
  MatmulScratch scratch;
  matmul_with(isa, pool, scratch, y, x, w);
}

void matmul_many_with(MatmulIsa isa, ThreadPool& pool, const Tensor& x, std::span<const MatmulTarget> targets) {
  MatmulScratch scratch;
  matmul_targets(isa, pool, scratch, x, targets, false);
}

void matmul_targets(MatmulIsa isa, ThreadPool& pool, MatmulScratch& scratch, const Tensor& x,
                    std::span<const MatmulTarget> targets, bool accumulate) {
  std::vector<MatmulProblem> problems;
  problems.reserve(targets.size());
  for (const MatmulTarget& t : targets) {
    MatmulProblem p = make_problem(*t.y, x, *t.w);
    p.accumulate = accumulate;
    if (p.tiled && isa != MatmulIsa::Avx512)
      throw Error("matmul: weights " + t.w->describe() + " are in the AVX-512 kernels' tile order; the " +
                  matmul_isa_name(isa) + " kernels read row order");
    if (p.m == 0 || p.n == 0) continue;
    if (!problems.empty() && !same_activations(problems.front().wtype, p.wtype)) {
      matmul_targets(isa, pool, scratch, x, std::span(&t, 1), accumulate);  // mixed formats: on its own
      continue;
    }
    problems.push_back(p);
  }
  if (problems.empty()) return;
  prepare_activations(isa, pool, scratch, x, problems.front());
  for (MatmulProblem& p : problems) {
    p.xf = problems.front().xf, p.xf_stride = problems.front().xf_stride;
    p.xq = problems.front().xq;
  }
  run_columns(isa, pool, problems);
}

void matmul(ThreadPool& pool, MatmulScratch& scratch, Tensor& y, const Tensor& x, const Tensor& w) {
  matmul_with(best_matmul_isa(), pool, scratch, y, x, w);
}

void matmul_many(ThreadPool& pool, MatmulScratch& scratch, const Tensor& x, std::span<const MatmulTarget> targets) {
  matmul_targets(best_matmul_isa(), pool, scratch, x, targets, false);
}

void matmul_accumulate(ThreadPool& pool, MatmulScratch& scratch, Tensor& y, const Tensor& x, const Tensor& w) {
  const MatmulTarget target{&y, &w};
  matmul_targets(best_matmul_isa(), pool, scratch, x, std::span(&target, 1), true);
}

void matmul(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w) {
  MatmulScratch scratch;
  matmul(pool, scratch, y, x, w);
}

void matmul_many(ThreadPool& pool, const Tensor& x, std::span<const MatmulTarget> targets) {
  MatmulScratch scratch;
  matmul_many(pool, scratch, x, targets);
}

void matmul_accumulate(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& w) {
  MatmulScratch scratch;
  matmul_accumulate(pool, scratch, y, x, w);
}

namespace {
// Grows v's capacity to n elements and makes all of it resident (a later assign() or
// resize() within the capacity neither allocates nor faults).
template <typename T>
void reserve_resident(AlignedVector<T>& v, int64_t n) {
  if (static_cast<size_t>(n) > v.capacity()) v.reserve(static_cast<size_t>(n));
  prefault_pages(v.data(), v.capacity() * sizeof(T));
}

template <typename T>
size_t capacity_bytes(const AlignedVector<T>& v) {
  return v.capacity() * sizeof(T);
}
}  // namespace

void MatmulScratch::reserve(int64_t rows, int64_t k, DType weight) {
  const MatmulIsa isa = best_matmul_isa();
  if (is_float_dtype(weight)) return reserve_resident(xf, rows * padded_float_row(isa, k));
  const int64_t groups = rows * padded_groups(k / kActGroup);
  reserve_resident(q, rows * k), reserve_resident(scale, groups), reserve_resident(sum, groups);
  if (isa == MatmulIsa::Avx512) reserve_resident(hi, rows * k), reserve_resident(lo, rows * k), reserve_resident(q_sum, groups);
}

size_t MatmulScratch::bytes() const {
  return capacity_bytes(xf) + capacity_bytes(q) + capacity_bytes(scale) + capacity_bytes(sum) + capacity_bytes(hi) +
         capacity_bytes(lo) + capacity_bytes(q_sum);
}

}  // namespace strata::cpu
