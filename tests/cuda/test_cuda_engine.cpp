// The engine's batch-invariance check (tests/engine/batch_invariance.h) on the CUDA
// backend: a greedy request gives the same tokens alone as in a batch of 32 mixed requests,
// under chunked prefill, prefix-cache hits and preemption by recompute and by swap (KV
// blocks copied to host memory and back), for f32, bf16 and Q4_0 weights of the tiny Llama shape.
#include "../engine/batch_invariance.h"
#include "cuda_test_util.h"
#include "model/model.h"

namespace strata::cuda_test {
namespace {

testing::EngineFactory cuda_engines(DType dtype, bool batch_invariant) {
  const std::string path = tiny_random_model(dtype);
  return [path, batch_invariant](EngineConfig config, std::shared_ptr<testing::StartGate> gate) {
    LoadOptions options;
    options.device = Device::CUDA;
    options.batch_invariant = batch_invariant;
    auto model = load_model(path, options);
    const int vocab = model->config().vocab_size;
    config.log_startup = false;
    if (gate) model = testing::gated(std::move(model), std::move(gate));
    return make_engine(std::move(model), testing::make_fake_tokenizer(vocab), config);
  };
}

class CudaEngine : public CudaTest {};

// The default kernels: f32 weights give tokens equal alone and in any batch (observed on the
// H200, 2026-12-04), though cuBLAS's sums for many rows are not the GEMV's for few; with
// bf16 weights the batched products' bf16-rounded activations changed a near tie (request
// 10's second token) on the same run, so bf16 is checked in batch-invariant mode, which
// holds by construction.
TEST_F(CudaEngine, GreedyTokensAreTheSameAloneAndInAnyBatchF32) {
  testing::expect_greedy_batch_invariance(cuda_engines(DType::F32, false));
}

TEST_F(CudaEngine, BatchInvariantModeGivesTheSameTokensAloneAndInAnyBatchF32) {
  testing::expect_greedy_batch_invariance(cuda_engines(DType::F32, true));
}

TEST_F(CudaEngine, BatchInvariantModeGivesTheSameTokensAloneAndInAnyBatchBF16) {
  testing::expect_greedy_batch_invariance(cuda_engines(DType::BF16, true));
}

TEST_F(CudaEngine, BatchInvariantModeGivesTheSameTokensAloneAndInAnyBatchQ4_0) {
  testing::expect_greedy_batch_invariance(cuda_engines(DType::Q4_0, true));
}

}  // namespace
}  // namespace strata::cuda_test
