// The web UI's files, compiled into the binary so the server needs no files beside it and works
// offline. The table is generated at build time from serve/web/ (see CMakeLists.txt,
// section "web server") into <build>/generated/serve_assets_data.cpp.
// Thread safety: immutable data.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vlrface::serve {

struct WebAsset {
  const char* name;  // file name in serve/web/, e.g. "app.js"
  const unsigned char* data;
  std::size_t size;
};

extern const WebAsset kWebAssets[];
extern const std::size_t kWebAssetCount;

// nullptr when there is no such file.
const WebAsset* find_web_asset(std::string_view name);
std::string content_type_for(std::string_view name);

}  // namespace vlrface::serve
