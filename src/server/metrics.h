#pragma once
// Server metrics in Prometheus' text exposition format: request counts by status,
// latency histograms (time to first token, inter-token latency, end-to-end), token
// counters, and the engine's gauges (running, waiting, KV usage, prefix cache hit rate,
// preemptions) read at scrape time.
#include <cstdint>
#include <array>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace strata {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends the _bucket/_sum/_count lines of `name`.
  void write(std::string& out, const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative)
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServerMetrics {
 public:
  ServerMetrics();
  void count_response(int status);
  void observe_time_to_first_token(double seconds) { ttft_.observe(seconds); }
  void observe_inter_token_latency(double seconds) { itl_.observe(seconds); }
  void observe_e2e_latency(double seconds) { e2e_.observe(seconds); }
  void add_tokens(int prompt_tokens, int generation_tokens);
  void count_abort();

  std::string render(const EngineStats& engine) const;

 private:
  mutable std::mutex mutex_;
  std::map<int, uint64_t> responses_by_status_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generation_tokens_ = 0;
  uint64_t aborted_requests_ = 0;
  Histogram ttft_;
  Histogram itl_;
  Histogram e2e_;
};

}  // namespace strata
