// CUDA matmul against an fp64 reference over the dequantized weights, for every weight
// dtype, at batch sizes on both sides of the GEMV / tensor-core switch, with strided
// activation and output rows. The f32 GEMV keeps f32 activations (tight tolerance); the
// tensor-core path rounds activations to bf16/f16 (METHOD.md: 1e-3..1e-2); the integer
// GEMV of block-quantized weights rounds them to int8 blocks (checked tightly against a
// reference that rounds them the same way, loosely against the exact one).
#include <algorithm>
#include <cstring>

#include "core/half.h"
#include "cuda_test_util.h"

namespace strata::cuda_test {
namespace {

class CudaMatmul : public CudaTest {};

std::vector<float> reference(const Tensor& x, const std::vector<float>& w, int64_t n) {
  const int64_t m = x.size(0), k = x.size(1);
  std::vector<float> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < k; ++c) s += double{x.data<float>()[i * x.stride(0) + c]} * w[static_cast<size_t>(j * k + c)];
      y[static_cast<size_t>(i * n + j)] = static_cast<float>(s);
    }
  return y;
}

std::vector<float> dense_rows(const Tensor& host_view) {
  std::vector<float> out;
  for (int64_t i = 0; i < host_view.size(0); ++i)
    for (int64_t j = 0; j < host_view.size(1); ++j) out.push_back(host_view.data<float>()[i * host_view.stride(0) + j]);
  return out;
}

bool block_quantized(DType t) { return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1; }

// What the integer GEMVs compute with: each group of 32 activations rounded to d * q with
// d = amax / levels and q = round(x / d): levels 127 for the int8 GEMV (as
// quantize_activations.cu), 32639 for the default int16 one (the CPU backend's rounding),
// the same f32 operations.
Tensor rounded_groups(const Tensor& x, float levels) {
  Tensor out = Tensor::empty({x.size(0), x.size(1)}, DType::F32);
  for (int64_t i = 0; i < x.size(0); ++i)
    for (int64_t b = 0; b < x.size(1); b += 32) {
      const float* in = x.data<float>() + i * x.stride(0) + b;
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::abs(in[j]));
      const float d = amax / levels, inv = d != 0.f ? 1.f / d : 0.f;
      for (int j = 0; j < 32; ++j) out.data<float>()[i * x.size(1) + b + j] = d * std::nearbyint(in[j] * inv);
    }
  return out;
}

Tensor int8_rounded(const Tensor& x) { return rounded_groups(x, 127.f); }
Tensor int16_rounded(const Tensor& x) { return rounded_groups(x, 32639.f); }

// A backend whose small-batch quantized products use these activations.
std::unique_ptr<Backend> gemv_backend(CudaBackendOptions::QuantizedActivations activations) {
  CudaBackendOptions options;
  options.quantized_activations = activations;
  return make_cuda_backend(options);
}

std::unique_ptr<Backend> int8_gemv_backend() { return gemv_backend(CudaBackendOptions::QuantizedActivations::Int8); }

