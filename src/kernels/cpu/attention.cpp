#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/cpu/vector_ops.h"

namespace strata::cpu {

namespace {

constexpr int64_t kMaxHeadDim = 512;      // stack scratch per query head
constexpr int64_t kMaxHeadsPerItem = 8;  // query heads of one GQA group done together
constexpr int64_t kScoreChunk = 64;    // keys scored before each softmax update
constexpr int64_t kQueryTile = 4;      // prefill tokens of one sequence sharing each converted chunk
constexpr int64_t kTileMaxDim = 128;   // the tile's f32 copies of a chunk live on the stack

void check_cache_layer(const KVStorage& kv, int layer, const char* op) {
  check_kv_layer(kv, layer, op);
  const auto& l = kv.layout;
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
  bool prefetch = true;  // decode's cache rows asked for ahead (STRATA_CPU_KV_PREFETCH=0: not, for A/B runs)
};

void score_keys(const AttentionJob& job, const float* q, const char* keys, int64_t row_stride, int64_t count,
                float* scores) {
  if (job.f16)
    job.ops->dot_rows_f16(q, reinterpret_cast<const uint16_t*>(keys), row_stride, count, job.head_dim, scores);
  else
    job.ops->dot_rows_f32(q, reinterpret_cast<const float*>(keys), row_stride, count, job.head_dim, scores);
}

void accumulate_values(const AttentionJob& job, float* acc, const char* values, int64_t row_stride,
                       const float* weights, int64_t count) {
  if (job.f16)
    job.ops->accumulate_rows_f16(acc, reinterpret_cast<const uint16_t*>(values), row_stride, weights, count, job.head_dim);
  else
    job.ops->accumulate_rows_f32(acc, reinterpret_cast<const float*>(values), row_stride, weights, count, job.head_dim);
}

// Consecutive keys of one cache block within a chunk: the byte offset of the first one's
// row (this KV head), its index among the chunk's keys, and how many.
struct KeyRun {
  size_t first;
  int64_t at, count;
};

// Where a work item leaves its result when a long context is split across items: its
// unnormalised accumulators [count][dim], then running maxima [count] and sums [count].
struct PartialResult {
  float* data;
};

// The cache rows of keys [start, start + kScoreChunk) ∩ [start, key_end) of one KV head, as
// runs of consecutive rows within a block; returns how many keys they hold. A chunk spans
// several cache blocks: the softmax update, its rescaling of the accumulators and the calls
// per chunk are paid once per chunk, not once per block (they cost as much as scoring a
// block of 16 keys).
struct ChunkRows {
  const int32_t* table;
  size_t position_bytes, head_offset;
};

int64_t chunk_runs(const AttentionJob& job, const ChunkRows& rows, int64_t start, int64_t key_end, KeyRun* runs,
                   int64_t& num_runs) {
  int64_t keys = 0;
  num_runs = 0;
  while (keys < kScoreChunk && start + keys < key_end) {
    const int64_t pos = start + keys;
    const int64_t block = rows.table[pos / job.block_size], offset = pos % job.block_size;
    const int64_t n = std::min({job.block_size - offset, key_end - pos, kScoreChunk - keys});
    runs[num_runs++] = {static_cast<size_t>(block * job.block_size + offset) * rows.position_bytes + rows.head_offset,
                        keys, n};
    keys += n;
  }
  return keys;
}

// Asks for the cache rows of a chunk's runs (one KV head's `row_bytes` at each position) to
// be brought into the cache: decode reads each sequence's rows once a layer, scattered over
// its blocks, and without this waited on every first load of a row.
void prefetch_rows(const char* cache, const KeyRun* runs, int64_t num_runs, size_t position_bytes, size_t row_bytes) {
  for (int64_t r = 0; r < num_runs; ++r)
    for (int64_t j = 0; j < runs[r].count; ++j) {
      const char* row = cache + runs[r].first + static_cast<size_t>(j) * position_bytes;
      for (size_t line = 0; line < row_bytes; line += 64) __builtin_prefetch(row + line);
    }
}

// One (token, head) pair's online softmax: its scaled query, unnormalised output, running
// maximum and sum.
struct HeadState {
  alignas(64) float q[kMaxHeadDim];
  alignas(64) float acc[kMaxHeadDim];
  float max, sum;
};

void start_head(const AttentionJob& job, int64_t token, int64_t head, HeadState& h) {
  const float* q_row = job.q + token * job.q_token_stride + head * job.q_head_stride;
  for (int64_t i = 0; i < job.head_dim; ++i) h.q[i] = q_row[i] * job.scale;
  std::fill(h.acc, h.acc + job.head_dim, 0.f);
  h.max = -std::numeric_limits<float>::infinity();
  h.sum = 0.f;
}

// Folds a chunk's scores s[0, keys) into the running softmax: s becomes the chunk's
// numerators and the accumulators are rescaled to the new maximum (the caller then adds
// the chunk's values weighted by s).
void softmax_step(const AttentionJob& job, HeadState& h, float* s, int64_t keys) {
  const float chunk_max = std::max(h.max, *std::max_element(s, s + keys));
  const float correction = std::exp(h.max - chunk_max);  // 0 on the first chunk
  h.sum = h.sum * correction + job.ops->exp_shift_sum(s, chunk_max, keys);
  if (correction != 1.f)
    for (int64_t i = 0; i < job.head_dim; ++i) h.acc[i] *= correction;
  h.max = chunk_max;
}

void finish_head(const AttentionJob& job, int64_t token, int64_t head, const HeadState& h) {
  float* out = job.out + token * job.out_stride + head * job.head_dim;
  const float inv_sum = 1.f / h.sum;
  for (int64_t i = 0; i < job.head_dim; ++i) out[i] = h.acc[i] * inv_sum;
}

// Where token `token`'s sequence keeps its block table.
const int32_t* table_of(const AttentionJob& job, int64_t token) {
  const int32_t* seq_end = std::upper_bound(job.query_start + 1, job.query_start + job.num_seqs + 1, token);
  return job.block_tables + (seq_end - (job.query_start + 1)) * job.max_blocks;
}

ChunkRows chunk_rows(const AttentionJob& job, int64_t token, int64_t first_head) {
  const size_t elem = job.f16 ? 2 : 4;
  return {table_of(job, token), static_cast<size_t>(job.num_kv_heads * job.head_dim) * elem,
          static_cast<size_t>(first_head / job.group * job.head_dim) * elem};
}

// Online softmax over keys [key_begin, key_end) of one token for `count` query heads that
// share one KV head, a chunk of keys at a time: score the chunk for each head, rescale
// its running sum once, accumulate the values. The chunk's key and value rows are read
// from memory once and then from L1 for the other heads of the group.
void attend_heads(const AttentionJob& job, int64_t token, int64_t first_head, int64_t count, int64_t key_begin,
                  int64_t key_end, const PartialResult* partial) {
  const int64_t dim = job.head_dim;
  const int64_t row_stride = job.num_kv_heads * dim;  // elements between consecutive positions
  const ChunkRows rows = chunk_rows(job, token, first_head);
  HeadState heads[kMaxHeadsPerItem];
  alignas(64) float scores[kMaxHeadsPerItem][kScoreChunk];
  for (int64_t g = 0; g < count; ++g) start_head(job, token, first_head + g, heads[g]);
  KeyRun runs[kScoreChunk];
  const size_t row_bytes = static_cast<size_t>(dim) * (job.f16 ? 2 : 4);
  const bool prefetch = job.prefetch;
  if (prefetch) {  // the first chunk's keys
    int64_t first_runs = 0;
    chunk_runs(job, rows, key_begin, key_end, runs, first_runs);
    prefetch_rows(job.k_cache, runs, first_runs, rows.position_bytes, row_bytes);
  }
  for (int64_t start = key_begin; start < key_end;) {
    int64_t num_runs = 0;
    const int64_t keys = chunk_runs(job, rows, start, key_end, runs, num_runs);
    if (prefetch) {
      // This chunk's values (read after its scores) and the next chunk's keys.
      prefetch_rows(job.v_cache, runs, num_runs, rows.position_bytes, row_bytes);
      if (start + keys < key_end) {
        KeyRun next[kScoreChunk];
        int64_t next_runs = 0;
        chunk_runs(job, rows, start + keys, key_end, next, next_runs);
        prefetch_rows(job.k_cache, next, next_runs, rows.position_bytes, row_bytes);
      }
    }
    for (int64_t g = 0; g < count; ++g) {
      float* s = scores[g];
      for (int64_t r = 0; r < num_runs; ++r)
        score_keys(job, heads[g].q, job.k_cache + runs[r].first, row_stride, runs[r].count, s + runs[r].at);
      softmax_step(job, heads[g], s, keys);
      for (int64_t r = 0; r < num_runs; ++r)
        accumulate_values(job, heads[g].acc, job.v_cache + runs[r].first, row_stride, s + runs[r].at, runs[r].count);
    }
    start += keys;
  }
  if (partial) {
    float* out = partial->data;
    for (int64_t g = 0; g < count; ++g) {
      std::copy(heads[g].acc, heads[g].acc + dim, out + g * dim);
      out[count * dim + g] = heads[g].max;
      out[count * dim + count + g] = heads[g].sum;
    }
    return;
  }
  for (int64_t g = 0; g < count; ++g) finish_head(job, token, first_head + g, heads[g]);
}

// Prefill: `n` (<= kQueryTile) query tokens of one sequence and `count` query heads of one
// KV head (f16 cache, head_dim <= kTileMaxDim). Each chunk's key and value rows are
// converted to f32 once for all n x count (token, head) pairs, which is what one token
// alone spends most of its time on; each pair then computes exactly what attend_heads
// computes for it (the same runs, chunk grid and operation order, the conversion exact),
// so a token's output does not depend on how its prefill was cut or batched.
void attend_tile(const AttentionJob& job, int64_t first_token, int64_t n, int64_t first_head, int64_t count) {
  const int64_t dim = job.head_dim;
  const ChunkRows rows = chunk_rows(job, first_token, first_head);
  HeadState heads[kQueryTile * kMaxHeadsPerItem];
  alignas(64) float scores[kScoreChunk];
  alignas(64) float k_rows[kScoreChunk * kTileMaxDim], v_rows[kScoreChunk * kTileMaxDim];
  int64_t visible_end[kQueryTile], key_end = 0;  // each token's keys: [0, position]
  for (int64_t t = 0; t < n; ++t) {
    visible_end[t] = int64_t{job.positions[first_token + t]} + 1;
    key_end = std::max(key_end, visible_end[t]);
    for (int64_t g = 0; g < count; ++g) start_head(job, first_token + t, first_head + g, heads[t * count + g]);
  }
  KeyRun runs[kScoreChunk];
  for (int64_t start = 0; start < key_end;) {
    int64_t num_runs = 0;
    const int64_t keys = chunk_runs(job, rows, start, key_end, runs, num_runs);
    for (int64_t r = 0; r < num_runs; ++r)
      for (int64_t j = 0; j < runs[r].count; ++j) {
        const size_t row = runs[r].first + static_cast<size_t>(j) * rows.position_bytes;
        job.ops->f16_to_f32(k_rows + (runs[r].at + j) * dim, reinterpret_cast<const uint16_t*>(job.k_cache + row), dim);
        job.ops->f16_to_f32(v_rows + (runs[r].at + j) * dim, reinterpret_cast<const uint16_t*>(job.v_cache + row), dim);
      }
    for (int64_t t = 0; t < n; ++t) {
      // This token's part of the chunk: its runs cut where attend_heads would cut them.
      const int64_t visible = std::min(keys, visible_end[t] - start);
      if (visible <= 0) continue;
      int64_t seen[kScoreChunk], seen_runs = 0;  // each run's keys this token sees
      while (seen_runs < num_runs && runs[seen_runs].at < visible) {
        seen[seen_runs] = std::min(runs[seen_runs].count, visible - runs[seen_runs].at);
        ++seen_runs;
      }
      for (int64_t g = 0; g < count; ++g) {
        HeadState& h = heads[t * count + g];
        for (int64_t r = 0; r < seen_runs; ++r)
          job.ops->dot_rows_f32(h.q, k_rows + runs[r].at * dim, dim, seen[r], dim, scores + runs[r].at);
        softmax_step(job, h, scores, visible);
        for (int64_t r = 0; r < seen_runs; ++r)
          job.ops->accumulate_rows_f32(h.acc, v_rows + runs[r].at * dim, dim, scores + runs[r].at, seen[r], dim);
      }
    }
    start += keys;
  }
  for (int64_t t = 0; t < n; ++t)
    for (int64_t g = 0; g < count; ++g) finish_head(job, first_token + t, first_head + g, heads[t * count + g]);
}

// How the (token, head, key) space is cut into work items.
struct WorkSplit {
  int64_t heads_per_item;  // query heads of one GQA group per item (a divisor of the group)
  int64_t key_splits;      // parts each token's keys are cut into (1: no split)
};

// Whole GQA groups read each key once for all their heads, so they are preferred. When
// that leaves too few items for the threads (decode of a few sequences), long contexts
// are cut into key ranges merged afterwards; short ones use fewer heads per item instead.
WorkSplit choose_split(int64_t tokens, int64_t heads, int64_t group, int threads, int64_t max_keys) {
  constexpr int64_t kMinKeysPerSplit = 64;
  int64_t n = std::min(group, kMaxHeadsPerItem);
  while (group % n != 0) --n;
  const int64_t wanted = 2 * int64_t{threads};
  const int64_t items = tokens * heads / n;
  if (threads == 1 || items >= wanted) return {n, 1};
  const int64_t splits = std::min((wanted + items - 1) / items, max_keys / kMinKeysPerSplit);
  if (splits >= 2) return {n, splits};
  while (n > 1 && tokens * heads / n < wanted) {
    int64_t smaller = n - 1;
    while (group % smaller != 0) --smaller;
    n = smaller;
  }
  return {n, 1};
}

// Combines the key-range partials of every (token, head group) into the output.
void merge_partials(const AttentionJob& job, int64_t base_items, const WorkSplit& split, const float* partials) {
  const int64_t n = split.heads_per_item, dim = job.head_dim, slot = n * (dim + 2);
  const int64_t items_per_token = job.num_heads / n;
  for (int64_t b = 0; b < base_items; ++b)
    for (int64_t g = 0; g < n; ++g) {
      const float* first = partials + b * split.key_splits * slot;
      float max = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < split.key_splits; ++s) max = std::max(max, first[s * slot + n * dim + g]);
      float* out = job.out + b / items_per_token * job.out_stride + (b % items_per_token * n + g) * dim;
      std::fill(out, out + dim, 0.f);
      float sum = 0.f;
      for (int64_t s = 0; s < split.key_splits; ++s) {
        const float* part = first + s * slot;
        const float weight = std::exp(part[n * dim + g] - max);  // 0 for an empty key range
        sum += part[n * dim + n + g] * weight;
        for (int64_t i = 0; i < dim; ++i) out[i] += part[g * dim + i] * weight;
      }
      for (int64_t i = 0; i < dim; ++i) out[i] /= sum;
    }
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
                     const BatchTensors& batch, float scale, std::vector<float>& scratch) {
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

  AttentionJob job{q.data<float>(), q.stride(0), q.stride(1), out.data<float>(), out.stride(0),
                         static_cast<const char*>(kv.k[static_cast<size_t>(layer)].raw_data()),
                         static_cast<const char*>(kv.v[static_cast<size_t>(layer)].raw_data()),
                         l.dtype == DType::F16, l.block_size, l.num_kv_heads, dim, heads, heads / l.num_kv_heads,
                         batch.positions.data<int32_t>(), batch.host_query_start.data(), batch.num_seqs,
                         batch.block_tables.data<int32_t>(), batch.max_blocks_per_seq, scale, &vector_ops()};
  const char* prefetch_switch = std::getenv("STRATA_CPU_KV_PREFETCH");
  job.prefetch = prefetch_switch == nullptr || std::string_view(prefetch_switch) != "0";
  int64_t key_reads = 0, max_keys = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    key_reads += job.positions[t] + 1;
    max_keys = std::max<int64_t>(max_keys, job.positions[t] + 1);
  }
  const bool serial = key_reads * heads * dim < 65536 || pool.size() == 1;
  const WorkSplit split = choose_split(tokens, heads, job.group, serial ? 1 : pool.size(), max_keys);
  const int64_t per_item = split.heads_per_item, items_per_token = heads / per_item;
  const int64_t base_items = tokens * items_per_token;
  const int64_t slot_floats = per_item * (dim + 2);
  if (split.key_splits > 1 && scratch.size() < static_cast<size_t>(base_items * split.key_splits * slot_floats))
    scratch.resize(static_cast<size_t>(base_items * split.key_splits * slot_floats));
  // Prefill tokens of a sequence go kQueryTile to an item (attend_tile) when the cache is
  // f16: the item converts each chunk of keys and values once for all of them.
  std::vector<std::pair<int32_t, int32_t>> tiles;  // (first token, tokens)
  if (job.f16 && dim <= kTileMaxDim && split.key_splits == 1 && batch.max_query_len > 1)
    for (int64_t s = 0; s < batch.num_seqs; ++s)
      for (int32_t t = batch.host_query_start[static_cast<size_t>(s)], end = batch.host_query_start[static_cast<size_t>(s) + 1];
           t < end; t += static_cast<int32_t>(kQueryTile))
        tiles.emplace_back(t, std::min<int32_t>(static_cast<int32_t>(kQueryTile), end - t));
  const int64_t items = tiles.empty() ? base_items * split.key_splits : static_cast<int64_t>(tiles.size()) * items_per_token;
  auto run_item = [&job, &split, &scratch, &tiles, per_item, items_per_token, slot_floats](int64_t i) {
    if (!tiles.empty()) {
      const auto [first, count] = tiles[static_cast<size_t>(i / items_per_token)];
      const int64_t first_head = i % items_per_token * per_item;
      if (count == 1) attend_heads(job, first, first_head, per_item, 0, int64_t{job.positions[first]} + 1, nullptr);
      else attend_tile(job, first, count, first_head, per_item);
      return;
    }
    const int64_t base = i / split.key_splits, part = i % split.key_splits;
    const int64_t token = base / items_per_token, first_head = base % items_per_token * per_item;
    const int64_t keys = int64_t{job.positions[token]} + 1;
    if (split.key_splits == 1) {
      attend_heads(job, token, first_head, per_item, 0, keys, nullptr);
      return;
    }
    const PartialResult partial{scratch.data() + i * slot_floats};
    attend_heads(job, token, first_head, per_item, keys * part / split.key_splits,
                 keys * (part + 1) / split.key_splits, &partial);
  };
  if (serial) {
    for (int64_t i = 0; i < items; ++i) run_item(i);
  } else {
    // Items differ in cost (later tokens see more keys), so workers take them one at a time.
    struct Shared { decltype(run_item)* run; std::atomic<int64_t> next{0}; int64_t items; } shared{&run_item, {}, items};
    Shared* s = &shared;
    pool.run([s](int, int) {
      for (int64_t i = s->next.fetch_add(1, std::memory_order_relaxed); i < s->items;
           i = s->next.fetch_add(1, std::memory_order_relaxed))
        (*s->run)(i);
    });
  }
  if (split.key_splits > 1) merge_partials(job, base_items, split, scratch.data());
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
