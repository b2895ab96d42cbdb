// Paged KV cache ops of the CPU backend: store_kv, attention against a dense
// softmax(q k^T) v reference in double precision, and copy_blocks.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/half.h"
#include "kernels/forward_batch.h"
#include "test_cpu_ops_util.h"

namespace strata {
namespace {

struct SequenceSpec {
  int num_cached;
  int num_new;
};

// Dense keys and values of one sequence, [context, Hkv, D], as the cache holds them.
struct SequenceKV {
  std::vector<float> k, v;
};

struct AttentionCase {
  DType dtype;
  int num_heads, num_kv_heads, head_dim, block_size;
  std::vector<SequenceSpec> seqs;
};

float cache_rounded(float x, DType dtype) { return dtype == DType::F16 ? fp16_to_fp32(fp32_to_fp16(x)) : x; }

void write_cache_value(Tensor& cache, int64_t index, float value) {
  if (cache.dtype() == DType::F16) cache.data<uint16_t>()[index] = fp32_to_fp16(value);
  else cache.data<float>()[index] = value;
}

class AttentionFixture {
 public:
  explicit AttentionFixture(const AttentionCase& c) : c_(c), backend_(test::test_backend()) {
    int total_blocks = 0;
    for (const auto& s : c.seqs) total_blocks += (s.num_cached + s.num_new + c.block_size - 1) / c.block_size;
    layout_ = KVCacheLayout{2, total_blocks + 3, c.block_size, c.num_kv_heads, c.head_dim, c.dtype};
    kv_ = backend_->allocate_kv(layout_);
    // Hand out the blocks in a scrambled order so that tables are not monotone.
    std::vector<int32_t> ids(static_cast<size_t>(layout_.num_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    std::mt19937 rng(42);
    std::shuffle(ids.begin(), ids.end(), rng);
    size_t next = 0;
    uint32_t seed = 1000;
    for (const auto& s : c.seqs) {
      const int context = s.num_cached + s.num_new;
      std::vector<int32_t> table;
      for (int b = 0; b < (context + c.block_size - 1) / c.block_size; ++b) table.push_back(ids[next++]);
      SequenceKV dense;
      const size_t n = static_cast<size_t>(context) * c.num_kv_heads * c.head_dim;
      dense.k.resize(n);
      dense.v.resize(n);
      test::fill_random(dense.k.data(), static_cast<int64_t>(n), seed++);
      test::fill_random(dense.v.data(), static_cast<int64_t>(n), seed++);
      for (auto& x : dense.k) x = cache_rounded(x, c.dtype);
      for (auto& x : dense.v) x = cache_rounded(x, c.dtype);
      write_sequence(table, dense, context);
      std::vector<int32_t> tokens(static_cast<size_t>(s.num_new), 1);
      batch_.add_sequence(tokens, s.num_cached, table, c.block_size, ForwardBatch::Logits::Last);
      dense_.push_back(std::move(dense));
    }
    tensors_ = backend_->upload_batch(batch_);
  }

  // Runs attention on layer 1 with q and out as strided views; checks against the reference.
  void check(float scale, double tolerance) {
    const int64_t tokens = batch_.num_tokens(), hq = c_.num_heads, dim = c_.head_dim;
    Tensor fused = test::random_tensor({tokens, hq + 2 * c_.num_kv_heads, dim}, 77);
    Tensor q = fused.slice(1, 0, hq);
    Tensor out_wide = Tensor::empty({tokens, hq * dim + 5}, DType::F32);
    Tensor out = out_wide.slice(1, 0, hq * dim);
    backend_->attention(out, q, kv_, 1, tensors_, scale);
    const int group = c_.num_heads / c_.num_kv_heads;
    for (size_t s = 0; s < c_.seqs.size(); ++s)
      for (int i = 0; i < c_.seqs[s].num_new; ++i) {
        const int64_t row = batch_.query_start[s] + i;
        const int position = c_.seqs[s].num_cached + i;
        for (int64_t h = 0; h < hq; ++h) {
          const std::vector<double> expected = reference(q, row, h, position, dense_[s], h / group, scale);
          for (int64_t d = 0; d < dim; ++d)
            ASSERT_TRUE(test::near(test::at2(out, row, h * dim + d), expected[static_cast<size_t>(d)], tolerance, tolerance))
                << "sequence " << s << " token " << i << " head " << h << " dim " << d;
        }
      }
  }

  KVStorage& kv() { return kv_; }
  BatchTensors& tensors() { return tensors_; }
  Backend& backend() { return *backend_; }

 private:
  void write_sequence(const std::vector<int32_t>& table, const SequenceKV& dense, int context) {
    const int64_t per_position = int64_t{c_.num_kv_heads} * c_.head_dim;
    for (int p = 0; p < context; ++p) {
      const int64_t slot = int64_t{table[static_cast<size_t>(p / c_.block_size)]} * c_.block_size + p % c_.block_size;
      for (int64_t e = 0; e < per_position; ++e) {
        write_cache_value(kv_.k[1], slot * per_position + e, dense.k[static_cast<size_t>(p * per_position + e)]);
        write_cache_value(kv_.v[1], slot * per_position + e, dense.v[static_cast<size_t>(p * per_position + e)]);
      }
    }
  }

  // softmax(scale * q . k_j) . v_j over j <= position, in double.
  std::vector<double> reference(const Tensor& q, int64_t row, int64_t head, int position, const SequenceKV& kv,
                                int64_t kv_head, float scale) const {
    const int64_t dim = c_.head_dim, per_position = int64_t{c_.num_kv_heads} * dim;
    std::vector<double> scores(static_cast<size_t>(position + 1));
    for (int j = 0; j <= position; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < dim; ++d)
        dot += double(test::at3(q, row, head, d)) * kv.k[static_cast<size_t>(j * per_position + kv_head * dim + d)];
      scores[static_cast<size_t>(j)] = dot * scale;
    }
    const double max = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    for (auto& s : scores) sum += (s = std::exp(s - max));
    std::vector<double> out(static_cast<size_t>(dim), 0.0);
    for (int j = 0; j <= position; ++j)
      for (int64_t d = 0; d < dim; ++d)
        out[static_cast<size_t>(d)] += scores[static_cast<size_t>(j)] / sum *
                                       kv.v[static_cast<size_t>(j * per_position + kv_head * dim + d)];
    return out;
  }

  AttentionCase c_;
  std::unique_ptr<Backend> backend_;
  KVCacheLayout layout_;
  KVStorage kv_;
  ForwardBatch batch_;
  BatchTensors tensors_;
  std::vector<SequenceKV> dense_;
};

// A long prefill, a chunked prefill continuing a cached prefix, and two decodes.
const std::vector<SequenceSpec> kMixedBatch = {{0, 37}, {9, 5}, {20, 1}, {70, 1}};

TEST(CpuAttention, MatchesDenseReference) {
  for (DType dtype : {DType::F32, DType::F16})
    for (auto [hq, hkv] : std::vector<std::pair<int, int>>{{4, 4}, {8, 2}, {6, 1}})
      for (int head_dim : {64, 80, 13})
        for (int block_size : {16, 5}) {
          SCOPED_TRACE(std::string(dtype_name(dtype)) + " hq=" + std::to_string(hq) + " hkv=" + std::to_string(hkv) +
                       " head_dim=" + std::to_string(head_dim) + " block=" + std::to_string(block_size));
          AttentionFixture f({dtype, hq, hkv, head_dim, block_size, kMixedBatch});
          f.check(1.f / std::sqrt(float(head_dim)), 2e-5);
        }
}

TEST(CpuAttention, SingleDecodeTokenRunsInline) {
  AttentionFixture f({DType::F16, 4, 2, 32, 16, {{3, 1}}});
  f.check(0.2f, 2e-5);
}

TEST(CpuAttention, LongContextAcrossManyChunks) {
  // Sharp scores (large scale) make the running-max rescaling matter.
  AttentionFixture f({DType::F16, 2, 1, 64, 32, {{300, 2}}});
  f.check(2.0f, 5e-5);
}

TEST(CpuAttention, DecodeOfFewSequencesSplitsLongContexts) {
  // Too few (token, head group) items for the pool: the keys are split across threads and
  // the partial softmax results merged. One context is shorter than the split count.
  for (DType dtype : {DType::F32, DType::F16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    AttentionFixture f({dtype, 8, 2, 64, 16, {{700, 1}, {2, 1}}});
    f.check(0.3f, 2e-5);
    AttentionFixture single({dtype, 4, 1, 80, 16, {{1000, 1}}});
    single.check(1.5f, 5e-5);
  }
}

// Prefill tokens share each converted chunk of keys (tiles of a few tokens); every token
// must still get bit for bit what it gets alone as a decode token (batch invariance of
// chunked prefill), for block sizes that cut chunks into uneven runs and with GQA.
TEST(CpuAttention, PrefillTilesEqualTokensAlone) {
  for (int block_size : {16, 5}) {
    SCOPED_TRACE("block " + std::to_string(block_size));
    auto backend = test::test_backend();
    const int heads = 6, kv_heads = 2, dim = 64, tokens = 150;
    const int blocks = (tokens + block_size - 1) / block_size;
    KVStorage kv = backend->allocate_kv({1, blocks + 2, block_size, kv_heads, dim, DType::F16});
    std::vector<int32_t> table(static_cast<size_t>(blocks));
    for (int b = 0; b < blocks; ++b) table[static_cast<size_t>(b)] = (b * 7 + 1) % (blocks + 2);
    ForwardBatch prefill;
    prefill.add_sequence(std::vector<int32_t>(tokens, 1), 0, table, block_size, ForwardBatch::Logits::Last);
    const BatchTensors all = backend->upload_batch(prefill);
    const Tensor k = test::random_tensor({tokens, kv_heads, dim}, 3), v = test::random_tensor({tokens, kv_heads, dim}, 4);
    backend->store_kv(kv, 0, k, v, all);
    const Tensor q = test::random_tensor({tokens, heads, dim}, 5);
    Tensor together = Tensor::empty({tokens, heads * dim}, DType::F32);
    backend->attention(together, q, kv, 0, all, 0.7f);
    for (int t = 0; t < tokens; t += 7) {
      ForwardBatch one;
      one.add_sequence({1}, t, table, block_size, ForwardBatch::Logits::Last);
      Tensor alone = Tensor::empty({1, heads * dim}, DType::F32);
      backend->attention(alone, q.slice(0, t, t + 1), kv, 0, backend->upload_batch(one), 0.7f);
      ASSERT_EQ(std::memcmp(alone.data<float>(), together.data<float>() + t * heads * dim, sizeof(float) * heads * dim), 0)
          << "token " << t;
    }
  }
}

TEST(CpuAttention, RejectsBadBlockTables) {
  AttentionFixture f({DType::F32, 2, 1, 16, 4, {{5, 2}}});
  Tensor q = test::random_tensor({2, 2, 16}, 1);
  Tensor out = Tensor::empty({2, 32}, DType::F32);
  f.tensors().block_tables.data<int32_t>()[1] = 999;
  EXPECT_THROW(f.backend().attention(out, q, f.kv(), 1, f.tensors(), 1.f), Error);
  f.tensors().block_tables.data<int32_t>()[1] = -1;
  EXPECT_THROW(f.backend().attention(out, q, f.kv(), 1, f.tensors(), 1.f), Error);
  Tensor wrong = Tensor::empty({2, 31}, DType::F32);
  EXPECT_THROW(f.backend().attention(wrong, q, f.kv(), 1, f.tensors(), 1.f), Error);
  EXPECT_THROW(f.backend().attention(out, q, f.kv(), 2, f.tensors(), 1.f), Error);
}

// Value of cache element `index` as f32.
float cache_value(const Tensor& cache, int64_t index) {
  return cache.dtype() == DType::F16 ? fp16_to_fp32(cache.data<uint16_t>()[index]) : cache.data<float>()[index];
}

TEST(CpuKVCache, StoreWritesEachSlot) {
  for (DType dtype : {DType::F32, DType::F16}) {
    auto backend = test::test_backend();
    const int heads = 3, dim = 40, block_size = 4;
    KVStorage kv = backend->allocate_kv({2, 10, block_size, heads, dim, dtype});
    ForwardBatch batch;
    batch.add_sequence(std::vector<int32_t>(6, 1), 0, {7, 2}, block_size, ForwardBatch::Logits::Last);
    batch.add_sequence(std::vector<int32_t>(2, 1), 5, {0, 9}, block_size, ForwardBatch::Logits::Last);
    BatchTensors b = backend->upload_batch(batch);
    b.slot_mapping.data<int32_t>()[7] = -1;  // a padding token: must be skipped
    const int64_t tokens = 8;
    // k and v as head slices of one fused [T, 2 * heads + 1, D] buffer.
    Tensor fused = test::random_tensor({tokens, 2 * heads + 1, dim}, 5, -100.f, 100.f);
    Tensor k = fused.slice(1, 1, 1 + heads), v = fused.slice(1, 1 + heads, 1 + 2 * heads);
    backend->store_kv(kv, 1, k, v, b);
    std::vector<bool> written(10 * block_size, false);
    for (int64_t t = 0; t < tokens; ++t) {
      const int32_t slot = batch.slot_mapping[static_cast<size_t>(t)];
      if (t == 7) continue;
      written[static_cast<size_t>(slot)] = true;
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t d = 0; d < dim; ++d) {
          const int64_t index = (slot * heads + h) * dim + d;
          ASSERT_EQ(cache_value(kv.k[1], index), cache_rounded(test::at3(k, t, h, d), dtype));
          ASSERT_EQ(cache_value(kv.v[1], index), cache_rounded(test::at3(v, t, h, d), dtype));
        }
    }
    for (int64_t slot = 0; slot < 10 * block_size; ++slot)
      for (int64_t e = 0; e < heads * dim; ++e) {
        if (!written[static_cast<size_t>(slot)]) {
          ASSERT_EQ(cache_value(kv.k[1], slot * heads * dim + e), 0.f) << slot;
        }
        ASSERT_EQ(cache_value(kv.k[0], slot * heads * dim + e), 0.f);  // other layer untouched
      }
  }
}

TEST(CpuKVCache, StoreManyTokensAcrossThreads) {
  auto backend = test::test_backend();
  const int heads = 8, dim = 64, block_size = 16, tokens = 200;
  KVStorage kv = backend->allocate_kv({1, 13, block_size, heads, dim, DType::F16});
  std::vector<int32_t> table(13);
  std::iota(table.rbegin(), table.rend(), 0);  // blocks in reverse order
  ForwardBatch batch;
  batch.add_sequence(std::vector<int32_t>(tokens, 1), 0, table, block_size, ForwardBatch::Logits::Last);
  BatchTensors b = backend->upload_batch(batch);
  Tensor k = test::random_tensor({tokens, heads, dim}, 6), v = test::random_tensor({tokens, heads, dim}, 7);
  backend->store_kv(kv, 0, k, v, b);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t e = 0; e < heads * dim; ++e) {
      const int64_t index = batch.slot_mapping[static_cast<size_t>(t)] * heads * dim + e;
      ASSERT_EQ(cache_value(kv.v[0], index), cache_rounded(v.data<float>()[t * heads * dim + e], DType::F16));
    }
}

TEST(CpuKVCache, CopyBlocks) {
  auto backend = test::test_backend();
  const KVCacheLayout layout{2, 6, 4, 2, 8, DType::F16};
  KVStorage a = backend->allocate_kv(layout), host = backend->allocate_kv(layout);
  for (int layer = 0; layer < 2; ++layer)
    for (Tensor* t : {&a.k[static_cast<size_t>(layer)], &a.v[static_cast<size_t>(layer)]})
      for (int64_t i = 0; i < t->numel(); ++i) t->data<uint16_t>()[i] = static_cast<uint16_t>(i * 3 + layer + 1);
  const size_t block_elems = 4 * 2 * 8;
  auto block = [&](const Tensor& t, int b) {
    return std::vector<uint16_t>(t.data<uint16_t>() + b * block_elems, t.data<uint16_t>() + (b + 1) * block_elems);
  };
  const std::vector<std::pair<int32_t, int32_t>> within = {{1, 4}, {5, 0}};
  const auto k1 = block(a.k[1], 1), v0_5 = block(a.v[0], 5), k0_2 = block(a.k[0], 2);
  backend->copy_blocks(a, a, within);  // copy-on-write inside one storage
  EXPECT_EQ(block(a.k[1], 4), k1);
  EXPECT_EQ(block(a.v[0], 0), v0_5);
  EXPECT_EQ(block(a.k[0], 2), k0_2);
  const std::vector<std::pair<int32_t, int32_t>> to_host = {{3, 2}};
  backend->copy_blocks(host, a, to_host);  // swap out
  EXPECT_EQ(block(host.v[1], 2), block(a.v[1], 3));
  EXPECT_EQ(block(host.k[1], 3), std::vector<uint16_t>(block_elems, 0));
  const std::vector<std::pair<int32_t, int32_t>> bad = {{6, 0}};
  EXPECT_THROW(backend->copy_blocks(host, a, bad), Error);
  KVStorage other = backend->allocate_kv({2, 6, 4, 2, 8, DType::F32});
  EXPECT_THROW(backend->copy_blocks(other, a, to_host), Error);
}

}  // namespace
}  // namespace strata