TEST_F(CudaMatmul, EveryWeightTypeAtEveryBatchSize) {
  const std::unique_ptr<Backend> int8_gemv = int8_gemv_backend();
  const std::unique_ptr<Backend> f32_gemv = gemv_backend(CudaBackendOptions::QuantizedActivations::F32);
  for (Backend* device : {int8_gemv.get(), gpu.get(), f32_gemv.get()}) {
    const bool int8 = device == int8_gemv.get(), int16 = device == gpu.get();
    uint32_t seed = 100;
    const DType types[] = {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K};
    for (DType dtype : types) {
      // Small products spread each row over a block's warps; 4,500 rows keep a warp a row group.
      for (auto [n, k] : {std::pair<int64_t, int64_t>{96, 256}, {1000, 512}, {4500, 256}}) {
        const HostWeight w = make_weight(dtype, n, k, seed++);
        const Tensor dw = device->upload(w.tensor);
        for (int64_t m : {1, 2, 3, 5, 8, 9, 64, 130}) {
          // Activations and outputs as strided row views, as the model's scratch slices are.
          const Tensor x_full = random_host({m, k + 8}, seed++);
          const Tensor x = x_full.slice(1, 0, k);
          const Tensor dx = device->upload(x_full).slice(1, 0, k);
          Tensor dy_full = poisoned(*device, {m, n + 4});
          Tensor dy = dy_full.slice(1, 0, n);
          device->matmul(dy, dx, dw);
          const Tensor y = device->download(dy);
          const bool exact_weights = dtype != DType::Q6_K;  // Q6_K runs as bf16 on the device
          const bool gemv = m <= 8 && exact_weights;
          // int8 activations: rounding error up to d / 2 = amax / 254 per value, uniform, so
          // about amax / 440 rms against an rms of amax / sqrt(3) for these uniform inputs:
          // ~0.4% of the product; 1e-2 leaves room. Exactness is checked below.
          // int16 activations: about 1.5e-5 of each value for these inputs (checked exactly
          // against the rounded activations in SplitGemvMatchesInt16RoundedActivations).
          const bool rounded = gemv && block_quantized(dtype) && (int8 || int16);
          const double tol = dtype == DType::F32 || (gemv && !rounded) ? 2e-5 : rounded && int16 ? 1e-4 : 1e-2;
          EXPECT_LT(relative_error(dense_rows(y), reference(x, w.values, n)), tol)
              << dtype_name(dtype) << " m=" << m << " n=" << n << " k=" << k
              << (int8 ? " int8" : int16 ? " int16" : " f32");
          // The padding columns were never written.
          const Tensor full = device->download(dy_full);
          EXPECT_TRUE(std::isnan(full.data<float>()[n])) << "matmul wrote outside its output view";
        }
      }
    }
  }
}

// matmul_many of several weights (one GEMV launch for all of them) and matmul_accumulate
// (y += the product, in the GEMV's store or cuBLAS's beta = 1) against one product at a time.
TEST_F(CudaMatmul, ManyInOneLaunchAndAccumulate) {
  uint32_t seed = 300;
  for (DType dtype : {DType::BF16, DType::F16, DType::Q4_0, DType::Q8_0}) {
    const int64_t k = 512;
    std::vector<HostWeight> weights;
    std::vector<Tensor> device_weights;
    for (int64_t n : {256, 72, 72}) {  // q, k, v shapes
      weights.push_back(make_weight(dtype, n, k, seed++));
      device_weights.push_back(gpu->upload(weights.back().tensor));
    }
    for (int64_t m : {1, 4, 8, 16}) {
      const Tensor x = random_host({m, k}, seed++);
      const Tensor dx = gpu->upload(x);
      std::vector<Tensor> alone, together;
      std::vector<MatmulTarget> targets;
      for (size_t i = 0; i < weights.size(); ++i) {
        alone.push_back(poisoned(*gpu, {m, device_weights[i].size(0)}));
        together.push_back(poisoned(*gpu, {m, device_weights[i].size(0)}));
        gpu->matmul(alone.back(), dx, device_weights[i]);
      }
      for (size_t i = 0; i < weights.size(); ++i) targets.push_back({&together[i], &device_weights[i]});
      gpu->matmul_many(dx, targets);
      for (size_t i = 0; i < weights.size(); ++i) {
        const Tensor a = gpu->download(alone[i]), b = gpu->download(together[i]);
        ASSERT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0) << dtype_name(dtype) << " m=" << m << " " << i;
      }
      // y += x · wᵀ over a random y.
      const Tensor base = random_host({m, 256}, seed++);
      Tensor dy = gpu->upload(base);
      gpu->matmul_accumulate(dy, dx, device_weights[0]);
      const Tensor got = gpu->download(dy), product = gpu->download(alone[0]);
      std::vector<float> expect(static_cast<size_t>(m * 256));
      for (size_t i = 0; i < expect.size(); ++i) expect[i] = base.data<float>()[i] + product.data<float>()[i];
      EXPECT_LT(relative_error(dense_rows(got), expect), 1e-6) << dtype_name(dtype) << " m=" << m;
    }
  }
}

