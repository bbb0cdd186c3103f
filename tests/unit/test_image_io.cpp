#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.hpp"
#include "vlrface/error.hpp"
#include "vlrface/image_io.hpp"

using vlrtest::TempDir;

namespace {
std::string error_of(const std::filesystem::path& p) {
  try {
    vlrface::load_image(p);
  } catch (const vlrface::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ImageIo, MissingEmptyNotAnImageAndDirectory) {
  TempDir d;
  EXPECT_NE(error_of(d / "nope.jpg").find("no such file"), std::string::npos);
  vlrtest::write_bytes(d / "empty.jpg", "");
  EXPECT_NE(error_of(d / "empty.jpg").find("0 bytes"), std::string::npos);
  vlrtest::write_bytes(d / "text.png", "hello, I am not a picture");
  const std::string e = error_of(d / "text.png");
  EXPECT_NE(e.find("not an image"), std::string::npos) << e;
  EXPECT_NE(e.find("text.png"), std::string::npos) << e;
  EXPECT_NE(error_of(d.path()).find("directory"), std::string::npos);
}

TEST(ImageIo, TruncatedJpegIsRefused) {
  TempDir d;
  cv::Mat img(64, 64, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::randu(img, 0, 255);
  std::vector<std::uint8_t> buf;
  cv::imencode(".jpg", img, buf);
  vlrtest::write_bytes(d / "ok.jpg", std::string(buf.begin(), buf.end()));
  EXPECT_EQ(vlrface::load_image(d / "ok.jpg").size(), img.size());
  vlrtest::write_bytes(d / "cut.jpg", std::string(buf.begin(), buf.begin() + buf.size() / 2));
  EXPECT_NE(error_of(d / "cut.jpg").find("truncated"), std::string::npos);
}

// Decompression bombs: the header's claim is judged before a pixel is decoded.
TEST(ImageIo, DecodeLimitsRefuseBombsFromTheHeader) {
  TempDir d;
  const auto stage_and_message = [](const std::string& bytes, const vlrface::DecodeLimits& l) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
    try {
      vlrface::decode_image(p, bytes.size(), "bomb.png", 0, nullptr, l);
    } catch (const vlrface::Error& e) {
      return e.stage() + "|" + e.what();
    }
    return std::string("decoded");
  };
  // 6000x6000 16-bit RGB: 206 MiB decoded (36 M pixels), refused by the default byte limit.
  const std::string big = vlrtest::png_header_only(6000, 6000, 16, 2);
  ASSERT_LT(big.size(), 100u);
  std::string r = stage_and_message(big, {});
  EXPECT_EQ(r.rfind("image-limit|", 0), 0u) << r;
  EXPECT_NE(r.find("6000x6000 with 3 channels of 16 bits decodes to 206.0 MiB"), std::string::npos)
      << r;
  // 4096x4096 16-bit RGBA (128 MiB): passes the default limit (and then fails as the empty
  // image it is), refused by a 64 MiB limit such as serve's.
  const std::string rgba = vlrtest::png_header_only(4096, 4096, 16, 6);
  r = stage_and_message(rgba, {});
  EXPECT_EQ(r.rfind("image|", 0), 0u) << r;
  vlrface::DecodeLimits serve;
  serve.max_bytes = std::size_t{64} << 20;
  r = stage_and_message(rgba, serve);
  EXPECT_NE(r.find("decodes to 128.0 MiB, more than the limit of 64.0 MiB"), std::string::npos)
      << r;
  // Pixels: 10000x6000 grey is 57 MiB of bytes but 60 M pixels.
  r = stage_and_message(vlrtest::png_header_only(10000, 6000, 8, 0), {});
  EXPECT_NE(r.find("60000000 pixels, more than the limit of 50000000"), std::string::npos) << r;
  // load_image applies the limits too, naming the file.
  vlrtest::write_bytes(d / "bomb.png", big);
  EXPECT_NE(error_of(d / "bomb.png").find("bomb.png: 6000x6000"), std::string::npos);
}

namespace {
// `jpeg` with an EXIF APP1 segment saying `orientation`, right after SOI, in Intel (II) or
// Motorola (MM) byte order, as phones write it.
std::vector<std::uint8_t> with_orientation(std::vector<std::uint8_t> jpeg, int orientation,
                                           bool intel) {
  std::vector<std::uint8_t> t = intel ? std::vector<std::uint8_t>{'I', 'I', 42, 0, 8, 0, 0, 0}
                                      : std::vector<std::uint8_t>{'M', 'M', 0, 42, 0, 0, 0, 8};
  const auto u16 = [&](unsigned v) {
    if (intel) {
      t.push_back(v & 0xFF);
      t.push_back(v >> 8);
    } else {
      t.push_back(v >> 8);
      t.push_back(v & 0xFF);
    }
  };
  u16(2);                                      // two entries: one before, then Orientation
  u16(0x010F); u16(2); u16(0); u16(1); u16(0); u16(0);  // Make, ASCII, count 1, value 0
  u16(0x0112); u16(3); u16(1); u16(0); u16(static_cast<unsigned>(orientation)); u16(0);
  t.insert(t.end(), {0, 0, 0, 0});             // no next IFD
  std::vector<std::uint8_t> app1 = {'E', 'x', 'i', 'f', 0, 0};
  app1.insert(app1.end(), t.begin(), t.end());
  const std::size_t len = app1.size() + 2;
  std::vector<std::uint8_t> seg = {0xFF, 0xE1, static_cast<std::uint8_t>(len >> 8),
                                   static_cast<std::uint8_t>(len & 0xFF)};
  seg.insert(seg.end(), app1.begin(), app1.end());
  jpeg.insert(jpeg.begin() + 2, seg.begin(), seg.end());
  return jpeg;
}
}  // namespace

// Phone photos: the pixels as the sensor saw them, and EXIF saying how to turn them.
TEST(ImageIo, ExifOrientationIsApplied) {
  cv::Mat img(40, 60, CV_8UC3, cv::Scalar(255, 0, 0));           // blue right half...
  img(cv::Rect(0, 0, 30, 40)).setTo(cv::Scalar(0, 0, 255));        // ...red left half
  std::vector<std::uint8_t> plain;
  cv::imencode(".jpg", img, plain, {cv::IMWRITE_JPEG_QUALITY, 95});
  const auto red = [](const cv::Vec3b& p) { return p[2] > 200 && p[0] < 60; };
  const auto blue = [](const cv::Vec3b& p) { return p[0] > 200 && p[2] < 60; };
  for (const bool intel : {true, false}) {
    // 6: turn 90 degrees clockwise -> 40 wide, 60 tall, the left (red) half on top.
    auto j6 = with_orientation(plain, 6, intel);
    cv::Mat m = vlrface::decode_image(j6, "o6.jpg");
    ASSERT_EQ(m.size(), cv::Size(40, 60)) << intel;
    EXPECT_TRUE(red(m.at<cv::Vec3b>(10, 20))) << intel;
    EXPECT_TRUE(blue(m.at<cv::Vec3b>(50, 20))) << intel;
    // 8: counter-clockwise -> red at the bottom.
    m = vlrface::decode_image(with_orientation(plain, 8, intel), "o8.jpg");
    ASSERT_EQ(m.size(), cv::Size(40, 60));
    EXPECT_TRUE(red(m.at<cv::Vec3b>(50, 20)));
    // 3: upside down -> red on the right.
    m = vlrface::decode_image(with_orientation(plain, 3, intel), "o3.jpg");
    ASSERT_EQ(m.size(), cv::Size(60, 40));
    EXPECT_TRUE(red(m.at<cv::Vec3b>(20, 50)));
    // 1 and nonsense values: as stored.
    for (const int o : {1, 0, 9, 65535}) {
      m = vlrface::decode_image(with_orientation(plain, o, intel), "o.jpg");
      ASSERT_EQ(m.size(), cv::Size(60, 40)) << o;
      EXPECT_TRUE(red(m.at<cv::Vec3b>(20, 10))) << o;
    }
  }
  // The reduced-scale decode (uploads) turns the image too.
  cv::Mat big;
  cv::resize(img, big, {600, 400}, 0, 0, cv::INTER_NEAREST);
  std::vector<std::uint8_t> bj;
  cv::imencode(".jpg", big, bj, {cv::IMWRITE_JPEG_QUALITY, 95});
  const auto b6 = with_orientation(bj, 6, true);
  const cv::Mat small = vlrface::decode_image(b6.data(), b6.size(), "big6.jpg", 150);
  EXPECT_GT(small.rows, small.cols);
  EXPECT_TRUE(red(small.at<cv::Vec3b>(small.rows / 4, small.cols / 2)));
  // An IFD offset past the segment's end is ignored, not read: the image as stored.
  auto bad = with_orientation(plain, 6, true);
  for (int i = 16; i < 20; ++i) bad[i] = 0xF0;  // SOI, marker, length, "Exif\0\0", "II*\0"
  const cv::Mat c = vlrface::decode_image(bad, "bad-exif.jpg");
  ASSERT_EQ(c.size(), cv::Size(60, 40));
  EXPECT_TRUE(red(c.at<cv::Vec3b>(20, 10)));
}

TEST(ImageIo, GreyAnd16BitBecome8BitBgr) {
  TempDir d;
  cv::Mat grey(20, 30, CV_8UC1, cv::Scalar(77));
  cv::imwrite((d / "g.png").string(), grey);
  cv::Mat g = vlrface::load_image(d / "g.png");
  EXPECT_EQ(g.type(), CV_8UC3);
  EXPECT_EQ(g.at<cv::Vec3b>(3, 3), cv::Vec3b(77, 77, 77));

  cv::Mat deep(20, 30, CV_16UC3, cv::Scalar(65535, 0, 257 * 100));
  cv::imwrite((d / "d.png").string(), deep);
  cv::Mat d8 = vlrface::load_image(d / "d.png");
  EXPECT_EQ(d8.type(), CV_8UC3);
  EXPECT_EQ(d8.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 100));
}

// decode_image(..., max_side): a large image comes back shrunk to max_side (JPEG: decoded at a
// reduced scale where libjpeg is there; other formats: shrunk from stb's buffer), with the
// colours of a full decode; a small one comes back as it is.
TEST(ImageIo, DecodeShrinksLargeImages) {
  // Four colour quadrants: BGR order and geometry both show in the result.
  cv::Mat img(1200, 1600, CV_8UC3);
  img(cv::Rect(0, 0, 800, 600)).setTo(cv::Scalar(255, 0, 0));
  img(cv::Rect(800, 0, 800, 600)).setTo(cv::Scalar(0, 255, 0));
  img(cv::Rect(0, 600, 800, 600)).setTo(cv::Scalar(0, 0, 255));
  img(cv::Rect(800, 600, 800, 600)).setTo(cv::Scalar(200, 200, 200));
  const auto near = [](const cv::Vec3b& a, const cv::Vec3b& b) {
    return cv::norm(cv::Vec3d(a) - cv::Vec3d(b)) < 12;
  };
  for (const std::string ext : {".jpg", ".png"}) {
    std::vector<std::uint8_t> buf;
    cv::imencode(ext, img, buf, {cv::IMWRITE_JPEG_QUALITY, 95});
    double scale = 0;
    const cv::Mat small = vlrface::decode_image(buf.data(), buf.size(), "big" + ext, 300, &scale);
    EXPECT_EQ(small.type(), CV_8UC3) << ext;
    EXPECT_LE(small.cols, 300) << ext;
    EXPECT_GE(small.cols, 225) << ext;
    EXPECT_NEAR(small.rows, small.cols * 0.75, 1) << ext;
    EXPECT_NEAR(scale, small.cols / 1600.0, 1e-3) << ext;
    const int w = small.cols, h = small.rows;
    EXPECT_TRUE(near(small.at<cv::Vec3b>(h / 4, w / 4), {255, 0, 0})) << ext;
    EXPECT_TRUE(near(small.at<cv::Vec3b>(h / 4, w * 3 / 4), {0, 255, 0})) << ext;
    EXPECT_TRUE(near(small.at<cv::Vec3b>(h * 3 / 4, w / 4), {0, 0, 255})) << ext;
    EXPECT_TRUE(near(small.at<cv::Vec3b>(h * 3 / 4, w * 3 / 4), {200, 200, 200})) << ext;
    // Not larger than max_side: as it is.
    const cv::Mat same = vlrface::decode_image(buf.data(), buf.size(), "big" + ext, 1600, &scale);
    EXPECT_EQ(same.size(), img.size()) << ext;
    EXPECT_EQ(scale, 1.0) << ext;
  }
  // A grey JPEG becomes BGR; a truncated one is still refused.
  cv::Mat grey(1000, 800, CV_8UC1, cv::Scalar(90));
  std::vector<std::uint8_t> g;
  cv::imencode(".jpg", grey, g);
  const cv::Mat gs = vlrface::decode_image(g.data(), g.size(), "grey.jpg", 250);
  EXPECT_EQ(gs.type(), CV_8UC3);
  EXPECT_EQ(gs.size(), cv::Size(200, 250));  // 1/4 exactly
  EXPECT_TRUE(near(gs.at<cv::Vec3b>(100, 100), {90, 90, 90})) << gs.at<cv::Vec3b>(100, 100);
  std::vector<std::uint8_t> cut(g.begin(), g.begin() + g.size() / 2);
  EXPECT_THROW(vlrface::decode_image(cut.data(), cut.size(), "cut.jpg", 250), vlrface::Error);
}

TEST(ImageIo, FilesLargerThanTheReadLimitAreRefused) {
  // An image path can name a device (an imported gallery.json may list any path): /dev/zero was
  // read until memory ran out. Now reading stops past the limit, with the file named.
  vlrface::DecodeLimits limits;
  limits.max_file_bytes = std::size_t{3} << 20;
  TempDir d;
  vlrtest::write_bytes(d / "big.png", std::string((std::size_t{4} << 20) + 7, '\0'));
  for (const std::filesystem::path p : {std::filesystem::path("/dev/zero"), d / "big.png"}) {
    try {
      vlrface::load_image(p, limits);
      ADD_FAILURE() << p << " was accepted";
    } catch (const vlrface::Error& e) {
      EXPECT_EQ(e.stage(), "image-limit") << e.what();
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("3.0 MiB"), std::string::npos) << e.what();
    }
  }
  // At the limit exactly, the file is read and judged as an image.
  vlrtest::write_bytes(d / "at.png", std::string(limits.max_file_bytes, 'x'));
  try {
    vlrface::load_image(d / "at.png", limits);
    ADD_FAILURE() << "text was accepted as an image";
  } catch (const vlrface::Error& e) {
    EXPECT_EQ(e.stage(), "image") << e.what();
    EXPECT_NE(std::string(e.what()).find("not an image"), std::string::npos) << e.what();
  }
}

