#include "face_collector.hpp"

#include <algorithm>
#include <opencv2/imgproc.hpp>

#include "vlrface/align.hpp"
#include "vlrface/error.hpp"

namespace vlrface::live {
namespace {

// An enrolment face should be as good as the camera can give: big enough that the 112x112 crop
// is not itself an upscale of a few pixels, frontal (the gallery template is a mean, and
// profiles drag it away from the frontal probes it will meet), and sharp (a motion-blurred frame
// makes a template that matches everybody a little).
constexpr float kMinEyeDistance = 40.0f;
// Variance of the Laplacian of the grey 112 face: ORL faces enlarged twice (soft) give 40..70,
// the same after a Gaussian blur of sigma 1.5 px 15..20, sigma 3 about 6.
constexpr double kMinSharpness = 20.0;
constexpr float kNoseMin = 0.3f;  // nose x between the eyes, as a fraction
constexpr float kNoseMax = 0.7f;
constexpr float kMinSymmetry = 0.7f;  // shorter / longer eye-to-nose distance
constexpr auto kMinGap = std::chrono::milliseconds(200);
constexpr double kMinChange = 1.0;  // mean absolute pixel difference to kept faces

double sharpness(const cv::Mat& face) {
  cv::Mat grey, lap;
  cv::cvtColor(face, grey, cv::COLOR_BGR2GRAY);
  cv::Laplacian(grey, lap, CV_64F);
  cv::Scalar mean, sd;
  cv::meanStdDev(lap, mean, sd);
  return sd[0] * sd[0];
}

bool frontal(const Landmarks& lm) {
  const float span = lm[1].x - lm[0].x;
  if (span <= 0) return false;
  const float t = (lm[2].x - lm[0].x) / span;
  if (t < kNoseMin || t > kNoseMax) return false;
  const float dl = static_cast<float>(cv::norm(lm[2] - lm[0]));
  const float dr = static_cast<float>(cv::norm(lm[2] - lm[1]));
  return std::max(dl, dr) > 0 && std::min(dl, dr) / std::max(dl, dr) >= kMinSymmetry;
}

}  // namespace

void FaceCollector::open() {
  std::lock_guard lk(mu_);
  closed_ = false;
}

void FaceCollector::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

void FaceCollector::offer(const std::vector<FaceResult>& faces, std::uint64_t frame_number) {
  std::lock_guard lk(mu_);
  if (!active_ || static_cast<int>(faces_.size()) >= count_) return;
  if (faces.size() != 1 || frame_number == last_frame_) return;
  const auto now = Clock::now();
  if (!faces_.empty() && now - last_time_ < kMinGap) return;
  const FaceResult& f = faces.front();
  const Landmarks& lm = f.face.landmarks;
  if (f.status != FaceStatus::kOk || f.aligned.empty()) return;
  if (eye_distance(lm) < kMinEyeDistance || !frontal(lm)) return;
  const cv::Mat& aligned = f.aligned;
  if (sharpness(aligned) < kMinSharpness) return;
  // A still frame repeated (a paused stream, a video's duplicated frames) adds nothing.
  for (const cv::Mat& kept : faces_) {
    if (cv::norm(aligned, kept, cv::NORM_L1) < kMinChange * aligned.total() * 3) return;
  }
  faces_.push_back(aligned);
  last_frame_ = frame_number;
  last_time_ = now;
  cv_.notify_all();
}

std::vector<cv::Mat> FaceCollector::collect(int count, int timeout_ms,
                                            const std::function<void(int, int)>& progress) {
  if (count <= 0) return {};
  std::unique_lock lk(mu_);
  if (active_) throw Error("live", "another face capture is in progress");
  active_ = true;
  count_ = count;
  faces_.clear();
  last_frame_ = 0;
  const auto until = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  int reported = 0;
  // The callback runs without our lock: it may be slow (a network write) without holding up
  // the processing thread's offer().
  const auto report = [&](int upto) {
    while (reported < upto) {
      ++reported;
      if (progress) {
        lk.unlock();
        progress(reported, count);
        lk.lock();
      }
    }
  };
  while (!closed_ && static_cast<int>(faces_.size()) < count) {
    if (!cv_.wait_until(lk, until,
                        [&] { return closed_ || static_cast<int>(faces_.size()) > reported; })) {
      break;
    }
    report(static_cast<int>(faces_.size()));
  }
  std::vector<cv::Mat> out = std::move(faces_);
  faces_.clear();
  active_ = false;
  if (static_cast<int>(out.size()) > count) out.resize(static_cast<std::size_t>(count));
  report(static_cast<int>(out.size()));
  return out;
}

}  // namespace vlrface::live