// matmul_swiglu (one GEMV launch reading each gate row beside its up row, storing
// silu(gate) * up) against matmul_many and silu_mul on the same GPU, at batch sizes the
// GEMV takes and one it does not (cuBLAS and the separate silu_mul), for row counts that
// leave a block's warps partly idle.
TEST_F(CudaMatmul, SwigluMatchesProductsThenSiluMul) {
  uint32_t seed = 400;
  for (DType dtype : {DType::F32, DType::BF16, DType::F16, DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    for (int64_t n : {72, 1003, 2501}) {  // 2,501 outputs: a warp each (no split rows)
      const int64_t k = 512;
      const Tensor w_gate = gpu->upload(make_weight(dtype, n, k, seed++).tensor);
      const Tensor w_up = gpu->upload(make_weight(dtype, n, k, seed++).tensor);
      for (int64_t m : {1, 3, 8, 9}) {
        const Tensor dx = gpu->upload(random_host({m, k}, seed++));
        Tensor gate = poisoned(*gpu, {m, n}), up = poisoned(*gpu, {m, n});
        Tensor expect_gate = poisoned(*gpu, {m, n}), expect_up = poisoned(*gpu, {m, n});
        gpu->matmul_swiglu(gate, up, dx, w_gate, w_up);
        const MatmulTarget targets[] = {{&expect_gate, &w_gate}, {&expect_up, &w_up}};
        gpu->matmul_many(dx, targets);
        gpu->silu_mul(expect_gate, expect_gate, expect_up);
        EXPECT_LT(relative_error(gpu->download(gate), gpu->download(expect_gate)), 1e-6)
            << dtype_name(dtype) << " m=" << m << " n=" << n;
      }
    }
  }
}

// RMSNorm folded into the GEMV against rms_norm then the products, for matmul_many and
// SwiGLU: rows that fit shared memory (each block normalizes them there), wider rows (float
// weights: x * weight on the fly, 1 / rms on the sums, e.g. 2 rows of 2048 or one of the
// 8B shape's 4096; quantized weights: in their activations' quantization) and 9 rows (the
// separate kernels).
TEST_F(CudaMatmul, NormFoldedIntoProductsMatchesNormThenProducts) {
  uint32_t seed = 600;
  for (DType dtype : {DType::F32, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q8_0}) {
    for (int64_t k : {576, 2048, 4096}) {
      std::vector<Tensor> weights;
      for (int64_t n : {200, 72, 72}) weights.push_back(gpu->upload(make_weight(dtype, n, k, seed++).tensor));
      const Tensor norm_weight = gpu->upload(random_host({k}, seed++, 0.5f, 1.5f));
      for (int64_t m : {1, 2, 5, 9}) {
        const Tensor x = gpu->upload(random_host({m, k}, seed++, -3.f, 3.f));
        Tensor normed = poisoned(*gpu, {m, k}), expect_normed = poisoned(*gpu, {m, k});
        gpu->rms_norm(expect_normed, x, norm_weight, 1e-5f);
        std::vector<Tensor> got, expect;
        std::vector<MatmulTarget> got_targets, expect_targets;
        for (const Tensor& w : weights) got.push_back(poisoned(*gpu, {m, w.size(0)}));
        for (const Tensor& w : weights) expect.push_back(poisoned(*gpu, {m, w.size(0)}));
        for (size_t i = 0; i < weights.size(); ++i) {
          got_targets.push_back({&got[i], &weights[i]});
          expect_targets.push_back({&expect[i], &weights[i]});
        }
        gpu->norm_matmul_many(NormedInput{x, norm_weight, 1e-5f, normed}, got_targets);
        gpu->matmul_many(expect_normed, expect_targets);
        const std::string what = std::string(dtype_name(dtype)) + " m=" + std::to_string(m) + " k=" + std::to_string(k);
        for (size_t i = 0; i < weights.size(); ++i)
          EXPECT_LT(relative_error(gpu->download(got[i]), gpu->download(expect[i])), 1e-5) << what << " product " << i;

        Tensor gate = poisoned(*gpu, {m, 72}), up = poisoned(*gpu, {m, 72});
        Tensor expect_gate = poisoned(*gpu, {m, 72}), expect_up = poisoned(*gpu, {m, 72});
        gpu->norm_matmul_swiglu(NormedInput{x, norm_weight, 1e-5f, normed}, gate, up, weights[1], weights[2]);
        gpu->matmul_swiglu(expect_gate, expect_up, expect_normed, weights[1], weights[2]);
        EXPECT_LT(relative_error(gpu->download(gate), gpu->download(expect_gate)), 1e-5) << what << " swiglu";
      }
    }
  }
}

// The MLP block as one operation (norm, gate and up, SwiGLU, down added to the residual)
// against the CPU backend's: on the GEMV (m <= 8) and on the tensor cores, where the
// default kernels' SwiGLU writes the down product's bf16/f16 input directly and the norm
// reads float4 vectors (the plain kernels: silu_mul, a conversion, the scalar norm).
// Compared on what the block adds to the residual, whose bf16-rounded activations bound
// the error near 1e-2.
TEST_F(CudaMatmul, SwigluMlpMatchesTheCpuBackend) {
  const std::unique_ptr<Backend> plain = plain_backend();
  uint32_t seed = 700;
  const int64_t hidden = 512, inter = 1536;
  for (Backend* device : {plain.get(), gpu.get()}) {
    for (DType dtype : {DType::BF16, DType::F16, DType::Q4_0}) {
      const Tensor w_gate = make_weight(dtype, inter, hidden, seed++).tensor;
      const Tensor w_up = make_weight(dtype, inter, hidden, seed++).tensor;
      const Tensor w_down = make_weight(dtype, hidden, inter, seed++).tensor;
      const Tensor norm_weight = random_host({hidden}, seed++, 0.5f, 1.5f);
      const Tensor dg = device->upload(w_gate), du = device->upload(w_up), dd = device->upload(w_down);
      const Tensor dn = device->upload(norm_weight);
      for (int64_t m : {1, 8, 9, 64}) {
        const Tensor x = random_host({m, hidden}, seed++, -3.f, 3.f);
        Tensor cpu_x = host_copy(x), cpu_normed = Tensor::empty({m, hidden}, DType::F32);
        Tensor cpu_gate = Tensor::empty({m, inter}, DType::F32), cpu_up = Tensor::empty({m, inter}, DType::F32);
        cpu->norm_swiglu_mlp(NormedInput{cpu_x, norm_weight, 1e-5f, cpu_normed}, cpu_x, cpu_gate, cpu_up, w_gate, w_up,
                             w_down);
        Tensor gpu_x = device->upload(x), normed = poisoned(*device, {m, hidden});
        Tensor gate = poisoned(*device, {m, inter}), up = poisoned(*device, {m, inter});
        device->norm_swiglu_mlp(NormedInput{gpu_x, dn, 1e-5f, normed}, gpu_x, gate, up, dg, du, dd);
        const Tensor got = device->download(gpu_x);
        std::vector<float> got_delta, expect_delta;
        for (int64_t i = 0; i < m * hidden; ++i) {
          got_delta.push_back(got.data<float>()[i] - x.data<float>()[i]);
          expect_delta.push_back(cpu_x.data<float>()[i] - x.data<float>()[i]);
        }
        EXPECT_LT(relative_error(got_delta, expect_delta), 1.5e-2)
            << dtype_name(dtype) << " m=" << m << (device == plain.get() ? " plain kernels" : "");
      }
    }
  }
}

// Weights uploaded stacked (q, k and v in one allocation) with their outputs adjacent
// columns of one tensor, as the model lays them out: one tensor-core product for the
// three where the weights are F32/F16/BF16, against each weight uploaded and multiplied
// alone by the plain kernels; quantized weights stay apart and must still work.
TEST_F(CudaMatmul, StackedWeightsGiveTheProductsOfEachAlone) {
  Backend* const stacking = gpu.get();
  const std::unique_ptr<Backend> plain = plain_backend();  // weights apart
  uint32_t seed = 800;
  const int64_t k = 512;
  for (DType dtype : {DType::F32, DType::BF16, DType::F16, DType::Q4_0}) {
    std::vector<Tensor> host, stacked;
    for (int64_t n : {256, 64, 64}) host.push_back(make_weight(dtype, n, k, seed++).tensor);
    stacked = host;
    Tensor* const pointers[] = {&stacked[0], &stacked[1], &stacked[2]};
    stacking->upload_stacked(pointers);
    if (dtype != DType::Q4_0) {  // one allocation, the rows of each after the one before
      EXPECT_EQ(stacked[1].raw_data(), static_cast<const char*>(stacked[0].raw_data()) + stacked[0].nbytes())
          << dtype_name(dtype);
    }
    const Tensor norm_weight = random_host({k}, seed++, 0.5f, 1.5f);
    const Tensor dn = stacking->upload(norm_weight), dn_alone = plain->upload(norm_weight);
    for (int64_t m : {1, 8, 9, 64}) {
      const Tensor x = random_host({m, k}, seed++, -2.f, 2.f);
      const Tensor dx = stacking->upload(x), dx_alone = plain->upload(x);
      Tensor out = poisoned(*stacking, {m, 384 + 4});  // a padding column past the three
      Tensor ys[] = {out.slice(1, 0, 256), out.slice(1, 256, 320), out.slice(1, 320, 384)};
      const MatmulTarget targets[] = {{&ys[0], &stacked[0]}, {&ys[1], &stacked[1]}, {&ys[2], &stacked[2]}};
      Tensor normed = poisoned(*stacking, {m, k});
      stacking->norm_matmul_many(NormedInput{dx, dn, 1e-5f, normed}, targets);
      const Tensor got = stacking->download(out);
      for (int i = 0; i < 3; ++i) {
        const Tensor w = plain->upload(host[static_cast<size_t>(i)]);
        Tensor alone = poisoned(*plain, {m, w.size(0)}), alone_normed = poisoned(*plain, {m, k});
        const MatmulTarget target[] = {{&alone, &w}};
        plain->norm_matmul_many(NormedInput{dx_alone, dn_alone, 1e-5f, alone_normed}, target);
        const Tensor expect = plain->download(alone);
        std::vector<float> got_rows;
        const int64_t first = i == 0 ? 0 : 256 + 64 * (i - 1);
        for (int64_t r = 0; r < m; ++r)
          for (int64_t c = 0; c < w.size(0); ++c) got_rows.push_back(got.data<float>()[r * (384 + 4) + first + c]);
        EXPECT_LT(relative_error(got_rows, dense_rows(expect)), 1e-4) << dtype_name(dtype) << " m=" << m << " " << i;
      }
      EXPECT_TRUE(std::isnan(got.data<float>()[384])) << "a product wrote past its columns";
    }
  }
}

// The integer GEMV computes the exact product of the int8-rounded activations (up to f32
// summation order), at every batch size it takes and at widths that leave partial unrolled
// steps (k = 14336: 448 blocks, 14 per lane) and partial row groups (n % 16 != 0).
TEST_F(CudaMatmul, Int8GemvMatchesRoundedActivations) {
  const std::unique_ptr<Backend> int8 = int8_gemv_backend();
  uint32_t seed = 500;
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{1000, 1024}, {37, 14336}, {300, 4096}}) {
      const HostWeight w = make_weight(dtype, n, k, seed++);
      const Tensor dw = int8->upload(w.tensor);
      for (int64_t m = 1; m <= 8; ++m) {
        // Mixed magnitudes, so that blocks get different scales; one block all zeros.
        Tensor x = random_host({m, k}, seed++, -3.f, 3.f);
        for (int64_t c = 0; c < k; ++c) x.data<float>()[c] *= c < 32 ? 0.f : (c / 32 % 3 == 0 ? 0.01f : 1.f);
        Tensor dy = poisoned(*int8, {m, n});
        int8->matmul(dy, int8->upload(x), dw);
        const std::vector<float> y = dense_rows(int8->download(dy));
        EXPECT_LT(relative_error(y, reference(int8_rounded(x), w.values, n)), 1e-5)
            << dtype_name(dtype) << " m=" << m << " n=" << n << " k=" << k;
        EXPECT_LT(relative_error(y, reference(x, w.values, n)), 1e-2) << dtype_name(dtype) << " m=" << m;
      }
    }
  }
}

