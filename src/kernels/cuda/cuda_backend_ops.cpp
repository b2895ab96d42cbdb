// The CUDA backend's operations other than matmul: argument checks on the host (with the
// CPU backend's messages), then one kernel launch each.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/rope.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/tensor_args.h"

namespace strata::cuda {

void CudaBackend::add_bias(Tensor& y, const Tensor& bias) {
  const RowsF32 rows = rows_f32(y, "add_bias");
  launch_add_bias(rows, dense_f32(bias, rows.width, "add_bias", "bias"), launch_stream());
}

void CudaBackend::rms_norm(Tensor& y, const Tensor& x, const Tensor& weight, float eps) {
  const RowsF32 out = rows_f32(y, "rms_norm"), in = rows_f32(x, "rms_norm");
  check_same_rows(out, in, "rms_norm", y, x);
  launch_rms_norm(out, in, dense_f32(weight, in.width, "rms_norm", "weight"), eps, launch_stream());
}

void CudaBackend::silu_mul(Tensor& y, const Tensor& gate, const Tensor& up) {
  const RowsF32 out = rows_f32(y, "silu_mul"), g = rows_f32(gate, "silu_mul"), u = rows_f32(up, "silu_mul");
  check_same_rows(out, g, "silu_mul", y, gate);
  check_same_rows(out, u, "silu_mul", y, up);
  launch_silu_mul(out, g, u, launch_stream());
}

void CudaBackend::add(Tensor& y, const Tensor& a, const Tensor& b) {
  const RowsF32 out = rows_f32(y, "add"), ra = rows_f32(a, "add"), rb = rows_f32(b, "add");
  check_same_rows(out, ra, "add", y, a);
  check_same_rows(out, rb, "add", y, b);
  launch_add(out, ra, rb, launch_stream());
}

void CudaBackend::gather_rows(Tensor& y, const Tensor& x, const Tensor& rows) {
  const RowsF32 out = rows_f32(y, "gather_rows"), in = rows_f32(x, "gather_rows");
  const int32_t* index = index_vector(rows, "gather_rows");
  if (y.ndim() != 2 || x.ndim() != 2 || out.count != rows.size(0) || out.width != in.width)
    throw Error("gather_rows: " + y.describe() + " from " + x.describe() + " by " + rows.describe());
  launch_gather_rows(out.base, out.outer_stride, in.base, in.outer_stride, in.count, index, out.count, out.width,
                     launch_stream());
}

void CudaBackend::argmax_rows(Tensor& ids, const Tensor& logits) {
  const RowsF32 in = rows_f32(logits, "argmax_rows");
  if (logits.ndim() != 2 || ids.dtype() != DType::I32 || ids.ndim() != 1 || ids.size(0) != in.count ||
      (ids.size(0) > 1 && ids.stride(0) != 1))
    throw Error("argmax_rows: " + ids.describe() + " from " + logits.describe());
  require_device(ids, "argmax_rows");
  launch_argmax_rows(ids.data<int32_t>(), in.base, in.outer_stride, in.count, in.width, launch_stream());
}

namespace {
// The rows' parameters and lists laid out in one buffer (8-byte aligned parts), so that a
// step's sampling is one copy to the device.
struct PackedSampling {
  std::vector<unsigned char> bytes;
  size_t params = 0, seen = 0, count_tokens = 0, counts = 0, bias_tokens = 0, bias = 0;
};

template <typename T>
size_t append_part(std::vector<unsigned char>& bytes, const T* data, size_t count) {
  const size_t offset = (bytes.size() + 7) / 8 * 8;
  bytes.resize(offset + count * sizeof(T));
  if (count) std::memcpy(bytes.data() + offset, data, count * sizeof(T));
  return offset;
}

PackedSampling pack_sampling(const SamplingRows& sampling) {
  std::vector<DeviceRowSampling> params;
  params.reserve(sampling.rows.size());
  for (const RowSampling& r : sampling.rows)
    params.push_back(DeviceRowSampling{r.temperature, r.top_p, r.min_p, r.repetition_penalty, r.frequency_penalty,
                                       r.presence_penalty, r.top_k, r.seen_begin, r.seen_end, r.counts_begin,
                                       r.counts_end, r.bias_begin, r.bias_end, r.u});
  PackedSampling p;
  p.params = append_part(p.bytes, params.data(), params.size());
  p.seen = append_part(p.bytes, sampling.seen.data(), sampling.seen.size());
  p.count_tokens = append_part(p.bytes, sampling.count_tokens.data(), sampling.count_tokens.size());
  p.counts = append_part(p.bytes, sampling.counts.data(), sampling.counts.size());
  p.bias_tokens = append_part(p.bytes, sampling.bias_tokens.data(), sampling.bias_tokens.size());
  p.bias = append_part(p.bytes, sampling.bias.data(), sampling.bias.size());
  return p;
}

// Each row's list ranges inside its list.
void check_ranges(const SamplingRows& s) {
  const auto within = [](int32_t begin, int32_t end, size_t size) {
    return begin >= 0 && begin <= end && static_cast<size_t>(end) <= size;
  };
  for (size_t r = 0; r < s.rows.size(); ++r) {
    const RowSampling& row = s.rows[r];
    if (!within(row.seen_begin, row.seen_end, s.seen.size()) ||
        !within(row.counts_begin, row.counts_end, std::min(s.count_tokens.size(), s.counts.size())) ||
        !within(row.bias_begin, row.bias_end, std::min(s.bias_tokens.size(), s.bias.size())))
      throw Error("sample_rows: row " + std::to_string(r) + "'s list ranges lie outside the lists");
  }
}
}  // namespace

void CudaBackend::sample_rows(Tensor& ids, Tensor& logits, const SamplingRows& sampling) {
  const RowsF32 in = rows_f32(logits, "sample_rows");
  const auto rows = static_cast<int64_t>(sampling.rows.size());
  if (logits.ndim() != 2 || in.count != rows || ids.dtype() != DType::I32 || ids.ndim() != 1 || ids.size(0) != rows ||
      (rows > 1 && ids.stride(0) != 1))
    throw Error("sample_rows: ids " + ids.describe() + " and logits " + logits.describe() + " for " +
                std::to_string(rows) + " rows");
  if (in.width > kMaxSampledVocab)
    throw Error("sample_rows: a vocabulary of " + std::to_string(in.width) + " is larger than the " +
                std::to_string(kMaxSampledVocab) + " the device sampler handles");
  require_device(ids, "sample_rows");
  check_ranges(sampling);
  if (rows == 0) return;
  const PackedSampling packed = pack_sampling(sampling);
  // Held until the next call: the copy and the kernel read it in stream order.
  sampling_storage_ = device_storage(packed.bytes.size());
  auto* base = static_cast<unsigned char*>(sampling_storage_->data);
  cuda_check(cudaMemcpyAsync(base, packed.bytes.data(), packed.bytes.size(), cudaMemcpyHostToDevice, launch_stream()),
             "sample_rows");
  const DeviceSamplingLists lists{reinterpret_cast<const int32_t*>(base + packed.seen),
                                  reinterpret_cast<const int32_t*>(base + packed.count_tokens),
                                  reinterpret_cast<const int32_t*>(base + packed.counts),
                                  reinterpret_cast<const int32_t*>(base + packed.bias_tokens),
                                  reinterpret_cast<const float*>(base + packed.bias)};
  launch_sample_rows(ids.data<int32_t>(), in.base, in.outer_stride, rows, in.width,
                     reinterpret_cast<const DeviceRowSampling*>(base + packed.params), lists, launch_stream());
}

void CudaBackend::embedding(Tensor& y, const Tensor& table, const Tensor& ids) {
  const RowsF32 out = rows_f32(y, "embedding");
  const int32_t* index = index_vector(ids, "embedding");
  if (y.ndim() != 2 || table.ndim() != 2 || out.count != ids.size(0) || out.width != table.size(1))
    throw Error("embedding: " + y.describe() + " from table " + table.describe() + " by " + ids.describe());
  launch_embedding(out.base, out.outer_stride, weight_ref(table, "embedding"), index, out.count, launch_stream());
}

const double* CudaBackend::rope_frequencies(const RopeConfig& cfg) {
  const auto same = [&](const RopeConfig& c) {
    return c.head_dim == cfg.head_dim && c.rotary_dim == cfg.rotary_dim && c.theta == cfg.theta &&
           c.scaling == cfg.scaling && c.factor == cfg.factor && c.low_freq_factor == cfg.low_freq_factor &&
           c.high_freq_factor == cfg.high_freq_factor && c.original_max_positions == cfg.original_max_positions;
  };
  for (const auto& f : rope_frequencies_)
    if (same(f.cfg)) return static_cast<const double*>(f.inv_freq->data);
  // The CPU backend's frequencies (f32, as Hugging Face rounds them), widened for the
  // double-precision angle.
  const std::vector<float> inv_freq = cpu::rope_inv_freq(cfg);
  const std::vector<double> wide(inv_freq.begin(), inv_freq.end());
  auto storage = device_storage(wide.size() * sizeof(double));
  cuda_check(cudaMemcpyAsync(storage->data, wide.data(), wide.size() * sizeof(double), cudaMemcpyHostToDevice,
                             launch_stream()),
             "rope frequencies");
  rope_frequencies_.push_back({cfg, storage});
  return static_cast<const double*>(storage->data);
}

namespace {

// AttentionArgs::early_kv, on unless STRATA_CUDA_ATTENTION_EARLY_KV=0 (for A/B runs); read once.
bool attention_early_kv_enabled() {
  static const bool enabled = !switched_off("STRATA_CUDA_ATTENTION_EARLY_KV");
  return enabled;
}

// Rope's input: f32 [T, H, head_dim] with dense head rows, one position per token.
void check_rope_input(const Tensor& x, const BatchTensors& batch, const RopeConfig& cfg, const char* op) {
  require_device(x, op);
  if (x.dtype() != DType::F32 || x.ndim() != 3 || x.stride(2) != 1 || x.size(2) != cfg.head_dim)
    throw Error(std::string(op) + ": expected f32 [T, H, " + std::to_string(cfg.head_dim) +
                "] with dense rows, got " + x.describe());
  if (x.size(0) != batch.num_tokens)
    throw Error(std::string(op) + ": " + std::to_string(batch.num_tokens) + " positions for " + x.describe());
}

HeadsF32 heads_f32(Tensor& x) {
  return HeadsF32{x.data<float>(), x.stride(0), x.stride(1), static_cast<int>(x.size(1))};
}

}  // namespace

void CudaBackend::rope(Tensor& x, const BatchTensors& batch, const RopeConfig& cfg) {
  check_rope_input(x, batch, cfg, "rope");
  launch_rope(x.data<float>(), x.stride(0), x.stride(1), x.size(0), x.size(1), batch.positions.data<int32_t>(),
              rope_frequencies(cfg), rotary_pairs(cfg), cfg.neox, launch_stream());
}

void CudaBackend::store_kv(KVStorage& kv, int layer, const Tensor& k, const Tensor& v, const BatchTensors& batch) {
  const KVLayer cache = kv_layer(kv, layer, "store_kv");
  const auto& l = kv.layout;
  check_heads(k, batch.num_tokens, l.num_kv_heads, l.head_dim, "store_kv", "k");
  check_heads(v, batch.num_tokens, l.num_kv_heads, l.head_dim, "store_kv", "v");
  launch_store_kv(cache, k.data<float>(), k.stride(0), k.stride(1), v.data<float>(), v.stride(0), v.stride(1),
                  batch.slot_mapping.data<int32_t>(), batch.num_tokens, launch_stream());
}

void CudaBackend::rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, KVStorage& kv, int layer,
                                const BatchTensors& batch, const RopeConfig& cfg) {
  if (!fuse_products_ || rotary_pairs(cfg) > kMaxRopePairs || 2 * rotary_pairs(cfg) > cfg.head_dim) {
    Backend::rope_store_kv(q, k, v, kv, layer, batch, cfg);
    return;
  }
  check_rope_input(q, batch, cfg, "rope_store_kv");
  check_rope_input(k, batch, cfg, "rope_store_kv");
  RopeStoreKVArgs args;
  args.cache = kv_layer(kv, layer, "rope_store_kv");
  const auto& l = kv.layout;
  check_heads(k, batch.num_tokens, l.num_kv_heads, l.head_dim, "rope_store_kv", "k");
  check_heads(v, batch.num_tokens, l.num_kv_heads, l.head_dim, "rope_store_kv", "v");
  args.q = heads_f32(q);
  args.k = heads_f32(k);
  args.v = v.data<float>();
  args.v_token_stride = v.stride(0);
  args.v_head_stride = v.stride(1);
  args.positions = batch.positions.data<int32_t>();
  args.slots = batch.slot_mapping.data<int32_t>();
  args.inv_freq = rope_frequencies(cfg);
  args.half = rotary_pairs(cfg);
  args.neox = cfg.neox;
  launch_rope_store_kv(args, batch.num_tokens, launch_stream());
}

