// Elementwise and row-wise ops of the CPU backend against double-precision references.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "core/error.h"
#include "kernels/cpu/quant.h"
#include "kernels/forward_batch.h"
#include "test_cpu_ops_util.h"

namespace strata {
namespace {

using test::at2;
using test::near;
using test::random_tensor;

// Row counts that exercise both the single-thread path and the pool.
const std::vector<std::pair<int64_t, int64_t>> kShapes = {{1, 1}, {1, 7}, {3, 33}, {5, 256}, {1, 9001}, {17, 1000}, {64, 2048}};

TEST(CpuOps, RmsNorm) {
  auto backend = test::test_backend();
  uint32_t seed = 1;
  for (auto [rows, width] : kShapes) {
    Tensor x = random_tensor({rows, width}, seed++);
    Tensor w = random_tensor({width}, seed++, 0.5f, 2.f);
    Tensor y = Tensor::empty({rows, width}, DType::F32);
    backend->rms_norm(y, x, w, 1e-5f);
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < width; ++i) ss += double(at2(x, r, i)) * at2(x, r, i);
      const double inv = 1 / std::sqrt(ss / width + 1e-5);
      for (int64_t i = 0; i < width; ++i)
        ASSERT_TRUE(near(at2(y, r, i), at2(x, r, i) * inv * w.data<float>()[i], 1e-6, 1e-5)) << rows << "x" << width;
    }
    backend->rms_norm(x, x, w, 1e-5f);  // in place gives the same
    for (int64_t i = 0; i < rows * width; ++i) ASSERT_EQ(x.data<float>()[i], y.data<float>()[i]);
  }
}

TEST(CpuOps, RmsNormPerHeadOnStridedView) {
  // Qwen3's QK-norm: [T, H, D] heads inside a fused QKV row ([T, H_total, D] sliced on heads).
  auto backend = test::test_backend();
  const int64_t tokens = 5, total_heads = 7, heads = 3, first = 2, dim = 24;
  Tensor qkv = random_tensor({tokens, total_heads, dim}, 11);
  std::vector<float> original(qkv.data<float>(), qkv.data<float>() + qkv.numel());
  Tensor q = qkv.slice(1, first, first + heads);
  Tensor w = random_tensor({dim}, 12, 0.5f, 1.5f);
  backend->rms_norm(q, q, w, 1e-6f);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < total_heads; ++h) {
      const float* src = original.data() + (t * total_heads + h) * dim;
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(src[i]) * src[i];
      const double inv = 1 / std::sqrt(ss / dim + 1e-6);
      const bool normed = h >= first && h < first + heads;
      for (int64_t i = 0; i < dim; ++i) {
        const double expected = normed ? src[i] * inv * w.data<float>()[i] : src[i];
        ASSERT_TRUE(near(test::at3(qkv, t, h, i), expected, 1e-6, 1e-5)) << t << " " << h << " " << i;
      }
    }
}

TEST(CpuOps, SiluMul) {
  auto backend = test::test_backend();
  uint32_t seed = 100;
  for (auto [rows, width] : kShapes) {
    Tensor gate = random_tensor({rows, width}, seed++, -12.f, 12.f);
    Tensor up = random_tensor({rows, width}, seed++);
    Tensor y = Tensor::empty({rows, width}, DType::F32);
    backend->silu_mul(y, gate, up);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < width; ++i) {
        const double g = at2(gate, r, i);
        ASSERT_TRUE(near(at2(y, r, i), g / (1 + std::exp(-g)) * at2(up, r, i), 1e-6, 2e-6)) << g;
      }
    backend->silu_mul(gate, gate, up);  // y aliasing gate
    for (int64_t i = 0; i < rows * width; ++i) ASSERT_EQ(gate.data<float>()[i], y.data<float>()[i]);
  }
}

