#include "serve_draw.hpp"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <vector>

namespace vlrface::serve {
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
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const double scale = 0.55;
  // Word-wrapped: the source state carries ffmpeg's message, longer than any frame is wide.
  std::vector<std::string> lines(1);
  std::istringstream words(text);
  for (std::string w; words >> w;) {
    const std::string next = lines.back().empty() ? w : lines.back() + " " + w;
    int base = 0;
    if (!lines.back().empty() &&
        cv::getTextSize(next, font, scale, 1, &base).width > img.cols - 24) {
      lines.push_back(w);
    } else {
      lines.back() = next;
    }
  }
  const int step = 24;
  int y = img.rows / 2 - step * static_cast<int>(lines.size()) / 2 + step / 2;
  for (const auto& line : lines) {
    int base = 0;
    const cv::Size ts = cv::getTextSize(line, font, scale, 1, &base);
    cv::putText(img, line, {std::max(8, (img.cols - ts.width) / 2), y}, font, scale,
                cv::Scalar(220, 220, 220), 1, cv::LINE_AA);
    y += step;
  }
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

}  // namespace vlrface::serve
