// The CUDA row-wise kernels against the CPU backend on fresh random inputs, outputs
// poisoned with NaN: RMSNorm (2-D and the [T, H, D] head view), SwiGLU, add (aliased),
// bias, gather, RoPE (both layouts, llama3 scaling, long positions).
#include "cuda_test_util.h"
#include "kernels/forward_batch.h"

namespace strata::cuda_test {
namespace {

class CudaElementwise : public CudaTest {};

TEST_F(CudaElementwise, RmsNormMatchesCpu) {
  uint32_t seed = 1;
  for (auto [rows, width] : {std::pair{1, 576}, {7, 4096}, {130, 64}, {3, 5000}}) {
    const Tensor x = random_host({rows, width}, seed++, -3.f, 3.f), w = random_host({width}, seed++);
    Tensor expect = Tensor::empty({rows, width}, DType::F32);
    cpu->rms_norm(expect, x, w, 1e-5f);
    Tensor y = poisoned(*gpu, {rows, width});
    gpu->rms_norm(y, gpu->upload(x), gpu->upload(w), 1e-5f);
    EXPECT_LT(relative_error(gpu->download(y), expect), 1e-6) << rows << "x" << width;
  }
}

TEST_F(CudaElementwise, RmsNormInPlaceOverHeadView) {
  // The QK-norm case: rows of a strided [T, H, D] view (here H of H + 1 heads), in place;
  // the head outside the view must stay as it was.
  const int64_t t = 5, h = 4, d = 64;
  const Tensor x = random_host({t, h + 1, d}, 11), w = random_host({d}, 12);
  Tensor expect = host_copy(x);
  Tensor cpu_view = expect.slice(1, 0, h);
  cpu->rms_norm(cpu_view, cpu_view, w, 1e-6f);
  Tensor dev = gpu->upload(x);
  Tensor dev_view = dev.slice(1, 0, h);
  gpu->rms_norm(dev_view, dev_view, gpu->upload(w), 1e-6f);
  EXPECT_LT(relative_error(gpu->download(dev), expect), 1e-6);
}

TEST_F(CudaElementwise, SiluMulAddBiasGather) {
  const int64_t rows = 9, width = 1536;
  const Tensor g = random_host({rows, width}, 21, -6.f, 6.f), u = random_host({rows, width}, 22);
  Tensor expect = Tensor::empty({rows, width}, DType::F32);
  cpu->silu_mul(expect, g, u);
  Tensor dg = gpu->upload(g);
  gpu->silu_mul(dg, dg, gpu->upload(u));  // y aliases gate, as the model calls it
  EXPECT_LT(relative_error(gpu->download(dg), expect), 1e-6);

  const Tensor a = random_host({rows, width}, 23), b = random_host({rows, width}, 24), bias = random_host({width}, 25);
  Tensor sum = host_copy(a);
  cpu->add(sum, sum, b);
  cpu->add_bias(sum, bias);
  Tensor da = gpu->upload(a);
  gpu->add(da, da, gpu->upload(b));
  gpu->add_bias(da, gpu->upload(bias));
  EXPECT_LT(relative_error(gpu->download(da), sum), 1e-7);

  const Tensor rows_index = i32_host({8, 0, 3, 3});
  Tensor gathered = Tensor::empty({4, width}, DType::F32);
  cpu->gather_rows(gathered, a, rows_index);
  Tensor dy = poisoned(*gpu, {4, width});
  gpu->gather_rows(dy, gpu->upload(a), gpu->upload(rows_index));
  EXPECT_EQ(relative_error(gpu->download(dy), gathered), 0.0);
}

// Greedy sampling on the device picks what the CPU's argmax picks: random rows of a
// vocabulary's width, rows with planted ties (the lowest index wins), -inf and NaN.
TEST_F(CudaElementwise, ArgmaxRowsMatchesCpu) {
  const int64_t rows = 70, width = 128256;
  Tensor logits = random_host({rows, width}, 31, -20.f, 20.f);
  float* l = logits.data<float>();
  for (int64_t i = 0; i < width; ++i) l[1 * width + i] = 3.0f;  // all equal: index 0
  l[2 * width + 90000] = 99.f, l[2 * width + 7] = 99.f;          // tie: 7
  for (int64_t i = 0; i < width; ++i) l[3 * width + i] = -INFINITY;
  l[4 * width + 0] = NAN;                                         // NaN first: 0
  l[5 * width + 5] = NAN, l[5 * width + 6] = 1e30f;               // NaN elsewhere: skipped
  Tensor expect = Tensor::empty({rows}, DType::I32);
  cpu->argmax_rows(expect, logits);
  Tensor ids = gpu->allocate({rows}, DType::I32);
  gpu->argmax_rows(ids, gpu->upload(logits));
  const Tensor got = gpu->download(ids);
  for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(got.data<int32_t>()[r], expect.data<int32_t>()[r]) << "row " << r;
  EXPECT_EQ(expect.data<int32_t>()[2], 7);
  EXPECT_EQ(expect.data<int32_t>()[5], 6);
}

TEST_F(CudaElementwise, RopeMatchesCpuForBothLayoutsAndScalings) {
  uint32_t seed = 40;
  for (bool neox : {true, false}) {
    for (auto scaling : {RopeConfig::Scaling::None, RopeConfig::Scaling::Llama3, RopeConfig::Scaling::Linear}) {
      RopeConfig cfg;
      cfg.head_dim = 128;
      cfg.rotary_dim = 128;
      cfg.theta = 500000.f;
      cfg.neox = neox;
      cfg.scaling = scaling;
      cfg.factor = 8.f;
      ForwardBatch batch;
      // Two sequences, one far into its context: angles of large positions must agree.
      std::vector<int32_t> table(1300);
      for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
      batch.add_sequence(std::vector<int32_t>(5, 1), 0, table, 16, ForwardBatch::Logits::None);
      batch.add_sequence(std::vector<int32_t>(3, 1), 20000, table, 16, ForwardBatch::Logits::None);
      const int64_t t = batch.num_tokens(), h = 6;
      const Tensor x = random_host({t, h, cfg.head_dim}, seed++);
      Tensor expect = host_copy(x);
      cpu->rope(expect, cpu->upload_batch(batch), cfg);
      Tensor dx = gpu->upload(x);
      gpu->rope(dx, gpu->upload_batch(batch), cfg);
      EXPECT_LT(relative_error(gpu->download(dx), expect), 1e-6) << "neox " << neox;
    }
  }
}

}  // namespace
}  // namespace strata::cuda_test