const AttentionItem* CudaBackend::attention_items(const BatchTensors& batch, int tokens_per_item, int& num_items) {
  auto& cache = items_cache_;
  if (cache.batch != batch.token_ids.storage() || cache.tokens_per_item != tokens_per_item) {
    std::vector<AttentionItem> items;
    for (int s = 0; s < batch.num_seqs; ++s) {
      const int32_t first = batch.host_query_start[static_cast<size_t>(s)];
      const int32_t count = batch.host_query_start[static_cast<size_t>(s) + 1] - first;
      const int32_t cached = batch.host_context_lens[static_cast<size_t>(s)] - count;
      for (int32_t c = 0; c < count; c += tokens_per_item) {
        const int32_t n = std::min(tokens_per_item, count - c);
        items.push_back({s, first + c, n, cached + c + n - 1});
      }
    }
    cache.holder = device_storage(std::max<size_t>(items.size(), 1) * sizeof(AttentionItem));
    cuda_check(cudaMemcpyAsync(cache.holder->data, items.data(), items.size() * sizeof(AttentionItem),
                               cudaMemcpyHostToDevice, launch_stream()),
               "attention items");  // staged from pageable memory: `items` may go
    cache.items = static_cast<const AttentionItem*>(cache.holder->data);
    cache.batch = batch.token_ids.storage();
    cache.tokens_per_item = tokens_per_item;
    cache.num_items = static_cast<int>(items.size());
  }
  num_items = cache.num_items;
  return cache.items;
}

