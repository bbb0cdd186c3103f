#include "vlrface/precision.hpp"

#include <algorithm>

#include "vlrface/error.hpp"

namespace vlrface {

std::string to_string(Precision p) {
  return p == Precision::kInt8 ? "int8" : "fp32";
}

std::optional<Precision> precision_from_string(std::string_view text) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "int8") return Precision::kInt8;
  return std::nullopt;
}

Precision parse_precision(std::string_view text, const std::string& what) {
  if (const auto p = precision_from_string(text)) return *p;
  throw Error("cli", what + ": '" + std::string(text) + "' is not a precision (fp32 or int8)");
}

std::vector<Precision> parse_precision_list(std::string_view text, const std::string& what) {
  std::vector<Precision> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const Precision p = parse_precision(text.substr(start, comma - start), what);
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace vlrface
