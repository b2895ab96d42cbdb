#include "test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace strata::testing {

Connection::Connection(unsigned short port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("connect failed: " + std::string(std::strerror(errno)));
  }
}

Connection::~Connection() { close(); }

void Connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Connection::send_quietly(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

void Connection::send(const std::string& bytes) {
  if (!send_quietly(bytes)) throw std::runtime_error("send failed");
}

bool Connection::fill(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) throw std::runtime_error("timed out reading from the server");
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(left.count()));
  if (r == 0) throw std::runtime_error("timed out reading from the server");
  char chunk[8192];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

std::string Connection::read_until(const std::string& marker, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (buffer_.find(marker) == std::string::npos) {
    if (!fill(deadline)) throw std::runtime_error("connection closed before '" + marker + "'");
  }
  size_t end = buffer_.find(marker) + marker.size();
  std::string out = buffer_.substr(0, end);
  buffer_.erase(0, end);
  return out;
}

bool Connection::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  try {
    while (fill(deadline)) {
    }
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Reply Connection::read_reply(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string head = read_until("\r\n\r\n", timeout);
  Reply reply;
  reply.status = std::stoi(head.substr(9, 3));
  size_t line_start = head.find("\r\n") + 2;
  while (line_start < head.size() - 2) {
    size_t line_end = head.find("\r\n", line_start);
    std::string line = head.substr(line_start, line_end - line_start);
    size_t colon = line.find(':');
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    reply.headers[lower(line.substr(0, colon))] = value;
    line_start = line_end + 2;
  }
  if (reply.headers.count("content-length")) {
    size_t length = std::stoul(reply.headers["content-length"]);
    while (buffer_.size() < length) {
      if (!fill(deadline)) throw std::runtime_error("connection closed inside the body");
    }
    reply.body = reply.raw_body = buffer_.substr(0, length);
    buffer_.erase(0, length);
  } else if (lower(reply.headers["transfer-encoding"]) == "chunked") {
    while (true) {
      std::string size_line = read_until("\r\n", timeout);
      reply.raw_body += size_line;
      size_t size = std::stoul(size_line, nullptr, 16);
      while (buffer_.size() < size + 2) {
        if (!fill(deadline)) throw std::runtime_error("connection closed inside a chunk");
      }
      reply.body += buffer_.substr(0, size);
      reply.raw_body += buffer_.substr(0, size + 2);
      buffer_.erase(0, size + 2);
      if (size == 0) break;
    }
  } else {
    while (fill(deadline)) {
    }
    reply.body = reply.raw_body = buffer_;
    buffer_.clear();
  }
  return reply;
}

std::string http_request(const std::string& method, const std::string& target,
                         const std::string& body, const std::vector<std::string>& extra_headers) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  for (const auto& h : extra_headers) out += h + "\r\n";
  if (!body.empty() || method == "POST") {
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n" + body;
  return out;
}

Reply fetch(unsigned short port, const std::string& method, const std::string& target,
            const std::string& body, const std::vector<std::string>& extra_headers) {
  Connection c(port);
  c.send(http_request(method, target, body, extra_headers));
  return c.read_reply();
}

std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    size_t start = body.find("data: ", at);
    if (start == std::string::npos) break;
    size_t end = body.find("\n\n", start);
    out.push_back(body.substr(start + 6, end - start - 6));
    at = end + 2;
  }
  return out;
}

}  // namespace strata::testing
