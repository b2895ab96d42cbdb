#include "server/router.h"

#include <functional>
#include <string_view>

#include "server/api_error.h"
#include "server/auth.h"
#include "server/generation_job.h"
#include "server/openai_routes.h"
#include "server/server_context.h"
#include "server/static_assets.h"

namespace strata {

namespace {

RouteResult immediate(HttpResponse response) {
  RouteResult r;
  r.response = std::move(response);
  return r;
}

ApiError method_not_allowed(const std::string& method, const std::string& path,
                            const std::string& allowed) {
  ApiError e(405, "invalid_request_error",
             "Method " + method + " is not allowed on " + path + "; use " + allowed);
  return e;
}

void require_method(const HttpRequest& request, const std::string& method) {
  if (request.method != method) throw method_not_allowed(request.method, request.path(), method);
}

bool is_public(const std::string& path) {
  // The health probe and the chat page's static files (which hold no data; the page
  // itself sends the API key with its requests).
  return path == "/health" || find_static_asset(path) != nullptr;
}

}  // namespace

RouteResult Router::route(const HttpRequest& request) {
  RouteResult result;
  try {
    result = dispatch(request);
  } catch (const ApiError& e) {
    result = immediate(error_response(e));
    if (e.status() == 405) {
      result.response.headers.emplace_back("Allow", request.method == "GET" ? "POST" : "GET");
    }
  } catch (const nlohmann::json::exception& e) {
    // A JSON value of an unexpected shape that slipped past validation: still the client's.
    result = immediate(error_response(ApiError(400, "invalid_request_error",
                                               std::string("Invalid request: ") + e.what())));
  } catch (const std::exception& e) {
    result = immediate(error_response(ApiError(500, "internal_error",
                                               std::string("Internal error: ") + e.what())));
  }
  return result;
}

RouteResult Router::dispatch(const HttpRequest& request) {
  const std::string path = request.path();
  if (!is_public(path) && !request_is_authorized(request, context_.config().api_key)) {
    ApiError e(401, "invalid_request_error", "Incorrect or missing API key", {}, "invalid_api_key");
    RouteResult r = immediate(error_response(e));
    r.response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (path == "/v1/chat/completions") {
    require_method(request, "POST");
    return handle_chat_completions(context_, request);
  }
  if (path == "/v1/completions") {
    require_method(request, "POST");
    return handle_completions(context_, request);
  }
  if (path == "/tokenize") {
    require_method(request, "POST");
    return immediate(handle_tokenize(context_, request));
  }
  if (path == "/detokenize") {
    require_method(request, "POST");
    return immediate(handle_detokenize(context_, request));
  }
  if (path == "/v1/models") {
    require_method(request, "GET");
    return immediate(handle_models(context_));
  }
  const std::string_view models_prefix = "/v1/models/";
  if (path.starts_with(models_prefix)) {
    require_method(request, "GET");
    return immediate(handle_model(context_, path.substr(models_prefix.size())));
  }
  if (path == "/health") {
    require_method(request, "GET");
    return immediate(json_response(200, R"({"status":"ok"})"));
  }
  if (path == "/metrics") {
    require_method(request, "GET");
    return immediate(handle_metrics(context_));
  }
  if (const StaticAsset* asset = find_static_asset(path)) {
    require_method(request, "GET");
    HttpResponse r;
    r.content_type = std::string(asset->content_type);
    r.body = std::string(asset->body);
    return immediate(std::move(r));
  }
  throw not_found("Unknown route: " + request.method + " " + path);
}

}  // namespace strata