namespace {
// A PNG's IHDR says width and height at bytes 16..23 (stb does not check chunk CRCs).
void set_png_size(std::vector<std::uint8_t>& png, std::uint32_t w, std::uint32_t h) {
  for (int i = 0; i < 4; ++i) {
    png[16 + i] = static_cast<std::uint8_t>(w >> (24 - 8 * i));
    png[20 + i] = static_cast<std::uint8_t>(h >> (24 - 8 * i));
  }
}
std::string decode_error(const std::vector<std::uint8_t>& bytes) {
  try {
    const cv::Mat m = vlrface::decode_image(bytes, "bomb.png");
    return "decoded to " + std::to_string(m.cols) + "x" + std::to_string(m.rows);
  } catch (const vlrface::Error& e) {
    return e.what();
  }
}
}  // namespace

TEST(ImageIo, PngDataMustFitItsHeaderAndItsFile) {
  // Found by fuzz_face/fuzz_http: stb trusts the PNG's own numbers. (1) Image data that inflates
  // far past the header's size: 4 MiB of zero rows behind a 16x16 header (stb decoded the
  // 16x16 and inflated all of it: gigabytes from an 8 MB upload).
  std::vector<std::uint8_t> png;
  cv::imencode(".png", cv::Mat(2048, 2048, CV_8UC1, cv::Scalar(0)), png);
  ASSERT_LT(png.size(), 64u * 1024);  // a few KB that inflate to 4 MiB
  set_png_size(png, 16, 16);
  const std::string e1 = decode_error(png);
  EXPECT_NE(e1.find("bomb.png: PNG image data is damaged or inflates to more than the 16x16"),
            std::string::npos)
      << e1;
  // The same data behind its true size decodes.
  set_png_size(png, 2048, 2048);
  EXPECT_EQ(vlrface::decode_image(png, "zeros.png").size(), cv::Size(2048, 2048));
  // (2) A chunk that claims more bytes than the file has: stb reserved the claimed size first
  // (a 949-byte file: 1.7 GB).
  std::vector<std::uint8_t> small;
  cv::imencode(".png", cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)), small);
  const std::size_t idat = 33;  // signature (8) + IHDR chunk (25): the next chunk's length
  ASSERT_EQ(std::string(small.begin() + idat + 4, small.begin() + idat + 8), "IDAT");
  small[idat] = 0x7F;
  const std::string e2 = decode_error(small);
  EXPECT_NE(e2.find("PNG chunk 'IDAT' claims"), std::string::npos) << e2;
  EXPECT_NE(e2.find("truncated or damaged"), std::string::npos) << e2;
}

