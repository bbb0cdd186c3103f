// The CLI's behaviour on bad input, without any model file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

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

TEST(Cli, AnUnknownCommandIsNamed) {
  auto r = run_cli("--threads 1 frob x.jpg");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.output, "unknown command 'frob'")) << r.output;
  // Option values and known commands are not mistaken for it.
  r = run_cli("--gallery=frob --models frob2 --version");
  EXPECT_EQ(r.status, 0) << r.output;
  // A flag takes no value: the word after it is looked at.
  r = run_cli("-q --threads 1 frob");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.output, "unknown command 'frob'")) << r.output;
  r = run_cli("-q -v --gallery frob --version");
  EXPECT_EQ(r.status, 0) << r.output;
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

TEST(Cli, GlobalOptionsWorkAfterTheSubcommand) {
  TempDir d;
  const std::string none = (d / "none-after").string();
  // --models after the subcommand is the one used: the error names that directory.
  auto r = run_cli("verify a.jpg b.jpg --models " + none);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, none)) << r.output;
  EXPECT_FALSE(contains(r.output, "extra")) << "not an unknown argument: " << r.output;
  // --gallery (and -v, -q) after a nested subcommand.
  r = run_cli("gallery list -v -q --gallery " + (d / "after.vlrg").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "after.vlrg")) << r.output;
  r = run_cli("enroll alice x.jpg --threads -1 --models " + none);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--threads must be >= 0")) << r.output;
  // Still refused: an option nobody knows.
  r = run_cli("identify x.jpg --frobnicate");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.output, "frobnicate")) << r.output;
  EXPECT_TRUE(contains(run_cli("--help").output, "may also follow the subcommand"));
}

TEST(Cli, EnrollHelpStatesTheRulesAndTheExitStatus) {
  const auto r = run_cli("enroll --help");
  EXPECT_EQ(r.status, 0);
  for (const char* s : {"--add", "--from-folders", "Exit status", "3 enrolled, but some files",
                        "several faces", "unreadable"}) {
    EXPECT_TRUE(contains(r.output, s)) << s << "\n" << r.output;
  }
}

TEST(Cli, EnrollUsageErrorsComeBeforeAnyWork) {
  TempDir d;
  const std::string models = "--models " + (d / "none").string();
  auto r = run_cli(models + " enroll alice");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "needs a name and images")) << r.output;
  std::filesystem::create_directories(d / "people" / "bob");
  r = run_cli(models + " enroll alice x.jpg --from-folders " + (d / "people").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "takes no name or images")) << r.output;
  r = run_cli(models + " enroll --from-folders " + (d / "people" / "bob").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "has no sub-folders")) << r.output;
  // Folder names that cannot be person names are all listed, before models are looked at.
  for (const char* bad : {"unknown", "NULL"}) {
    std::filesystem::create_directories(d / "people" / bad);
    vlrtest::write_bytes(d / "people" / bad / "1.jpg", "x");
  }
  r = run_cli(models + " enroll --from-folders " + (d / "people").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "people/unknown")) << r.output;
  EXPECT_TRUE(contains(r.output, "people/NULL")) << r.output;
  EXPECT_FALSE(contains(r.output, "edgeface")) << "before any model: " << r.output;
  // A folder of people given as one person's images: the message points to --from-folders.
  std::filesystem::remove_all(d / "people" / "unknown");
  std::filesystem::remove_all(d / "people" / "NULL");
  vlrtest::write_bytes(d / "people" / "bob" / "1.jpg", "x");
  r = run_cli(models + " enroll alice " + (d / "people").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, "--from-folders")) << r.output;
}

// A manifest that cannot be read names the file and the system's reason, not "not valid JSON".
TEST(Cli, UnreadableManifestSaysWhy) {
  TempDir d;
  std::filesystem::create_directories(d / "models" / "yunet.json");  // a folder in its place
  auto r = run_cli("--models " + (d / "models").string() + " identify x.jpg");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.output, (d / "models" / "yunet.json").string() + ": cannot be read: is a directory"))
      << r.output;
  EXPECT_FALSE(contains(r.output, "JSON")) << r.output;

  // Another user's 0600 manifest: the real permission check. Root passes every permission
  // check, so as root the CLI runs as 'nobody' (setpriv, util-linux) to meet the same refusal.
  std::filesystem::remove(d / "models" / "yunet.json");
  std::filesystem::permissions(d.path(), std::filesystem::perms::all);  // traversable by nobody
  std::filesystem::permissions(d / "models", std::filesystem::perms::all);
  vlrtest::write_bytes(d / "models" / "yunet.json", "{\"name\": \"yunet\"}");
  std::filesystem::permissions(d / "models" / "yunet.json", std::filesystem::perms::none);
  const std::string as_other = ::geteuid() == 0
                                   ? "setpriv --reuid=65534 --regid=65534 --clear-groups"
                                   : "";
  r = run_cli("--models " + (d / "models").string() + " identify x.jpg", as_other);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, (d / "models" / "yunet.json").string() + ": cannot be read: permission denied"))
      << r.output;
  EXPECT_FALSE(contains(r.output, "JSON")) << r.output;
}