TEST(CpuOps, AddAndAddBias) {
  auto backend = test::test_backend();
  uint32_t seed = 200;
  for (auto [rows, width] : kShapes) {
    Tensor a = random_tensor({rows, width}, seed++);
    Tensor b = random_tensor({rows, width}, seed++);
    Tensor bias = random_tensor({width}, seed++);
    Tensor y = Tensor::empty({rows, width}, DType::F32);
    backend->add(y, a, b);
    for (int64_t i = 0; i < rows * width; ++i)
      ASSERT_EQ(y.data<float>()[i], a.data<float>()[i] + b.data<float>()[i]);
    backend->add_bias(y, bias);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < width; ++i)
        ASSERT_TRUE(near(at2(y, r, i), double(at2(a, r, i)) + at2(b, r, i) + bias.data<float>()[i], 1e-6, 1e-6));
  }
  // Strided rows: a bias on a column slice of a wider matrix leaves the rest untouched.
  Tensor wide = random_tensor({4, 50}, 300);
  std::vector<float> original(wide.data<float>(), wide.data<float>() + 200);
  Tensor cols = wide.slice(1, 10, 30);
  Tensor bias = random_tensor({20}, 301);
  backend->add_bias(cols, bias);
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 50; ++c) {
      const float expected = original[static_cast<size_t>(r * 50 + c)] + (c >= 10 && c < 30 ? bias.data<float>()[c - 10] : 0.f);
      ASSERT_EQ(at2(wide, r, c), expected);
    }
}

TEST(CpuOps, RejectsMismatchedShapes) {
  auto backend = test::test_backend();
  Tensor a = random_tensor({3, 8}, 1), b = random_tensor({3, 9}, 2), y = Tensor::empty({3, 8}, DType::F32);
  EXPECT_THROW(backend->add(y, a, b), Error);
  EXPECT_THROW(backend->silu_mul(y, a, b), Error);
  EXPECT_THROW(backend->rms_norm(y, a, random_tensor({9}, 3), 1e-5f), Error);
  Tensor h = Tensor::empty({3, 8}, DType::F16);
  EXPECT_THROW(backend->add(h, a, a), Error);
}

TEST(CpuOps, GatherRows) {
  auto backend = test::test_backend();
  Tensor x = random_tensor({9, 13}, 400);
  const std::vector<int32_t> rows = {8, 0, 3, 3};
  Tensor y = Tensor::empty({4, 13}, DType::F32);
  backend->gather_rows(y, x, test::i32_vector(rows));
  for (int64_t l = 0; l < 4; ++l)
    for (int64_t i = 0; i < 13; ++i) ASSERT_EQ(at2(y, l, i), at2(x, rows[static_cast<size_t>(l)], i));
  EXPECT_THROW(backend->gather_rows(y, x, test::i32_vector({0, 1, 2, 9})), Error);
}

TEST(CpuOps, EmbeddingFromPlainTypes) {
  auto backend = test::test_backend();
  const int64_t vocab = 50, dim = 40;
  Tensor f32 = random_tensor({vocab, dim}, 500, -3.f, 3.f);
  Tensor f16 = Tensor::empty({vocab, dim}, DType::F16);
  Tensor bf16 = Tensor::empty({vocab, dim}, DType::BF16);
  for (int64_t i = 0; i < vocab * dim; ++i) {
    f16.data<uint16_t>()[i] = fp32_to_fp16(f32.data<float>()[i]);
    bf16.data<uint16_t>()[i] = fp32_to_bf16(f32.data<float>()[i]);
  }
  const std::vector<int32_t> ids = {3, 49, 0, 3, 17};
  for (const Tensor* table : {&f32, &f16, &bf16}) {
    Tensor y = Tensor::empty({5, dim}, DType::F32);
    backend->embedding(y, *table, test::i32_vector(ids));
    for (int64_t t = 0; t < 5; ++t)
      for (int64_t i = 0; i < dim; ++i) {
        const int64_t e = ids[static_cast<size_t>(t)] * dim + i;
        const float expected = table->dtype() == DType::F32   ? f32.data<float>()[e]
                               : table->dtype() == DType::F16 ? fp16_to_fp32(f16.data<uint16_t>()[e])
                                                              : bf16_to_fp32(bf16.data<uint16_t>()[e]);
        ASSERT_EQ(at2(y, t, i), expected) << dtype_name(table->dtype());
      }
  }
  Tensor y = Tensor::empty({1, dim}, DType::F32);
  EXPECT_THROW(backend->embedding(y, f32, test::i32_vector({50})), Error);
  EXPECT_THROW(backend->embedding(y, f32, test::i32_vector({-1})), Error);
}

