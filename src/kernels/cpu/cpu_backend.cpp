#include "kernels/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/memory.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/vector_ops.h"
#include "kernels/cpu/weight_tiles.h"
#include "kernels/forward_batch.h"

namespace strata {

namespace cpu {

namespace {

Tensor i32_tensor(const std::vector<int32_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I32);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

// Zero-filled host memory whose pages are mapped on first touch: a large KV cache costs
// nothing at start-up and its resident size grows with the blocks actually written.
Tensor lazily_zeroed_tensor(const Tensor::Shape& shape, DType dtype) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const size_t bytes = static_cast<size_t>(dtype_row_bytes(dtype, n));
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw Error("out of host memory mapping " + std::to_string(bytes) + " bytes of KV cache");
  std::shared_ptr<void> unmap(p, [bytes](void* q) { munmap(q, bytes); });
  return Tensor::view_of(Storage::wrap(p, bytes, Device::CPU, std::move(unmap)), 0, dtype, shape);
}

void require_host(const Tensor& t, const char* op) {
  if (t.device() != Device::CPU) throw Error(std::string(op) + ": tensor " + t.describe() + " is not in host memory");
}

}  // namespace

CpuBackend::CpuBackend(const CpuBackendOptions& options)
    : pool_(options.num_threads), tile_weights_(options.tile_weights && best_matmul_isa() == MatmulIsa::Avx512) {
  matmul_scratch_.int8 = options.int8_activations;
}

std::string CpuBackend::name() const {
  return "cpu (" + std::to_string(pool_.size()) + " threads, " + vector_ops().name +
         (matmul_scratch_.int8 ? ", int8 activations" : "") + ")";
}

Tensor CpuBackend::allocate(const Tensor::Shape& shape, DType dtype) { return Tensor::empty(shape, dtype); }

// Weights stay where they are (a file mapping: zero copy), except quantized matrices that
// the AVX-512 kernels read 16 rows at a time: reordered once into their tile order (the
// same bytes, so the same memory), which makes decode's weight stream one sequential read
// with no transposes (weight_tiles.h).
Tensor CpuBackend::upload(const Tensor& host) {
  require_host(host, "upload");
  if (tile_weights_ && can_tile(host)) {
    Tensor tiled = tile_weights(host);
    release_clean_pages(host.raw_data(), host.nbytes());  // the file's copy is not read again
    return tiled;
  }
  return host;
}

Tensor CpuBackend::download(const Tensor& t) {
  require_host(t, "download");
  if (t.block_order() == BlockOrder::Tiles16) return untile_weights(t);
  return t;
}

KVStorage CpuBackend::allocate_kv(const KVCacheLayout& layout) {
  layout.check("allocate_kv");
  KVStorage kv;
  kv.layout = layout;
  const Tensor::Shape shape{layout.num_blocks, layout.block_size, layout.num_kv_heads, layout.head_dim};
  for (int layer = 0; layer < layout.num_layers; ++layer) {
    kv.k.push_back(lazily_zeroed_tensor(shape, layout.dtype));
    kv.v.push_back(lazily_zeroed_tensor(shape, layout.dtype));
  }
  return kv;
}

BatchTensors CpuBackend::upload_batch(const ForwardBatch& batch) {
  BatchTensors out;
  out.num_tokens = batch.num_tokens();
  out.num_seqs = batch.num_seqs();
  out.token_ids = i32_tensor(batch.token_ids);
  out.positions = i32_tensor(batch.positions);
  out.slot_mapping = i32_tensor(batch.slot_mapping);
  out.query_start = i32_tensor(batch.query_start);
  out.context_lens = i32_tensor(batch.context_lens);
  out.logit_rows = i32_tensor(batch.logit_rows);
  out.host_query_start = batch.query_start;
  out.host_context_lens = batch.context_lens;
  for (const auto& table : batch.block_tables)
    out.max_blocks_per_seq = std::max(out.max_blocks_per_seq, static_cast<int>(table.size()));
  out.block_tables = Tensor::empty({out.num_seqs, std::max(out.max_blocks_per_seq, 1)}, DType::I32);
  int32_t* tables = out.block_tables.data<int32_t>();
  std::fill(tables, tables + out.block_tables.numel(), -1);
  for (size_t s = 0; s < batch.block_tables.size(); ++s)
    std::copy(batch.block_tables[s].begin(), batch.block_tables[s].end(),
              tables + static_cast<int64_t>(s) * std::max(out.max_blocks_per_seq, 1));
  out.max_blocks_per_seq = std::max(out.max_blocks_per_seq, 1);
  for (size_t s = 0; s + 1 < batch.query_start.size(); ++s)
    out.max_query_len = std::max(out.max_query_len, batch.query_start[s + 1] - batch.query_start[s]);
  for (int32_t len : batch.context_lens) out.max_context_len = std::max(out.max_context_len, len);
  return out;
}

size_t CpuBackend::reserve_products(int64_t rows, std::span<const Tensor* const> weights) {
  for (const Tensor* w : weights)
    if (w != nullptr && w->defined() && w->ndim() == 2) matmul_scratch_.reserve(rows, w->size(1), w->dtype());
  return matmul_scratch_.bytes();
}

void CpuBackend::matmul(Tensor& y, const Tensor& x, const Tensor& w) { cpu::matmul(pool_, matmul_scratch_, y, x, w); }
void CpuBackend::matmul_many(const Tensor& x, std::span<const MatmulTarget> targets) {
  cpu::matmul_many(pool_, matmul_scratch_, x, targets);
}

void CpuBackend::matmul_accumulate(Tensor& y, const Tensor& x, const Tensor& w) {
  cpu::matmul_accumulate(pool_, matmul_scratch_, y, x, w);
}

void CpuBackend::add_bias(Tensor& y, const Tensor& bias) { cpu::add_bias(pool_, y, bias); }

void CpuBackend::rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps) {
  cpu::rms_norm(pool_, y, x, weight, eps);
}

