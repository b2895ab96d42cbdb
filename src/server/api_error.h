#pragma once
// Errors returned to HTTP clients in OpenAI's shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace strata {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, std::string message, std::string param = {},
           std::string code = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)),
        param_(std::move(param)), code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }  // empty: null in JSON
  const std::string& code() const { return code_; }    // empty: null in JSON
  std::optional<int> retry_after_seconds;

  nlohmann::json to_json() const;

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
};

// 400 invalid_request_error naming the offending parameter.
ApiError invalid_param(const std::string& param, const std::string& message);
ApiError not_found(const std::string& message, const std::string& code = "not_found");
ApiError model_not_found(const std::string& model);

}  // namespace strata