void CudaBackend::remember_decode_items(const BatchTensors& batch, std::shared_ptr<Storage> storage,
                                        const AttentionItem* items) {
  items_cache_.batch = batch.token_ids.storage();
  items_cache_.tokens_per_item = 1;
  items_cache_.num_items = batch.num_seqs;
  items_cache_.holder = std::move(storage);
  items_cache_.items = items;
}

// Decode steps that fill the GPU as they are go to the tensor cores, every head of a group
// from one read of the tile (a rule of the batch's size, as the splits'), and so do those of
// few sequences, their keys split (split_decode_tc_).
bool CudaBackend::takes_tensor_core_decode(const KVLayer& cache, const Tensor& q, bool split) const {
  return decode_attention_ && (!split || split_decode_tc_) &&
         decode_attention_supports(cache, static_cast<int>(q.size(1))) && q.stride(0) % 2 == 0 && q.stride(1) % 2 == 0;
}

void CudaBackend::attention(Tensor& out, const Tensor& q, const KVStorage& kv, int layer, const BatchTensors& batch,
                            float scale) {
  // prefetch_weights' rows are this call's to use or drop.
  const WeightPrefetch prefetch = std::exchange(pending_prefetch_, WeightPrefetch{});
  const KVLayer cache = kv_layer(kv, layer, "attention");
  const auto& l = kv.layout;
  const int64_t tokens = batch.num_tokens;
  if (q.ndim() != 3 || q.size(1) % l.num_kv_heads != 0)
    throw Error("attention: query heads of " + q.describe() + " are not a multiple of " +
                std::to_string(l.num_kv_heads));
  const int heads = static_cast<int>(q.size(1));
  check_heads(q, tokens, heads, l.head_dim, "attention", "q");
  require_device(out, "attention");
  if (out.dtype() != DType::F32 || out.ndim() != 2 || out.size(0) != tokens || out.size(1) != heads * l.head_dim ||
      out.stride(1) != 1)
    throw Error("attention: out must be f32 [" + std::to_string(tokens) + ", " + std::to_string(heads * l.head_dim) +
                "], got " + out.describe());
  if (static_cast<int64_t>(batch.host_query_start.size()) != batch.num_seqs + 1 ||
      static_cast<int64_t>(batch.host_context_lens.size()) != batch.num_seqs)
    throw Error("attention: batch host arrays do not match its " + std::to_string(batch.num_seqs) + " sequences");
  for (int s = 0; s < batch.num_seqs; ++s) {
    const int64_t blocks = (batch.host_context_lens[static_cast<size_t>(s)] + l.block_size - 1) / l.block_size;
    if (blocks > batch.max_blocks_per_seq)
      throw Error("attention: sequence " + std::to_string(s) + " needs " + std::to_string(blocks) + " blocks");
  }
  if (record_attention(out, q, cache, batch, scale)) return;

  const int per_block = attention_heads_per_block(heads / l.num_kv_heads);
  // Long prompts go to the tensor cores in items of 64 tokens; otherwise several tokens of
  // a sequence per block share each KV tile (prefill chunks), or one (decode).
  const bool flash = flash_attention_ && flash_attention_supports(cache) && batch.max_query_len >= kFlashMinQueryLen &&
                     q.stride(0) % 2 == 0 && q.stride(1) % 2 == 0 && out.stride(0) % 2 == 0;
  const int tokens_per_item =
      flash ? kFlashQueryTokens : std::max(1, std::min(batch.max_query_len, 16 / per_block));
  AttentionArgs a;
  a.items = attention_items(batch, tokens_per_item, a.num_items);
  a.tokens_per_item = tokens_per_item;
  a.out = out.data<float>();
  a.out_stride = out.stride(0);
  a.q = q.data<float>();
  a.q_token_stride = q.stride(0);
  a.q_head_stride = q.stride(1);
  a.cache = cache;
  a.num_heads = heads;
  a.positions = batch.positions.data<int32_t>();
  a.block_tables = batch.block_tables.data<int32_t>();
  a.max_blocks = batch.max_blocks_per_seq;
  a.num_tokens = static_cast<int>(tokens);
  a.max_keys = batch.max_context_len;
  a.scale = scale;
  if (flash) {
    launch_flash_attention(a, launch_stream());
    return;
  }
  // Too few blocks to fill the GPU: split the keys and merge. Decode steps split by a rule
  // that ignores the context length, so that a captured step stays right as it grows
  // (splits past the end of a short context are empty and cost little).
  const int64_t base_blocks = int64_t{a.num_items} * (heads / per_block);
  const int sms = props_.multiProcessorCount;
  if (base_blocks < sms && !batch_invariant_) {  // splits follow the batch's size
    const int64_t want = (2 * int64_t{sms} + base_blocks - 1) / base_blocks;
    if (batch.max_query_len == 1) a.splits = static_cast<int>(std::min<int64_t>(want, 16));
    else if (a.max_keys >= 512) a.splits = static_cast<int>(std::min<int64_t>({want, (a.max_keys + 255) / 256, 32}));
  }
  a.early_kv = batch.max_query_len == 1 && attention_early_kv_enabled();
  if (a.splits > 1) {
    const size_t rows = static_cast<size_t>(a.splits) * static_cast<size_t>(tokens) * static_cast<size_t>(heads);
    auto* partials = static_cast<float*>(
        attention_partials_.get(*allocator_, rows * (static_cast<size_t>(l.head_dim) + 2) * sizeof(float)));
    a.partial_acc = partials;
    a.partial_stats = partials + rows * static_cast<size_t>(l.head_dim);
    a.split_counters = attention_counters_.get(*allocator_, static_cast<size_t>(base_blocks), launch_stream());
  }
  if (batch.max_query_len == 1 && takes_tensor_core_decode(cache, q, a.splits > 1)) {
    // Early reads measured with key splits (few sequences) only; batches that fill the GPU
    // keep the kernel's order before them (session 17).
    a.early_kv = a.early_kv && a.splits > 1;
    if (a.splits > 1) a.prefetch = prefetch;
    launch_decode_attention(a, launch_stream());
    return;
  }
  launch_attention(a, launch_stream());
}

}  // namespace strata::cuda
