#include "kernels/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/vector_ops.h"

namespace strata::cpu {

namespace {

constexpr int64_t kMaxHeadDim = 1024;  // stack scratch per (token, head)
constexpr int64_t kScoreChunk = 64;    // keys scored before each softmax update

void check_cache_layer(const KVStorage& kv, int layer, const char* op) {
  const auto& l = kv.layout;
  if (layer < 0 || layer >= l.num_layers || static_cast<size_t>(layer) >= kv.k.size() ||
      static_cast<size_t>(layer) >= kv.v.size())
    throw Error(std::string(op) + ": layer " + std::to_string(layer) + " out of range");
  if (l.dtype != DType::F16 && l.dtype != DType::F32)
    throw Error(std::string(op) + ": KV cache dtype must be f16 or f32, got " + std::string(dtype_name(l.dtype)));
  if (l.head_dim > kMaxHeadDim) throw Error(std::string(op) + ": head_dim " + std::to_string(l.head_dim) + " too large");
}

// A view [T, H, D] of f32 with dense rows (the leading strides may be anything).
void check_heads(const Tensor& t, int64_t tokens, int64_t heads, int64_t head_dim, const char* op, const char* what) {
  if (t.dtype() != DType::F32 || t.ndim() != 3 || t.size(0) != tokens || t.size(1) != heads ||
      t.size(2) != head_dim || t.stride(2) != 1)
    throw Error(std::string(op) + ": " + what + " must be f32 [" + std::to_string(tokens) + ", " +
                std::to_string(heads) + ", " + std::to_string(head_dim) + "] with dense rows, got " + t.describe());
}

// Writes one row of `n` f32 values into the cache in its dtype.
void write_cache_row(void* dst, const float* src, int64_t n, bool f16, const VectorOps& ops) {
  if (f16) ops.f32_to_f16(static_cast<uint16_t*>(dst), src, n);
  else std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

}  // namespace

void store_kv(ThreadPool& pool, KVStorage& kv, int layer, const Tensor& k, const Tensor& v,
              const BatchTensors& batch) {
  check_cache_layer(kv, layer, "store_kv");
  const auto& l = kv.layout;
  const int64_t tokens = batch.num_tokens;
  check_heads(k, tokens, l.num_kv_heads, l.head_dim, "store_kv", "k");
  check_heads(v, tokens, l.num_kv_heads, l.head_dim, "store_kv", "v");
  const int32_t* slots = batch.slot_mapping.data<int32_t>();
  const int64_t num_slots = int64_t{l.num_blocks} * l.block_size;
  for (int64_t t = 0; t < tokens; ++t)
    if (slots[t] >= num_slots) throw Error("store_kv: slot " + std::to_string(slots[t]) + " beyond the cache");
  const bool f16 = l.dtype == DType::F16;
  const size_t elem = f16 ? 2 : 4;
  const int64_t heads = l.num_kv_heads, dim = l.head_dim;
  char* k_cache = static_cast<char*>(kv.k[static_cast<size_t>(layer)].raw_data());
  char* v_cache = static_cast<char*>(kv.v[static_cast<size_t>(layer)].raw_data());
  const VectorOps& ops = vector_ops();
  auto store_tokens = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      if (slots[t] < 0) continue;  // padding token: nothing to keep
      for (int64_t h = 0; h < heads; ++h) {
        const size_t offset = static_cast<size_t>((slots[t] * heads + h) * dim) * elem;
        write_cache_row(k_cache + offset, k.data<float>() + t * k.stride(0) + h * k.stride(1), dim, f16, ops);
        write_cache_row(v_cache + offset, v.data<float>() + t * v.stride(0) + h * v.stride(1), dim, f16, ops);
      }
    }
  };
  const int64_t per_token = heads * dim;
  if (tokens * per_token < 32768) store_tokens(0, tokens);
  else pool.parallel_for(tokens, std::max<int64_t>(1, 16384 / per_token), store_tokens);
}

