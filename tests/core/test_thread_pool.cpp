#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <stdexcept>
#include <vector>

namespace strata {
namespace {

// Each index of [0, n) is visited exactly once, by contiguous chunks.
void expect_each_index_once(ThreadPool& pool, int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
  std::atomic<int> calls{0};
  pool.parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    ASSERT_LE(begin, end);
    calls.fetch_add(1);
    for (int64_t i = begin; i < end; ++i) visits[static_cast<size_t>(i)].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[static_cast<size_t>(i)].load(), 1) << "index " << i << " of " << n;
  EXPECT_LE(calls.load(), pool.size());
  if (n > 0) {
    EXPECT_GE(calls.load(), 1);
  }
}

TEST(ThreadPool, SizeDefaultsToHardware) {
  ThreadPool pool(0);
  EXPECT_GE(pool.size(), 1);
  ThreadPool four(4);
  EXPECT_EQ(four.size(), 4);
}

TEST(ThreadPool, RunCallsEveryWorkerOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> seen(4);
  pool.run([&](int index, int count) {
    ASSERT_EQ(count, 4);
    seen[static_cast<size_t>(index)].fetch_add(1);
  });
  for (auto& s : seen) EXPECT_EQ(s.load(), 1);
}

TEST(ThreadPool, ParallelForVisitsEachIndexOnce) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 5, 7, 64, 100, 1000, 4097})
      for (int64_t grain : {1, 3, 16, 1000}) expect_each_index_once(pool, n, grain);
  }
}

TEST(ThreadPool, GrainLimitsChunkCount) {
  ThreadPool pool(8);
  std::atomic<int> calls{0};
  pool.parallel_for(100, 40, [&](int64_t begin, int64_t end) {
    calls.fetch_add(1);
    EXPECT_GE(end - begin, 40);
  });
  EXPECT_EQ(calls.load(), 2);
}

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  int64_t sum = 0;  // no atomics needed: everything runs on this thread
  pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  EXPECT_EQ(sum, 999 * 1000 / 2);
}

TEST(ThreadPool, ManySmallRegions) {
  ThreadPool pool(4);
  std::atomic<int64_t> total{0};
  constexpr int kRegions = 20000;
  for (int r = 0; r < kRegions; ++r)
    pool.parallel_for(8, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b, std::memory_order_relaxed); });
  EXPECT_EQ(total.load(), int64_t{8} * kRegions);
}

TEST(ThreadPool, WakesAfterIdleSleep) {
  ThreadPool pool(3);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers fall asleep
  for (int i = 0; i < 3; ++i) {
    expect_each_index_once(pool, 300, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST(ThreadPool, CallerSleepsThroughLongJobs) {
  // The caller finishes at once and must sleep (past its spin budget) until the others end.
  ThreadPool pool(3);
  for (int round = 0; round < 5; ++round) {
    std::vector<std::atomic<int>> finished(3);
    pool.run([&](int index, int) {
      if (index != 0) std::this_thread::sleep_for(std::chrono::milliseconds(2 + index));
      finished[static_cast<size_t>(index)].store(1);
    });
    for (auto& f : finished) ASSERT_EQ(f.load(), 1);
  }
}

TEST(ThreadPool, NestedCallRunsInline) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> visits(30);
  pool.parallel_for(3, 1, [&](int64_t b, int64_t e) {
    for (int64_t outer = b; outer < e; ++outer)
      pool.parallel_for(10, 1, [&](int64_t ib, int64_t ie) {
        for (int64_t i = ib; i < ie; ++i) visits[static_cast<size_t>(outer * 10 + i)].fetch_add(1);
      });
  });
  for (auto& v : visits) EXPECT_EQ(v.load(), 1);
}

TEST(ThreadPool, PropagatesExceptionsAndStaysUsable) {
  ThreadPool pool(4);
  EXPECT_THROW(pool.run([](int index, int) {
    if (index == 2) throw std::runtime_error("boom");
  }), std::runtime_error);
  expect_each_index_once(pool, 100, 1);
}

}  // namespace
}  // namespace strata
