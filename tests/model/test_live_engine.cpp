// The live engine on the real models: a video of an ORL person pasted into 640x480 frames is
// recognised, settings switch while running, faces are captured for enrolment, and a source that
// is not there is retried without a crash.
#include <gtest/gtest.h>
#include <sqlite3.h>

// vlrface_live's headers are on the include path only once this executable links vlrface_live
// (tests/CMakeLists.txt); until then the file compiles to one skipped test.
#if __has_include("live_engine.hpp")

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <thread>

#include "live_engine.hpp"
#include "model_env.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/pipeline.hpp"

namespace {

namespace fs = std::filesystem;
using vlrface::live::LiveEngine;
using vlrface::live::LiveSettings;
using vlrface::live::Snapshot;
using vlrface::live::SourceSpec;
using Clock = std::chrono::steady_clock;

class ScratchDir {
 public:
  ScratchDir() {
    path_ = fs::temp_directory_path() / ("vlrface-live-" + std::to_string(std::random_device{}()));
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

bool have_ffmpeg() {
  return std::system("ffmpeg -version >/dev/null 2>&1") == 0;
}

void write_png(const fs::path& p, const cv::Mat& m) {
  const auto bytes = vlrface::encode_png(m);
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// A 10 fps MJPEG video: ORL images 4..10 of `person` (never enrolled), each for 3 frames, pasted
// at a fixed place on a grey 640x480 background and enlarged by `scale`.
fs::path make_orl_video(const fs::path& orl, const std::string& person, double scale,
                        const fs::path& dir, double blur_sigma = 0) {
  const fs::path frames = dir / ("frames-" + person + (blur_sigma > 0 ? "-blurred" : ""));
  fs::create_directories(frames);
  int k = 0;
  for (int n = 4; n <= 10; ++n) {
    cv::Mat face = vlrface::load_image(orl / "images" / person / (std::to_string(n) + ".jpg"));
    if (scale != 1) cv::resize(face, face, cv::Size(), scale, scale, cv::INTER_CUBIC);
    if (blur_sigma > 0) cv::GaussianBlur(face, face, cv::Size(), blur_sigma);
    cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(110, 110, 110));
    face.copyTo(frame(cv::Rect(240, 60, face.cols, face.rows)));
    for (int r = 0; r < 3; ++r) {
      char name[32];
      std::snprintf(name, sizeof name, "%03d.png", k++);
      write_png(frames / name, frame);
    }
  }
  const fs::path out = dir / (person + (blur_sigma > 0 ? "-blurred" : "") + ".avi");
  const std::string cmd = "ffmpeg -nostdin -v error -y -framerate 10 -i '" +
                          (frames / "%03d.png").string() + "' -c:v mjpeg -q:v 2 '" + out.string() +
                          "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return out;
}

// Enrols s01..s10 from their images 1..3, as `vlrface enroll` does.
void enrol_orl(const vlrface::ModelStore& store, const fs::path& orl, const fs::path& gallery) {
  vlrface::Pipeline p(store, {});
  vlrface::Gallery g(gallery, p.model_id());
  for (int id = 1; id <= 10; ++id) {
    char name[8];
    std::snprintf(name, sizeof name, "s%02d", id);
    std::vector<vlrface::EnrollFace> faces;
    for (int n = 1; n <= 3; ++n) {
      const auto file = orl / "images" / name / (std::to_string(n) + ".jpg");
      const auto r = p.process(vlrface::load_image(file));
      ASSERT_EQ(r.size(), 1u) << file;
      faces.push_back({r[0].aligned, p.embed_full(r[0].aligned), file.string()});
    }
    g.enroll(name, faces);
  }
}

// Waits (up to `seconds`) for a snapshot satisfying `ok`; the last one seen otherwise. Polls
// often: a source state (a new snapshot without a new frame) can be short-lived.
template <typename Pred>
std::shared_ptr<const Snapshot> wait_for(const LiveEngine& e, double seconds, Pred ok) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  auto s = e.snapshot();
  while (Clock::now() < until) {
    s = e.wait_snapshot(s->frame_number, 50);
    if (ok(*s)) return s;
  }
  return s;
}

LiveSettings at_resolution(int r) {
  LiveSettings s;
  s.mode = "simulate";
  s.resolution = r;
  return s;
}

bool shows(const Snapshot& s, const std::string& name) {
  return std::any_of(s.faces.begin(), s.faces.end(),
                     [&](const auto& f) { return f.name && *f.name == name; });
}

class LiveEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VLR_REQUIRE_MODEL(store_, "edgeface_xxs");
    VLR_REQUIRE_MODEL(store_, "yunet");
    VLR_REQUIRE_DATASET(orl, "orl");
    if (!have_ffmpeg()) VLR_MISSING("the ffmpeg program is not installed (Debian package ffmpeg)");
    orl_ = orl;
    gallery_ = dir_ / "gallery.vlrg";
    enrol_orl(store_, orl_, gallery_);
  }

