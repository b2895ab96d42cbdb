#include "kernels/cuda/step_profile.h"

#include <algorithm>
#include <cstdio>

#include "kernels/cuda/cuda_check.h"

namespace strata::cuda {

namespace {
double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

StepProfile::StepProfile(cudaStream_t stream) : stream_(stream) {
  cuda_check(cudaEventCreate(&start_), "step profile event");
  cuda_check(cudaEventCreate(&compute_end_), "step profile event");
  cuda_check(cudaEventCreate(&copy_end_), "step profile event");
}

StepProfile::~StepProfile() {
  print();
  cudaEventDestroy(start_);
  cudaEventDestroy(compute_end_);
  cudaEventDestroy(copy_end_);
}

void StepProfile::batch_uploaded(bool decode_only, int tokens) {
  const auto now = Clock::now();
  if (open_) close_step(now);
  open_ = true;
  downloaded_ = false;
  decode_only_ = decode_only;
  tokens_ = tokens;
  step_start_ = now;
  cuda_check(cudaEventRecord(start_, stream_), "step profile record");
}

void StepProfile::download_begins() {
  if (!open_ || downloaded_) return;  // only the first download after a batch: its logits
  download_start_ = Clock::now();
  cuda_check(cudaEventRecord(compute_end_, stream_), "step profile record");
}

void StepProfile::download_done() {
  if (!open_ || downloaded_) return;
  cuda_check(cudaEventRecord(copy_end_, stream_), "step profile record");
  cuda_check(cudaEventSynchronize(copy_end_), "step profile sync");
  download_end_ = Clock::now();
  downloaded_ = true;
}

void StepProfile::close_step(Clock::time_point now) {
  Totals& t = decode_only_ ? decode_ : mixed_;
  ++t.steps;
  t.tokens += tokens_;
  t.wall_ms += ms_between(step_start_, now);
  if (downloaded_) {
    ++t.timed;
    float gpu = 0, copy = 0;
    cuda_check(cudaEventElapsedTime(&gpu, start_, compute_end_), "step profile elapsed");
    cuda_check(cudaEventElapsedTime(&copy, compute_end_, copy_end_), "step profile elapsed");
    t.gpu_ms += gpu;
    t.copy_ms += copy;
    t.launch_ms += ms_between(step_start_, download_start_);
    t.host_after_ms += ms_between(download_end_, now);
  }
  if ((decode_.steps + mixed_.steps) % 100 == 0) print();
}

void StepProfile::print() const {
  for (const auto* t : {&decode_, &mixed_}) {
    if (t->steps == 0) continue;
    const double n = static_cast<double>(t->steps), timed = static_cast<double>(std::max<int64_t>(t->timed, 1));
    std::fprintf(stderr,
                 "step profile (%s): %lld steps (%lld with logits), %.1f tokens/step; ms per step: wall %.3f; of "
                 "the steps with logits: GPU from batch upload to logits %.3f, logits copy %.3f, host queueing "
                 "until the download %.3f, host after the logits until the next batch %.3f\n",
                 t == &decode_ ? "decode" : "with prefill", static_cast<long long>(t->steps),
                 static_cast<long long>(t->timed), t->tokens / n, t->wall_ms / n, t->gpu_ms / timed,
                 t->copy_ms / timed, t->launch_ms / timed, t->host_after_ms / timed);
  }
}

}  // namespace strata::cuda
