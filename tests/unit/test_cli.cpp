// The CLI's behaviour on bad input, without any model file.
#include <gtest/gtest.h>

#include "test_util.hpp"

using vlrtest::run_cli;
using vlrtest::TempDir;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST(Cli, HelpShowsSubcommandsAndDefaults) {
  auto r = run_cli("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* c : {"enroll", "identify", "verify", "gallery", "--models", "--threads"}) {
    EXPECT_TRUE(contains(r.output, c)) << c << "\n" << r.output;
  }
  r = run_cli("identify --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.output, "full")) << r.output;
  EXPECT_TRUE(contains(r.output, "bicubic")) << r.output;
}

TEST(Cli, UsageErrorsAreNonZero) {
  EXPECT_NE(run_cli("").status, 0);
  EXPECT_NE(run_cli("frobnicate").status, 0);
  EXPECT_NE(run_cli("identify").status, 0);
}

TEST(Cli, MissingModelsNameTheModelAndTheFix) {
  TempDir d;
  const auto r = run_cli("--models " + (d / "none").string() + " --gallery " +
                         (d / "g.vlrg").string() + " enroll alice " + (d / "x.jpg").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "edgeface_xxs")) << r.output;
  EXPECT_TRUE(contains(r.output, "setup.sh")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(d / "g.vlrg")) << "nothing may be written on failure";
}

TEST(Cli, BadNamesAndResolutionsAreRejectedBeforeAnyWork) {
  TempDir d;
  for (const char* name : {"''", "a/b", "..", "' lead'"}) {
    const auto r = run_cli("--models " + (d / "none").string() + " enroll " + name + " x.jpg");
    EXPECT_EQ(r.status, 1) << name;
    EXPECT_TRUE(contains(r.output, "name")) << name << ": " << r.output;
  }
  const auto r = run_cli("--models " + (d / "none").string() + " identify x.jpg --res 3");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--res")) << r.output;
  EXPECT_TRUE(contains(r.output, "'3'")) << r.output;
}

TEST(Cli, ThresholdsMustBeCosines) {
  TempDir d;
  for (const char* t : {"2", "-1.5", "nan", "inf", "0.3x", "''"}) {
    for (const std::string cmd : {"identify x.jpg", "verify a.jpg b.jpg"}) {
      const auto r = run_cli("--models " + (d / "none").string() + " " + cmd + " --threshold " + t);
      EXPECT_NE(r.status, 0) << cmd << " --threshold " << t;
      EXPECT_TRUE(contains(r.output, "a number from -1 to 1")) << t << ": " << r.output;
      EXPECT_FALSE(contains(r.output, "edgeface")) << "refused before models: " << r.output;
    }
  }
  // In range: accepted by the parser (then the missing models are the error).
  const auto ok = run_cli("--models " + (d / "none").string() + " identify x.jpg --threshold 0.4");
  EXPECT_FALSE(contains(ok.output, "a number from -1 to 1")) << ok.output;
}

TEST(Cli, BadPrecisionsAreRejectedBeforeAnyWork) {
  TempDir d;
  const std::string models = "--models " + (d / "none").string();
  auto r = run_cli(models + " eval --dataset " + (d / "absent").string() + " --precision int4");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--precision: 'int4'")) << r.output;
  r = run_cli(models + " eval --dataset " + (d / "absent").string() + " --detector-precision fp16");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--detector-precision: 'fp16'")) << r.output;
  r = run_cli(models + " bench --precision fp32,int4");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--precision: 'int4'")) << r.output;
  r = run_cli("bench --help");
  EXPECT_TRUE(contains(r.output, "--precision")) << r.output;
  EXPECT_TRUE(contains(r.output, "--calibration")) << r.output;
}

TEST(Cli, MissingAndCorruptGalleriesAreClearErrors) {
  TempDir d;
  auto r = run_cli("--gallery " + (d / "absent.vlrg").string() + " gallery list");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "absent.vlrg")) << r.output;
  vlrtest::write_bytes(d / "junk.vlrg", std::string(4096, 'x'));
  r = run_cli("--gallery " + (d / "junk.vlrg").string() + " gallery list");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "junk.vlrg")) << r.output;
  EXPECT_EQ(vlrtest::read_bytes(d / "junk.vlrg"), std::string(4096, 'x'));
}