// matmul, matmul_accumulate and matmul_swiglu (gate and up both dw) of dx against the
// expected product of dx and dw.
void expect_plain_accumulate_and_swiglu(Backend& device, const Tensor& dx, const Tensor& dw,
                                        const std::vector<float>& expect, double tol, const std::string& what,
                                        uint32_t seed) {
  const int64_t m = dx.size(0), n = dw.size(0);
  Tensor dy = poisoned(device, {m, n});
  device.matmul(dy, dx, dw);
  EXPECT_LT(relative_error(dense_rows(device.download(dy)), expect), tol) << what;
  const Tensor base = random_host({m, n}, seed);
  Tensor acc = device.upload(base);
  device.matmul_accumulate(acc, dx, dw);
  std::vector<float> expect_acc = expect;
  for (size_t i = 0; i < expect_acc.size(); ++i) expect_acc[i] += base.data<float>()[i];
  EXPECT_LT(relative_error(dense_rows(device.download(acc)), expect_acc), tol) << what << " accumulate";
  Tensor gate = poisoned(device, {m, n}), up = poisoned(device, {m, n});
  device.matmul_swiglu(gate, up, dx, dw, dw);
  std::vector<float> expect_glu = expect;
  for (float& v : expect_glu) v = v / (1.f + std::exp(-v)) * v;
  EXPECT_LT(relative_error(dense_rows(device.download(gate)), expect_glu), std::max(tol, 1e-5)) << what << " swiglu";
}

