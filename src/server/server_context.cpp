#include "server/server_context.h"

#include <chrono>
#include <cstdio>

namespace strata {

int64_t unix_time_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

ServerContext::ServerContext(Engine& engine, const ChatFormatter* chat_formatter,
                             ServerConfig config)
    : engine_(engine), chat_formatter_(chat_formatter), config_(std::move(config)),
      started_at_(unix_time_now()), id_random_(std::random_device{}()) {}

std::string ServerContext::new_request_id(const std::string& prefix) {
  uint64_t a, b;
  {
    std::lock_guard lock(id_mutex_);
    a = id_random_();
    b = id_random_();
  }
  char hex[33];
  std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return prefix + hex;
}

}  // namespace strata