RopeTable& CpuBackend::rope_table(const RopeConfig& cfg) {
  for (auto& table : rope_tables_)
    if (table->matches(cfg)) return *table;
  rope_tables_.push_back(std::make_unique<RopeTable>(cfg));
  return *rope_tables_.back();
}

void CpuBackend::rope(Tensor& x, const BatchTensors& batch, const RopeConfig& cfg) {
  const std::span<const int32_t> positions(batch.positions.data<int32_t>(), static_cast<size_t>(batch.num_tokens));
  apply_rope(pool_, x, positions, cfg, rope_table(cfg));
}

void CpuBackend::embedding(Tensor& y, const Tensor& table, const Tensor& ids) { cpu::embedding(pool_, y, table, ids); }

void CpuBackend::silu_mul(Tensor& y, const Tensor& gate, const Tensor& up) { cpu::silu_mul(pool_, y, gate, up); }

void CpuBackend::add(Tensor& y, const Tensor& a, const Tensor& b) { cpu::add(pool_, y, a, b); }

void CpuBackend::gather_rows(Tensor& y, const Tensor& x, const Tensor& rows) { cpu::gather_rows(y, x, rows); }

void CpuBackend::argmax_rows(Tensor& ids, const Tensor& logits) { cpu::argmax_rows(ids, logits); }

void CpuBackend::sample_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling) {
  check_host_sampling(ids, logits, sampling);
  const auto rows = static_cast<int64_t>(sampling.rows.size());
  if (rows == 0) return;
  sampling_scratch_.resize(static_cast<size_t>(pool_.size()));
  // Rows interleaved over the workers: a step's rows mix cheap (greedy, peaked) and costly ones.
  pool_.run([&](int worker, int workers) {
    sample_host_rows_strided(ids, logits, sampling, worker, workers, sampling_scratch_[static_cast<size_t>(worker)]);
  });
}

void CpuBackend::store_kv(KVStorage& kv, int layer, const Tensor& k, const Tensor& v, const BatchTensors& batch) {
  cpu::store_kv(pool_, kv, layer, k, v, batch);
}

void CpuBackend::attention(Tensor& out, const Tensor& q, const KVStorage& kv, int layer, const BatchTensors& batch,
                           float scale) {
  paged_attention(pool_, out, q, kv, layer, batch, scale, attention_scratch_);
}

void CpuBackend::copy_blocks(KVStorage& dst, const KVStorage& src,
                             std::span<const std::pair<int32_t, int32_t>> src_dst) {
  copy_kv_blocks(dst, src, src_dst);
}

}  // namespace cpu

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options) {
  return std::make_unique<cpu::CpuBackend>(options);
}

}  // namespace strata
