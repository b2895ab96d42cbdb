#pragma once
// Configuration of the HTTP server: where it listens, its resource limits and timeouts,
// and the limits on what one request may ask for. Travels as an explicit struct.
#include <chrono>
#include <cstddef>
#include <string>

namespace strata {

// Limits on request parameters (BAD_INPUTS items 17, 22, 23, 28); beyond them: 400.
struct RequestLimits {
  int max_n = 16;                    // parallel samples per prompt
  int max_prompts = 64;              // prompts in one /v1/completions request
  int max_tokens = 1 << 20;          // upper bound on max_tokens besides the context
  int max_stop_strings = 16;
  size_t max_stop_string_bytes = 256;
  int max_logit_bias_entries = 1024;
  int max_top_logprobs = 20;
  int max_json_depth = 64;           // nesting of arrays/objects in a request body
  int max_messages = 4096;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;        // 0: an ephemeral port (see HttpServer::port())
  std::string api_key;               // empty: no authentication
  std::string served_model_name = "strata";
  int io_threads = 2;
  int max_connections = 1024;        // beyond: 503 and close
  size_t max_body_bytes = 8u << 20;  // beyond: 413
  size_t max_header_bytes = 16u << 10;  // beyond: 431
  std::chrono::milliseconds header_timeout{10'000};  // first byte to end of headers
  std::chrono::milliseconds body_timeout{30'000};    // end of headers to end of body
  std::chrono::milliseconds idle_timeout{60'000};    // keep-alive wait for a next request
  std::chrono::milliseconds write_timeout{60'000};   // one write to a client that stalls
  std::chrono::milliseconds shutdown_timeout{30'000};  // in-flight requests on SIGTERM
  int retry_after_seconds = 1;       // sent with 429 when the engine's queue is full
  // Once no generation has run for this long (and the engine has nothing running or
  // waiting), the free heap memory of every thread's malloc arena goes back to the OS,
  // so that resident memory returns to its idle level after a burst. 0: never.
  std::chrono::milliseconds release_memory_when_idle_after{1'000};
  RequestLimits limits;
};

}  // namespace strata
