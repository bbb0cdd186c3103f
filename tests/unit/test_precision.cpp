// Precision names and lists, and the manifest's default precision (no model file needed).
#include <gtest/gtest.h>

#include "test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"
#include "vlrface/precision.hpp"

using vlrface::Precision;
using vlrtest::TempDir;

TEST(Precision, NamesRoundTrip) {
  for (Precision p : {Precision::kFp32, Precision::kInt8}) {
    EXPECT_EQ(vlrface::parse_precision(vlrface::to_string(p)), p);
  }
  EXPECT_EQ(vlrface::precision_from_string("fp16"), std::nullopt);
  EXPECT_EQ(vlrface::precision_from_string("INT8"), std::nullopt);
}

TEST(Precision, BadNameNamesTheOption) {
  try {
    vlrface::parse_precision("int4", "--precision");
    FAIL();
  } catch (const vlrface::Error& e) {
    EXPECT_EQ(e.stage(), "cli");
    EXPECT_NE(std::string(e.what()).find("--precision: 'int4'"), std::string::npos) << e.what();
  }
}

TEST(Precision, ListKeepsOrderAndDropsDuplicates) {
  EXPECT_EQ(vlrface::parse_precision_list("int8,fp32,int8"),
            (std::vector<Precision>{Precision::kInt8, Precision::kFp32}));
  EXPECT_EQ(vlrface::parse_precision_list("fp32"), std::vector<Precision>{Precision::kFp32});
  EXPECT_THROW(vlrface::parse_precision_list(""), vlrface::Error);
  EXPECT_THROW(vlrface::parse_precision_list("fp32,"), vlrface::Error);
  EXPECT_THROW(vlrface::parse_precision_list("fp32,,int8"), vlrface::Error);
}

// Absent means fp32, so manifests written before the field existed keep working.
TEST(Precision, ManifestPrecisionIsReadAndChecked) {
  TempDir d;
  vlrtest::write_bytes(d / "m.onnx", "abc");
  const std::string sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  auto manifest = [&](const std::string& extra) {
    vlrtest::write_bytes(
        d / "m.json",
        R"({"name":"m","kind":"detector","file":"m.onnx","sha256":")" + sha + "\"" + extra + "}");
  };
  manifest("");
  EXPECT_EQ(vlrface::ModelStore(d.path()).get("m").precision, Precision::kFp32);
  manifest(R"(,"precision":"int8","precision_source":"docs/BENCHMARKS.md")");
  {
    vlrface::ModelStore store(d.path());
    EXPECT_EQ(store.get("m").precision, Precision::kInt8);
    EXPECT_EQ(store.get("m").precision_source, "docs/BENCHMARKS.md");
  }
  manifest(R"(,"precision":"int4")");
  try {
    vlrface::ModelStore store(d.path());
    FAIL();
  } catch (const vlrface::Error& e) {
    EXPECT_EQ(e.stage(), "models");
    const std::string w = e.what();
    EXPECT_NE(w.find("m.json"), std::string::npos) << w;
    EXPECT_NE(w.find("int4"), std::string::npos) << w;
  }
}
