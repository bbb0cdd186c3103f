#include "bench_precision.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include "vlrface/align.hpp"
#include "vlrface/dataset.hpp"
#include "vlrface/detect.hpp"
#include "vlrface/embed.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace vlrface::cli {
namespace {

const Face* best_face(const std::vector<Face>& faces) {
  const auto it = std::max_element(faces.begin(), faces.end(),
                                   [](const Face& a, const Face& b) { return a.score < b.score; });
  return it == faces.end() ? nullptr : &*it;
}

double landmark_distance(const std::vector<Face>& a, const std::vector<Face>& b) {
  const Face* fa = best_face(a);
  const Face* fb = best_face(b);
  if (!fa || !fb) return -1;
  double worst = 0;
  for (std::size_t k = 0; k < fa->landmarks.size(); ++k) {
    const cv::Point2f d = fa->landmarks[k] - fb->landmarks[k];
    worst = std::max(worst, std::hypot(static_cast<double>(d.x), static_cast<double>(d.y)));
  }
  return worst;
}

}  // namespace

CalibrationSet load_calibration_set(const std::string& dir, int count) {
  if (count < 1) throw Error("cli", "--calibration-count must be >= 1");
  const fs::path csv = fs::path(dir) / "landmarks.csv";
  std::ifstream in(csv);
  if (!in) {
    throw Error("bench", csv.string() +
                             ": cannot be read (--calibration wants a dataset folder "
                             "with landmarks.csv)");
  }
  const std::map<std::string, Landmarks> rows = parse_landmarks(in, "landmarks.csv");
  if (rows.empty()) throw Error("bench", csv.string() + ": no images listed");
  const std::size_t n = std::min(rows.size(), static_cast<std::size_t>(count));
  CalibrationSet set;
  auto it = rows.begin();
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t want = i * rows.size() / n;
    std::advance(it, static_cast<std::ptrdiff_t>(want - at));
    at = want;
    const cv::Mat image = load_image(fs::path(dir) / it->first);
    set.frames.push_back(image);
    set.faces.push_back(align_face(image, it->second));
  }
  set.source = std::to_string(n) + " images of " + dir + " (evenly spaced in landmarks.csv)";
  return set;
}

struct PrecisionBench::Impl {
  struct Variant {
    std::string model, stage;
    Precision precision = Precision::kFp32;
    double build_ms = 0;
    std::string note;  // non-empty: unavailable
    std::unique_ptr<YuNetDetector> detector;
    std::optional<Embedder> embedder;
  };
  std::vector<Variant> variants;  // grouped by model, precisions in the order asked
};

PrecisionBench::PrecisionBench(const ModelStore& store, const std::string& embedder,
                               const std::vector<Precision>& precisions,
                               const CalibrationSet& calibration)
    : impl_(std::make_unique<Impl>()) {
  auto build = [&](const std::string& model, const std::string& stage, Precision p, auto&& make) {
    Impl::Variant v;
    v.model = model;
    v.stage = stage;
    v.precision = p;
    try {
      v.build_ms = time_ms([&] { make(v); }, 0, 1).front();
    } catch (const Error& e) {
      // The reason is the result: OpenCV's refusal, measured on this machine.
      v.note = e.what();
    }
    impl_->variants.push_back(std::move(v));
  };
  if (store.has(kDefaultDetector)) {
    const ModelInfo& info = store.get(kDefaultDetector);
    for (Precision p : precisions) {
      build(kDefaultDetector, "detect", p, [&](Impl::Variant& v) {
        DetectorOptions o;
        o.precision = p;
        if (p == Precision::kInt8) o.calibration = calibration.frames;
        v.detector = std::make_unique<YuNetDetector>(info, o);
      });
    }
  }
  const ModelInfo& info = store.get(embedder);
  for (Precision p : precisions) {
    build(embedder, "embed", p, [&](Impl::Variant& v) {
      EmbedderOptions o;
      o.precision = p;
      if (p == Precision::kInt8) o.calibration = calibration.faces;
      v.embedder.emplace(info, o);
    });
  }
}

PrecisionBench::~PrecisionBench() = default;

