#pragma once
// The HTTP server: a listener and sessions on a small pool of io threads (Boost.Asio),
// generation jobs on threads of their own, graceful shutdown.
#include <chrono>
#include <memory>

namespace strata {

class ServerContext;

class HttpServer {
 public:
  explicit HttpServer(ServerContext& context);
  ~HttpServer();  // shuts down (without grace) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the io threads; returns at once. Throws strata::Error when
  // the address cannot be bound.
  void start();
  unsigned short port() const;  // the bound port (useful with port 0)

  // Stops accepting, closes idle connections, lets in-flight requests finish for up to
  // `timeout`, then aborts what is left and stops. Safe to call more than once.
  void shutdown(std::chrono::milliseconds timeout);
  // Blocks until SIGINT or SIGTERM, then shutdown(config.shutdown_timeout).
  void wait_for_signal_then_shutdown();

  int open_connections() const;
  int running_jobs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
