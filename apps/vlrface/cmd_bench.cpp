// `vlrface bench`: times every stage of the per-face path in this process, on this machine.
#include "cmd_bench.hpp"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <sstream>

#include "bench_precision.hpp"
#include "bench_report.hpp"
#include "bench_results.hpp"
#include "machine_facts.hpp"
#include "vlrface/align.hpp"
#include "vlrface/bench.hpp"
#include "vlrface/degrade.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"
#include "vlrface/match.hpp"
#include "vlrface/pipeline.hpp"
#include "vlrface/upscale.hpp"

using json = nlohmann::json;

namespace vlrface::cli {
namespace {

// The face image is scaled so its longer side is this many pixels inside the frame: a face
// large enough for YuNet to find and for alignment to be a real down-warp.
constexpr int kFaceSideInFrame = 240;
// Without a detected face the landmarks are the ArcFace template at twice its size, centred.
constexpr float kSyntheticFaceScale = 2.0f;
constexpr std::uint32_t kGallerySeed = 20240501;
constexpr int kPathGallerySize = 1000;  // the per-face path matches against this many people
constexpr int kEmbeddingDim = 512;
constexpr double kFarFacePx = 20;  // the face of the far_face rows

// ---- inputs ----------------------------------------------------------------------------------

// `face` scaled to kFaceSideInFrame on its longer side, in the middle of a grey frame.
cv::Mat frame_around(const cv::Mat& face) {
  cv::Mat frame(kBenchFrameHeight, kBenchFrameWidth, CV_8UC3, cv::Scalar::all(128));
  const double s = static_cast<double>(kFaceSideInFrame) / std::max(face.cols, face.rows);
  cv::Mat scaled;
  cv::resize(face, scaled, cv::Size(), s, s, cv::INTER_LINEAR);
  const cv::Rect roi((kBenchFrameWidth - scaled.cols) / 2, (kBenchFrameHeight - scaled.rows) / 2,
                     scaled.cols, scaled.rows);
  scaled.copyTo(frame(roi));
  return frame;
}

cv::Mat make_frame(const std::string& image) {
  if (!image.empty()) return frame_around(load_image(image));
  // Smooth noise rather than a flat colour, so nothing in the image path can shortcut it.
  cv::Mat frame(kBenchFrameHeight, kBenchFrameWidth, CV_8UC3);
  cv::RNG rng(kGallerySeed);
  rng.fill(frame, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(frame, frame, cv::Size(0, 0), 3.0);
  return frame;
}

Landmarks synthetic_landmarks() {
  Landmarks lm = kArcFaceTemplate;
  const float half = kAlignedSize * kSyntheticFaceScale / 2;
  for (auto& p : lm) {
    p = p * kSyntheticFaceScale + cv::Point2f(kBenchFrameWidth / 2.0f - half, kBenchFrameHeight / 2.0f - half);
  }
  return lm;
}

std::vector<PersonTemplate> random_gallery(int people, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<PersonTemplate> out(static_cast<std::size_t>(people));
  for (int i = 0; i < people; ++i) {
    auto& t = out[static_cast<std::size_t>(i)];
    t.name = "person" + std::to_string(i);
    t.embedding.resize(kEmbeddingDim);
    for (float& x : t.embedding) x = normal(rng);
    l2_normalise(t.embedding);
  }
  return out;
}

std::string joined(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

// The command with every setting that shapes the figures, whatever was left to its default, so
// that another machine can repeat it exactly.
std::string effective_command(const GlobalOptions& g, const BenchOptions& o) {
  std::string c = "vlrface";
  if (g.embedder != kDefaultEmbedder) c += " --model " + g.embedder;
  c += " bench --report --threads " + joined(o.threads) + " --res " + joined(o.resolutions) +
       " --repeat " + std::to_string(o.repeat) + " --warmup " + std::to_string(o.warmup) +
       " --gallery-sizes " + joined(o.gallery_sizes);
  if (!o.image.empty()) c += " --image " + o.image;
  if (!o.precision.empty()) c += " --precision " + o.precision;
  return c;
}

void check_options(const BenchOptions& o) {
  if (o.repeat < 1) throw Error("cli", "--repeat must be >= 1, not " + std::to_string(o.repeat));
  if (o.warmup < 0) throw Error("cli", "--warmup must be >= 0, not " + std::to_string(o.warmup));
  if (o.resolutions.empty()) throw Error("cli", "--res needs at least one resolution");
  for (int r : o.resolutions) {
    if (r < 4 || r >= kAlignedSize) {
      throw Error("cli", "--res values must be 4..111 pixels, not " + std::to_string(r));
    }
  }
  if (o.threads.empty()) throw Error("cli", "--threads needs at least one thread count");
  for (int t : o.threads) {
    if (t < 0) throw Error("cli", "--threads values must be >= 0, not " + std::to_string(t));
  }
  for (int n : o.gallery_sizes) {
    if (n < 1) throw Error("cli", "--gallery-sizes values must be >= 1, not " + std::to_string(n));
  }
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& o) {
  auto* c = app.add_subcommand("bench", "time each stage, model loading, memory and threads");
  c->add_option("--res", o.resolutions, "low resolutions to time, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  c->add_option("--threads", o.threads,
                "inference thread counts, one pass each, comma-separated (0: all cores)")
      ->delimiter(',')
      ->capture_default_str();
  c->add_option("--repeat", o.repeat, "timed runs per stage")->capture_default_str();
  c->add_option("--warmup", o.warmup, "untimed runs before them")->capture_default_str();
  c->add_option("--gallery-sizes", o.gallery_sizes,
                "synthetic gallery sizes for the match stage, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  c->add_option("--image", o.image,
                "face image to place in the 640x480 frame (default: a synthetic frame)");
  c->add_option("--json", o.json, "also write every result to this JSON file");
  c->add_option("--precision", o.precision,
                "also time each model at these precisions, interleaved (e.g. fp32,int8); int8 "
                "is quantized here, or reported unavailable with OpenCV's reason");
  c->add_option("--calibration", o.calibration,
                "dataset folder (images + landmarks.csv) to calibrate int8 on (default: the "
                "bench frame and face only, enough for timing)");
  c->add_option("--calibration-count", o.calibration_count, "images taken from --calibration")
      ->capture_default_str();
  c->add_flag("--report", o.report,
              "print one block to paste into an issue (machine, OS, per-stage medians, fps, "
              "RSS) instead of the table: how figures from a Raspberry Pi reach the project");
  c->add_option("--gallery-scale", o.scale.people,
                "instead: the scale benchmark with this many synthetic people (identify on one "
                "core, matcher memory; with --scale-store also writing, loading and following)");
  c->add_flag("!--no-scale-baseline", o.scale.baseline,
              "with --gallery-scale: skip the float32 brute-force matcher that is otherwise "
              "timed in the same run as the baseline (it needs 4 bytes a value more memory)");
  c->add_option("--scale-store", o.scale.stores,
                "with --gallery-scale: a gallery (SQLite file or postgresql:// URL) to fill with "
                "the synthetic people, load whole and follow; may be given more than once");
  c->add_option("--load-repeat", o.scale.load_repeat, "with --scale-store: whole-gallery loads")
      ->capture_default_str();
  c->add_option("--sync-repeat", o.scale.sync_repeat, "with --scale-store: enrolments followed")
      ->capture_default_str();
  return c;
}

int run_bench(const GlobalOptions& g, const BenchOptions& o) {
  if (o.scale.people > 0) {
    ScaleBenchOptions so = o.scale;
    so.repeat = o.repeat;
    so.json = o.json;
    return run_scale_bench(so);
  }
  if (!o.scale.stores.empty()) throw Error("cli", "--scale-store needs --gallery-scale N");
  check_options(o);
  const std::vector<Precision> precisions = o.precision.empty()
                                                ? std::vector<Precision>{}
                                                : parse_precision_list(o.precision, "--precision");
  std::vector<MemorySnapshot> memory{snapshot("start")};
  const int threads_at_start = process_thread_count();
  const std::string load_start = load_average();
  const json machine = machine_info();
  const Context ctx(g);
  const ModelStore& store = ctx.store();

  // ---- model loading, cold: the objects the app builds, first thing in a fresh process ----
  json load = json::object();
  auto time_once = [](auto&& fn) { return time_ms(fn, 0, 1).front(); };
  const ModelInfo* det_info = nullptr;
  std::string detector_model = "none (Haar fallback)";
  if (store.has(kDefaultDetector)) {
    load["yunet_verify_sha256_ms"] = time_once([&] { det_info = &store.get(kDefaultDetector); });
    detector_model = det_info->id.empty() ? det_info->name : det_info->id;
  }
  std::unique_ptr<Detector> detector;
  bool haar = false;
  // make_detector verifies the file again, then reads the network.
  load["detector_construct_ms"] =
      time_once([&] { detector = make_detector(store, DetectorOptions{}, &haar); });
  const ModelInfo* emb_info = nullptr;
  load["edgeface_verify_sha256_ms"] = time_once([&] { emb_info = &ctx.embedder_info(); });
  std::optional<Embedder> embedder;
  // readNet plus one inference (the constructor's): the time until embeddings can be made.
  load["embedder_construct_ms"] = time_once([&] { embedder.emplace(*emb_info); });
  memory.push_back(snapshot("models loaded"));

  // ---- inputs ----
  const cv::Mat frame = make_frame(o.image);
  Landmarks landmarks = synthetic_landmarks();
  std::string landmark_source = "synthetic (ArcFace template x2, centred)";
  {
    const auto faces = detector->detect(frame);
    if (!faces.empty()) {
      landmarks = faces.front().landmarks;
      landmark_source = detector->name() + " detection (score " +
                        std::to_string(faces.front().score).substr(0, 4) + ")";
    } else if (!o.image.empty()) {
      spdlog::warn("no face found in {}; aligning with synthetic landmarks", o.image);
    }
  }
  // A far face: the frame shrunk so the face is 20 px wide, centred in a grey frame of the same
  // size, found on the frame enlarged 2x (as identify and serve do) with and without the
  // landmark refinement of small faces (DetectorOptions::refine_below_px): what it costs a face.
  std::unique_ptr<YuNetDetector> far_plain, far_refined;
  cv::Mat far_frame;
  if (det_info) {
    DetectorOptions plain;
    plain.upsample = 2;
    plain.refine_below_px = 0;
    DetectorOptions refined;
    refined.upsample = 2;
    far_plain = std::make_unique<YuNetDetector>(*det_info, plain);
    far_refined = std::make_unique<YuNetDetector>(*det_info, refined);
    const double s = kFarFacePx / native_size(landmarks);
    cv::Mat small;
    cv::resize(frame, small, cv::Size(), s, s, cv::INTER_AREA);
    far_frame = cv::Mat(frame.size(), CV_8UC3, cv::Scalar::all(128));
    small.copyTo(far_frame(cv::Rect((frame.cols - small.cols) / 2, (frame.rows - small.rows) / 2,
                                    small.cols, small.rows)));
  }
  // YuNet allocates its 640x480 feature maps on the first detection, so this differs from the
  // snapshot above by what detection needs at run time.
  memory.push_back(snapshot("first detection done"));
  const cv::Mat aligned = align_face(frame, landmarks);
  BicubicUpscaler bicubic;
  std::map<int, cv::Mat> lowres, upscaled;
  std::map<int, std::string> dsr_unavailable;
  std::map<int, std::unique_ptr<Upscaler>> dsr;
  // The live view's picture network, timed where installed: what showing a selected face costs.
  const std::unique_ptr<Upscaler> view = make_view_upscaler(store);
  for (int r : o.resolutions) {
    lowres[r] = degrade(aligned, r);
    upscaled[r] = bicubic.upscale(lowres[r]);
    try {
      dsr[r] = make_upscaler("dsr", r, store);
    } catch (const Error& e) {
      dsr_unavailable[r] = e.what();
    }
  }

  std::vector<int> sizes = o.gallery_sizes;
  if (std::find(sizes.begin(), sizes.end(), kPathGallerySize) == sizes.end()) {
    sizes.push_back(kPathGallerySize);
  }
  std::map<int, Matcher> matchers;
  for (int n : sizes) {
    // Building the templates and the matcher's copy of them coexist for a moment: that is the
    // peak a real gallery of this size also has while it is opened.
    matchers.emplace(n, Matcher(random_gallery(n, kGallerySeed + static_cast<unsigned>(n))));
    memory.push_back(snapshot("gallery " + std::to_string(n) + " built"));
  }
  std::vector<float> probe = random_gallery(1, kGallerySeed - 1).front().embedding;

  // ---- timed passes, one per thread count ----
  const int W = o.warmup, N = o.repeat;
  std::vector<ThreadRun> runs;
  double sink = 0;  // results feed this so no call can be dropped as unused
  for (int t : o.threads) {
    set_inference_threads(t);
    ThreadRun run;
    run.requested = t;
    run.opencv_threads = inference_threads();
    spdlog::info("bench: {} thread(s)", t);
    auto add = [&](std::string stage, std::string variant, int res, int people,
                   const std::vector<double>& ms) {
      StageResult r;
      r.stage = std::move(stage);
      r.variant = std::move(variant);
      r.res = res;
      r.people = people;
      r.stats = summarise(ms);
      run.stages.push_back(std::move(r));
    };
    add("detect", detector->name(), 0, 0,
        time_ms([&] { sink += static_cast<double>(detector->detect(frame).size()); }, W, N));
    if (far_plain) {
      const int px = static_cast<int>(kFarFacePx);
      add("far_face", "yunet 2x", px, 0,
          time_ms([&] { sink += static_cast<double>(far_plain->detect(far_frame).size()); }, W, N));
      add("far_face", "yunet 2x+refine", px, 0,
          time_ms([&] { sink += static_cast<double>(far_refined->detect(far_frame).size()); }, W,
                  N));
    }
    add("align", "", 0, 0,
        time_ms([&] { sink += align_face(frame, landmarks).at<cv::Vec3b>(56, 56)[0]; }, W, N));
    for (int r : o.resolutions) {
      add("degrade", "", r, 0,
          time_ms([&] { sink += degrade(aligned, r).at<cv::Vec3b>(0, 0)[0]; }, W, N));
    }
    for (int r : o.resolutions) {
      add("upscale", "bicubic", r, 0,
          time_ms([&] { sink += bicubic.upscale(lowres[r]).at<cv::Vec3b>(0, 0)[0]; }, W, N));
      if (dsr.count(r)) {
        add("upscale", "dsr", r, 0,
            time_ms([&] { sink += dsr[r]->upscale(lowres[r]).at<cv::Vec3b>(0, 0)[0]; }, W, N));
      } else {
        StageResult missing;
        missing.stage = "upscale";
        missing.variant = "dsr";
        missing.res = r;
        missing.available = false;
        missing.note = dsr_unavailable[r];
        run.stages.push_back(std::move(missing));
      }
      if (view) {
        add("upscale", "dsr_view", r, 0,
            time_ms([&] { sink += view->upscale(lowres[r]).at<cv::Vec3b>(0, 0)[0]; }, W, N));
      }
    }
    const cv::Mat& embed_input = upscaled[o.resolutions.front()];
    add("embed", "", 0, 0, time_ms([&] { sink += embedder->embed(embed_input)[0]; }, W, N));
    // OpenCV's pool threads outlive the parallel region, so counting now sees what embed used.
    run.process_threads_after_embed = process_thread_count();
    for (int n : o.gallery_sizes) {
      const Matcher& m = matchers.at(n);
      add("match", "", 0, n, time_ms([&] { sink += m.match(probe).similarity; }, W, N));
    }
    const Matcher& path_matcher = matchers.at(kPathGallerySize);
    for (int r : o.resolutions) {
      add("per_face", "", r, kPathGallerySize,
          time_ms(
              [&] {
                const cv::Mat a = align_face(frame, landmarks);
                const cv::Mat up = bicubic.upscale(degrade(a, r));
                sink += path_matcher.match(embedder->embed(up)).similarity;
              },
              W, N));
    }
    runs.push_back(std::move(run));
  }
  memory.push_back(snapshot("end"));

  // readNet alone, warm (each file already parsed once). Timed after the last memory reading:
  // the extra networks it builds and frees would otherwise inflate it.
  const int loads = std::min(N, 5);
  if (det_info) {
    load["yunet_readnet_warm_ms"] = summarise(time_ms(
        [&] { (void)cv::dnn::readNetFromONNX(det_info->path.string()); }, 0, loads)).median;
  }
  load["edgeface_readnet_warm_ms"] = summarise(time_ms(
      [&] { (void)cv::dnn::readNetFromONNX(emb_info->path.string()); }, 0, loads)).median;

  // ---- precisions, after every reading above: quantizing allocates a batch of activations ----
  json precision_json = nullptr;
  std::vector<std::pair<int, std::vector<PrecisionRow>>> precision_runs;
  if (!precisions.empty()) {
    CalibrationSet calibration;
    if (o.calibration.empty()) {
      calibration = {{frame}, {aligned}, "the bench frame and its aligned face (timing only)"};
    } else {
      calibration = load_calibration_set(o.calibration, o.calibration_count);
      // int8 YuNet calibrated on tight face crops lost faces framed by a flat border
      // (docs/BENCHMARKS.md): calibrate on frames built like the one timed.
      for (cv::Mat& f : calibration.frames) f = frame_around(f);
      calibration.source += ", framed like the bench frame";
    }
    spdlog::info("bench: building networks at {} ({})", o.precision, calibration.source);
    PrecisionBench bench(store, emb_info->name, precisions, calibration);
    memory.push_back(snapshot("precision networks built"));
    precision_json = {{"calibration", calibration.source}, {"runs", json::array()}};
    for (int t : o.threads) {
      set_inference_threads(t);
      precision_runs.emplace_back(t, bench.run(frame, aligned, W, N));
      precision_json["runs"].push_back(
          {{"threads", t}, {"rows", precision_rows_json(precision_runs.back().second)}});
    }
  }

  json config = {
      {"repeat", N},
      {"warmup", W},
      {"threads", o.threads},
      {"resolutions", o.resolutions},
      {"gallery_sizes", o.gallery_sizes},
      {"gallery_seed", kGallerySeed},
      {"path_gallery_size", kPathGallerySize},
      {"image", o.image.empty() ? json(nullptr) : json(o.image)},
      {"frame", std::to_string(kBenchFrameWidth) + "x" + std::to_string(kBenchFrameHeight) +
                    (o.image.empty() ? " synthetic" : " from " + o.image)},
      {"landmarks", landmark_source},
      {"landmark_points", json::array()},
      {"detector", detector->name()},
      {"detector_model", detector_model},
      {"detector_is_haar_fallback", haar},
      {"embedder", embedder->model_id()},
      {"precisions", o.precision.empty() ? json(nullptr) : json(o.precision)},
      {"models", store.dir().string()},
      {"load_average_start", load_start},
      {"load_average_end", load_average()},
  };
  for (const auto& p : landmarks) config["landmark_points"].push_back({p.x, p.y});
  if (!o.report) print_table(machine, config, load, runs, memory);
  for (const auto& [t, rows] : precision_runs) {
    std::printf("\nprecision, threads %d: each model's precisions timed interleaved; int8 "
                "calibrated on %s\n",
                t, precision_json["calibration"].get<std::string>().c_str());
    print_precision_rows(rows);
  }

  json j = results_json(machine, config, load, runs, memory);
  j["threads"] = {{"at_start", threads_at_start}, {"at_end", process_thread_count()}};
  j["precision"] = precision_json;
  j["checksum"] = sink;
  if (o.report) std::fputs(bench_report(j, effective_command(g, o)).c_str(), stdout);
  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out << j.dump(2) << "\n";
    if (!out) throw Error("bench", o.json + ": cannot be written");
  }
  return 0;
}

}  // namespace vlrface::cli
