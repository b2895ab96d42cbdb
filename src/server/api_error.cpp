#include "server/api_error.h"

namespace strata {

nlohmann::json ApiError::to_json() const {
  auto null_if_empty = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  nlohmann::json error = {{"message", what()},
                          {"type", type_},
                          {"param", null_if_empty(param_)},
                          {"code", null_if_empty(code_)}};
  return {{"error", std::move(error)}};
}

ApiError invalid_param(const std::string& param, const std::string& message) {
  return ApiError(400, "invalid_request_error", message, param);
}

ApiError not_found(const std::string& message, const std::string& code) {
  return ApiError(404, "invalid_request_error", message, {}, code);
}

ApiError model_not_found(const std::string& model) {
  // The name is echoed back only as text: it is never used to open anything.
  return ApiError(404, "invalid_request_error",
                  "The model '" + model + "' does not exist", "model", "model_not_found");
}

}  // namespace strata