  vlrface::ModelStore store_{vlrtest::model_dir()};
  ScratchDir dir_;
  fs::path orl_, gallery_;

  // Enrols ORL's s11 from images 1-3 into gallery_; returns the model id.
  std::string enrol_s11() {
    vlrface::Pipeline p(store_, {});
    vlrface::Gallery g(gallery_, p.model_id());
    std::vector<vlrface::EnrollFace> faces;
    for (int n = 1; n <= 3; ++n) {
      const auto r =
          p.process(vlrface::load_image(orl_ / "images/s11" / (std::to_string(n) + ".jpg")));
      EXPECT_EQ(r.size(), 1u);
      if (r.size() == 1) faces.push_back({r[0].aligned, p.embed_full(r[0].aligned), "s11"});
    }
    g.enroll("s11", faces);
    return p.model_id();
  }
};

TEST_F(LiveEngineTest, RecognisesThePersonAndSwitchesSettingsWhileRunning) {
  const fs::path video = make_orl_video(orl_, "s01", 1.0, dir_ / "v");
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.loop = true;
  LiveEngine engine(store_, gallery_, at_resolution(32), spec);
  EXPECT_EQ(engine.snapshot()->source_state, "stopped");
  engine.start();

  auto s = wait_for(engine, 60, [](const Snapshot& s) { return shows(s, "s01"); });
  ASSERT_TRUE(shows(*s, "s01")) << "state: " << s->source_state;
  EXPECT_EQ(s->source_state, "running");
  EXPECT_EQ(s->frame.size(), cv::Size(640, 480));
  EXPECT_FALSE(s->source_down_since.has_value());
  EXPECT_TRUE(s->source_error.empty()) << s->source_error;
  EXPECT_EQ(s->source_failures, 0) << "a source that never failed";
  ASSERT_EQ(s->faces.size(), 1u);
  const auto& face = s->faces[0];
  EXPECT_EQ(face.lowres.size(), cv::Size(32, 32));
  EXPECT_EQ(face.upscaled.size(), cv::Size(112, 112));
  ASSERT_FALSE(face.top.empty());
  EXPECT_EQ(face.top[0].name, "s01");
  EXPECT_GT(face.similarity, engine.default_threshold());
  EXPECT_GT(s->times.detect_ms, 0);
  EXPECT_GT(s->times.embed_ms, 0);
  const std::int64_t track = face.track_id;

  // Resolution switch: the next frames are degraded to 16 px, the person is still found.
  LiveSettings st = engine.settings();
  st.resolution = 16;
  engine.update_settings(st);
  EXPECT_EQ(engine.settings().resolution, 16);
  s = wait_for(engine, 30,
               [](const Snapshot& s) { return !s.faces.empty() && s.faces[0].lowres.cols == 16; });
  ASSERT_FALSE(s->faces.empty());
  EXPECT_EQ(s->faces[0].lowres.size(), cv::Size(16, 16));
  EXPECT_EQ(s->faces[0].track_id, track) << "the same face keeps its track";

  // Native mode: the ~86 px face is above the recovery cut-off and goes to the base embedder
  // as the camera gives it; its measured size and the path that ran are reported.
  st.mode = "native";
  engine.update_settings(st);
  s = wait_for(engine, 30, [](const Snapshot& s) {
    return !s.faces.empty() && s.faces[0].recovery == "base" && s.faces[0].name;
  });
  ASSERT_FALSE(s->faces.empty());
  EXPECT_EQ(s->faces[0].recovery, "base");
  EXPECT_GT(s->faces[0].native_px, 60);
  EXPECT_EQ(s->faces[0].working_px, 0);
  EXPECT_EQ(s->faces[0].upscaled.size(), cv::Size(112, 112));
  EXPECT_TRUE(shows(*s, "s01"));

  // Verification against one person only.
  st = at_resolution(32);
  st.task = "verify";
  st.verify_name = "s02";
  engine.update_settings(st);
  s = wait_for(engine, 30, [](const Snapshot& s) {
    return !s.faces.empty() && s.faces[0].top.size() == 1 && s.faces[0].top[0].name == "s02";
  });
  ASSERT_FALSE(s->faces.empty());
  ASSERT_EQ(s->faces[0].top.size(), 1u);
  EXPECT_LT(s->faces[0].top[0].similarity, engine.default_threshold());
  EXPECT_FALSE(s->faces[0].name) << "s01 is not s02";
  st.verify_name = "s01";
  engine.update_settings(st);
  s = wait_for(engine, 30, [](const Snapshot& s) { return shows(s, "s01"); });
  EXPECT_TRUE(shows(*s, "s01"));

  // Invalid settings are refused and change nothing.
  EXPECT_THROW(engine.update_settings(at_resolution(200)), vlrface::Error);
  LiveSettings bad;
  bad.mode = "dream";
  EXPECT_THROW(engine.update_settings(bad), vlrface::Error);
  bad = {};
  bad.task = "verify";
  bad.verify_name = "nobody";
  EXPECT_THROW(engine.update_settings(bad), vlrface::Error);
  EXPECT_EQ(engine.settings().verify_name, "s01");
  EXPECT_GT(engine.snapshot()->fps, 0);

  const auto t0 = Clock::now();
  engine.stop();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
  EXPECT_EQ(engine.snapshot()->source_state, "stopped");
}

