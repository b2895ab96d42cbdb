#include "server/http_types.h"

#include "server/api_error.h"
#include "server/json_body.h"

namespace strata {

std::string HttpRequest::path() const {
  auto q = target.find('?');
  return q == std::string::npos ? target : target.substr(0, q);
}

const std::string* HttpRequest::header(const std::string& lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return &value;
  }
  return nullptr;
}

HttpResponse json_response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse error_response(const ApiError& error) {
  HttpResponse r = json_response(error.status(), dump_json(error.to_json()));
  if (error.retry_after_seconds) {
    r.headers.emplace_back("Retry-After", std::to_string(*error.retry_after_seconds));
  }
  return r;
}

}  // namespace strata
