// vlrface/precision.hpp — the numeric precision a network runs in: float32 or OpenCV's int8.
//
// Usage:
//   vlrface::Precision p = vlrface::parse_precision("int8", "--precision");  // or Error("cli")
//   std::string s = vlrface::to_string(p);                     // "int8"
// int8 networks come from cv::dnn::Net::quantize on calibration inputs the caller supplies
// (EmbedderOptions, DetectorOptions). OpenCV 4.6 quantizes in memory only and lacks int8 versions
// of some layers, so whether a model quantizes is found out by trying (docs/BENCHMARKS.md).
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vlrface {

enum class Precision { kFp32, kInt8 };

std::string to_string(Precision p);

// "fp32" or "int8"; nullopt for anything else.
std::optional<Precision> precision_from_string(std::string_view text);

// As above, but throws Error("cli", ...) naming `what` (the option) for anything else.
Precision parse_precision(std::string_view text, const std::string& what = "precision");

// A comma-separated list ("fp32,int8"), duplicates dropped, order kept; empty text is an error.
std::vector<Precision> parse_precision_list(std::string_view text,
                                            const std::string& what = "precision");

}  // namespace vlrface
