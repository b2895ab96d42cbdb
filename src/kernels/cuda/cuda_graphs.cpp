// CUDA graphs of decode steps: a step of a given shape (sequences, block-table width,
// logit rows) over a given KV cache is captured once and then replayed with one launch,
// instead of the hundreds of small launches a forward pass makes (the host's launch cost,
// not the GPU, bounds small models' decode).
#include <functional>

#include "core/error.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_check.h"

namespace strata::cuda {

std::optional<StepKey> CudaBackend::step_key(const BatchTensors& batch, const KVStorage& kv) const {
  if (!graphs_enabled_ || batch.max_query_len != 1 || batch.num_tokens != batch.num_seqs || batch.num_seqs == 0)
    return std::nullopt;
  StepKey key;
  key.shape = {batch.num_seqs, batch.max_blocks_per_seq, static_cast<int>(batch.logit_rows.numel())};
  // Captured launches hold the cache's addresses: another cache (or a reallocated one)
  // is another step, unless every layer landed at the same place again.
  size_t h = 0;
  for (const auto* list : {&kv.k, &kv.v})
    for (const Tensor& t : *list) h = h * 1000003u ^ std::hash<const void*>{}(t.raw_data());
  key.kv_addresses = h;
  return key;
}

bool CudaBackend::replay_step(const BatchTensors& batch, const KVStorage& kv) {
  const auto key = step_key(batch, kv);
  if (!key) return false;
  const auto it = graphs_.find(*key);
  if (it == graphs_.end()) return false;
  cuda_check(cudaGraphLaunch(it->second, launch_stream()), "cudaGraphLaunch");
  return true;
}

void CudaBackend::begin_step(const BatchTensors& batch, const KVStorage& kv) {
  flush_program();
  recording_ = program_ && batch.num_tokens == 1 && batch.num_seqs == 1 && batch.max_query_len == 1;
  const auto key = step_key(batch, kv);
  if (!key) return;
  // The first run of a shape is eager: it sizes scratch buffers and makes one-time uploads
  // (which a capture could not contain).
  if (eager_runs_[*key]++ == 0) return;
  cuda_check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  capturing_ = key;
}

void CudaBackend::end_step() {
  flush_program();
  recording_ = false;
  if (!capturing_) return;
  cudaGraph_t graph = nullptr;
  const StepKey key = *capturing_;
  capturing_.reset();
  cuda_check(cudaStreamEndCapture(stream_, &graph), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  cuda_check(status, "cudaGraphInstantiate");
  graphs_[key] = exec;
  cuda_check(cudaGraphLaunch(exec, stream_), "cudaGraphLaunch");
}

void CudaBackend::abandon_capture() {
  recording_ = false;
  if (program_) program_->count = 0;  // the failed step's operations
  if (!capturing_) return;
  capturing_.reset();
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream_, &graph);  // the step failed already; its error was thrown
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
}

void CudaBackend::drop_steps() {
  abandon_capture();
  cuda_check(cudaStreamSynchronize(stream_), "drop_steps (synchronize)");
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  graphs_.clear();
  eager_runs_.clear();
}

}  // namespace strata::cuda