TEST_F(LiveEngineTest, ReloadedGalleryIsUsedAtOnce) {
  const fs::path video = make_orl_video(orl_, "s11", 1.0, dir_ / "v");
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.loop = true;
  LiveEngine engine(store_, gallery_, at_resolution(32), spec);
  engine.start();
  auto s = wait_for(engine, 20, [](const Snapshot& s) { return s.frame_number >= 10; });
  EXPECT_FALSE(shows(*s, "s11")) << "not enrolled yet";
  enrol_s11();
  engine.reload_gallery();
  s = wait_for(engine, 30, [](const Snapshot& s) { return shows(s, "s11"); });
  EXPECT_TRUE(shows(*s, "s11"));
}

// Reloads follow the open gallery by its changes: a removal reaches the engine, and a gallery
// whose stored model changed meanwhile (re-embedded by another build) is refused by name, not
// read as if its embeddings were this model's.
TEST_F(LiveEngineTest, ReloadsFollowRemovalsAndRefuseAnotherModel) {
  const fs::path video = make_orl_video(orl_, "s11", 1.0, dir_ / "v");
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.loop = true;
  LiveEngine engine(store_, gallery_, at_resolution(32), spec);
  const std::string model = enrol_s11();
  engine.reload_gallery();
  ASSERT_TRUE(engine.matcher()->contains("s11"));
  vlrface::Gallery(gallery_, model).remove_person("s11");
  engine.reload_gallery();
  EXPECT_FALSE(engine.matcher()->contains("s11")) << "a removal must reach the engine";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(gallery_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE meta SET value = 'other_model/00000000' WHERE key = 'model_id'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  try {
    engine.reload_gallery();
    ADD_FAILURE() << "a gallery of another model was reloaded";
  } catch (const vlrface::Error& e) {
    EXPECT_NE(std::string(e.what()).find("other_model"), std::string::npos) << e.what();
  }
}

// Requests borrow the engine's networks between frames (vlrface serve's uploads): the results
// are those of a pipeline of their own, and the live view keeps its resolution afterwards.
TEST_F(LiveEngineTest, LendsItsModelsBetweenFrames) {
  const fs::path video = make_orl_video(orl_, "s01", 1.0, dir_ / "v");
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.loop = true;
  LiveEngine engine(store_, gallery_, at_resolution(32), spec);
  const cv::Mat photo = vlrface::load_image(orl_ / "images/s03/5.jpg");
  vlrface::Pipeline own(store_, {.resolution = 16, .upscaler = "bicubic", .adapter = false});
  const auto expected = own.process(photo);
  ASSERT_EQ(expected.size(), 1u);

  const auto borrow = [&] {
    std::vector<vlrface::FaceResult> got;
    engine.with_models([&](vlrface::Pipeline& p, vlrface::Detector& d) {
      EXPECT_EQ(p.config().resolution, 32);
      p.set_resolution(16, "bicubic", false);
      got = p.process(photo, d.detect(photo));
    });
    return got;
  };
  auto got = borrow();  // before start(): no processing thread to wait for
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].lowres.size(), cv::Size(16, 16));
  EXPECT_NEAR(cv::norm(got[0].embedding, expected[0].embedding), 0, 1e-4);

  engine.start();
  auto s = wait_for(engine, 60, [](const Snapshot& s) { return shows(s, "s01"); });
  ASSERT_TRUE(shows(*s, "s01"));
  for (int i = 0; i < 3; ++i) {
    got = borrow();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NEAR(cv::norm(got[0].embedding, expected[0].embedding), 0, 1e-4);
  }
  // A throwing request also hands the models back as they were.
  EXPECT_THROW(engine.with_models([](vlrface::Pipeline& p, vlrface::Detector&) {
    p.set_resolution(24, "bicubic");
    throw vlrface::Error("test", "request failed");
  }),
               vlrface::Error);
  const std::uint64_t after = engine.snapshot()->frame_number;
  s = wait_for(engine, 30, [&](const Snapshot& s) {
    return s.frame_number > after + 2 && !s.faces.empty();
  });
  ASSERT_FALSE(s->faces.empty());
  EXPECT_EQ(s->faces[0].lowres.size(), cv::Size(32, 32)) << "the live view keeps 32 px";
  EXPECT_TRUE(shows(*s, "s01"));
  engine.with_models([](vlrface::Pipeline& p, vlrface::Detector&) {
    EXPECT_EQ(p.config().resolution, 32);
  });
}