TEST(CpuOps, EmbeddingFromQuantizedTable) {
  // Rows are picked by id and decoded by the reference dequantizer (tested in test_quant).
  auto backend = test::test_backend();
  const int64_t vocab = 7, dim = 64;
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_K}) {
    const int64_t width = dtype == DType::Q4_K ? 256 : dim;
    Tensor source = random_tensor({vocab, width}, 600);
    Tensor table = Tensor::empty({vocab, width}, dtype);
    const size_t row_bytes = static_cast<size_t>(dtype_row_bytes(dtype, width));
    for (int64_t r = 0; r < vocab; ++r)
      cpu::quantize_row(dtype, source.data<float>() + r * width, table.data<char>() + r * row_bytes, width);
    const std::vector<int32_t> ids = {6, 0, 2};
    Tensor y = Tensor::empty({3, width}, DType::F32);
    backend->embedding(y, table, test::i32_vector(ids));
    std::vector<float> expected(static_cast<size_t>(width));
    for (int64_t t = 0; t < 3; ++t) {
      cpu::dequantize_row(dtype, table.data<char>() + ids[static_cast<size_t>(t)] * row_bytes, expected.data(), width);
      for (int64_t i = 0; i < width; ++i) ASSERT_EQ(at2(y, t, i), expected[static_cast<size_t>(i)]) << dtype_name(dtype);
    }
  }
}

// Greedy sampling's argmax: the lowest index among ties, NaN never chosen unless first.
TEST(CpuOps, ArgmaxRows) {
  auto backend = test::test_backend();
  const float inf = INFINITY, nan = NAN;
  const std::vector<std::vector<float>> rows = {
      {1, 3, 2, 3}, {-inf, -inf, -inf, -inf}, {nan, 5, 1, 0}, {0, nan, 7, 7}, {-2, -1, -inf, -1}};
  const std::vector<int32_t> expected = {1, 0, 0, 2, 1};
  Tensor logits = Tensor::empty({5, 4}, DType::F32);
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t i = 0; i < 4; ++i) logits.data<float>()[r * 4 + i] = rows[static_cast<size_t>(r)][static_cast<size_t>(i)];
  Tensor ids = Tensor::empty({5}, DType::I32);
  backend->argmax_rows(ids, logits);
  for (int64_t r = 0; r < 5; ++r) EXPECT_EQ(ids.data<int32_t>()[r], expected[static_cast<size_t>(r)]) << "row " << r;
  Tensor wrong = Tensor::empty({4}, DType::I32);
  EXPECT_THROW(backend->argmax_rows(wrong, logits), Error);
}

