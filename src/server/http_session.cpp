#include "server/http_session.h"

#include <boost/beast/http/status.hpp>

#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/metrics.h"
#include "server/router.h"
#include "server/server_config.h"
#include "server/sse.h"

namespace strata {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

constexpr size_t kReadChunk = 4096;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, SessionHost& host)
    : stream_(std::move(socket)), deadline_(stream_.get_executor()), host_(host) {
  // Streamed tokens are small writes: without this, Nagle's algorithm holds them back
  // until the client's delayed ACK, adding up to 40 ms per token.
  beast::error_code ignored;
  stream_.socket().set_option(net::ip::tcp::no_delay(true), ignored);
}

HttpSession::~HttpSession() { host_.session_ended(this); }

template <class F>
void HttpSession::on_strand(F&& f) {
  net::post(stream_.get_executor(), [self = shared_from_this(), f = std::forward<F>(f)]() mutable {
    f(*self);
  });
}

void HttpSession::start() {
  host_.session_started(shared_from_this());
  on_strand([](HttpSession& s) { s.wait_for_request(); });
}

void HttpSession::reject_and_close(int status, const std::string& message) {
  host_.session_started(shared_from_this());
  on_strand([status, message](HttpSession& s) {
    s.phase_ = Phase::Handling;
    s.respond_and_close(status, message);
  });
}

void HttpSession::drain() {
  on_strand([](HttpSession& s) {
    if (s.phase_ == Phase::WaitingForRequest || s.phase_ == Phase::ReadingRequest) s.close();
  });
}

void HttpSession::force_close() {
  on_strand([](HttpSession& s) {
    if (s.job_) s.job_->abort();
    s.close();
  });
}

// Keep-alive wait: the idle timeout runs until the first byte of the next request.
void HttpSession::wait_for_request() {
  if (phase_ == Phase::Closed) return;
  if (host_.draining()) return close();
  phase_ = Phase::WaitingForRequest;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(host_.config().max_header_bytes));
  parser_->body_limit(host_.config().max_body_bytes);
  if (buffer_.size() > 0) return read_header();  // pipelined bytes already here
  stream_.expires_after(host_.config().idle_timeout);
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            self->stream_.expires_never();
                            if (ec) return self->close();
                            self->buffer_.commit(n);
                            self->read_header();
                          });
}

void HttpSession::arm_deadline(std::chrono::milliseconds timeout) {
  deadline_expired_ = false;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;  // cancelled: the read finished in time
    self->deadline_expired_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
}

// Headers must arrive whole within header_timeout of the request's first byte, so a client
// trickling bytes (slowloris) is cut off.
void HttpSession::read_header() {
  phase_ = Phase::ReadingRequest;
  arm_deadline(host_.config().header_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            if (ec) return self->on_read_error(ec, false);
                            self->deadline_.cancel();
                            const auto& req = self->parser_->get();
                            auto expect = req.find(http::field::expect);
                            if (expect != req.end() && iequals(std::string(expect->value()), "100-continue") &&
                                !self->parser_->is_done()) {
                              self->queue_write("HTTP/1.1 100 Continue\r\n\r\n", false);
                            }
                            self->read_body();
                          });
}

void HttpSession::read_body() {
  arm_deadline(host_.config().body_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     if (ec) return self->on_read_error(ec, true);
                     self->deadline_.cancel();
                     self->handle_request();
                   });
}

void HttpSession::on_read_error(beast::error_code ec, bool in_body) {
  deadline_.cancel();
  if (phase_ == Phase::Closed) return;
  if (deadline_expired_) {
    if (in_body) return respond_and_close(400, "The request body did not arrive within the body timeout (does Content-Length match the body?)");
    return respond_and_close(408, "The request headers did not arrive within the header timeout");
  }
  if (ec == http::error::header_limit) return respond_and_close(431, "Request headers are too large");
  if (ec == http::error::body_limit) {
    return respond_and_close(413, "Request body is larger than " +
                                      std::to_string(host_.config().max_body_bytes) + " bytes");
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted) {
    return close();
  }
  respond_and_close(400, "Malformed HTTP request: " + ec.message());
}

