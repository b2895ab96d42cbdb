// The attention block's inputs as one operation (Backend::norm_qkv_rope_store): on the GPU,
// decode batches take one GEMV launch whose epilogue rotates q and k and writes k and v
// into the cache. Checked bit for bit against the same backend's separate operations
// (norm_matmul_many, then rope_store_kv: the same sums, rotation and rounding code), and
// against the CPU backend, for float and block-quantized weights, both cache types, 1 to 8
// tokens on and off block boundaries, a prefill of 12 tokens and a NeoX model (which take
// the separate operations), a padding token (no slot) and two head shapes.
#include <cstring>

#include "cuda_test_util.h"

#include "core/half.h"
#include "kernels/forward_batch.h"

namespace strata::cuda_test {
namespace {

class CudaQkvRope : public CudaTest {};

struct Shape {
  int heads, kv_heads, head_dim;
  int64_t hidden;
};

// `tokens` decode tokens of as many sequences (positions 0, 15, 16, 31, ...), or one
// prefill of that many tokens when `prefill`.
ForwardBatch make_batch(int tokens, bool prefill, int block_size) {
  ForwardBatch batch;
  if (prefill) {
    batch.add_sequence(std::vector<int32_t>(static_cast<size_t>(tokens), 1), 3, {4, 1}, block_size,
                       ForwardBatch::Logits::Last);
    return batch;
  }
  const int32_t positions[] = {0, 15, 16, 31, 47, 5, 32, 63};
  for (int s = 0; s < tokens; ++s) {
    const int32_t pos = positions[s];
    std::vector<int32_t> table;
    for (int b = 0; b <= pos / block_size; ++b) table.push_back((s * 4 + b) % 32);
    batch.add_sequence({1}, pos, table, block_size, ForwardBatch::Logits::Last);
  }
  return batch;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

std::vector<float> cache_values(const Tensor& cache) {
  std::vector<float> out(static_cast<size_t>(cache.numel()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = cache.dtype() == DType::F32 ? cache.data<float>()[i] : fp16_to_fp32(cache.data<uint16_t>()[i]);
  return out;
}

// The five outputs of one call: q, k, v rows and the layer's K and V caches, on the host.
struct Outputs {
  Tensor q, k, v, k_cache, v_cache;
};

template <typename Call>
Outputs run(Backend& b, const Shape& s, const Tensor& x, const Tensor& norm_weight, const Tensor (&w)[3],
            const KVCacheLayout& layout, const ForwardBatch& batch, const RopeConfig& cfg, Call call) {
  const int64_t t = x.size(0);
  Tensor q = poisoned(b, {t, int64_t{s.heads} * s.head_dim});
  Tensor k = poisoned(b, {t, int64_t{s.kv_heads} * s.head_dim}), v = poisoned(b, {t, int64_t{s.kv_heads} * s.head_dim});
  Tensor normed = b.allocate({t, s.hidden}, DType::F32);
  Tensor qh = q.reshape({t, s.heads, s.head_dim}), kh = k.reshape({t, s.kv_heads, s.head_dim});
  Tensor vh = v.reshape({t, s.kv_heads, s.head_dim});
  KVStorage kv = b.allocate_kv(layout);
  const BatchTensors bt = b.upload_batch(batch);
  call(b, NormedInput{x, norm_weight, 1e-5f, normed}, QkvProducts{q, k, v, w[0], w[1], w[2], qh, kh, vh}, kv, bt);
  return {b.download(q), b.download(k), b.download(v), b.download(kv.k[0]), b.download(kv.v[0])};
}

TEST_F(CudaQkvRope, OneLaunchMatchesSeparateOpsBitForBitAndCpu) {
  uint32_t seed = 4100;
  for (const Shape& s : {Shape{9, 3, 64, 576}, Shape{8, 2, 128, 1024}})
    for (DType wtype : {DType::F32, DType::BF16, DType::F16, DType::Q4_0, DType::Q8_0}) {
      HostWeight hw[] = {make_weight(wtype, int64_t{s.heads} * s.head_dim, s.hidden, seed++),
                         make_weight(wtype, int64_t{s.kv_heads} * s.head_dim, s.hidden, seed++),
                         make_weight(wtype, int64_t{s.kv_heads} * s.head_dim, s.hidden, seed++)};
      const Tensor gw[] = {gpu->upload(hw[0].tensor), gpu->upload(hw[1].tensor), gpu->upload(hw[2].tensor)};
      const Tensor cw[] = {cpu->upload(hw[0].tensor), cpu->upload(hw[1].tensor), cpu->upload(hw[2].tensor)};
      const Tensor norm_host = random_host({s.hidden}, seed++, 0.5f, 1.5f);
      const Tensor gnorm = gpu->upload(norm_host), cnorm = cpu->upload(norm_host);
      for (DType cache : {DType::F16, DType::F32})
        for (bool neox : {false, true})
          for (auto [tokens, prefill] : {std::pair{1, false}, {3, false}, {8, false}, {12, true}}) {
            if (neox && (tokens == 3 || tokens == 12)) continue;  // the fallback needs one case each
            RopeConfig cfg;
            cfg.head_dim = s.head_dim;
            cfg.rotary_dim = s.head_dim;
            cfg.theta = 500000.f;
            cfg.neox = neox;
            const int block_size = 16;
            KVCacheLayout layout{1, 32, block_size, s.kv_heads, s.head_dim, cache};
            ForwardBatch batch = make_batch(tokens, prefill, block_size);
            if (tokens == 3) batch.slot_mapping[1] = -1;  // a padding token: not stored
            const Tensor x_host = random_host({tokens, s.hidden}, seed++, -3.f, 3.f);
            const Tensor gx = gpu->upload(x_host);
            const auto fused = [&](Backend& b, const NormedInput& in, const QkvProducts& p, KVStorage& kv,
                                   const BatchTensors& bt) { b.norm_qkv_rope_store(in, p, kv, 0, bt, cfg); };
            const auto separate = [&](Backend& b, const NormedInput& in, const QkvProducts& p, KVStorage& kv,
                                      const BatchTensors& bt) { b.Backend::norm_qkv_rope_store(in, p, kv, 0, bt, cfg); };
            const Outputs got = run(*gpu, s, gx, gnorm, gw, layout, batch, cfg, fused);
            const Outputs expect = run(*gpu, s, gx, gnorm, gw, layout, batch, cfg, separate);
            const Outputs host = run(*cpu, s, cpu->upload(x_host), cnorm, cw, layout, batch, cfg, fused);
            const std::string what = std::string(dtype_name(wtype)) + " heads " + std::to_string(s.heads) + "x" +
                                     std::to_string(s.head_dim) + " cache " + std::string(dtype_name(cache)) +
                                     (neox ? " neox" : " adjacent") + " tokens " + std::to_string(tokens);
            EXPECT_TRUE(same_bytes(got.q, expect.q)) << what << ": q";
            EXPECT_TRUE(same_bytes(got.k, expect.k)) << what << ": k";
            EXPECT_TRUE(same_bytes(got.v, expect.v)) << what << ": v";
            EXPECT_TRUE(same_bytes(got.k_cache, expect.k_cache)) << what << ": K cache";
            EXPECT_TRUE(same_bytes(got.v_cache, expect.v_cache)) << what << ": V cache";
            // Float weights: f32 sums in another order (tensor cores round the input to
            // bf16/f16 for the prefill); quantized: both backends' int16 activations.
            const double tol = prefill && wtype != DType::F32 ? 1e-2 : 1e-4;
            EXPECT_LT(relative_error(got.q, host.q), tol) << what;
            EXPECT_LT(relative_error(got.k, host.k), tol) << what;
            EXPECT_LT(relative_error(got.v, host.v), tol) << what;
            EXPECT_LT(relative_error(cache_values(got.k_cache), cache_values(host.k_cache)), tol + 1e-3) << what;
            EXPECT_LT(relative_error(cache_values(got.v_cache), cache_values(host.v_cache)), tol + 1e-3) << what;
          }
    }
}

}  // namespace
}  // namespace strata::cuda_test
