#include "server/sse.h"

#include <cstdio>

namespace strata {

std::string event_stream_header(bool chunked, bool connection_close) {
  std::string out =
      "HTTP/1.1 200 OK\r\nServer: strata\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
  if (chunked) out += "Transfer-Encoding: chunked\r\n";
  out += connection_close ? "Connection: close\r\n" : "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

std::string sse_event(std::string_view data, bool chunked) {
  std::string event = "data: ";
  event += data;
  event += "\n\n";
  if (!chunked) return event;
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", event.size());
  return size + event + "\r\n";
}

std::string sse_stream_end(bool chunked) { return chunked ? "0\r\n\r\n" : ""; }

}  // namespace strata
