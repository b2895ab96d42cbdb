#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
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
constexpr auto kPureSpin = std::chrono::microseconds(5);

// Spins until pred() holds or the spin budget runs out; returns whether pred() held.
// The clock is read only every 64 pauses: it costs more than a pause.
template <typename Pred>
bool spin_until(Pred pred) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (pred()) return true;
    cpu_relax();
    if ((i & 63) == 63) {
      const auto waited = std::chrono::steady_clock::now() - start;
      if (waited > kSpinBudget) return false;
      // After a short pure spin, give the core away now and then: when the machine has
      // more runnable threads than cores, the thread we wait for may need it.
      if (waited > kPureSpin) std::this_thread::yield();
    }
  }
}

// Keeps each worker's completion flag on its own cache line, so that workers finishing a
// job do not contend for one counter.
struct alignas(64) WorkerSlot {
  std::atomic<uint64_t> done_generation{0};
};

}  // namespace

struct ThreadPool::Impl {
  int num_threads = 1;
  std::vector<std::thread> workers;
  std::unique_ptr<WorkerSlot[]> slots;  // [num_threads]; slot 0 unused (the caller)

  // A job is published by bumping `generation`; each worker runs it once and then stores
  // that generation in its slot. Hot fields sit on their own cache lines.
  alignas(64) std::atomic<uint64_t> generation{0};
  const std::function<void(int, int)>* job = nullptr;
  alignas(64) std::atomic<int> sleeping_workers{0};
  std::atomic<bool> stopping{false};
  alignas(64) std::atomic<bool> caller_sleeping{false};
  std::mutex wake_mutex;  // with wake_cv: the caller's sleep while a long job finishes
  std::condition_variable wake_cv;
  alignas(64) std::atomic<bool> busy{false};  // a job is running: nested or concurrent calls run inline

  std::mutex error_mutex;
  std::exception_ptr error;

  void worker_loop(int index);
  void run_job_part(int index);
  void dispatch_and_join(const std::function<void(int, int)>& fn);
  bool all_done(uint64_t gen) const;
  void wait_for_workers(uint64_t gen);
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
      return generation.load(std::memory_order_acquire) != seen || stopping.load(std::memory_order_relaxed);
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
    slots[static_cast<size_t>(index)].done_generation.store(seen);
    // Only a sleeping caller needs a wake-up (seq_cst store above, load here: either the
    // caller sees our flag before sleeping or we see that it sleeps).
    if (caller_sleeping.load()) {
      std::lock_guard lock(wake_mutex);
      wake_cv.notify_one();
    }
  }
}

bool ThreadPool::Impl::all_done(uint64_t gen) const {
  for (int i = 1; i < num_threads; ++i)
    if (slots[static_cast<size_t>(i)].done_generation.load() != gen) return false;  // seq_cst: see wait_for_workers
  return true;
}

void ThreadPool::Impl::wait_for_workers(uint64_t gen) {
  if (spin_until([&] { return all_done(gen); })) return;
  // Long job: sleep until the workers are done. caller_sleeping is raised under the mutex,
  // so a worker that sees it can only notify once we wait (or after we have seen it done).
  std::unique_lock lock(wake_mutex);
  caller_sleeping.store(true);
  while (!all_done(gen)) wake_cv.wait(lock);
  caller_sleeping.store(false);
}

void ThreadPool::Impl::dispatch_and_join(const std::function<void(int, int)>& fn) {
  job = &fn;
  const uint64_t gen = generation.fetch_add(1) + 1;  // publishes the job to the workers
  if (sleeping_workers.load() > 0) generation.notify_all();
  run_job_part(0);
  wait_for_workers(gen);
  job = nullptr;
}

ThreadPool::ThreadPool(int num_threads) : impl_(std::make_unique<Impl>()) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl_->num_threads = num_threads;
  impl_->slots = std::make_unique<WorkerSlot[]>(static_cast<size_t>(num_threads));
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
