#pragma once
// One client connection: reads requests (idle, header and body deadlines; header and body
// size limits), routes them, and writes responses, keeping the connection alive between
// requests. While a generation runs on its job thread the session watches the socket, so
// that a client who hangs up has its request aborted.
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "server/http_types.h"

namespace strata {

class GenerationJob;
class Router;
class ServerMetrics;
struct ServerConfig;

// What a session needs from the server that owns it.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual Router& router() = 0;
  virtual const ServerConfig& config() const = 0;
  virtual ServerMetrics& metrics() = 0;
  virtual bool draining() const = 0;
  virtual void session_started(const std::shared_ptr<class HttpSession>& session) = 0;
  virtual void session_ended(HttpSession* session) = 0;
  // Runs job->run(sink) on a thread of its own; `keep_alive` holds the session meanwhile.
  virtual void run_job(std::shared_ptr<GenerationJob> job, std::shared_ptr<HttpSession> session) = 0;
};

class HttpSession : public std::enable_shared_from_this<HttpSession>, public ResponseSink {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, SessionHost& host);
  ~HttpSession() override;

  void start();                  // begins reading requests
  void reject_and_close(int status, const std::string& message);  // e.g. too many connections
  void drain();                  // shutdown: close now unless a request is in progress
  void force_close();            // shutdown timed out: abort the request and close

  // ResponseSink, called from the job thread.
  void send_response(HttpResponse response) override;
  void start_event_stream() override;
  void send_event(const std::string& data) override;
  void end_event_stream() override;
  void job_finished();

 private:
  enum class Phase { WaitingForRequest, ReadingRequest, Handling, Closed };
  struct PendingWrite {
    std::string data;
    bool ends_response = false;
  };

  void wait_for_request();
  void read_header();
  void read_body();
  void on_read_error(boost::beast::error_code ec, bool in_body);
  void arm_deadline(std::chrono::milliseconds timeout);
  void handle_request();
  void start_job(std::shared_ptr<GenerationJob> job);
  void watch_connection();
  void client_went_away();
  void queue_write(std::string data, bool ends_response);
  void write_next();
  void finish_response();
  void respond_and_close(int status, const std::string& message);
  std::string serialize(const HttpResponse& response);
  void close();
  template <class F> void on_strand(F&& f);

  boost::beast::tcp_stream stream_;
  boost::asio::steady_timer deadline_;
  SessionHost& host_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Phase phase_ = Phase::WaitingForRequest;
  bool deadline_expired_ = false;
  bool keep_alive_ = false;
  bool http11_ = true;
  bool close_after_response_ = false;
  std::deque<PendingWrite> writes_;
  bool writing_ = false;
  std::shared_ptr<GenerationJob> job_;
  bool watching_ = false;
  bool watch_is_idle_wait_ = false;

};

}  // namespace strata