namespace {

// Everything one (token, query head) needs, resolved once per call.
struct AttentionJob {
  const float* q;
  int64_t q_token_stride, q_head_stride;
  float* out;
  int64_t out_stride;
  const char* k_cache;
  const char* v_cache;
  bool f16;
  int64_t block_size, num_kv_heads, head_dim, num_heads, group;
  const int32_t* positions;
  const int32_t* query_start;  // [S + 1]
  int64_t num_seqs;
  const int32_t* block_tables;  // [S, max_blocks]
  int64_t max_blocks;
  float scale;
  const VectorOps* ops;
};

float dot_key(const AttentionJob& job, const float* q, const char* row) {
  return job.f16 ? job.ops->dot_f16(q, reinterpret_cast<const uint16_t*>(row), job.head_dim)
                 : job.ops->dot_f32(q, reinterpret_cast<const float*>(row), job.head_dim);
}

void add_value(const AttentionJob& job, float* acc, float acc_scale, const char* row, float w) {
  if (job.f16) job.ops->scale_add_f16(acc, acc_scale, reinterpret_cast<const uint16_t*>(row), w, job.head_dim);
  else job.ops->scale_add_f32(acc, acc_scale, reinterpret_cast<const float*>(row), w, job.head_dim);
}

// Online softmax over the keys [0, position] of one token and head, a chunk of keys at a
// time: score the chunk, rescale the running sum once, accumulate the values.
void attend_one(const AttentionJob& job, int64_t token, int64_t head) {
  const int64_t dim = job.head_dim;
  const int32_t* seq_end = std::upper_bound(job.query_start + 1, job.query_start + job.num_seqs + 1, token);
  const int32_t* table = job.block_tables + (seq_end - (job.query_start + 1)) * job.max_blocks;
  const int64_t num_keys = int64_t{job.positions[token]} + 1;
  const int64_t kv_head = head / job.group;
  const size_t elem = job.f16 ? 2 : 4;
  const size_t position_bytes = static_cast<size_t>(job.num_kv_heads * dim) * elem;
  const size_t head_offset = static_cast<size_t>(kv_head * dim) * elem;

  alignas(64) float q[kMaxHeadDim];
  alignas(64) float acc[kMaxHeadDim];
  alignas(64) float scores[kScoreChunk];
  const float* q_row = job.q + token * job.q_token_stride + head * job.q_head_stride;
  for (int64_t i = 0; i < dim; ++i) q[i] = q_row[i] * job.scale;
  std::fill(acc, acc + dim, 0.f);
  float running_max = -std::numeric_limits<float>::infinity(), running_sum = 0.f;

  for (int64_t start = 0; start < num_keys;) {
    const int64_t block = table[start / job.block_size], offset = start % job.block_size;
    const int64_t count = std::min({job.block_size - offset, num_keys - start, kScoreChunk});
    const size_t first = static_cast<size_t>(block * job.block_size + offset) * position_bytes + head_offset;
    const char* keys = job.k_cache + first;
    const char* values = job.v_cache + first;
    float chunk_max = running_max;
    for (int64_t j = 0; j < count; ++j) {
      scores[j] = dot_key(job, q, keys + static_cast<size_t>(j) * position_bytes);
      chunk_max = std::max(chunk_max, scores[j]);
    }
    const float correction = std::exp(running_max - chunk_max);  // 0 on the first chunk
    running_sum = running_sum * correction + job.ops->exp_shift_sum(scores, chunk_max, count);
    for (int64_t j = 0; j < count; ++j)
      add_value(job, acc, j == 0 ? correction : 1.f, values + static_cast<size_t>(j) * position_bytes, scores[j]);
    running_max = chunk_max;
    start += count;
  }
  float* out = job.out + token * job.out_stride + head * dim;
  const float inv_sum = 1.f / running_sum;
  for (int64_t i = 0; i < dim; ++i) out[i] = acc[i] * inv_sum;
}

// Every token's position must lie inside its sequence's context, and every block a
// position can reach must exist: checked up front so that workers never throw.
void check_batch_for_attention(const BatchTensors& batch, const KVCacheLayout& l) {
  const int64_t seqs = batch.num_seqs;
  if (static_cast<int64_t>(batch.host_query_start.size()) != seqs + 1 ||
      static_cast<int64_t>(batch.host_context_lens.size()) != seqs)
    throw Error("attention: batch host arrays do not match its " + std::to_string(seqs) + " sequences");
  const int32_t* positions = batch.positions.data<int32_t>();
  const int32_t* tables = batch.block_tables.data<int32_t>();
  for (int64_t s = 0; s < seqs; ++s) {
    const int64_t context = batch.host_context_lens[static_cast<size_t>(s)];
    for (int32_t t = batch.host_query_start[static_cast<size_t>(s)]; t < batch.host_query_start[static_cast<size_t>(s) + 1]; ++t)
      if (positions[t] < 0 || positions[t] >= context)
        throw Error("attention: token " + std::to_string(t) + " at position " + std::to_string(positions[t]) +
                    " outside its context of " + std::to_string(context));
    const int64_t blocks = (context + l.block_size - 1) / l.block_size;
    if (blocks > batch.max_blocks_per_seq)
      throw Error("attention: sequence " + std::to_string(s) + " needs " + std::to_string(blocks) + " blocks");
    for (int64_t b = 0; b < blocks; ++b) {
      const int32_t id = tables[s * batch.max_blocks_per_seq + b];
      if (id < 0 || id >= l.num_blocks)
        throw Error("attention: sequence " + std::to_string(s) + " has invalid block " + std::to_string(id));
    }
  }
}

}  // namespace

