#include "vlrface/upscale.hpp"

#include <opencv2/imgproc.hpp>

#include "vlrface/error.hpp"
#include "vlrface/models.hpp"

namespace vlrface {

cv::Mat BicubicUpscaler::upscale(const cv::Mat& face, int out_size) {
  if (face.empty()) throw Error("upscale", "empty face image");
  if (face.cols == out_size && face.rows == out_size) return face.clone();
  cv::Mat out;
  cv::resize(face, out, cv::Size(out_size, out_size), 0, 0,
             face.cols > out_size ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

std::vector<std::string> upscaler_kinds() { return {"bicubic", "dsr"}; }

std::unique_ptr<Upscaler> make_upscaler(const std::string& kind, int resolution,
                                        const ModelStore& store) {
  if (kind == "bicubic") return std::make_unique<BicubicUpscaler>();
  if (kind == "dsr") {
    const std::string name = "dsr" + std::to_string(resolution);
    // get() explains a missing model; no DSR network has been trained into this build yet.
    (void)store.get(name);
    throw Error("upscale", "upscaler 'dsr' for " + std::to_string(resolution) +
                               " px is not available in this build");
  }
  throw Error("upscale", "unknown upscaler '" + kind + "' (known: bicubic, dsr)");
}

}  // namespace vlrface
