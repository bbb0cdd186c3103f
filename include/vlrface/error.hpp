// vlrface/error.hpp — the one exception type of the core library.
//
// Usage: throw vlrface::Error("gallery", "'g.db' is not a vlrface gallery");
//        catch (const vlrface::Error& e) { std::cerr << e.what(); }  // "gallery: 'g.db' is ..."
// Every failure inside the core is raised as Error with the stage that failed, so the edges (CLI,
// server) can print one line naming the stage and the file. "No face" is never an error.
// Thread safety: immutable value type.
#pragma once

#include <stdexcept>
#include <string>

namespace vlrface {

class Error : public std::runtime_error {
 public:
  Error(std::string stage, const std::string& message)
      : std::runtime_error(stage + ": " + message), stage_(std::move(stage)) {}
  const std::string& stage() const noexcept { return stage_; }

 private:
  std::string stage_;
};

}  // namespace vlrface
