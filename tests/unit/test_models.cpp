#include <gtest/gtest.h>

#include <cstdlib>

#include "test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

using vlrtest::TempDir;

namespace {
void write_manifest(const TempDir& d, const std::string& sha) {
  vlrtest::write_bytes(d / "tiny.json", R"({"name":"tiny","kind":"embedder","file":"tiny.onnx",
    "sha256":")" + sha + R"(","input":{"width":112,"height":112},
    "normalisation":{"scale":0.00784313725490196,"mean":[127.5,127.5,127.5],"swap_rb":true},
    "threshold":0.3})");
}
}  // namespace

TEST(Models, Sha256OfKnownBytes) {
  TempDir d;
  vlrtest::write_bytes(d / "abc", "abc");
  EXPECT_EQ(vlrface::sha256_file(d / "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Models, ManifestIsReadAndFileChecked) {
  TempDir d;
  vlrtest::write_bytes(d / "tiny.onnx", "abc");
  write_manifest(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  vlrface::ModelStore store(d.path());
  ASSERT_TRUE(store.has("tiny"));
  const auto& m = store.get("tiny");
  EXPECT_EQ(m.kind, "embedder");
  EXPECT_EQ(m.input_width, 112);
  EXPECT_TRUE(m.norm.swap_rb);
  EXPECT_DOUBLE_EQ(m.norm.mean[1], 127.5);
  EXPECT_EQ(m.id, "tiny/ba7816bf");
  EXPECT_EQ(store.names("embedder"), std::vector<std::string>{"tiny"});
}

TEST(Models, WrongOrMissingFileNamesTheFileAndTheFix) {
  TempDir d;
  write_manifest(d, std::string(64, '0'));
  vlrface::ModelStore store(d.path());
  try {
    store.get("tiny");
    FAIL();
  } catch (const vlrface::Error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("tiny.onnx"), std::string::npos) << w;
    EXPECT_NE(w.find("missing"), std::string::npos) << w;
    EXPECT_NE(w.find("setup.sh"), std::string::npos) << w;
  }
  vlrtest::write_bytes(d / "tiny.onnx", "truncated");
  try {
    store.get("tiny");
    FAIL();
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match"), std::string::npos) << e.what();
  }
  EXPECT_THROW(store.get("other"), vlrface::Error);
}

TEST(Models, BrokenManifestIsAnError) {
  TempDir d;
  vlrtest::write_bytes(d / "bad.json", "{not json");
  EXPECT_THROW(vlrface::ModelStore{d.path()}, vlrface::Error);
  TempDir e;
  vlrtest::write_bytes(e / "bad.json", R"({"name":"x"})");
  EXPECT_THROW(vlrface::ModelStore{e.path()}, vlrface::Error);
}

TEST(Models, DirectoryResolutionOrder) {
  EXPECT_EQ(vlrface::resolve_model_dir(std::filesystem::path("/a/b")), "/a/b");
  setenv("VLRFACE_MODELS", "/from/env", 1);
  EXPECT_EQ(vlrface::resolve_model_dir(std::nullopt), "/from/env");
  EXPECT_EQ(vlrface::resolve_model_dir(std::filesystem::path("/cli")), "/cli");
  unsetenv("VLRFACE_MODELS");
  const auto def = vlrface::resolve_model_dir(std::nullopt);
  EXPECT_EQ(def.filename(), "models");
  EXPECT_EQ(def.parent_path().filename(), "vlrface");
}

TEST(Models, OldThresholdFormatIsRefusedNamingTheFile) {
  TempDir d;
  vlrtest::write_bytes(d / "m.onnx", "abc");
  vlrtest::write_bytes(d / "m.json", R"({"name":"m","kind":"embedder","file":"m.onnx",
    "sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "threshold":0.31,"thresholds":{"112":0.30,"16":0.36}})");
  try {
    const vlrface::ModelStore store(d.path());
    FAIL() << "thresholds keyed by resolution alone must be refused";
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.json"), std::string::npos) << e.what();
  }
}