TEST(ImageIo, JpegHuffmanTablesOfMoreThan256CodesAreRefused) {
  // Found by fuzz_image: Debian's stb 2.27 wrote past its Huffman arrays for such a table.
  std::vector<std::uint8_t> jpg;
  cv::imencode(".jpg", cv::Mat(8, 8, CV_8UC3, cv::Scalar(10, 20, 30)), jpg);
  std::size_t dht = 2;
  while (dht + 4 < jpg.size() && !(jpg[dht] == 0xFF && jpg[dht + 1] == 0xC4)) {
    dht += 2 + ((std::size_t{jpg[dht + 2]} << 8) | jpg[dht + 3]);
  }
  ASSERT_LT(dht + 4, jpg.size()) << "no DHT segment";
  const std::size_t seg_len = (std::size_t{jpg[dht + 2]} << 8) | jpg[dht + 3];
  ASSERT_GE(seg_len, 2u + 17u);
  for (int i = 1; i <= 16; ++i) jpg[dht + 4 + i] = 0xFF;  // 16 x 255 codes
  const std::string e = decode_error(jpg);
  EXPECT_NE(e.find("bomb.png: JPEG Huffman table defines 4080 codes, more than 256"),
            std::string::npos)
      << e;
  // The same behind fill bytes before SOI, which stb skips (found by fuzz_image next).
  jpg.insert(jpg.begin(), 16, 0xFF);
  const std::string e2 = decode_error(jpg);
  EXPECT_NE(e2.find("JPEG Huffman table defines 4080 codes"), std::string::npos) << e2;
}

TEST(ImageIo, PnmHeaderNumbersThatOverflowAreRefused) {
  // Found by fuzz_face: stb 2.27 parsed "5888888888" into an int (signed overflow, UB).
  const std::string pgm = "P5\n4 5888888888\n255\n" + std::string(64, '\x10');
  const std::string e = decode_error(std::vector<std::uint8_t>(pgm.begin(), pgm.end()));
  EXPECT_NE(e.find("bomb.png: PGM/PPM header number of 10 digits"), std::string::npos) << e;
  // Nine digits and a comment are fine for the check (stb then judges the size).
  const std::string ok = "P5\n# c\n2 2\n255\n" + std::string(4, '\x10');
  EXPECT_EQ(vlrface::decode_image(std::vector<std::uint8_t>(ok.begin(), ok.end()), "ok.pgm").size(),
            cv::Size(2, 2));
}
