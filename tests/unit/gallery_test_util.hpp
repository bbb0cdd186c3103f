// Helpers shared by the gallery's unit tests (test_gallery*.cpp): a scratch folder, synthetic
// faces and embeddings, and views of a gallery's whole state.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "vlrface/error.hpp"
#include "vlrface/gallery.hpp"

namespace vlrface::gallery_test {

namespace fs = std::filesystem;

namespace fs = std::filesystem;

inline constexpr const char* kModelA = "edgeface_xxs/46be7cc7";
inline constexpr const char* kModelB = "arcface_r50/0badf00d";

// One fresh folder per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("vlrface_gallery_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) +
             "_" + (info != nullptr ? info->name() : "x"));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline std::vector<float> random_embedding(unsigned seed, std::size_t dims = 512) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(dims);
  double norm = 0;
  for (auto& x : v) {
    x = dist(rng);
    norm += double{x} * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

inline cv::Mat synthetic_face(unsigned seed, int width = 112, int height = 112) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> c(0, 255);
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(c(rng), c(rng), c(rng)));
  cv::circle(img, {width / 2, height / 2}, std::min(width, height) / 3,
             cv::Scalar(c(rng), c(rng), c(rng)), cv::FILLED);
  cv::rectangle(img, {width / 4, height / 5}, {width / 2, height / 3},
                cv::Scalar(c(rng), c(rng), c(rng)), cv::FILLED);
  return img;
}

inline EnrollFace face(unsigned seed, std::size_t dims = 512) {
  return {synthetic_face(seed), random_embedding(seed, dims),
          "face" + std::to_string(seed) + ".jpg"};
}

inline std::vector<float> normalised_mean(const std::vector<std::vector<float>>& embeddings) {
  std::vector<double> sum(embeddings.at(0).size(), 0.0);
  for (const auto& e : embeddings) {
    double n = 0;
    for (const float x : e) n += double{x} * x;
    n = std::sqrt(n);
    for (std::size_t i = 0; i < e.size(); ++i) sum[i] += e[i] / n;
  }
  const double n = std::sqrt(std::inner_product(sum.begin(), sum.end(), sum.begin(), 0.0));
  std::vector<float> out(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i) out[i] = static_cast<float>(sum[i] / n);
  return out;
}

inline void expect_close(const std::vector<float>& a, const std::vector<float>& b,
                         float tol = 1e-5f) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "at " << i;
}

inline std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

inline unsigned mode_of(const fs::path& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
  return st.st_mode & 0777;
}

inline std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Direct SQL on a gallery file, for what the API cannot do (faking a newer schema, bulk setup).
inline void raw_sql(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

inline std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    const auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) throw std::runtime_error("bad base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// Everything the API can see, to check that a failed operation changed nothing.
inline std::string snapshot(const Gallery& g) {
  std::string s = g.model_id() + "\n";
  for (const auto& p : g.people()) {
    s += p.name + ":" + std::to_string(p.num_faces) + "\n";
    for (const auto& f : g.faces(p.name)) {
      s += std::to_string(f.id) + " " + f.source + " " + std::to_string(f.embedding.size());
      for (const float x : f.embedding) s += " " + std::to_string(x);
      s += "\n";
    }
  }
  for (const auto& t : g.templates()) {
    s += t.name;
    for (const float x : t.embedding) s += " " + std::to_string(x);
    s += "\n";
  }
  return s;
}

template <typename F>
inline std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.stage(), "gallery") << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no vlrface::Error thrown";
  return {};
}

// Must assert: the split once left this macro empty, and every check through it passed unseen.
#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// Everything a gallery returns, bit for bit (embeddings compared as bytes, images as decoded
// pixels), to tell harmless damage from silently wrong data, and to compare copies.
inline std::string exact_state(const Gallery& g) {
  std::string s = g.model_id() + "\n";
  const auto bytes = [](const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  };
  for (const auto& p : g.people()) {
    s += p.name + ":" + std::to_string(p.num_faces) + "\n";
    for (const auto& f : g.faces(p.name)) {
      s += f.source + " " + bytes(f.embedding) + " ";
      s += std::string(reinterpret_cast<const char*>(f.aligned.data),
                       f.aligned.total() * f.aligned.elemSize());
      s += "\n";
    }
  }
  for (const auto& t : g.templates()) s += t.name + " " + bytes(t.embedding) + "\n";
  return s;
}

inline std::string base64_of(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16 |
                       static_cast<unsigned char>(bytes[i + 1]) << 8 |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace vlrface::gallery_test