// With more than one inference thread detection of the next frame runs beside recognition of
// this one; with one the stages take turns. Either way frames come out in capture order, each
// once, with a latency that covers both stages, and the person is recognised.
TEST_F(LiveEngineTest, DetectionOverlapsRecognitionOnlyWithSeveralThreads) {
  const fs::path video = make_orl_video(orl_, "s01", 1.0, dir_ / "v");
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.loop = true;
  const int before = vlrface::inference_threads();
  struct Restore {
    int threads;
    ~Restore() { vlrface::set_inference_threads(threads); }
  } restore{before};
  for (const int threads : {1, 2}) {
    SCOPED_TRACE("inference threads " + std::to_string(threads));
    vlrface::set_inference_threads(threads);
    LiveEngine engine(store_, gallery_, at_resolution(16), spec);
    engine.start();
    auto s = wait_for(engine, 60, [](const Snapshot& s) { return shows(s, "s01"); });
    ASSERT_TRUE(shows(*s, "s01")) << "state: " << s->source_state;
    EXPECT_EQ(s->pipeline_depth, threads > 1 ? 2 : 1);
    std::uint64_t last_frame = s->frame_number;
    double last_time = s->timestamp;
    int seen = 0;
    const auto until = Clock::now() + std::chrono::seconds(3);
    while (Clock::now() < until) {
      s = engine.wait_snapshot(last_frame, 200);
      if (s->frame_number == last_frame) continue;
      EXPECT_GT(s->frame_number, last_frame);
      EXPECT_GT(s->timestamp, last_time) << "a frame captured earlier was published later";
      EXPECT_GE(s->latency_ms, s->times.detect_ms + s->times.embed_ms);
      last_frame = s->frame_number;
      last_time = s->timestamp;
      ++seen;
    }
    EXPECT_GT(seen, 5);
    engine.stop();
  }
}

TEST_F(LiveEngineTest, CapturesSharpFrontalFacesForEnrolment) {
  // Enlarged twice, the eyes are ~55 px apart: large enough to enrol from.
  const fs::path video = make_orl_video(orl_, "s12", 2.0, dir_ / "v");
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.loop = true;
  LiveEngine engine(store_, gallery_, {}, spec);
  EXPECT_THROW(engine.capture_faces(3, 100), vlrface::Error) << "not started";
  engine.start();
  std::vector<std::pair<int, int>> progress;
  const auto faces =
      engine.capture_faces(3, 60000, [&](int done, int n) { progress.emplace_back(done, n); });
  ASSERT_EQ(faces.size(), 3u);
  for (const cv::Mat& f : faces) {
    EXPECT_EQ(f.size(), cv::Size(112, 112));
    EXPECT_EQ(f.type(), CV_8UC3);
  }
  EXPECT_EQ(progress, (std::vector<std::pair<int, int>>{{1, 3}, {2, 3}, {3, 3}}));
}