void HttpSession::handle_request() {
  phase_ = Phase::Handling;
  auto message = parser_->release();
  keep_alive_ = message.keep_alive();
  http11_ = message.version() >= 11;
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  request.body = std::move(message.body());
  for (const auto& field : message) {
    request.headers.emplace_back(lower(std::string(field.name_string())), std::string(field.value()));
  }
  RouteResult result = host_.router().route(request);
  if (result.job) return start_job(std::move(result.job));
  queue_write(serialize(result.response), true);
}

void HttpSession::start_job(std::shared_ptr<GenerationJob> job) {
  job_ = job;
  watch_connection();
  host_.run_job(std::move(job), shared_from_this());
}

// A read pending during generation notices the client hanging up (EOF or reset).
void HttpSession::watch_connection() {
  if (phase_ != Phase::Handling || watching_ || buffer_.size() > 0) return;
  watching_ = true;
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            self->watching_ = false;
                            if (!ec) self->buffer_.commit(n);  // a pipelined next request
                            if (self->watch_is_idle_wait_) {
                              // The response is complete: this read was the keep-alive wait.
                              self->watch_is_idle_wait_ = false;
                              self->deadline_.cancel();
                              if (ec) return self->close();
                              return self->wait_for_request();
                            }
                            // Bytes of a next request: stop watching (they wait in buffer_
                            // until this response is done), so no read is pending then.
                            if (ec && ec != net::error::operation_aborted) return self->client_went_away();
                          });
}

void HttpSession::client_went_away() {
  if (job_) job_->abort();
  close();
}

void HttpSession::job_finished() {
  on_strand([](HttpSession& s) { s.job_.reset(); });
}

void HttpSession::send_response(HttpResponse response) {
  on_strand([response = std::move(response)](HttpSession& s) {
    s.queue_write(s.serialize(response), true);
  });
}

void HttpSession::start_event_stream() {
  on_strand([](HttpSession& s) {
    s.host_.metrics().count_response(200);
    if (!s.http11_) s.close_after_response_ = true;  // HTTP/1.0: the end of the body is the close
    bool close = !s.keep_alive_ || s.close_after_response_ || s.host_.draining();
    s.queue_write(event_stream_header(s.http11_, close), false);
  });
}

void HttpSession::send_event(const std::string& data) {
  on_strand([data](HttpSession& s) { s.queue_write(sse_event(data, s.http11_), false); });
}

void HttpSession::end_event_stream() {
  on_strand([](HttpSession& s) { s.queue_write(sse_stream_end(s.http11_), true); });
}

std::string HttpSession::serialize(const HttpResponse& response) {
  host_.metrics().count_response(response.status);
  if (host_.draining() || !keep_alive_) close_after_response_ = true;
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    std::string(http::obsolete_reason(static_cast<http::status>(response.status))) +
                    "\r\nServer: strata\r\nContent-Type: " + response.content_type +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) +
                    "\r\nConnection: " + (close_after_response_ ? "close" : "keep-alive") + "\r\n";
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += response.body;
  return out;
}

void HttpSession::respond_and_close(int status, const std::string& message) {
  phase_ = Phase::Handling;
  close_after_response_ = true;
  std::string type = status == 503 ? "service_unavailable" : "invalid_request_error";
  queue_write(serialize(error_response(ApiError(status, type, message))), true);
}

void HttpSession::queue_write(std::string data, bool ends_response) {
  if (phase_ == Phase::Closed) return;
  writes_.push_back({std::move(data), ends_response});
  if (!writing_) write_next();
}

void HttpSession::write_next() {
  if (writes_.empty() || phase_ == Phase::Closed) {
    writing_ = false;
    return;
  }
  writing_ = true;
  stream_.expires_after(host_.config().write_timeout);  // applies to the write only
  net::async_write(stream_, net::buffer(writes_.front().data),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     self->stream_.expires_never();
                     if (ec) {
                       self->writing_ = false;
                       return self->client_went_away();
                     }
                     bool ends = self->writes_.front().ends_response;
                     self->writes_.pop_front();
                     if (ends) self->finish_response();
                     self->write_next();
                   });
}

void HttpSession::finish_response() {
  if (close_after_response_ || host_.draining()) return close();
  if (watching_) {
    // The pending watch read becomes the wait for the next request's first byte; the
    // idle deadline cancels it (and so closes the connection) if nothing comes.
    watch_is_idle_wait_ = true;
    arm_deadline(host_.config().idle_timeout);
    return;
  }
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->wait_for_request(); });
}

void HttpSession::close() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  deadline_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

}  // namespace strata
