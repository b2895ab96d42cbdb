#include "server/http_server.h"

#include <condition_variable>
#include <csignal>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "core/memory.h"
#include "server/generation_job.h"
#include "server/http_session.h"
#include "server/router.h"
#include "server/server_context.h"

namespace strata {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpServer::Impl : SessionHost {
  explicit Impl(ServerContext& context)
      : context(context), router_(context), acceptor(net::make_strand(io)) {}

  Router& router() override { return router_; }
  const ServerConfig& config() const override { return context.config(); }
  ServerMetrics& metrics() override { return context.metrics(); }
  bool draining() const override { return draining_.load(); }

  void session_started(const std::shared_ptr<HttpSession>& session) override {
    std::lock_guard lock(mutex);
    sessions[session.get()] = session;
  }
  void session_ended(HttpSession* session) override {
    std::lock_guard lock(mutex);
    sessions.erase(session);
    heap_used = true;
    changed.notify_all();
  }
  void run_job(std::shared_ptr<GenerationJob> job, std::shared_ptr<HttpSession> session) override {
    {
      std::lock_guard lock(mutex);
      ++jobs;
    }
    std::thread([this, job = std::move(job), session = std::move(session)]() mutable {
      job->run(*session);
      session->job_finished();
      job.reset();
      session.reset();
      std::lock_guard lock(mutex);
      --jobs;
      heap_used = true;
      changed.notify_all();
    }).detach();
  }

  // The memory releaser's thread: after activity, once no job has run for the configured
  // delay and the engine is idle, returns freed heap memory to the OS (once per quiet
  // period). Request handling frees its memory into per-thread malloc arenas that glibc
  // otherwise keeps, so resident memory would stay at its peak after a burst.
  void release_memory_when_idle() {
    const auto delay = config().release_memory_when_idle_after;
    std::unique_lock lock(mutex);
    while (!stop_releaser) {
      changed.wait(lock, [&] { return stop_releaser || (heap_used && jobs == 0); });
      if (stop_releaser) break;
      // A job starting within the delay restarts the wait; so does a busy engine.
      if (changed.wait_for(lock, delay, [&] { return stop_releaser || jobs > 0; })) continue;
      const EngineStats stats = context.engine().stats();
      if (stats.running > 0 || stats.waiting > 0) continue;
      heap_used = false;
      lock.unlock();
      release_free_heap();
      lock.lock();
    }
  }

  void accept() {
    acceptor.async_accept(net::make_strand(io), [this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) {
        if (!acceptor.is_open()) return;  // shutdown
        return accept();                  // e.g. out of file descriptors: keep serving
      }
      auto session = std::make_shared<HttpSession>(std::move(socket), *this);
      if (open_connections() >= config().max_connections) {
        session->reject_and_close(503, "Too many connections; retry later");
      } else {
        session->start();
      }
      accept();
    });
  }

  int open_connections() const {
    std::lock_guard lock(mutex);
    return static_cast<int>(sessions.size());
  }

  std::vector<std::shared_ptr<HttpSession>> live_sessions() {
    std::lock_guard lock(mutex);
    std::vector<std::shared_ptr<HttpSession>> out;
    for (auto& [ptr, weak] : sessions) {
      if (auto s = weak.lock()) out.push_back(std::move(s));
    }
    return out;
  }

  // Waits until no session and no job is left, or the deadline passes.
  bool wait_until_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex);
    return changed.wait_until(lock, deadline, [&] { return sessions.empty() && jobs == 0; });
  }

  ServerContext& context;
  // Declared before `io`: sessions destroyed with the io_context still unregister here.
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions;
  int jobs = 0;
  bool heap_used = false;      // a session or job ended since memory was last released
  bool stop_releaser = false;
  std::thread releaser;
  Router router_;
  net::io_context io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> draining_{false};
  bool stopped = false;
  unsigned short bound_port = 0;
};

HttpServer::HttpServer(ServerContext& context) : impl_(std::make_unique<Impl>(context)) {}

HttpServer::~HttpServer() { shutdown(std::chrono::milliseconds(0)); }

void HttpServer::start() {
  const auto& config = impl_->config();
  boost::system::error_code ec;
  auto address = net::ip::make_address(config.host, ec);
  if (ec) throw Error("invalid --host '" + config.host + "': " + ec.message());
  tcp::endpoint endpoint(address, config.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error("cannot listen on " + config.host + ":" + std::to_string(config.port) + ": " +
                ec.message());
  }
  impl_->bound_port = acceptor.local_endpoint().port();
  impl_->work.emplace(impl_->io.get_executor());
  impl_->accept();
  for (int i = 0; i < std::max(1, config.io_threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
  if (config.release_memory_when_idle_after.count() > 0)
    impl_->releaser = std::thread([this] { impl_->release_memory_when_idle(); });
}

unsigned short HttpServer::port() const { return impl_->bound_port; }
int HttpServer::open_connections() const { return impl_->open_connections(); }
int HttpServer::running_jobs() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->jobs;
}

void HttpServer::shutdown(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  if (!s.threads.empty()) {
    s.draining_ = true;
    net::post(s.acceptor.get_executor(), [&s] {
      boost::system::error_code ignored;
      s.acceptor.close(ignored);
    });
    for (auto& session : s.live_sessions()) session->drain();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!s.wait_until_idle(deadline)) {
      for (auto& session : s.live_sessions()) session->force_close();
      // Aborted requests end within an engine step; give them a moment to say so.
      s.wait_until_idle(std::chrono::steady_clock::now() + std::chrono::seconds(15));
    }
  }
  s.work.reset();
  s.io.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  // Job threads post to the io_context; it must outlive them.
  std::unique_lock lock(s.mutex);
  s.changed.wait(lock, [&] { return s.jobs == 0; });
  s.stop_releaser = true;
  s.changed.notify_all();
  lock.unlock();
  if (s.releaser.joinable()) s.releaser.join();
}

void HttpServer::wait_for_signal_then_shutdown() {
  net::io_context signal_io;
  net::signal_set signals(signal_io, SIGINT, SIGTERM);
  signals.async_wait([](boost::system::error_code, int) {});
  signal_io.run();
  shutdown(impl_->config().shutdown_timeout);
}

}  // namespace strata
