// Private to the core: the file-format helpers of the gallery's export/import
// (gallery_export.cpp): base64, atomic file writes, the reference app's gallery.json.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vlrface::gallery_json {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not base64 (padding optional; no whitespace).
std::optional<std::string> base64_decode(std::string_view text);
// Error unless `out` is missing or a regular file (lstat: a symbolic link is refused as one).
void require_replaceable(const std::filesystem::path& out);
void write_file_atomically(const std::filesystem::path& out, std::string_view text);
// (name, image paths as written in the file) per entry, in file order; `file` names the
// document in messages.
using ReferenceEntries = std::vector<std::pair<std::string, std::vector<std::string>>>;
ReferenceEntries read_reference(const nlohmann::json& doc, const std::string& file);
ReferenceEntries read_reference(const std::filesystem::path& json_file);

}  // namespace vlrface::gallery_json