std::vector<PrecisionRow> PrecisionBench::run(const cv::Mat& frame, const cv::Mat& face, int warmup,
                                              int repeat) {
  std::vector<PrecisionRow> rows;
  for (std::size_t begin = 0; begin < impl_->variants.size();) {
    std::size_t end = begin;
    while (end < impl_->variants.size() &&
           impl_->variants[end].model == impl_->variants[begin].model) {
      ++end;
    }
    // One model's precisions, interleaved: load changes on this shared machine hit them alike.
    std::vector<std::function<void()>> fns;
    std::vector<std::size_t> timed;
    for (std::size_t i = begin; i < end; ++i) {
      auto& v = impl_->variants[i];
      if (!v.note.empty()) continue;
      timed.push_back(i);
      if (v.detector) {
        fns.push_back([&] { (void)v.detector->detect(frame); });
      } else {
        fns.push_back([&] { (void)v.embedder->embed(face); });
      }
    }
    std::vector<std::vector<double>> ms;
    if (!fns.empty()) ms = time_interleaved_ms(fns, warmup, repeat);
    // fp32 outputs on the same input, for the agreement of the others.
    std::optional<std::vector<Face>> ref_faces;
    std::optional<std::vector<float>> ref_embedding;
    for (std::size_t i = begin; i < end; ++i) {
      auto& v = impl_->variants[i];
      if (!v.note.empty() || v.precision != Precision::kFp32) continue;
      if (v.detector) ref_faces = v.detector->detect(frame);
      if (v.embedder) ref_embedding = v.embedder->embed(face);
    }
    for (std::size_t i = begin; i < end; ++i) {
      auto& v = impl_->variants[i];
      PrecisionRow r;
      r.model = v.model;
      r.stage = v.stage;
      r.precision = v.precision;
      r.available = v.note.empty();
      r.note = v.note;
      r.build_ms = v.build_ms;
      if (r.available) {
        const auto k =
            static_cast<std::size_t>(std::find(timed.begin(), timed.end(), i) - timed.begin());
        r.stats = summarise(ms[k]);
        if (v.precision != Precision::kFp32 && v.detector && ref_faces) {
          r.agreement = landmark_distance(*ref_faces, v.detector->detect(frame));
        } else if (v.precision != Precision::kFp32 && v.embedder && ref_embedding) {
          r.agreement = cosine(*ref_embedding, v.embedder->embed(face));
        }
      }
      rows.push_back(std::move(r));
    }
    begin = end;
  }
  return rows;
}

void print_precision_rows(const std::vector<PrecisionRow>& rows) {
  std::printf("  %-13s %-7s %-5s %10s %10s %10s %10s  %s\n", "model", "stage", "prec.", "build ms",
              "median ms", "p10 ms", "p90 ms", "vs fp32 on this input");
  for (const auto& r : rows) {
    const std::string p = to_string(r.precision);
    if (!r.available) {
      std::printf("  %-13s %-7s %-5s unavailable — %s\n", r.model.c_str(), r.stage.c_str(),
                  p.c_str(), r.note.c_str());
      continue;
    }
    std::string vs;
    if (r.precision != Precision::kFp32) {
      char buf[96];
      if (r.stage == "embed") {
        std::snprintf(buf, sizeof buf, "cosine %.4f", r.agreement);
      } else if (r.agreement < 0) {
        std::snprintf(buf, sizeof buf, "no face found by one of them");
      } else {
        std::snprintf(buf, sizeof buf, "landmarks within %.2f px", r.agreement);
      }
      vs = buf;
    }
    std::printf("  %-13s %-7s %-5s %10.1f %10.3f %10.3f %10.3f  %s\n", r.model.c_str(),
                r.stage.c_str(), p.c_str(), r.build_ms, r.stats.median, r.stats.p10, r.stats.p90,
                vs.c_str());
  }
}

json precision_rows_json(const std::vector<PrecisionRow>& rows) {
  json out = json::array();
  for (const auto& r : rows) {
    json j = {{"model", r.model},
              {"stage", r.stage},
              {"precision", to_string(r.precision)},
              {"available", r.available}};
    if (!r.available) {
      j["note"] = r.note;
    } else {
      j["build_ms"] = r.build_ms;
      j.update({{"n", r.stats.count},
                {"median_ms", r.stats.median},
                {"p10_ms", r.stats.p10},
                {"p90_ms", r.stats.p90},
                {"min_ms", r.stats.min},
                {"max_ms", r.stats.max},
                {"mean_ms", r.stats.mean}});
      if (r.precision != Precision::kFp32) {
        j[r.stage == "embed" ? "cosine_vs_fp32" : "max_landmark_px_vs_fp32"] = r.agreement;
      }
    }
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace vlrface::cli