TEST_F(LiveEngineTest, SmallOrBlurredFacesAreNotCapturedForEnrolment) {
  for (const auto& [scale, blur] : {std::pair{1.0, 0.0}, std::pair{2.0, 3.0}}) {
    // Small: eyes ~27 px apart. Blurred: large enough, but a blur of 3 px.
    const fs::path video = make_orl_video(orl_, "s12", scale, dir_ / "v", blur);
    SourceSpec spec = SourceSpec::parse(video.string());
    spec.loop = true;
    LiveEngine engine(store_, gallery_, {}, spec);
    engine.start();
    wait_for(engine, 20, [](const Snapshot& s) { return !s.faces.empty(); });
    EXPECT_TRUE(engine.capture_faces(2, 1500).empty()) << "scale " << scale << " blur " << blur;
  }
}

TEST_F(LiveEngineTest, MissingSourceIsRetriedAndPickedUpWhenItAppears) {
  const fs::path video = make_orl_video(orl_, "s01", 1.0, dir_ / "v");
  SourceSpec spec;
  spec.kind = SourceSpec::Kind::kVideoFile;
  spec.location = (dir_ / "later.avi").string();  // not there yet
  spec.loop = true;
  LiveEngine engine(store_, gallery_, at_resolution(24), spec);
  engine.start();
  auto s = wait_for(engine, 20,
                    [](const Snapshot& s) { return s.source_state.rfind("retrying in ", 0) == 0; });
  ASSERT_EQ(s->source_state.rfind("retrying in ", 0), 0u) << s->source_state;
  EXPECT_NE(s->source_state.find("later.avi"), std::string::npos) << s->source_state;
  EXPECT_TRUE(s->frame.empty());
  // Down since the first failure, with the error, counted once however often it is retried.
  ASSERT_TRUE(s->source_down_since.has_value());
  const auto down_since = *s->source_down_since;
  EXPECT_LE(down_since, std::chrono::system_clock::now());
  EXPECT_NE(s->source_error.find("later.avi"), std::string::npos) << s->source_error;
  EXPECT_EQ(s->source_error.find("retrying"), std::string::npos) << s->source_error;
  EXPECT_EQ(s->source_failures, 1);
  // The back-off grows while the source stays away (0.5 s, 1 s, 2 s, ...).
  const auto delay = [](const Snapshot& s) {
    return s.source_state.rfind("retrying in ", 0) == 0 ? std::stod(s.source_state.substr(12))
                                                        : 0.0;
  };
  const double first = delay(*s);
  EXPECT_GE(first, 0.5);
  s = wait_for(engine, 20, [&](const Snapshot& s) { return delay(s) > first; });
  EXPECT_GT(delay(*s), first) << s->source_state;
  ASSERT_TRUE(s->source_down_since.has_value());
  EXPECT_EQ(*s->source_down_since, down_since) << "the outage began at the first failure";
  EXPECT_EQ(s->source_failures, 1);

  fs::copy_file(video, dir_ / "later.avi");
  s = wait_for(engine, 30, [](const Snapshot& s) { return s.frame_number > 0; });
  EXPECT_EQ(s->source_state, "running");
  EXPECT_EQ(s->frame.size(), cv::Size(640, 480));
  EXPECT_FALSE(s->source_down_since.has_value()) << "running again: not down";
  EXPECT_TRUE(s->source_error.empty()) << s->source_error;
  EXPECT_EQ(s->source_failures, 1) << "one outage, however many retries";

  // Stopping during a back-off wait is prompt as well.
  fs::remove(dir_ / "later.avi");
  LiveEngine bogus(store_, gallery_, {}, spec);
  bogus.start();
  wait_for(bogus, 20,
           [](const Snapshot& s) { return s.source_state.rfind("retrying in 2", 0) == 0; });
  const auto t0 = Clock::now();
  bogus.stop();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
}

