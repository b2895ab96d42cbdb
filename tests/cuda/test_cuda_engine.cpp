// The engine's batch-invariance check (tests/engine/batch_invariance.h) on the CUDA
// backend: a greedy request gives the same tokens alone as in a batch of 32 mixed requests,
// under chunked prefill, prefix-cache hits and preemption by recompute and by swap (KV
// blocks copied to host memory and back), for f32 and bf16 weights of the tiny Llama shape.
#include "../engine/batch_invariance.h"
#include "cuda_test_util.h"
#include "model/model.h"

namespace strata::cuda_test {
namespace {

testing::EngineFactory cuda_engines(DType dtype) {
  const std::string path = tiny_random_model(dtype);
  return [path](EngineConfig config, std::shared_ptr<testing::StartGate> gate) {
    LoadOptions options;
    options.device = Device::CUDA;
    auto model = load_model(path, options);
    const int vocab = model->config().vocab_size;
    config.log_startup = false;
    if (gate) model = testing::gated(std::move(model), std::move(gate));
    return make_engine(std::move(model), testing::make_fake_tokenizer(vocab), config);
  };
}

class CudaEngine : public CudaTest {};

TEST_F(CudaEngine, GreedyTokensAreTheSameAloneAndInAnyBatchF32) { testing::expect_greedy_batch_invariance(cuda_engines(DType::F32)); }

TEST_F(CudaEngine, GreedyTokensAreTheSameAloneAndInAnyBatchBF16) { testing::expect_greedy_batch_invariance(cuda_engines(DType::BF16)); }

}  // namespace
}  // namespace strata::cuda_test
