#pragma once
// What every route handler shares: the engine, the chat formatter, the configuration,
// the metrics and the id generator. Owned by whoever starts the server.
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "engine/engine.h"
#include "server/chat_prompt.h"
#include "server/metrics.h"
#include "server/server_config.h"

namespace strata {

class ServerContext {
 public:
  ServerContext(Engine& engine, const ChatFormatter* chat_formatter, ServerConfig config);

  Engine& engine() const { return engine_; }
  const ChatFormatter* chat_formatter() const { return chat_formatter_; }
  const ServerConfig& config() const { return config_; }
  ServerMetrics& metrics() { return metrics_; }
  int64_t started_at() const { return started_at_; }  // unix seconds

  // "chatcmpl-" + 32 random hex digits, etc.
  std::string new_request_id(const std::string& prefix);

 private:
  Engine& engine_;
  const ChatFormatter* chat_formatter_;
  ServerConfig config_;
  ServerMetrics metrics_;
  int64_t started_at_;
  std::mutex id_mutex_;
  std::mt19937_64 id_random_;
};

int64_t unix_time_now();
inline constexpr const char* kSystemFingerprint = "fp_strata_0_1";

}  // namespace strata
