#pragma once
// Maps a request to its handler: authentication, 404 for unknown routes, 405 for a wrong
// method, and every error turned into OpenAI's error JSON. Never throws.
#include "server/http_types.h"

namespace strata {

class ServerContext;

class Router {
 public:
  explicit Router(ServerContext& context) : context_(context) {}
  RouteResult route(const HttpRequest& request);

 private:
  RouteResult dispatch(const HttpRequest& request);
  ServerContext& context_;
};

}  // namespace strata