// The default GEMV of block-quantized weights computes the product of the int16-rounded
// activations (up to f32 summation order), at every batch size, for the plain, the
// accumulating and the SwiGLU launches, at widths that leave partial unrolled steps.
TEST_F(CudaMatmul, SplitGemvMatchesInt16RoundedActivations) {
  uint32_t seed = 700;
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{1000, 1024}, {37, 14336}, {300, 4096}, {4500, 256}}) {
      const HostWeight w = make_weight(dtype, n, k, seed++);
      const Tensor dw = gpu->upload(w.tensor);
      for (int64_t m = 1; m <= 8; ++m) {
        // Mixed magnitudes, so that groups get different scales; one group all zeros.
        Tensor x = random_host({m, k}, seed++, -3.f, 3.f);
        for (int64_t c = 0; c < k; ++c) x.data<float>()[c] *= c < 32 ? 0.f : (c / 32 % 3 == 0 ? 0.01f : 1.f);
        const Tensor dx = gpu->upload(x);
        const std::vector<float> expect = reference(int16_rounded(x), w.values, n);
        const std::string what = std::string(dtype_name(dtype)) + " m=" + std::to_string(m) + " n=" +
                                 std::to_string(n) + " k=" + std::to_string(k);
        // Q4_1's min multiplies the exact sum of each group (as on the CPU), which the
        // reference replaces by the sum of the rounded values: ~1e-5 apart.
        const double tol = dtype == DType::Q4_1 ? 1e-4 : 2e-6;
        expect_plain_accumulate_and_swiglu(*gpu, dx, dw, expect, tol, what, seed++);
      }
    }
  }
}

