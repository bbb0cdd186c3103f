#include "serve_draw.hpp"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgproc.hpp>

namespace vlrface::cli {
namespace {

// The page's colours, so the overlay and the side panels agree.
const cv::Scalar kKnown(94, 197, 34);     // green
const cv::Scalar kUnknown(11, 158, 245);  // amber
const cv::Scalar kSmall(160, 160, 160);   // grey

void label(cv::Mat& img, const std::string& text, cv::Point at, const cv::Scalar& bg) {
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const double scale = std::clamp(img.cols / 1100.0, 0.4, 1.0);
  const int thick = scale > 0.7 ? 2 : 1;
  int base = 0;
  const cv::Size ts = cv::getTextSize(text, font, scale, thick, &base);
  int y = at.y - 4;
  if (y - ts.height - 4 < 0) y = at.y + ts.height + 8;  // no room above the box: inside it
  const int x = std::clamp(at.x, 0, std::max(0, img.cols - ts.width - 6));
  cv::rectangle(img, {x, y - ts.height - 4}, {x + ts.width + 6, y + base}, bg, cv::FILLED);
  cv::putText(img, text, {x + 3, y - 2}, font, scale, cv::Scalar(20, 20, 20), thick, cv::LINE_AA);
}

}  // namespace

cv::Mat annotate_frame(const live::Snapshot& s) {
  cv::Mat img = s.frame.clone();
  const int thick = std::max(2, img.cols / 400);
  for (const live::LiveFace& f : s.faces) {
    const cv::Scalar colour = f.too_small ? kSmall : f.name ? kKnown : kUnknown;
    const cv::Rect box(cv::Point(cvRound(f.box.x), cvRound(f.box.y)),
                       cv::Size(cvRound(f.box.width), cvRound(f.box.height)));
    cv::rectangle(img, box, colour, thick, cv::LINE_AA);
    std::string text;
    if (f.too_small) {
      text = "too small";
    } else {
      char sim[32];
      std::snprintf(sim, sizeof sim, " %.2f", f.similarity);
      text = (f.name ? *f.name : std::string("unknown")) + sim;
    }
    label(img, text, box.tl(), colour);
  }
  return img;
}

cv::Mat status_card(const std::string& text, int width, int height) {
  cv::Mat img(std::max(height, 48), std::max(width, 64), CV_8UC3, cv::Scalar(40, 34, 30));
  std::string t = text.size() > 70 ? text.substr(0, 67) + "..." : text;
  int base = 0;
  const cv::Size ts = cv::getTextSize(t, cv::FONT_HERSHEY_SIMPLEX, 0.6, 1, &base);
  cv::putText(img, t, {std::max(4, (img.cols - ts.width) / 2), img.rows / 2},
              cv::FONT_HERSHEY_SIMPLEX, 0.6, cv::Scalar(220, 220, 220), 1, cv::LINE_AA);
  return img;
}

cv::Mat nearest_enlarged(const cv::Mat& small, int min_side) {
  const int side = std::max(1, std::min(small.cols, small.rows));
  const int factor = std::max(1, (min_side + side - 1) / side);
  cv::Mat out;
  cv::resize(small, out, cv::Size(small.cols * factor, small.rows * factor), 0, 0,
             cv::INTER_NEAREST);
  return out;
}

}  // namespace vlrface::cli
