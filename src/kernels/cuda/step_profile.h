#pragma once
// Where the time of a forward step goes, for serving-throughput questions (STRATA_CUDA_
// STEP_PROFILE=1): from one upload_batch to the next, the GPU's part (events at the batch
// upload, at the logits download and after its copy) against the host's (everything the
// engine does between a step's logits arriving and the next batch: sampling, scheduling).
// Printed to stderr every 100 steps and when the backend goes; off, it costs nothing.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>

namespace strata::cuda {

class StepProfile {
 public:
  explicit StepProfile(cudaStream_t stream);
  ~StepProfile();
  void batch_uploaded(bool decode_only, int tokens);  // at the start of upload_batch
  void download_begins();                             // before the logits copy is queued
  void download_done();                               // after the copy has been waited for

 private:
  using Clock = std::chrono::steady_clock;
  struct Totals {
    int64_t steps = 0, tokens = 0, timed = 0;  // timed: steps that downloaded logits
    double wall_ms = 0, gpu_ms = 0, copy_ms = 0, launch_ms = 0, host_after_ms = 0;
  };
  void close_step(Clock::time_point now);
  void print() const;

  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, compute_end_ = nullptr, copy_end_ = nullptr;
  bool open_ = false, downloaded_ = false, decode_only_ = false;
  int tokens_ = 0;
  Clock::time_point step_start_, download_start_, download_end_;
  Totals decode_, mixed_;
};

}  // namespace strata::cuda