// x rounded to f16 value by value: what the f16-activation GEMV multiplies (it scales each
// group of 32 by a power of two first, which changes no rounding of these normal values).
Tensor f16_rounded(const Tensor& x) {
  Tensor out = Tensor::empty({x.size(0), x.size(1)}, DType::F32);
  for (int64_t i = 0; i < x.size(0); ++i)
    for (int64_t c = 0; c < x.size(1); ++c)
      out.data<float>()[i * x.size(1) + c] = fp16_to_fp32(fp32_to_fp16(x.data<float>()[i * x.stride(0) + c]));
  return out;
}

// The f16-activation GEMV (Q4_0, one row, on the tensor cores) computes the exact product of
// the f16-rounded activations (up to f32 summation order): plain, accumulating, SwiGLU and
// with the norm folded, at row counts that leave partial 16-row tiles, widths of 1 to 112
// chunks of 128 (a warp's share from none to 14 chunks, partial rounds of 4), and groups of
// very different magnitudes (each group's own power-of-two scale). More rows than one, and
// widths it does not take, fall back to the int16 GEMV.
TEST_F(CudaMatmul, HalfGemvMatchesF16RoundedActivations) {
  const std::unique_ptr<Backend> half = gemv_backend(CudaBackendOptions::QuantizedActivations::F16);
  uint32_t seed = 900;
  for (auto [n, k] : {std::pair<int64_t, int64_t>{1000, 1024}, {37, 14336}, {300, 4096}, {64, 128}, {24, 640},
                      {40, 576}}) {
    const HostWeight w = make_weight(DType::Q4_0, n, k, seed++);
    const Tensor dw = half->upload(w.tensor);
    const bool takes = k % 128 == 0;
    for (int64_t m : {1, 2}) {
      Tensor x = random_host({m, k}, seed++, -3.f, 3.f);
      for (int64_t c = 0; c < k; ++c) x.data<float>()[c] *= c < 32 ? 0.f : (c / 32 % 3 == 0 ? 1e-3f : c / 32 % 3 == 1 ? 1.f : 300.f);
      const Tensor dx = half->upload(x);
      const bool on_tensor_cores = takes && m == 1;
      const std::vector<float> expect = reference(on_tensor_cores ? f16_rounded(x) : int16_rounded(x), w.values, n);
      const std::string what = "n=" + std::to_string(n) + " k=" + std::to_string(k) + " m=" + std::to_string(m);
      const double tol = on_tensor_cores ? 1e-5 : 2e-6;
      expect_plain_accumulate_and_swiglu(*half, dx, dw, expect, tol, what, seed++);
      Tensor dy = poisoned(*half, {m, n});
      half->matmul(dy, dx, dw);
      EXPECT_LT(relative_error(dense_rows(half->download(dy)), reference(x, w.values, n)), 2e-3) << what << " exact";
      // The norm folded: x * weight rounded to f16, the sum scaled by 1 / rms of x.
      const Tensor norm_weight = random_host({k}, seed++, 0.5f, 1.5f);
      Tensor scaled = Tensor::empty({m, k}, DType::F32);
      for (int64_t i = 0; i < m; ++i) {
        double squares = 0;
        for (int64_t c = 0; c < k; ++c) squares += double{x.data<float>()[i * k + c]} * x.data<float>()[i * k + c];
        const double inv_rms = 1.0 / std::sqrt(squares / static_cast<double>(k) + 1e-5);
        for (int64_t c = 0; c < k; ++c) {
          const float v = x.data<float>()[i * k + c] * norm_weight.data<float>()[c];
          const float rounded = on_tensor_cores ? fp16_to_fp32(fp32_to_fp16(v)) : v;
          scaled.data<float>()[i * k + c] = static_cast<float>(rounded * inv_rms);
        }
      }
      const Tensor dnorm = half->upload(norm_weight);
      Tensor normed = poisoned(*half, {m, k}), got = poisoned(*half, {m, n});
      const Tensor* wp = &dw;
      const MatmulTarget target{&got, wp};
      half->norm_matmul_many(NormedInput{dx, dnorm, 1e-5f, normed}, std::span(&target, 1));
      const std::vector<float> expect_norm = reference(on_tensor_cores ? scaled : int16_rounded(scaled), w.values, n);
      EXPECT_LT(relative_error(dense_rows(half->download(got)), expect_norm), on_tensor_cores ? 1e-5 : 1e-4)
          << what << " norm";
    }
  }
}

