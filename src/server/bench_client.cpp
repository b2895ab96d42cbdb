#include "server/bench_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

struct Endpoint {
  std::string host;
  std::string port;
};

Endpoint parse_url(const std::string& url) {
  std::string rest = url;
  if (rest.starts_with("http://")) rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos) throw Error("only http:// URLs are supported: " + url);
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return {rest, "80"};
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

struct RequestTiming {
  bool ok = false;
  std::string error;
  double ttft_s = 0, e2e_s = 0;
  std::vector<double> itl_s;
  int prompt_tokens = 0, output_tokens = 0;
};

// One client: a keep-alive connection, requests sent one after another.
class BenchClient {
 public:
  BenchClient(const Endpoint& endpoint, const ServingBenchConfig& config)
      : config_(config), stream_(io_) {
    net::ip::tcp::resolver resolver(io_);
    stream_.connect(resolver.resolve(endpoint.host, endpoint.port));
    stream_.socket().set_option(net::ip::tcp::no_delay(true));
    host_ = endpoint.host + ":" + endpoint.port;
  }

  RequestTiming send(const std::vector<int32_t>& prompt) {
    RequestTiming t;
    nlohmann::json body = {{"model", config_.model}, {"prompt", prompt},
                           {"max_tokens", config_.output_len}, {"ignore_eos", true},
                           {"temperature", 0.0}, {"stream", true},
                           {"stream_options", {{"include_usage", true}}}};
    http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
    req.set(http::field::host, host_);
    req.set(http::field::content_type, "application/json");
    if (!config_.api_key.empty()) req.set(http::field::authorization, "Bearer " + config_.api_key);
    req.keep_alive(true);
    req.body() = body.dump();
    req.prepare_payload();
    const auto start = Clock::now();
    http::write(stream_, req);
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    http::read_header(stream_, buffer_, parser);
    if (parser.get().result_int() != 200) {
      t.error = "HTTP " + std::to_string(parser.get().result_int());
      drain(parser);
      return t;
    }
    read_events(parser, start, t);
    t.e2e_s = std::chrono::duration<double>(Clock::now() - start).count();
    t.ok = t.error.empty() && t.output_tokens > 0;
    if (!t.ok && t.error.empty()) t.error = "no tokens in the answer";
    return t;
  }

 private:
  void read_events(http::response_parser<http::buffer_body>& parser, Clock::time_point start,
                   RequestTiming& t) {
    std::string pending;
    std::optional<Clock::time_point> last_token;
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      beast::error_code ec;
      http::read_some(stream_, buffer_, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) throw beast::system_error(ec);
      pending.append(chunk, sizeof chunk - parser.get().body().size);
      const auto now = Clock::now();
      size_t end;
      while ((end = pending.find("\n\n")) != std::string::npos) {
        std::string event = pending.substr(0, end);
        pending.erase(0, end + 2);
        if (!event.starts_with("data: ") || event == "data: [DONE]") continue;
        nlohmann::json j = nlohmann::json::parse(event.substr(6), nullptr, false);
        if (j.is_discarded()) continue;
        if (j.contains("error")) t.error = j["error"].value("message", "error event");
        if (j.contains("usage") && j["usage"].is_object()) {
          t.prompt_tokens = j["usage"].value("prompt_tokens", 0);
          t.output_tokens = j["usage"].value("completion_tokens", 0);
        }
        if (!j.contains("choices") || j["choices"].empty()) continue;
        if (j["choices"][0].value("text", std::string()).empty()) continue;
        if (!last_token) t.ttft_s = std::chrono::duration<double>(now - start).count();
        else t.itl_s.push_back(std::chrono::duration<double>(now - *last_token).count());
        last_token = now;
      }
    }
  }

  void drain(http::response_parser<http::buffer_body>& parser) {
    char chunk[4096];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof chunk;
      beast::error_code ec;
      http::read_some(stream_, buffer_, parser, ec);
      if (ec && ec != http::error::need_buffer) return;
    }
  }

  const ServingBenchConfig& config_;
  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string host_;
};

std::string first_model(const Endpoint& endpoint, const std::string& api_key) {
  net::io_context io;
  beast::tcp_stream stream(io);
  net::ip::tcp::resolver resolver(io);
  stream.connect(resolver.resolve(endpoint.host, endpoint.port));
  http::request<http::empty_body> req{http::verb::get, "/v1/models", 11};
  req.set(http::field::host, endpoint.host);
  if (!api_key.empty()) req.set(http::field::authorization, "Bearer " + api_key);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  auto j = nlohmann::json::parse(res.body(), nullptr, false);
  if (res.result_int() != 200 || !j.contains("data") || j["data"].empty()) {
    throw Error("GET /v1/models failed: HTTP " + std::to_string(res.result_int()) + " " + res.body());
  }
  return j["data"][0]["id"].get<std::string>();
}

// Percentile with linear interpolation between closest ranks (numpy's default).
double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  double rank = p / 100.0 * double(values.size() - 1);
  size_t lo = static_cast<size_t>(rank);
  size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (rank - double(lo));
}