// A quantized matrix uploaded to the CPU backend may be kept in the AVX-512 kernels' tile
// order (a tied output matrix is also the embedding table): lookups see the same rows.
TEST(CpuOps, EmbeddingFromUploadedTable) {
  auto backend = test::test_backend();
  const int64_t vocab = 37, dim = 64;
  for (DType dtype : {DType::Q8_0, DType::Q4_1, DType::Q5_0}) {
    Tensor source = random_tensor({vocab, dim}, 700);
    Tensor table = Tensor::empty({vocab, dim}, dtype);
    const size_t row_bytes = static_cast<size_t>(dtype_row_bytes(dtype, dim));
    for (int64_t r = 0; r < vocab; ++r)
      cpu::quantize_row(dtype, source.data<float>() + r * dim, table.data<char>() + r * row_bytes, dim);
    const Tensor uploaded = backend->upload(table);
    const std::vector<int32_t> ids = {36, 0, 17, 15, 16, 31, 32};
    Tensor plain = Tensor::empty({7, dim}, DType::F32), from_upload = Tensor::empty({7, dim}, DType::F32);
    backend->embedding(plain, table, test::i32_vector(ids));
    backend->embedding(from_upload, uploaded, test::i32_vector(ids));
    for (int64_t i = 0; i < 7 * dim; ++i) ASSERT_EQ(from_upload.data<float>()[i], plain.data<float>()[i]) << dtype_name(dtype);
    const Tensor back = backend->download(uploaded);
    EXPECT_EQ(std::memcmp(back.raw_data(), table.raw_data(), table.nbytes()), 0) << dtype_name(dtype);
  }
}

TEST(CpuOps, UploadBatch) {
  auto backend = test::test_backend();
  ForwardBatch batch;
  batch.add_sequence({5, 6, 7}, 0, {4}, 4, ForwardBatch::Logits::Last);
  batch.add_sequence({9}, 6, {2, 0}, 4, ForwardBatch::Logits::All);
  BatchTensors b = backend->upload_batch(batch);
  EXPECT_EQ(b.num_tokens, 4);
  EXPECT_EQ(b.num_seqs, 2);
  EXPECT_EQ(b.max_blocks_per_seq, 2);
  EXPECT_EQ(b.max_query_len, 3);
  EXPECT_EQ(b.max_context_len, 7);
  auto values = [](const Tensor& t) { return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel()); };
  EXPECT_EQ(values(b.token_ids), (std::vector<int32_t>{5, 6, 7, 9}));
  EXPECT_EQ(values(b.positions), (std::vector<int32_t>{0, 1, 2, 6}));
  EXPECT_EQ(values(b.slot_mapping), (std::vector<int32_t>{16, 17, 18, 2}));
  EXPECT_EQ(values(b.query_start), (std::vector<int32_t>{0, 3, 4}));
  EXPECT_EQ(values(b.context_lens), (std::vector<int32_t>{3, 7}));
  EXPECT_EQ(values(b.block_tables), (std::vector<int32_t>{4, -1, 2, 0}));
  EXPECT_EQ(b.block_tables.shape(), (Tensor::Shape{2, 2}));
  EXPECT_EQ(values(b.logit_rows), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(b.host_query_start, (std::vector<int32_t>{0, 3, 4}));
  EXPECT_EQ(b.host_context_lens, (std::vector<int32_t>{3, 7}));
  for (const Tensor* t : {&b.token_ids, &b.positions, &b.block_tables}) EXPECT_EQ(t->dtype(), DType::I32);
}

TEST(CpuOps, MemoryIsHost) {
  auto backend = test::test_backend();
  EXPECT_EQ(backend->device(), Device::CPU);
  Tensor t = backend->allocate({2, 3}, DType::F16);
  EXPECT_EQ(t.shape(), (Tensor::Shape{2, 3}));
  EXPECT_EQ(backend->upload(t).raw_data(), t.raw_data());
  EXPECT_EQ(backend->download(t).raw_data(), t.raw_data());
  KVCacheLayout layout{2, 5, 4, 3, 8, DType::F16};
  KVStorage kv = backend->allocate_kv(layout);
  ASSERT_EQ(kv.k.size(), 2u);
  EXPECT_EQ(kv.v[1].shape(), (Tensor::Shape{5, 4, 3, 8}));
  EXPECT_EQ(kv.k[0].dtype(), DType::F16);
  EXPECT_EQ(layout.bytes_per_block(), 2u * 2 * 4 * 3 * 8 * 2);
  layout.dtype = DType::Q8_0;
  EXPECT_THROW(backend->allocate_kv(layout), Error);
}

}  // namespace
}  // namespace strata
