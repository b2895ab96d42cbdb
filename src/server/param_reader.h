#pragma once
// Typed, range-checked access to the fields of a JSON request object. Every failure is an
// ApiError 400 naming the parameter. Absent fields and null both mean "use the default".
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata {

class ParamReader {
 public:
  explicit ParamReader(const nlohmann::json& object) : object_(object) {}

  bool has(const std::string& name) const;
  const nlohmann::json* get(const std::string& name) const;  // nullptr if absent/null

  std::optional<double> number(const std::string& name, double min, double max,
                               bool min_exclusive = false) const;
  std::optional<int64_t> integer(const std::string& name, int64_t min, int64_t max) const;
  std::optional<bool> boolean(const std::string& name) const;
  std::optional<std::string> string(const std::string& name) const;
  // A string or a list of strings (as "stop").
  std::optional<std::vector<std::string>> string_or_list(const std::string& name) const;

 private:
  const nlohmann::json& object_;
};

// "42" -> 42 for JSON object keys; nullopt when not a plain decimal integer.
std::optional<int64_t> parse_integer_key(const std::string& key);

}  // namespace strata
