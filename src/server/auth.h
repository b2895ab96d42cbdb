#pragma once
// API-key authentication: "Authorization: Bearer KEY" (as the OpenAI SDKs send it).
#include <string>

namespace strata {

struct HttpRequest;

// True when no key is configured or the request carries it. The comparison takes the
// same time wherever the strings differ, so the key cannot be guessed byte by byte.
bool request_is_authorized(const HttpRequest& request, const std::string& api_key);

}  // namespace strata
