#include "server/auth.h"

#include "server/http_types.h"

namespace strata {

namespace {

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

}  // namespace

bool request_is_authorized(const HttpRequest& request, const std::string& api_key) {
  if (api_key.empty()) return true;
  const std::string* header = request.header("authorization");
  if (!header) return false;
  const std::string prefix = "Bearer ";
  if (header->size() < prefix.size() || header->compare(0, prefix.size(), prefix) != 0) return false;
  return constant_time_equal(header->substr(prefix.size()), api_key);
}

}  // namespace strata