LatencySummary summarize(const std::vector<double>& seconds) {
  LatencySummary s;
  if (seconds.empty()) return s;
  double sum = 0;
  for (double v : seconds) sum += v;
  s.mean_ms = 1000 * sum / double(seconds.size());
  s.p50_ms = 1000 * percentile(seconds, 50);
  s.p90_ms = 1000 * percentile(seconds, 90);
  s.p99_ms = 1000 * percentile(seconds, 99);
  return s;
}

std::vector<std::vector<int32_t>> make_prompts(const ServingBenchConfig& config) {
  std::mt19937_64 random(config.seed);
  std::uniform_int_distribution<int32_t> id(config.min_token_id, config.max_token_id - 1);
  std::vector<std::vector<int32_t>> prompts(config.requests);
  for (auto& p : prompts) {
    p.resize(config.input_len);
    for (auto& t : p) t = id(random);
  }
  return prompts;
}

}  // namespace

ServingBenchResult run_serving_benchmark(const ServingBenchConfig& input) {
  ServingBenchConfig config = input;
  if (config.concurrency < 1 || config.requests < 1 || config.input_len < 1 || config.output_len < 1) {
    throw Error("bench serve: concurrency, requests, input and output lengths must be positive");
  }
  const Endpoint endpoint = parse_url(config.url);
  if (config.model.empty()) config.model = first_model(endpoint, config.api_key);
  // One prompt more than requests: the warm-up's own, so that it leaves no prefix-cache
  // entry that a timed request could hit.
  ServingBenchConfig with_warmup_prompt = config;
  with_warmup_prompt.requests += 1;
  auto prompts = make_prompts(with_warmup_prompt);
  const std::vector<int32_t> warmup_prompt = prompts.back();
  prompts.pop_back();
  if (config.warmup) {
    RequestTiming warm = BenchClient(endpoint, config).send(warmup_prompt);
    if (!warm.ok) throw Error("bench serve: the warm-up request failed: " + warm.error);
  }
  std::vector<RequestTiming> timings(config.requests);
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < std::min(config.concurrency, config.requests); ++c) {
    clients.emplace_back([&] {
      std::optional<BenchClient> client;
      for (int i; (i = next++) < config.requests;) {
        try {
          if (!client) client.emplace(endpoint, config);
          timings[i] = client->send(prompts[i]);
        } catch (const std::exception& e) {
          timings[i].error = e.what();
          client.reset();  // reconnect for the next request
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  ServingBenchResult r;
  r.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> ttft, tpot, itl, e2e;
  for (const auto& t : timings) {
    if (!t.ok) {
      ++r.failed;
      if (r.first_error.empty()) r.first_error = t.error;
      continue;
    }
    ++r.completed;
    r.input_tokens += t.prompt_tokens;
    r.output_tokens += t.output_tokens;
    ttft.push_back(t.ttft_s);
    e2e.push_back(t.e2e_s);
    if (t.output_tokens > 1) tpot.push_back((t.e2e_s - t.ttft_s) / (t.output_tokens - 1));
    itl.insert(itl.end(), t.itl_s.begin(), t.itl_s.end());
  }
  r.request_throughput = r.completed / r.duration_s;
  r.output_throughput = double(r.output_tokens) / r.duration_s;
  r.total_token_throughput = double(r.input_tokens + r.output_tokens) / r.duration_s;
  r.ttft = summarize(ttft);
  r.tpot = summarize(tpot);
  r.itl = summarize(itl);
  r.e2e = summarize(e2e);
  return r;
}

std::string format_serving_bench(const ServingBenchConfig& config, const ServingBenchResult& r) {
  std::string out;
  char line[160];
  auto row = [&](const char* name, double value) {
    std::snprintf(line, sizeof line, "%-40s %12.2f\n", name, value);
    out += line;
  };
  auto section = [&](const char* title, const LatencySummary& s, const char* abbrev) {
    std::snprintf(line, sizeof line, "%s\n", title);
    out += line;
    std::string n = abbrev;
    row(("Mean " + n + " (ms):").c_str(), s.mean_ms);
    row(("Median " + n + " (ms):").c_str(), s.p50_ms);
    row(("P90 " + n + " (ms):").c_str(), s.p90_ms);
    row(("P99 " + n + " (ms):").c_str(), s.p99_ms);
  };
  auto count_row = [&](const char* name, long long value) {
    std::snprintf(line, sizeof line, "%-40s %12lld\n", name, value);
    out += line;
  };
  out += "============ Serving Benchmark Result ============\n";
  count_row("Concurrency:", config.concurrency);
  count_row("Successful requests:", r.completed);
  count_row("Failed requests:", r.failed);
  row("Benchmark duration (s):", r.duration_s);
  count_row("Total input tokens:", r.input_tokens);
  count_row("Total generated tokens:", r.output_tokens);
  row("Request throughput (req/s):", r.request_throughput);
  row("Output token throughput (tok/s):", r.output_throughput);
  row("Total token throughput (tok/s):", r.total_token_throughput);
  section("---------------Time to First Token----------------", r.ttft, "TTFT");
  section("-----Time per Output Token (excl. 1st token)------", r.tpot, "TPOT");
  section("---------------Inter-token Latency----------------", r.itl, "ITL");
  section("----------------End-to-end Latency----------------", r.e2e, "E2EL");
  out += "==================================================\n";
  if (!r.first_error.empty()) out += "first error: " + r.first_error + "\n";
  return out;
}

}  // namespace strata