void paged_attention(ThreadPool& pool, Tensor& out, const Tensor& q, const KVStorage& kv, int layer,
                     const BatchTensors& batch, float scale) {
  check_cache_layer(kv, layer, "attention");
  const auto& l = kv.layout;
  const int64_t tokens = batch.num_tokens;
  if (q.ndim() != 3 || l.num_kv_heads <= 0 || q.size(1) % l.num_kv_heads != 0)
    throw Error("attention: query heads of " + q.describe() + " are not a multiple of " + std::to_string(l.num_kv_heads));
  const int64_t heads = q.size(1), dim = l.head_dim;
  check_heads(q, tokens, heads, dim, "attention", "q");
  if (out.dtype() != DType::F32 || out.ndim() != 2 || out.size(0) != tokens || out.size(1) != heads * dim ||
      out.stride(1) != 1)
    throw Error("attention: out must be f32 [" + std::to_string(tokens) + ", " + std::to_string(heads * dim) +
                "], got " + out.describe());
  check_batch_for_attention(batch, l);

  const AttentionJob job{q.data<float>(), q.stride(0), q.stride(1), out.data<float>(), out.stride(0),
                         static_cast<const char*>(kv.k[static_cast<size_t>(layer)].raw_data()),
                         static_cast<const char*>(kv.v[static_cast<size_t>(layer)].raw_data()),
                         l.dtype == DType::F16, l.block_size, l.num_kv_heads, dim, heads, heads / l.num_kv_heads,
                         batch.positions.data<int32_t>(), batch.host_query_start.data(), batch.num_seqs,
                         batch.block_tables.data<int32_t>(), batch.max_blocks_per_seq, scale, &vector_ops()};
  const int64_t items = tokens * heads;
  int64_t key_reads = 0;
  for (int64_t t = 0; t < tokens; ++t) key_reads += job.positions[t] + 1;
  if (key_reads * heads * dim < 65536 || pool.size() == 1) {
    for (int64_t i = 0; i < items; ++i) attend_one(job, i / heads, i % heads);
    return;
  }
  // Items differ in cost (later tokens see more keys), so workers take them one at a time.
  struct Shared { const AttentionJob* job; std::atomic<int64_t> next{0}; int64_t items; } shared{&job, {}, items};
  Shared* s = &shared;
  pool.run([s](int, int) {
    for (int64_t i = s->next.fetch_add(1, std::memory_order_relaxed); i < s->items;
         i = s->next.fetch_add(1, std::memory_order_relaxed))
      attend_one(*s->job, i / s->job->num_heads, i % s->job->num_heads);
  });
}

void copy_kv_blocks(KVStorage& dst, const KVStorage& src, std::span<const std::pair<int32_t, int32_t>> src_dst) {
  const auto &a = src.layout, &b = dst.layout;
  if (a.num_layers != b.num_layers || a.block_size != b.block_size || a.num_kv_heads != b.num_kv_heads ||
      a.head_dim != b.head_dim || a.dtype != b.dtype)
    throw Error("copy_blocks: the two KV storages have different layouts");
  const size_t block_bytes = static_cast<size_t>(dtype_row_bytes(a.dtype, int64_t{a.block_size} * a.num_kv_heads * a.head_dim));
  for (const auto& [from, to] : src_dst) {
    if (from < 0 || from >= a.num_blocks || to < 0 || to >= b.num_blocks)
      throw Error("copy_blocks: block pair (" + std::to_string(from) + ", " + std::to_string(to) + ") out of range");
    for (size_t layer = 0; layer < static_cast<size_t>(a.num_layers); ++layer) {
      std::memmove(static_cast<char*>(dst.k[layer].raw_data()) + static_cast<size_t>(to) * block_bytes,
                   static_cast<const char*>(src.k[layer].raw_data()) + static_cast<size_t>(from) * block_bytes, block_bytes);
      std::memmove(static_cast<char*>(dst.v[layer].raw_data()) + static_cast<size_t>(to) * block_bytes,
                   static_cast<const char*>(src.v[layer].raw_data()) + static_cast<size_t>(from) * block_bytes, block_bytes);
    }
  }
}

}  // namespace strata::cpu
