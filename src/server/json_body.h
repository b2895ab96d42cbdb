#pragma once
// Parsing request bodies safely: nlohmann's parser recurses once per nesting level, so a
// body nested 100,000 deep would overflow the stack; the depth is checked on the raw
// bytes first. Invalid UTF-8 and lone surrogate escapes are rejected by the parser.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace strata {

// The deepest nesting of arrays/objects in `text`, counting brackets outside strings;
// stops counting as soon as `limit` is exceeded.
int json_nesting_depth(std::string_view text, int limit);

// Parses a request body that must be a JSON object; throws ApiError 400 otherwise.
nlohmann::json parse_json_object_body(std::string_view body, int max_depth);

// Serializes JSON for a response; invalid UTF-8 (never expected) becomes U+FFFD.
std::string dump_json(const nlohmann::json& value);

// Replaces invalid UTF-8 sequences by U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace strata
