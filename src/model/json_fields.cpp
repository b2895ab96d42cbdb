#include "model/json_fields.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

namespace strata {

namespace {
// "an integer", "a string", ... as nlohmann names them, with an article for messages.
std::string described(const nlohmann::json& v) {
  const std::string name = v.type_name();
  const bool vowel = name.find_first_of("aeiou") == 0;
  return std::string(vowel ? "an " : "a ") + name;
}

std::optional<int64_t> integral_value(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is the first double beyond int64; accept only exact whole numbers below it.
    if (std::trunc(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
      return static_cast<int64_t>(d);
  }
  return std::nullopt;
}
}  // namespace

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FileFormatError(path, e.byte, std::string("not valid JSON: ") + e.what());
  }
}

JsonFieldReader::JsonFieldReader(const nlohmann::json& object, std::string file, std::string prefix)
    : object_(object), file_(std::move(file)), prefix_(std::move(prefix)) {
  if (!object_.is_object()) {
    const std::string where = prefix_.empty() ? file_ : file_ + ": field \"" + prefix_.substr(0, prefix_.size() - 1) + "\"";
    throw Error(where + ": expected a JSON object, got " + described(object_));
  }
}

void JsonFieldReader::fail(std::string_view field, const std::string& what) const {
  throw JsonFieldError(file_, path_of(field), what);
}

const nlohmann::json* JsonFieldReader::find(std::string_view field) const {
  auto it = object_.find(field);
  return it == object_.end() || it->is_null() ? nullptr : &*it;
}

const nlohmann::json& JsonFieldReader::require(std::string_view field) const {
  const auto* v = find(field);
  if (v == nullptr) fail(field, object_.contains(field) ? "is null" : "missing");
  return *v;
}

int64_t JsonFieldReader::get_int(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_number()) fail(field, "expected an integer, got " + std::string(v.type_name()));
  auto i = integral_value(v);
  if (!i) fail(field, "expected an integer, got the non-integral number " + v.dump());
  return *i;
}

int64_t JsonFieldReader::get_int_in_range(std::string_view field, int64_t min, int64_t max) const {
  const int64_t v = get_int(field);
  if (v < min || v > max)
    fail(field, "value " + std::to_string(v) + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

double JsonFieldReader::get_float(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_number()) fail(field, "expected a number, got " + std::string(v.type_name()));
  return v.get<double>();
}

bool JsonFieldReader::get_bool(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_boolean()) fail(field, "expected a boolean, got " + std::string(v.type_name()));
  return v.get<bool>();
}

std::string JsonFieldReader::get_string(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_string()) fail(field, "expected a string, got " + std::string(v.type_name()));
  return v.get<std::string>();
}

std::vector<int64_t> JsonFieldReader::get_int_array(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_array()) fail(field, "expected an array of integers, got " + std::string(v.type_name()));
  std::vector<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i) {
    auto item = integral_value(v[i]);
    if (!item) fail(field, "item " + std::to_string(i) + ": expected an integer, got " + std::string(v[i].type_name()));
    out.push_back(*item);
  }
  return out;
}

std::vector<double> JsonFieldReader::get_float_array(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_array()) fail(field, "expected an array of numbers, got " + std::string(v.type_name()));
  std::vector<double> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) fail(field, "item " + std::to_string(i) + ": expected a number, got " + std::string(v[i].type_name()));
    out.push_back(v[i].get<double>());
  }
  return out;
}

std::vector<std::string> JsonFieldReader::get_string_array(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_array()) fail(field, "expected an array of strings, got " + std::string(v.type_name()));
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) fail(field, "item " + std::to_string(i) + ": expected a string, got " + std::string(v[i].type_name()));
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

JsonFieldReader JsonFieldReader::get_object(std::string_view field) const {
  const auto& v = require(field);
  if (!v.is_object()) fail(field, "expected an object, got " + std::string(v.type_name()));
  return JsonFieldReader(v, file_, path_of(field) + ".");
}

std::optional<int64_t> JsonFieldReader::try_int(std::string_view field) const {
  return has(field) ? std::optional(get_int(field)) : std::nullopt;
}
std::optional<double> JsonFieldReader::try_float(std::string_view field) const {
  return has(field) ? std::optional(get_float(field)) : std::nullopt;
}
std::optional<bool> JsonFieldReader::try_bool(std::string_view field) const {
  return has(field) ? std::optional(get_bool(field)) : std::nullopt;
}
std::optional<std::string> JsonFieldReader::try_string(std::string_view field) const {
  return has(field) ? std::optional(get_string(field)) : std::nullopt;
}
std::optional<JsonFieldReader> JsonFieldReader::try_object(std::string_view field) const {
  if (!has(field)) return std::nullopt;
  return get_object(field);
}

}  // namespace strata
