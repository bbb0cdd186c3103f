// Where model tests find models and datasets; each test skips with the reason when absent.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include "vlrface/models.hpp"

namespace vlrtest {

// $VLRFACE_MODELS, else the build tree's prepared models.
inline std::filesystem::path model_dir() {
  if (const char* e = std::getenv("VLRFACE_MODELS"); e && *e) return e;
  return VLRFACE_BUILD_MODELS;
}

// $VLRFACE_DATA/<name>, or nullopt.
inline std::optional<std::filesystem::path> dataset(const std::string& name) {
  const char* e = std::getenv("VLRFACE_DATA");
  if (!e || !*e) return std::nullopt;
  const auto p = std::filesystem::path(e) / name;
  if (!std::filesystem::is_directory(p)) return std::nullopt;
  return p;
}

// CI sets VLRFACE_REQUIRE_MODELS=1 so that a missing model or dataset fails instead of skipping.
inline bool models_required() {
  const char* e = std::getenv("VLRFACE_REQUIRE_MODELS");
  return e && *e && std::string(e) != "0";
}

}  // namespace vlrtest

// Skips the test with the reason, or fails it where models are required.
#define VLR_MISSING(message)                                 \
  do {                                                       \
    std::ostringstream vlr_reason;                           \
    vlr_reason << message;                                   \
    if (vlrtest::models_required()) {                        \
      FAIL() << "VLRFACE_REQUIRE_MODELS is set: " << vlr_reason.str(); \
    } else {                                                 \
      GTEST_SKIP() << vlr_reason.str();                      \
    }                                                        \
  } while (0)

#define VLR_REQUIRE_MODEL(store, name)                                                      \
  if (!(store).has(name))                                                                   \
  VLR_MISSING("model '" << (name) << "' not prepared in " << (store).dir()                  \
                        << " (run scripts/setup.sh or set VLRFACE_MODELS)")

#define VLR_REQUIRE_DATASET(var, name)                                                      \
  const auto var##_opt = vlrtest::dataset(name);                                            \
  if (!var##_opt)                                                                           \
    VLR_MISSING("dataset '" << (name) << "' not found: set VLRFACE_DATA to the folder that " \
                            << "holds it (e.g. ../shared/datasets)");                       \
  const std::filesystem::path var = *var##_opt
