// Paged KV cache and attention on CUDA against the CPU backend: ragged batches mixing
// prefill chunks and decode steps, lengths on and off block boundaries, shuffled block
// tables, GQA groups from 1 to 8, head sizes 64..256, f16 and f32 caches, and long
// decode contexts that take the split-KV path. Also copy_blocks within the device and
// to and from host memory.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "cuda_test_util.h"
#include "core/half.h"
#include "kernels/forward_batch.h"

namespace strata::cuda_test {
namespace {

class CudaAttention : public CudaTest {};

struct SequenceSpec {
  int cached;  // tokens already in the cache
  int fresh;   // new tokens this step
};

struct AttentionCase {
  int q_heads, kv_heads, head_dim, block_size;
  DType kv_dtype;
  std::vector<SequenceSpec> sequences;
  bool f16_operands = false;  // a tensor-core kernel's tolerance whatever the lengths
};

// Fills both caches with the same random keys and values for every token of every
// sequence, then runs one step of `fresh` tokens per sequence on both backends.
void check_case(Backend& cpu, Backend& gpu, const AttentionCase& c, uint32_t seed) {
  int total_blocks = 0;
  for (const auto& s : c.sequences) total_blocks += (s.cached + s.fresh + c.block_size - 1) / c.block_size;
  KVCacheLayout layout{1, total_blocks + 3, c.block_size, c.kv_heads, c.head_dim, c.kv_dtype};
  KVStorage cpu_kv = cpu.allocate_kv(layout), gpu_kv = gpu.allocate_kv(layout);
  // Shuffled block ids, so that no sequence's blocks are contiguous.
  std::vector<int32_t> ids(static_cast<size_t>(layout.num_blocks));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  ForwardBatch fill, step;
  size_t next = 0;
  for (const auto& s : c.sequences) {
    const int total = s.cached + s.fresh;
    std::vector<int32_t> table(ids.begin() + static_cast<std::ptrdiff_t>(next),
                               ids.begin() + static_cast<std::ptrdiff_t>(next + (total + c.block_size - 1) / c.block_size));
    next += table.size();
    fill.add_sequence(std::vector<int32_t>(static_cast<size_t>(total), 1), 0, table, c.block_size, ForwardBatch::Logits::None);
    step.add_sequence(std::vector<int32_t>(static_cast<size_t>(s.fresh), 1), s.cached, table, c.block_size,
                      ForwardBatch::Logits::Last);
  }
  const Tensor k = random_host({fill.num_tokens(), c.kv_heads, c.head_dim}, seed + 1);
  const Tensor v = random_host({fill.num_tokens(), c.kv_heads, c.head_dim}, seed + 2);
  const BatchTensors cpu_fill = cpu.upload_batch(fill), gpu_fill = gpu.upload_batch(fill);
  cpu.store_kv(cpu_kv, 0, k, v, cpu_fill);
  gpu.store_kv(gpu_kv, 0, gpu.upload(k), gpu.upload(v), gpu_fill);

  const Tensor q = random_host({step.num_tokens(), c.q_heads, c.head_dim}, seed + 3, -2.f, 2.f);
  const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
  Tensor expect = Tensor::empty({step.num_tokens(), int64_t{c.q_heads} * c.head_dim}, DType::F32);
  cpu.attention(expect, q, cpu_kv, 0, cpu.upload_batch(step), scale);
  Tensor out = poisoned(gpu, {step.num_tokens(), int64_t{c.q_heads} * c.head_dim});
  gpu.attention(out, gpu.upload(q), gpu_kv, 0, gpu.upload_batch(step), scale);
  // Batches with a long query on an f16 cache of head size 64 or 128 take the tensor-core
  // kernel, whose f16 operands (scaled Q, softmax weights) bound the error near 1e-3.
  int longest = 0;
  for (const auto& s : c.sequences) longest = std::max(longest, s.fresh);
  const bool tensor_cores =
      c.f16_operands || (c.kv_dtype == DType::F16 && (c.head_dim == 64 || c.head_dim == 128) && longest >= 32);
  EXPECT_LT(relative_error(gpu.download(out), expect), tensor_cores ? 4e-3 : 1e-5)
      << c.q_heads << "/" << c.kv_heads << " heads, dim " << c.head_dim << ", block " << c.block_size << ", "
      << dtype_name(c.kv_dtype) << ", " << c.sequences.size() << " sequences";

  // The cache itself: both backends round to f16 the same way (to nearest, ties to even).
  const Tensor gpu_k = gpu.download(gpu_kv.k[0]), gpu_v = gpu.download(gpu_kv.v[0]);
  EXPECT_EQ(std::memcmp(gpu_k.raw_data(), cpu_kv.k[0].raw_data(), gpu_k.nbytes()), 0) << "K cache differs";
  EXPECT_EQ(std::memcmp(gpu_v.raw_data(), cpu_kv.v[0].raw_data(), gpu_v.nbytes()), 0) << "V cache differs";
}

TEST_F(CudaAttention, RaggedBatchesMatchCpu) {
  const std::vector<SequenceSpec> ragged = {{0, 17}, {15, 1}, {31, 1}, {100, 33}, {16, 16}, {0, 1}, {47, 2}};
  const std::vector<AttentionCase> cases = {
      {4, 2, 64, 16, DType::F32, ragged},   {9, 3, 64, 16, DType::F16, ragged},
      {32, 8, 128, 16, DType::F16, ragged}, {8, 1, 128, 32, DType::F32, ragged},
      {4, 4, 256, 16, DType::F16, ragged},  {6, 2, 80, 8, DType::F32, ragged},
  };
  uint32_t seed = 500;
  for (const auto& c : cases) check_case(*cpu, *gpu, c, seed += 10);
}

TEST_F(CudaAttention, LongDecodeTakesTheSplitPathAndMatchesCpu) {
  // Few sequences over thousands of keys: the GPU splits the keys across blocks, here on
  // the SIMT kernel (f16 caches otherwise take the tensor-core one: the next test).
  CudaBackendOptions options;
  options.split_decode_on_tensor_cores = false;
  const std::unique_ptr<Backend> simt = make_cuda_backend(options);
  uint32_t seed = 700;
  for (DType dtype : {DType::F16, DType::F32})
    for (int context : {511, 512, 2049, 5000})
      check_case(*cpu, *simt, {32, 8, 128, 16, dtype, {{context, 1}, {context / 2, 1}}}, seed += 10);
  check_case(*cpu, *simt, {9, 3, 64, 16, DType::F16, {{3000, 1}}}, seed += 10);
}

// Few decode sequences with the keys split over blocks on the tensor-core kernel
// (CudaBackendOptions::split_decode_on_tensor_cores, the default): contexts within one split's four
// tiles (its block writes the output), across a few and many splits (the last split merges),
// on and off tile and block boundaries, GQA groups of 1 to 16, both head sizes.
TEST_F(CudaAttention, SplitDecodeOnTheTensorCoresMatchesCpu) {
  CudaBackendOptions options;
  options.split_decode_on_tensor_cores = true;
  const std::unique_ptr<Backend> split_gpu = make_cuda_backend(options);
  uint32_t seed = 900;
  for (int context : {0, 1, 31, 32, 127, 128, 129, 300, 2047, 2048, 5000})
    for (const auto& heads : std::vector<std::pair<int, int>>{{32, 8}, {9, 3}, {16, 1}, {8, 8}})
      for (int dim : {64, 128})
        check_case(*cpu, *split_gpu, {heads.first, heads.second, dim, 16, DType::F16, {{context, 1}}, true},
                   seed += 10);
  // Two sequences of different lengths in one step (each item its own splits).
  check_case(*cpu, *split_gpu, {32, 8, 128, 16, DType::F16, {{700, 1}, {40, 1}}, true}, seed += 10);
}

TEST_F(CudaAttention, LongPrefillMatchesCpu) {
  check_case(*cpu, *gpu, {8, 2, 128, 16, DType::F16, {{0, 700}, {300, 129}}}, 900);
}

// The tensor-core prefill kernel: tiles cut off mid-item, cached prefixes that are not
// multiples of a tile, decode tokens in the same batch, GQA groups 1 to 8, both head sizes.
TEST_F(CudaAttention, TensorCorePrefillMatchesCpu) {
  const std::vector<SequenceSpec> mixed = {{0, 65}, {13, 100}, {64, 64}, {200, 1}, {5, 33}, {0, 1}, {127, 190}};
  uint32_t seed = 950;
  for (const auto& c : std::vector<AttentionCase>{{9, 3, 64, 16, DType::F16, mixed},
                                                  {32, 8, 128, 16, DType::F16, mixed},
                                                  {4, 4, 128, 32, DType::F16, {{0, 2048}}},
                                                  {8, 1, 64, 16, DType::F16, {{1000, 40}, {0, 300}}}})
    check_case(*cpu, *gpu, c, seed += 10);
}

// Decode batches of enough sequences to fill the GPU without key splits (sequences x KV
// heads past the 132 SMs of an H100/H200) take the tensor-core decode kernel: contexts on
// and off its 32-key tiles and the cache's blocks, from 1 key to past 4 warps' tiles, GQA
// groups 1 to 16, both head sizes.
TEST_F(CudaAttention, ManyDecodeSequencesOnTheTensorCoresMatchCpu) {
  const int contexts[] = {0, 1, 15, 16, 31, 32, 33, 63, 64, 127, 128, 129, 200, 255, 256, 300, 511, 1000};
  std::vector<SequenceSpec> decode;
  for (int i = 0; i < 160; ++i) decode.push_back({contexts[i % std::size(contexts)], 1});
  uint32_t seed = 1100;
  for (const auto& c : std::vector<AttentionCase>{{32, 8, 128, 16, DType::F16, decode, true},
                                                  {9, 3, 64, 16, DType::F16, decode, true},
                                                  {16, 1, 128, 32, DType::F16, decode, true},
                                                  {8, 8, 64, 16, DType::F16, decode, true},
                                                  {28, 4, 128, 16, DType::F16, decode, true}})
    check_case(*cpu, *gpu, c, seed += 10);
}

// The fused rope + KV store against the separate rope and store_kv on the same GPU (the
// same rotation and rounding code: bit for bit) and against the CPU backend: both pair
// layouts, full and partial rotary dimensions, f16 and f32 caches, a GQA group of 4 and
// positions on and off block boundaries.
TEST_F(CudaAttention, RopeStoreKvMatchesSeparateOpsAndCpu) {
  uint32_t seed = 1200;
  for (bool neox : {true, false})
    for (int rotary_dim : {128, 64})
      for (DType dtype : {DType::F16, DType::F32}) {
        RopeConfig cfg;
        cfg.head_dim = 128;
        cfg.rotary_dim = rotary_dim;
        cfg.theta = 500000.f;
        cfg.neox = neox;
        const int q_heads = 8, kv_heads = 2, block_size = 16;
        KVCacheLayout layout{1, 12, block_size, kv_heads, cfg.head_dim, dtype};
        ForwardBatch batch;
        batch.add_sequence(std::vector<int32_t>(17, 1), 0, {3, 0}, block_size, ForwardBatch::Logits::None);
        batch.add_sequence(std::vector<int32_t>(1, 1), 31, {5, 7}, block_size, ForwardBatch::Logits::Last);
        batch.add_sequence(std::vector<int32_t>(2, 1), 100, {1, 2, 4, 6, 8, 9, 10, 11}, block_size,
                           ForwardBatch::Logits::Last);
        const int64_t t = batch.num_tokens();
        const Tensor q = random_host({t, q_heads, cfg.head_dim}, seed++), k = random_host({t, kv_heads, cfg.head_dim}, seed++);
        const Tensor v = random_host({t, kv_heads, cfg.head_dim}, seed++);
        const std::string what = std::string(neox ? "neox" : "adjacent") + " rotary " + std::to_string(rotary_dim) +
                                 " " + std::string(dtype_name(dtype));

        KVStorage cpu_kv = cpu->allocate_kv(layout);
        Tensor cpu_q = host_copy(q), cpu_k = host_copy(k);
        cpu->rope_store_kv(cpu_q, cpu_k, v, cpu_kv, 0, cpu->upload_batch(batch), cfg);

        const BatchTensors bt = gpu->upload_batch(batch);
        KVStorage fused_kv = gpu->allocate_kv(layout), separate_kv = gpu->allocate_kv(layout);
        const Tensor dv = gpu->upload(v);
        Tensor fused_q = gpu->upload(q), fused_k = gpu->upload(k), separate_q = gpu->upload(q), separate_k = gpu->upload(k);
        gpu->rope_store_kv(fused_q, fused_k, dv, fused_kv, 0, bt, cfg);
        gpu->rope(separate_q, bt, cfg);
        gpu->rope(separate_k, bt, cfg);
        gpu->store_kv(separate_kv, 0, separate_k, dv, bt);

        const auto same_bytes = [](const Tensor& a, const Tensor& b) {
          return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
        };
        EXPECT_TRUE(same_bytes(gpu->download(fused_q), gpu->download(separate_q))) << what << ": q";
        EXPECT_TRUE(same_bytes(gpu->download(fused_k), gpu->download(separate_k))) << what << ": k";
        EXPECT_TRUE(same_bytes(gpu->download(fused_kv.k[0]), gpu->download(separate_kv.k[0]))) << what << ": K cache";
        EXPECT_TRUE(same_bytes(gpu->download(fused_kv.v[0]), gpu->download(separate_kv.v[0]))) << what << ": V cache";
        EXPECT_LT(relative_error(gpu->download(fused_q), cpu_q), 1e-6) << what;
        EXPECT_LT(relative_error(gpu->download(fused_k), cpu_k), 1e-6) << what;
        // f16 caches: a last-bit difference of the rotated key may round to a neighbouring
        // half, so the cache is compared by value.
        const auto as_f32 = [](const Tensor& cache) {
          std::vector<float> out(static_cast<size_t>(cache.numel()));
          for (size_t i = 0; i < out.size(); ++i)
            out[i] = cache.dtype() == DType::F32 ? cache.data<float>()[i] : fp16_to_fp32(cache.data<uint16_t>()[i]);
          return out;
        };
        EXPECT_LT(relative_error(as_f32(gpu->download(fused_kv.k[0])), as_f32(cpu_kv.k[0])), 1e-3) << what;
        EXPECT_LT(relative_error(as_f32(gpu->download(fused_kv.v[0])), as_f32(cpu_kv.v[0])), 1e-6) << what;
      }
}

TEST_F(CudaAttention, CopyBlocksWithinDeviceAndThroughHostMemory) {
  KVCacheLayout layout{2, 6, 16, 2, 64, DType::F16};
  KVStorage dev = gpu->allocate_kv(layout);
  KVStorage host = cpu->allocate_kv(layout);
  // Random contents for the device cache, through a host copy.
  for (int layer = 0; layer < 2; ++layer) {
    Tensor bits = Tensor::empty(dev.k[0].shape(), DType::F16);
    std::mt19937 rng(layer);
    for (int64_t i = 0; i < bits.numel(); ++i) bits.data<uint16_t>()[i] = static_cast<uint16_t>(rng() & 0x3bff);
    dev.k[static_cast<size_t>(layer)] = gpu->upload(bits);
    dev.v[static_cast<size_t>(layer)] = gpu->upload(bits);
  }
  const Tensor before = gpu->download(dev.k[1]);
  const std::vector<std::pair<int32_t, int32_t>> within = {{0, 5}, {2, 3}};
  gpu->copy_blocks(dev, dev, within);
  const std::vector<std::pair<int32_t, int32_t>> out = {{5, 1}, {4, 0}};
  gpu->copy_blocks(host, dev, out);
  const std::vector<std::pair<int32_t, int32_t>> back = {{1, 2}};
  gpu->copy_blocks(dev, host, back);
  const Tensor after = gpu->download(dev.k[1]);
  const size_t block = static_cast<size_t>(16 * 2 * 64) * 2;
  const auto* b = static_cast<const uint8_t*>(before.raw_data());
  const auto* a = static_cast<const uint8_t*>(after.raw_data());
  const auto* h = static_cast<const uint8_t*>(host.k[1].raw_data());
  EXPECT_EQ(std::memcmp(a + 5 * block, b + 0 * block, block), 0);  // 0 -> 5 on the device
  EXPECT_EQ(std::memcmp(a + 3 * block, b + 2 * block, block), 0);  // 2 -> 3 on the device
  EXPECT_EQ(std::memcmp(h + 1 * block, b + 0 * block, block), 0);  // 5 (was 0) -> host 1
  EXPECT_EQ(std::memcmp(h + 0 * block, b + 4 * block, block), 0);  // 4 -> host 0
  EXPECT_EQ(std::memcmp(a + 2 * block, b + 0 * block, block), 0);  // host 1 -> 2
}

}  // namespace
}  // namespace strata::cuda_test
