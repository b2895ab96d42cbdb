#pragma once
// Server-sent events on HTTP/1.1 chunked transfer encoding (one chunk per event), as
// OpenAI streams: "data: {json}\n\n" ... "data: [DONE]\n\n". HTTP/1.0 clients get the
// events unchunked and the connection closes at the end.
#include <string>
#include <string_view>

namespace strata {

std::string event_stream_header(bool chunked, bool connection_close);
std::string sse_event(std::string_view data, bool chunked);  // data must hold no newline
std::string sse_stream_end(bool chunked);

}  // namespace strata
