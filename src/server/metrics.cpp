#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace strata {

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void write_metric(std::string& out, const std::string& name, const std::string& type,
                  const std::string& help, double value) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  out += name + " " + number(value) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& help) const {
  std::lock_guard lock(mutex_);
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + number(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

ServerMetrics::ServerMetrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
             7.5, 10.0, 20.0, 40.0, 80.0}),
      itl_({0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1,
            0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}),
      e2e_({0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
            50.0, 60.0, 120.0, 240.0, 480.0}) {}

void ServerMetrics::count_response(int status) {
  std::lock_guard lock(mutex_);
  ++responses_by_status_[status];
}

void ServerMetrics::add_tokens(int prompt_tokens, int generation_tokens) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += prompt_tokens;
  generation_tokens_ += generation_tokens;
}

void ServerMetrics::count_abort() {
  std::lock_guard lock(mutex_);
  ++aborted_requests_;
}

std::string ServerMetrics::render(const EngineStats& engine) const {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    out += "# HELP strata_http_requests_total HTTP responses sent, by status code\n"
           "# TYPE strata_http_requests_total counter\n";
    for (const auto& [status, count] : responses_by_status_) {
      out += "strata_http_requests_total{status=\"" + std::to_string(status) + "\"} " +
             std::to_string(count) + "\n";
    }
    write_metric(out, "strata_prompt_tokens_total", "counter", "Prompt tokens of finished requests",
                 double(prompt_tokens_));
    write_metric(out, "strata_generation_tokens_total", "counter",
                 "Generated tokens of finished requests", double(generation_tokens_));
    write_metric(out, "strata_aborted_requests_total", "counter",
                 "Requests aborted because the client went away", double(aborted_requests_));
  }
  ttft_.write(out, "strata_time_to_first_token_seconds", "Time from arrival to the first token");
  itl_.write(out, "strata_inter_token_latency_seconds", "Time between successive outputs");
  e2e_.write(out, "strata_e2e_request_latency_seconds", "Time from arrival to the last token");
  write_metric(out, "strata_num_requests_running", "gauge", "Requests in the running batch",
               engine.running);
  write_metric(out, "strata_num_requests_waiting", "gauge", "Requests waiting to be scheduled",
               engine.waiting);
  write_metric(out, "strata_num_requests_swapped", "gauge", "Requests swapped out", engine.swapped);
  double kv_usage = engine.kv_blocks_total > 0
                        ? double(engine.kv_blocks_used) / double(engine.kv_blocks_total) : 0.0;
  write_metric(out, "strata_kv_cache_usage_ratio", "gauge", "Fraction of KV cache blocks in use",
               kv_usage);
  write_metric(out, "strata_kv_cache_blocks_used", "gauge", "KV cache blocks in use",
               double(engine.kv_blocks_used));
  double hit_rate = engine.prefix_cache_queries > 0
                        ? double(engine.prefix_cache_hits) / double(engine.prefix_cache_queries) : 0.0;
  write_metric(out, "strata_prefix_cache_hit_rate", "gauge",
               "Prompt tokens served from the prefix cache / prompt tokens looked up", hit_rate);
  write_metric(out, "strata_prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache",
               double(engine.prefix_cache_hits));
  write_metric(out, "strata_prefix_cache_queries_total", "counter",
               "Prompt tokens looked up in the prefix cache", double(engine.prefix_cache_queries));
  write_metric(out, "strata_num_preemptions_total", "counter", "Requests preempted",
               double(engine.preemptions));
  write_metric(out, "strata_engine_steps_total", "counter", "Engine steps run", double(engine.steps));
  write_metric(out, "strata_engine_step_seconds_total", "counter",
               "Time in engine steps (scheduling, the forward pass, sampling, detokenization)", engine.step_seconds);
  write_metric(out, "strata_engine_model_seconds_total", "counter", "Time of engine steps in the forward pass",
               engine.model_seconds);
  return out;
}

}  // namespace strata
