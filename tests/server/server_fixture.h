#pragma once
// Starts the real HTTP server on an ephemeral port over the fake engine.
#include <memory>

#include <gtest/gtest.h>

#include "fake_engine.h"
#include "server/http_server.h"
#include "server/server_context.h"
#include "test_client.h"

namespace strata::testing {

inline ServerConfig test_server_config() {
  ServerConfig c;
  c.port = 0;
  c.served_model_name = "test-model";
  c.max_body_bytes = 64 << 10;
  c.max_header_bytes = 8 << 10;
  c.header_timeout = std::chrono::milliseconds(2000);
  c.body_timeout = std::chrono::milliseconds(2000);
  c.idle_timeout = std::chrono::milliseconds(5000);
  c.shutdown_timeout = std::chrono::milliseconds(5000);
  return c;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start(test_server_config()); }
  void TearDown() override { stop(); }

  void start(ServerConfig config, FakeEngineOptions engine_options = {}) {
    stop();
    engine_ = std::make_unique<FakeEngine>(engine_options);
    context_ = std::make_unique<ServerContext>(*engine_, &formatter_, std::move(config));
    server_ = std::make_unique<HttpServer>(*context_);
    server_->start();
  }
  void stop() {
    if (server_) server_->shutdown(std::chrono::milliseconds(2000));
    server_.reset();
    context_.reset();
    engine_.reset();
  }

  unsigned short port() const { return server_->port(); }
  FakeEngine& engine() { return *engine_; }
  Reply post(const std::string& target, const std::string& body,
             const std::vector<std::string>& headers = {}) {
    return fetch(port(), "POST", target, body, headers);
  }
  Reply post(const std::string& target, const nlohmann::json& body) {
    return post(target, body.dump());
  }
  Reply get(const std::string& target, const std::vector<std::string>& headers = {}) {
    return fetch(port(), "GET", target, {}, headers);
  }

  ChatMLFormatter formatter_;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<ServerContext> context_;
  std::unique_ptr<HttpServer> server_;
};

// Waits up to `timeout` for `condition`.
template <class F>
bool eventually(F condition, std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

}  // namespace strata::testing