// Products of one input quantize it afresh on each matmul (matmul_many shares it within
// one call): any write to the input in between must be seen (a stale copy would give the
// old product).
TEST_F(CudaMatmul, SharedInputQuantizedOnceAndRefreshedAfterWrites) {
  const std::unique_ptr<Backend> int8 = int8_gemv_backend();
  const int64_t m = 3, n = 64, k = 256;
  const HostWeight w1 = make_weight(DType::Q4_0, n, k, 1), w2 = make_weight(DType::Q4_1, n, k, 2);
  const Tensor dw1 = int8->upload(w1.tensor), dw2 = int8->upload(w2.tensor);
  Tensor x = random_host({m, k}, 3);
  Tensor dx = int8->upload(x);
  Tensor dy1 = poisoned(*int8, {m, n}), dy2 = poisoned(*int8, {m, n});
  const auto check = [&](const Tensor& dy, const HostWeight& w, const char* what) {
    EXPECT_LT(relative_error(dense_rows(int8->download(dy)), reference(int8_rounded(x), w.values, n)), 1e-5) << what;
  };
  int8->matmul(dy1, dx, dw1);
  int8->matmul(dy2, dx, dw2);
  check(dy1, w1, "first product");
  check(dy2, w2, "second product of the same input");
  // An element-wise write to x: x = x + x.
  int8->add(dx, dx, dx);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] *= 2;
  int8->matmul(dy1, dx, dw1);
  check(dy1, w1, "after add into the input");
  // add_bias into another tensor keeps the copy; into the input it must not.
  int8->add_bias(dy2, int8->upload(random_host({n}, 4)));
  int8->matmul(dy2, dx, dw2);
  check(dy2, w2, "after add_bias elsewhere");
  const Tensor bias = random_host({k}, 5);
  int8->add_bias(dx, int8->upload(bias));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < k; ++c) x.data<float>()[i * k + c] += bias.data<float>()[c];
  int8->matmul(dy1, dx, dw1);
  check(dy1, w1, "after add_bias into the input");
}

