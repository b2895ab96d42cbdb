#pragma once
// A deliberately plain HTTP client for the server tests: raw bytes over a TCP socket, so
// tests see exactly what the server sends (status line, headers, chunk framing).
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata::testing {

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;                            // de-chunked
  std::string raw_body;                        // as sent (chunk framing included)
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class Connection {
 public:
  explicit Connection(unsigned short port);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void send(const std::string& bytes);  // throws on failure
  bool send_quietly(const std::string& bytes);  // false when the peer has gone
  // Reads one response (Content-Length, chunked, or until close). Throws on timeout.
  Reply read_reply(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads until the first occurrence of `marker` in the stream; returns what was read.
  std::string read_until(const std::string& marker, std::chrono::milliseconds timeout);
  // True when the server closed the connection within `timeout` (EOF or reset).
  bool closed_by_peer(std::chrono::milliseconds timeout);
  void close();

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);  // false on EOF
  int fd_ = -1;
  std::string buffer_;
};

std::string http_request(const std::string& method, const std::string& target,
                         const std::string& body = {},
                         const std::vector<std::string>& extra_headers = {});

// One request on a fresh connection.
Reply fetch(unsigned short port, const std::string& method, const std::string& target,
            const std::string& body = {}, const std::vector<std::string>& extra_headers = {});

// The payloads of "data: ..." events in an SSE body.
std::vector<std::string> sse_payloads(const std::string& body);

}  // namespace strata::testing
