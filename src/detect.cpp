#include "vlrface/detect.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "quantize.hpp"
#include "onnx_net.hpp"
#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

namespace vlrface {
namespace {

constexpr int kStrides[] = {8, 16, 32};

// Scale so the longest side lies within [min_side, max_side].
double input_scale(const cv::Size& s, const DetectorOptions& o) {
  const double longest = std::max(s.width, s.height);
  const double up = o.upsample > 0 ? o.upsample : 1.0;
  if (longest * up < o.min_input_side) return o.min_input_side / longest;
  if (longest * up > o.max_input_side) return o.max_input_side / longest;
  return up;
}

// The network input for `bgr`: scaled by input_scale() and padded right and bottom with zeros so
// both sides divide by 32, as YuNet's feature pyramid needs.
cv::Mat prepare(const cv::Mat& bgr, double scale) {
  cv::Mat img = bgr;
  if (scale != 1.0) {
    cv::resize(bgr, img, cv::Size(), scale, scale, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  const int pw = (img.cols + 31) / 32 * 32;
  const int ph = (img.rows + 31) / 32 * 32;
  if (pw == img.cols && ph == img.rows) return img;  // 640x480 and the like: no copy
  cv::Mat padded;
  cv::copyMakeBorder(img, padded, 0, ph - img.rows, 0, pw - img.cols, cv::BORDER_CONSTANT, 0);
  return padded;
}

// Calibration frames prepared as detect() would, then padded (the same zero padding) to the
// largest prepared size, since Net::quantize takes one batch of equal-sized inputs.
cv::Mat calibration_blob(const std::vector<cv::Mat>& frames, const DetectorOptions& o) {
  std::vector<cv::Mat> prepared;
  int w = 0, h = 0;
  for (const cv::Mat& f : frames) {
    if (f.empty() || f.type() != CV_8UC3) {
      throw Error("detect", "calibration frames must be non-empty 8-bit BGR images");
    }
    prepared.push_back(prepare(f, input_scale(f.size(), o)));
    w = std::max(w, prepared.back().cols);
    h = std::max(h, prepared.back().rows);
  }
  for (cv::Mat& p : prepared) {
    cv::copyMakeBorder(p, p, 0, h - p.rows, 0, w - p.cols, cv::BORDER_CONSTANT, 0);
  }
  return cv::dnn::blobFromImages(prepared);
}

std::vector<Face> nms(std::vector<Face> faces, const DetectorOptions& o) {
  std::vector<cv::Rect2d> boxes;
  std::vector<float> scores;
  for (const auto& f : faces) {
    boxes.emplace_back(f.box.x, f.box.y, f.box.width, f.box.height);
    scores.push_back(f.score);
  }
  std::vector<int> keep;
  cv::dnn::NMSBoxes(boxes, scores, o.score_threshold, o.nms_threshold, keep, 1.f, o.top_k);
  std::vector<Face> out;
  for (int i : keep) out.push_back(faces[static_cast<std::size_t>(i)]);
  return out;
}

}  // namespace

struct YuNetDetector::Impl {
  cv::dnn::Net net;
  // Refinement's own copy of the network: crops are ~160x160 where frames are 1280x960, and one
  // network switching between the two shapes reallocates its buffers twice a small face
  // (measured: +30 ms a face at 2x 640x480, against a few ms with its own network).
  cv::dnn::Net refine_net;
  DetectorOptions options;
  std::vector<std::string> out_names;
  Precision precision = Precision::kFp32;
  cv::Mat blob, refine_blob;  // reused from call to call

  std::vector<Face> run(const cv::Mat& bgr, double scale, bool refining);
  void refine(const cv::Mat& bgr, Face& face);
};

cv::Point2f landmark_centre(const Face& face) {
  cv::Point2f c(0, 0);
  for (const auto& p : face.landmarks) c += p * 0.2f;
  return c;
}

const Face* nearest_face(const std::vector<Face>& faces, cv::Point2f at, double within) {
  const Face* best = nullptr;
  for (const Face& f : faces) {
    const double d = cv::norm(landmark_centre(f) - at);
    if (d < within) best = &f, within = d;
  }
  return best;
}

YuNetDetector::YuNetDetector(const ModelInfo& model, DetectorOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->net = detail::load_onnx_net(model, "detect");
  for (const char* kind : {"cls", "obj", "bbox", "kps"}) {
    for (int s : kStrides) impl_->out_names.push_back(std::string(kind) + "_" + std::to_string(s));
  }
  impl_->precision = options.precision.value_or(model.precision);
  if (options.refine_below_px > 0) impl_->refine_net = detail::load_onnx_net(model, "detect");
  if (impl_->precision == Precision::kInt8) {
    if (options.calibration.empty()) {
      throw Error("detect", model.name + ": int8 needs calibration frames (DetectorOptions)");
    }
    const cv::Mat calibration = calibration_blob(options.calibration, options);
    impl_->net = detail::quantize_int8(impl_->net, calibration, impl_->out_names, "detect",
                                       model.name);
    if (options.refine_below_px > 0) {
      impl_->refine_net = detail::quantize_int8(impl_->refine_net, calibration, impl_->out_names,
                                                "detect", model.name);
    }
    impl_->out_names = detail::int8_output_names(impl_->out_names);
    // The frames are no longer needed; the options are kept for detect().
    impl_->options.calibration.clear();
  }
}

std::string YuNetDetector::name() const {
  return impl_->precision == Precision::kInt8 ? "yunet int8" : "yunet";
}

Precision YuNetDetector::precision() const { return impl_->precision; }

YuNetDetector::~YuNetDetector() = default;

std::vector<Face> YuNetDetector::detect(const cv::Mat& bgr) {
  if (bgr.empty()) return {};
  if (bgr.type() != CV_8UC3) throw Error("detect", "expects an 8-bit BGR image");
  std::vector<Face> faces = impl_->run(bgr, input_scale(bgr.size(), impl_->options), false);
  if (impl_->options.refine_below_px > 0) {
    for (Face& f : faces) {
      if (std::max(f.box.width, f.box.height) < static_cast<float>(impl_->options.refine_below_px)) {
        impl_->refine(bgr, f);
      }
    }
  }
  return faces;
}

void YuNetDetector::Impl::refine(const cv::Mat& bgr, Face& face) {
  // A square of 2.5 face widths around the face (clipped to the frame), enlarged so the face
  // is refine_face_px wide: the scale YuNet's landmark head was trained at, not 2-3x its
  // smallest anchor.
  const float side = std::max(face.box.width, face.box.height);
  if (!(side > 0)) return;
  const cv::Point2f c(face.box.x + face.box.width / 2, face.box.y + face.box.height / 2);
  const cv::Rect crop = cv::Rect(cv::Point(static_cast<int>(std::floor(c.x - 1.25f * side)),
                                           static_cast<int>(std::floor(c.y - 1.25f * side))),
                                 cv::Point(static_cast<int>(std::ceil(c.x + 1.25f * side)),
                                           static_cast<int>(std::ceil(c.y + 1.25f * side)))) &
                        cv::Rect(0, 0, bgr.cols, bgr.rows);
  if (crop.width < 4 || crop.height < 4) return;
  const double scale = options.refine_face_px / static_cast<double>(side);
  const std::vector<Face> found = run(bgr(crop), scale, true);
  // The one whose landmarks' centre is nearest the first detection's, within half a face.
  const cv::Point2f off(crop.tl());
  const Face* best = nearest_face(found, landmark_centre(face) - off, 0.5 * side);
  if (!best) return;  // not found again at that scale: keep the first landmarks
  face.box = cv::Rect2f(best->box.x + off.x, best->box.y + off.y, best->box.width, best->box.height);
  for (std::size_t k = 0; k < face.landmarks.size(); ++k) face.landmarks[k] = best->landmarks[k] + off;
}

std::vector<Face> YuNetDetector::Impl::run(const cv::Mat& bgr, double scale, bool refining) {
  const cv::Mat padded = prepare(bgr, scale);
  const int pw = padded.cols;
  const int ph = padded.rows;
  // An 8-bit blob: the network's input layer converts it to float into a buffer it keeps, so a
  // frame costs 0.9 MB of transient memory at 640x480 instead of a 3.7 MB float copy.
  cv::Mat& input = refining ? refine_blob : blob;
  cv::dnn::Net& network = refining ? refine_net : net;
  cv::dnn::blobFromImage(padded, input, 1.0, cv::Size(), cv::Scalar(), false, false, CV_8U);
  std::vector<cv::Mat> outs;
  network.setInput(input);
  network.forward(outs, out_names);

  std::vector<Face> faces;
  for (int si = 0; si < 3; ++si) {
    const int s = kStrides[si];
    const int cols = pw / s;
    const int rows = ph / s;
    const float* cls = outs[static_cast<std::size_t>(si)].ptr<float>();
    const float* obj = outs[static_cast<std::size_t>(3 + si)].ptr<float>();
    const float* bbox = outs[static_cast<std::size_t>(6 + si)].ptr<float>();
    const float* kps = outs[static_cast<std::size_t>(9 + si)].ptr<float>();
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) {
        const int i = r * cols + c;
        const float score = std::sqrt(std::clamp(cls[i], 0.f, 1.f) * std::clamp(obj[i], 0.f, 1.f));
        if (score < options.score_threshold) continue;
        const float cx = (c + bbox[i * 4 + 0]) * s;
        const float cy = (r + bbox[i * 4 + 1]) * s;
        const float w = std::exp(bbox[i * 4 + 2]) * s;
        const float h = std::exp(bbox[i * 4 + 3]) * s;
        Face f;
        f.score = score;
        // Network pixels back to the frame's: cv::resize aligns pixel centres, so a point x of
        // the frame is at (x + 0.5) * scale - 0.5 in the input. Dividing by the scale alone
        // shifts every point by 0.5 - 0.5 / scale frame pixels: 0.25 at 2x, 0.4 px at 5x, a few
        // per cent of a 16 px face.
        const float shift = static_cast<float>(0.5 / scale - 0.5);
        f.box = cv::Rect2f(static_cast<float>((cx - w / 2) / scale) + shift,
                           static_cast<float>((cy - h / 2) / scale) + shift,
                           static_cast<float>(w / scale), static_cast<float>(h / scale));
        for (int k = 0; k < 5; ++k) {
          f.landmarks[static_cast<std::size_t>(k)] =
              cv::Point2f(static_cast<float>((c + kps[i * 10 + 2 * k]) * s / scale) + shift,
                          static_cast<float>((r + kps[i * 10 + 2 * k + 1]) * s / scale) + shift);
        }
        faces.push_back(f);
      }
    }
  }
  return nms(std::move(faces), options);
}

std::vector<Face> detect_in_canvas(Detector& detector, const cv::Mat& image, cv::Size canvas,
                                   int min_side) {
  if (canvas.empty() || image.empty()) return detector.detect(image);
  const double fit = std::min(static_cast<double>(canvas.width) / image.cols,
                              static_cast<double>(canvas.height) / image.rows);
  const int longest = std::max(image.cols, image.rows);
  const double f = std::min(fit, std::max(1.0, static_cast<double>(min_side) / longest));
  const cv::Size size(std::clamp(static_cast<int>(std::lround(image.cols * f)), 1, canvas.width),
                      std::clamp(static_cast<int>(std::lround(image.rows * f)), 1, canvas.height));
  cv::Mat frame(canvas, image.type(), cv::Scalar::all(0));
  if (size == image.size()) {
    image.copyTo(frame(cv::Rect({0, 0}, size)));
  } else {
    cv::resize(image, frame(cv::Rect({0, 0}, size)), size, 0, 0,
               f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  std::vector<Face> faces = detector.detect(frame);
  // The exact factors of the resize, per axis, so that landmarks land where they were.
  const float fx = static_cast<float>(image.cols) / size.width;
  const float fy = static_cast<float>(image.rows) / size.height;
  for (Face& face : faces) {
    face.box =
        cv::Rect2f(face.box.x * fx, face.box.y * fy, face.box.width * fx, face.box.height * fy);
    for (cv::Point2f& p : face.landmarks) p = cv::Point2f(p.x * fx, p.y * fy);
  }
  return faces;
}

struct HaarDetector::Impl {
  cv::CascadeClassifier cascade;
  DetectorOptions options;
};

HaarDetector::HaarDetector(DetectorOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  const std::string file =
      std::string(VLRFACE_HAAR_CASCADE_DIR) + "/haarcascade_frontalface_default.xml";
  if (!impl_->cascade.load(file)) {
    throw Error("detect", file + ": Haar cascade missing (install Debian's opencv-data)");
  }
}

HaarDetector::~HaarDetector() = default;

std::vector<Face> HaarDetector::detect(const cv::Mat& bgr) {
  if (bgr.empty()) return {};
  cv::Mat grey;
  cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
  const double scale = input_scale(bgr.size(), impl_->options);
  if (scale != 1.0) cv::resize(grey, grey, cv::Size(), scale, scale, cv::INTER_LINEAR);
  cv::equalizeHist(grey, grey);
  std::vector<cv::Rect> rects;
  impl_->cascade.detectMultiScale(grey, rects, 1.1, 4, 0, cv::Size(20, 20));
  // Where the five points sit, as fractions of a Haar frontal-face box (measured by eye on
  // the cascade's typical output, which is tighter than YuNet's box).
  static const float kFrac[5][2] = {
      {0.31f, 0.40f}, {0.69f, 0.40f}, {0.50f, 0.58f}, {0.35f, 0.76f}, {0.65f, 0.76f}};
  std::vector<Face> faces;
  for (const cv::Rect& r : rects) {
    Face f;
    f.box = cv::Rect2f(static_cast<float>(r.x / scale), static_cast<float>(r.y / scale),
                       static_cast<float>(r.width / scale), static_cast<float>(r.height / scale));
    f.score = 1.f;
    f.approximate_landmarks = true;
    for (int k = 0; k < 5; ++k) {
      f.landmarks[static_cast<std::size_t>(k)] =
          cv::Point2f(f.box.x + kFrac[k][0] * f.box.width, f.box.y + kFrac[k][1] * f.box.height);
    }
    faces.push_back(f);
  }
  return faces;
}

std::string detector_fallback_warning(const ModelStore& store) {
  if (store.has(kDefaultDetector)) return "";
  return "face detector YuNet not found (" +
         (store.dir() / (std::string(kDefaultDetector) + ".json")).string() +
         " is missing): using the Haar cascade fallback, which misses small and turned faces "
         "and aligns faces only approximately (lower accuracy); " + model_setup_hint();
}

std::unique_ptr<Detector> make_detector(const ModelStore& store, const DetectorOptions& options,
                                        bool* fallback_used) {
  if (store.has(kDefaultDetector)) {
    if (fallback_used) *fallback_used = false;
    return std::make_unique<YuNetDetector>(store.get(kDefaultDetector), options);
  }
  if (fallback_used) *fallback_used = true;
  return std::make_unique<HaarDetector>(options);
}

}  // namespace vlrface
