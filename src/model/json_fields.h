#pragma once
// Typed access to the fields of JSON configuration files (config.json, the safetensors
// index, tokenizer_config.json). Every error names the file and the field, e.g.
//   config.json: field "num_hidden_layers": expected an integer, got string
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace strata {

// A field that is missing, null where a value is required, or of the wrong type or range.
class JsonFieldError : public Error {
 public:
  JsonFieldError(const std::string& file, const std::string& field, const std::string& what)
      : Error(file + ": field \"" + field + "\": " + what), file_(file), field_(field) {}
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  std::string field_;
};

// Reads and parses a JSON file. Throws Error if it cannot be read and FileFormatError
// (with the byte offset) if it is not valid JSON.
nlohmann::json read_json_file(const std::string& path);

// A view of one JSON object; `file` and the field path prefix appear in errors. The JSON
// must outlive the reader. A field holding null counts as missing.
class JsonFieldReader {
 public:
  JsonFieldReader(const nlohmann::json& object, std::string file, std::string prefix = "");

  const nlohmann::json& json() const { return object_; }
  const std::string& file() const { return file_; }
  bool has(std::string_view field) const { return find(field) != nullptr; }
  const nlohmann::json* find(std::string_view field) const;  // nullptr if missing or null

  int64_t get_int(std::string_view field) const;  // integers, or floats with an integral value
  int64_t get_int_in_range(std::string_view field, int64_t min, int64_t max) const;
  double get_float(std::string_view field) const;  // any number
  bool get_bool(std::string_view field) const;
  std::string get_string(std::string_view field) const;
  std::vector<int64_t> get_int_array(std::string_view field) const;
  std::vector<double> get_float_array(std::string_view field) const;
  std::vector<std::string> get_string_array(std::string_view field) const;
  JsonFieldReader get_object(std::string_view field) const;  // errors then name "outer.inner"

  // nullopt when missing or null; still throw on a wrong type.
  std::optional<int64_t> try_int(std::string_view field) const;
  std::optional<double> try_float(std::string_view field) const;
  std::optional<bool> try_bool(std::string_view field) const;
  std::optional<std::string> try_string(std::string_view field) const;
  std::optional<JsonFieldReader> try_object(std::string_view field) const;

  [[noreturn]] void fail(std::string_view field, const std::string& what) const;

 private:
  const nlohmann::json& require(std::string_view field) const;
  std::string path_of(std::string_view field) const { return prefix_ + std::string(field); }

  const nlohmann::json& object_;
  std::string file_;
  std::string prefix_;
};

}  // namespace strata
