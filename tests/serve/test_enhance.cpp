// ViewEnhancer without its model: the selected face's "DSR" picture is refused with the reason.
#include <gtest/gtest.h>

#include "serve_enhance.hpp"
#include "vlrface/error.hpp"
#include "vlrface/upscale.hpp"

#include <memory>
#include <opencv2/core.hpp>

TEST(ViewEnhancer, WithoutThePictureNetworkItSaysWhichModelIsMissing) {
  vlrface::ModelStore empty("/nonexistent-model-dir");
  vlrface::serve::ViewEnhancer view(empty);
  EXPECT_FALSE(view.available());
  try {
    view.enhance(cv::Mat(16, 16, CV_8UC3, cv::Scalar::all(90)));
    FAIL() << "enhanced without a model";
  } catch (const vlrface::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dsr_view"), std::string::npos) << what;
    EXPECT_NE(what.find("/nonexistent-model-dir"), std::string::npos) << what;
  }
}

namespace {

// Counts the network's runs; bicubic stands in for the picture network.
struct CountingUpscaler final : vlrface::Upscaler {
  int* calls;
  explicit CountingUpscaler(int* c) : calls(c) {}
  cv::Mat upscale(const cv::Mat& face, int out_size) override {
    ++*calls;
    return vlrface::BicubicUpscaler().upscale(face, out_size);
  }
  std::string name() const override { return "counting"; }
};

}  // namespace

TEST(ViewEnhancer, TheSameInputAgainIsNotRunAgain) {
  vlrface::ModelStore empty("/nonexistent-model-dir");
  int calls = 0;
  vlrface::serve::ViewEnhancer view(empty, std::make_unique<CountingUpscaler>(&calls));
  cv::Mat face(16, 16, CV_8UC3);
  cv::randu(face, 0, 255);
  const cv::Mat a = view.enhance(face);
  cv::Mat b = view.enhance(face);  // the next poll, same frame
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(view.runs(), 1u);
  ASSERT_EQ(a.size(), cv::Size(112, 112));
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
  EXPECT_NE(a.data, b.data);  // each caller gets its own copy

  b.setTo(cv::Scalar::all(0));  // a caller changing its copy changes nothing kept
  EXPECT_EQ(cv::norm(view.enhance(face), a, cv::NORM_INF), 0.0);

  cv::Mat next = face.clone();  // a new frame: a new buffer, even with the same pixels
  view.enhance(next);
  EXPECT_EQ(calls, 2);
  cv::Mat other(24, 24, CV_8UC3, cv::Scalar::all(200));
  const cv::Mat c = view.enhance(other);
  EXPECT_EQ(calls, 3);
  EXPECT_GT(cv::norm(c, a, cv::NORM_INF), 50.0);  // another face's picture, not the kept one
}
