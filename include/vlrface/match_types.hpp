// vlrface/match_types.hpp — what a matcher answers (Matcher, Float32Matcher).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace vlrface {

struct Candidate {
  std::string name;
  float similarity = 0;
};

// Which first pass Matcher runs (match.hpp): chosen by gallery size unless a benchmark or a test
// asks for one.
enum class ScanMode { kAuto, kInt8, kCoarse };

struct MatchOptions {
  int top_k = 5;
  float threshold = 0.35f;  // at or below it, the best candidate is "unknown" (same iff >)
  ScanMode scan = ScanMode::kAuto;
};

struct MatchResult {
  std::optional<std::string> name;  // empty: unknown (or empty gallery)
  float similarity = 0;             // of the best candidate, even when unknown
  std::vector<Candidate> top;       // best first, at most top_k
};

}  // namespace vlrface
