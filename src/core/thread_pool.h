#pragma once
// A fixed pool of worker threads for data-parallel kernels. The calling thread takes part
// as worker 0. Workers spin briefly between jobs, since decode issues tens of thousands of
// small parallel regions per second and a condition-variable wake-up per region would
// dominate; they fall back to sleeping when idle.
#include <cstdint>
#include <functional>
#include <memory>

namespace strata {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);  // num_threads <= 0: hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  // Calls fn(thread_index, num_threads) once on every worker and waits for all.
  void run(const std::function<void(int, int)>& fn);
  // Splits [0, n) into contiguous chunks of at least `grain` items, one call per chunk.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
