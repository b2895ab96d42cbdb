#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace strata {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// How long an idle thread spins before it sleeps. Decode issues a parallel region every
// few microseconds, so a worker that sleeps between them pays a futex wake-up each time;
// beyond this budget the pool is idle and spinning would only burn a core.
constexpr auto kSpinBudget = std::chrono::microseconds(50);

// Spins until pred() holds or the spin budget runs out; returns whether pred() held.
template <typename Pred>
bool spin_until(Pred pred) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (pred()) return true;
    cpu_relax();
    if ((i & 63) == 63) {
      if (std::chrono::steady_clock::now() - start > kSpinBudget) return false;
      // Leave the core to others when the machine is oversubscribed.
      std::this_thread::yield();
    }
  }
}

}  // namespace

struct ThreadPool::Impl {
  int num_threads = 1;
  std::vector<std::thread> workers;

  // A job is published by bumping `generation`; workers compare it with the last one they
  // ran. `remaining` counts workers (other than the caller) that have not finished it.
  std::atomic<uint64_t> generation{0};
  std::atomic<int> remaining{0};
  std::atomic<int> sleeping_workers{0};
  std::atomic<bool> caller_sleeping{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> busy{false};  // a job is running: nested or concurrent calls run inline
  const std::function<void(int, int)>* job = nullptr;

  std::mutex error_mutex;
  std::exception_ptr error;

  void worker_loop(int index);
  void run_job_part(int index);
  void dispatch_and_join(const std::function<void(int, int)>& fn);
  void wait_for_workers();
};

void ThreadPool::Impl::run_job_part(int index) {
  try {
    (*job)(index, num_threads);
  } catch (...) {
    std::lock_guard lock(error_mutex);
    if (!error) error = std::current_exception();
  }
}

void ThreadPool::Impl::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto has_news = [&] {
      return generation.load(std::memory_order_acquire) != seen ||
             stopping.load(std::memory_order_acquire);
    };
    if (!spin_until(has_news)) {
      // Announce the sleep before re-checking, so a dispatcher that bumps the generation
      // after our check is sure to see us and notify (both sides are seq_cst).
      sleeping_workers.fetch_add(1);
      while (generation.load() == seen && !stopping.load()) generation.wait(seen);
      sleeping_workers.fetch_sub(1);
    }
    if (stopping.load(std::memory_order_acquire)) return;
    seen = generation.load(std::memory_order_acquire);
    run_job_part(index);
    if (remaining.fetch_sub(1) == 1 && caller_sleeping.load()) remaining.notify_one();
  }
}

void ThreadPool::Impl::wait_for_workers() {
  if (spin_until([&] { return remaining.load(std::memory_order_acquire) == 0; })) return;
  caller_sleeping.store(true);
  for (int left = remaining.load(); left != 0; left = remaining.load()) remaining.wait(left);
  caller_sleeping.store(false);
}

void ThreadPool::Impl::dispatch_and_join(const std::function<void(int, int)>& fn) {
  job = &fn;
  remaining.store(num_threads - 1, std::memory_order_relaxed);
  generation.fetch_add(1);  // publishes job and remaining to the workers
  if (sleeping_workers.load() > 0) generation.notify_all();
  run_job_part(0);
  wait_for_workers();
  job = nullptr;
}

ThreadPool::ThreadPool(int num_threads) : impl_(std::make_unique<Impl>()) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl_->num_threads = num_threads;
  impl_->workers.reserve(static_cast<size_t>(num_threads - 1));
  for (int i = 1; i < num_threads; ++i) impl_->workers.emplace_back([this, i] { impl_->worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  impl_->stopping.store(true);
  impl_->generation.fetch_add(1);
  impl_->generation.notify_all();
  for (auto& w : impl_->workers) w.join();
}

int ThreadPool::size() const { return impl_->num_threads; }

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  const int n = impl_->num_threads;
  // A call from inside a job (or from a second thread while one runs) cannot use the
  // workers; running every part on this thread keeps the same result.
  if (n == 1 || impl_->busy.exchange(true, std::memory_order_acquire)) {
    for (int i = 0; i < n; ++i) fn(i, n);
    return;
  }
  impl_->error = nullptr;
  impl_->dispatch_and_join(fn);
  std::exception_ptr error = std::exchange(impl_->error, nullptr);
  impl_->busy.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(impl_->num_threads, std::max<int64_t>(1, n / grain));
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  // Captures by pointer to stay inside std::function's small-object buffer (no allocation).
  struct Split { int64_t n, chunks; const std::function<void(int64_t, int64_t)>* fn; } split{n, chunks, &fn};
  const Split* s = &split;
  run([s](int thread, int) {
    if (thread >= s->chunks) return;
    const int64_t begin = s->n * thread / s->chunks;
    const int64_t end = s->n * (thread + 1) / s->chunks;
    if (begin < end) (*s->fn)(begin, end);
  });
}

}  // namespace strata
