#include "server/param_reader.h"

#include <charconv>
#include <cmath>

#include "server/api_error.h"

namespace strata {

namespace {

std::string format_number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace

bool ParamReader::has(const std::string& name) const { return get(name) != nullptr; }

const nlohmann::json* ParamReader::get(const std::string& name) const {
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> ParamReader::number(const std::string& name, double min, double max,
                                          bool min_exclusive) const {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw invalid_param(name, "'" + name + "' must be a number");
  double x = v->get<double>();
  bool below = min_exclusive ? !(x > min) : !(x >= min);
  if (!std::isfinite(x) || below || x > max) {
    throw invalid_param(name, "'" + name + "' must be in " + (min_exclusive ? "(" : "[") +
                                  format_number(min) + ", " + format_number(max) +
                                  "], got " + format_number(x));
  }
  return x;
}

std::optional<int64_t> ParamReader::integer(const std::string& name, int64_t min,
                                            int64_t max) const {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw invalid_param(name, "'" + name + "' must be an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    throw invalid_param(name, "'" + name + "' is too large");
  }
  int64_t x = v->get<int64_t>();
  if (x < min || x > max) {
    throw invalid_param(name, "'" + name + "' must be in [" + std::to_string(min) + ", " +
                                  std::to_string(max) + "], got " + std::to_string(x));
  }
  return x;
}

std::optional<bool> ParamReader::boolean(const std::string& name) const {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw invalid_param(name, "'" + name + "' must be a boolean");
  return v->get<bool>();
}

std::optional<std::string> ParamReader::string(const std::string& name) const {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw invalid_param(name, "'" + name + "' must be a string");
  return v->get<std::string>();
}

std::optional<std::vector<std::string>> ParamReader::string_or_list(
    const std::string& name) const {
  const nlohmann::json* v = get(name);
  if (!v) return std::nullopt;
  if (v->is_string()) return std::vector<std::string>{v->get<std::string>()};
  if (!v->is_array()) {
    throw invalid_param(name, "'" + name + "' must be a string or a list of strings");
  }
  std::vector<std::string> out;
  for (const auto& item : *v) {
    if (!item.is_string()) throw invalid_param(name, "'" + name + "' must contain only strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<int64_t> parse_integer_key(const std::string& key) {
  int64_t value = 0;
  const char* begin = key.data();
  const char* end = key.data() + key.size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || begin == end) return std::nullopt;
  return value;
}

}  // namespace strata