TEST_F(CudaMatmul, QuantizedWeightsRoundTripThroughDownload) {
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    const HostWeight w = make_weight(dtype, 7, 64, 7);
    const Tensor back = gpu->download(gpu->upload(w.tensor));
    ASSERT_EQ(back.nbytes(), w.tensor.nbytes());
    EXPECT_EQ(std::memcmp(back.raw_data(), w.tensor.raw_data(), back.nbytes()), 0) << dtype_name(dtype);
  }
}

TEST_F(CudaMatmul, EmbeddingOfEveryTableType) {
  uint32_t seed = 300;
  for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K}) {
    const int64_t vocab = 50, dim = 256;
    const HostWeight table = make_weight(dtype, vocab, dim, seed++);
    const std::vector<int32_t> ids = {3, 0, 49, 3, 17};
    Tensor dy = poisoned(*gpu, {5, dim});
    gpu->embedding(dy, gpu->upload(table.tensor), gpu->upload(i32_host(ids)));
    std::vector<float> expect;
    for (int32_t id : ids)
      expect.insert(expect.end(), table.values.begin() + id * dim, table.values.begin() + (id + 1) * dim);
    // Q6_K runs as bf16 on the device: exact only up to bf16 rounding.
    const double tol = dtype == DType::Q6_K ? 1e-2 : 1e-7;
    EXPECT_LT(relative_error(dense_rows(gpu->download(dy)), expect), tol) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace strata::cuda_test
