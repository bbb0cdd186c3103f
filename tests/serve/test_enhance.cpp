// ViewEnhancer without its model: the selected face's "DSR" picture is refused with the reason.
#include <gtest/gtest.h>

#include "serve_enhance.hpp"
#include "vlrface/error.hpp"

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