// One person leaves and another steps into the same place: the second is never shown with the
// first one's name, and gets a new track from their second frame on (the tracker compares
// embeddings, not only boxes; one far frame alone could be an odd frame of the same person, so
// it only hides the name).
// Each frame carries a coloured mark (red: s01 in view, blue: s02) to know who is really there.
TEST_F(LiveEngineTest, SomeoneElseInTheSamePlaceGetsANewTrackAndNotTheOldName) {
  const fs::path frames = dir_ / "swap";
  fs::create_directories(frames);
  int k = 0;
  for (const auto& [person, mark] : {std::pair<std::string, cv::Scalar>{"s01", {0, 0, 255}},
                                     std::pair<std::string, cv::Scalar>{"s02", {255, 0, 0}}}) {
    for (int n = 4; n <= 10; ++n) {
      cv::Mat face = vlrface::load_image(orl_ / "images" / person / (std::to_string(n) + ".jpg"));
      cv::resize(face, face, cv::Size(), 2, 2, cv::INTER_CUBIC);
      cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(110, 110, 110));
      face.copyTo(frame(cv::Rect(228, 20, face.cols, face.rows)));
      frame(cv::Rect(0, 0, 40, 40)).setTo(mark);
      for (int r = 0; r < 5; ++r) {
        char name[32];
        std::snprintf(name, sizeof name, "%03d.png", k++);
        write_png(frames / name, frame);
      }
    }
  }
  const fs::path video = dir_ / "swap.avi";
  const std::string cmd = "ffmpeg -nostdin -v error -y -framerate 10 -i '" +
                          (frames / "%03d.png").string() + "' -c:v mjpeg -q:v 2 '" +
                          video.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  LiveEngine engine(store_, gallery_, {}, SourceSpec::parse(video.string()));  // native mode
  engine.start();
  std::set<std::int64_t> s01_tracks, s02_tracks;
  bool s01_named = false, s02_named = false;
  std::vector<std::string> wrong;
  int s02_on_old_track = 0;  // s02's frames shown on one of s01's tracks (unnamed)
  auto snap = engine.snapshot();
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < until && snap->source_state != "ended") {
    snap = engine.wait_snapshot(snap->frame_number, 200);
    if (snap->frame.empty() || snap->faces.empty()) continue;
    const cv::Vec3b m = snap->frame.at<cv::Vec3b>(20, 20);
    const bool s02_in_view = m[0] > 150 && m[2] < 100;
    const bool s01_in_view = m[2] > 150 && m[0] < 100;
    for (const auto& f : snap->faces) {
      if (s01_in_view) {
        s01_tracks.insert(f.track_id);
        s01_named |= f.name == "s01";
      } else if (s02_in_view) {
        s02_tracks.insert(f.track_id);
        s02_named |= f.name == "s02";
        const bool old_track = s01_tracks.count(f.track_id) > 0;
        s02_on_old_track += old_track;
        if (f.name == "s01" || (old_track && (f.name || s02_on_old_track > 1))) {
          wrong.push_back("frame " + std::to_string(snap->frame_number) + ": track " +
                          std::to_string(f.track_id) + " named " + f.name.value_or("unknown"));
        }
      }
    }
  }
  EXPECT_TRUE(s01_named) << "s01 was never named while in view";
  EXPECT_TRUE(s02_named) << "s02 was never named while in view";
  ASSERT_FALSE(s02_tracks.empty());
  EXPECT_TRUE(wrong.empty()) << "s02 carried s01's track or name: " << ::testing::PrintToString(wrong);
}

TEST_F(LiveEngineTest, FiniteSourceEnds) {
  const fs::path video = make_orl_video(orl_, "s01", 1.0, dir_ / "v");
  SourceSpec spec = SourceSpec::parse(video.string());
  spec.fps = 0;
  LiveEngine engine(store_, gallery_, {}, spec);
  engine.start();
  // A fast reader can reach the end before the first frame is processed (a busy machine): the
  // last frame read is still processed after "ended".
  auto s = wait_for(engine, 30, [](const Snapshot& s) {
    return s.source_state == "ended" && s.frame_number > 0;
  });
  EXPECT_EQ(s->source_state, "ended");
  EXPECT_GT(s->frame_number, 0u);
  ASSERT_TRUE(s->source_down_since.has_value());
  EXPECT_NE(s->source_error.find("played to its end"), std::string::npos) << s->source_error;
}

}  // namespace

#else

TEST(LiveEngine, NotBuilt) {
  GTEST_SKIP() << "vlrface_model_tests does not link vlrface_live: add vlrface_live to its "
                  "target_link_libraries in tests/CMakeLists.txt";
}

#endif
