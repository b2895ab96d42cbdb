#pragma once
// The server's own view of an HTTP exchange, independent of the networking library: what
// a route handler reads and what it returns.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace strata {

class ApiError;
class GenerationJob;

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // path and query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case

  std::string path() const;  // target without the query
  const std::string* header(const std::string& lower_case_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

HttpResponse json_response(int status, std::string body);
HttpResponse error_response(const ApiError& error);

// What a route returns: a complete response now, or a generation that a job thread will
// answer (streamed or not) while the session watches the connection.
struct RouteResult {
  HttpResponse response;
  std::shared_ptr<GenerationJob> job;  // set: `response` is unused
};

// Where a generation job writes its answer. Implemented by the HTTP session; safe to call
// from the job's thread.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void send_response(HttpResponse response) = 0;
  virtual void start_event_stream() = 0;              // 200, text/event-stream, chunked
  virtual void send_event(const std::string& data) = 0;  // one "data: ...\n\n" event
  virtual void end_event_stream() = 0;
};

}  // namespace strata
