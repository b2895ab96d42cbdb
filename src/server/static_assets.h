#pragma once
// The web chat page's files (src/server/static/), embedded into the binary at build time
// by embed_static.cmake.
#include <span>
#include <string_view>

namespace strata {

struct StaticAsset {
  std::string_view path;          // URL path, e.g. "/app.js"; index.html is also "/"
  std::string_view content_type;
  std::string_view body;
};

std::span<const StaticAsset> static_assets();
const StaticAsset* find_static_asset(std::string_view path);

}  // namespace strata
