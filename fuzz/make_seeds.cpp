// Writes the fuzz targets' seed corpora: small images of every format the decoder reads, the same
// with face landmarks appended, real galleries, gallery exports and reference-app JSON, and HTTP
// requests. Generated, so no binary seed is kept in the repository.
//   make_seeds OUT   ->  OUT/<target>/<seed>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vlrface/gallery.hpp"
#include "vlrface/image_io.hpp"

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

namespace {

void write(const fs::path& file, const Bytes& b) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

void put32be(Bytes& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}

// A gradient with a dark "face" blob, so that images are not flat.
cv::Mat picture(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool blob = (x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2) < w * h / 16;
      m.at<cv::Vec3b>(y, x) = blob ? cv::Vec3b(60, 80, 120)
                                   : cv::Vec3b(static_cast<std::uint8_t>(x * 255 / w),
                                               static_cast<std::uint8_t>(y * 255 / h), 128);
    }
  }
  return m;
}

// PNG of any bit depth and colour type from raw scanlines, zlib "stored" blocks (no compression):
// the 16-bit images stb cannot write, and headers that claim more than the data holds.
Bytes png(int w, int h, int depth, int colour, const Bytes& pixels_per_row_data) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  const auto chunk = [&](const char* type, const Bytes& data) {
    put32be(out, static_cast<std::uint32_t>(data.size()));
    Bytes body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    put32be(out, vlrface::gallery_crc32(
                     std::string_view(reinterpret_cast<const char*>(body.data()), body.size())));
  };
  Bytes ihdr;
  put32be(ihdr, static_cast<std::uint32_t>(w));
  put32be(ihdr, static_cast<std::uint32_t>(h));
  ihdr.insert(ihdr.end(),
              {static_cast<std::uint8_t>(depth), static_cast<std::uint8_t>(colour), 0, 0, 0});
  chunk("IHDR", ihdr);
  const Bytes& raw = pixels_per_row_data;
  Bytes z = {0x78, 0x01};
  std::uint32_t a = 1, b = 0;
  for (std::uint8_t c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  for (std::size_t at = 0; at < raw.size() || at == 0;) {
    const std::size_t n = std::min<std::size_t>(raw.size() - at, 65535);
    z.push_back(at + n >= raw.size() ? 1 : 0);
    z.insert(z.end(), {static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8),
                       static_cast<std::uint8_t>(~n), static_cast<std::uint8_t>(~n >> 8)});
    z.insert(z.end(), raw.begin() + static_cast<long>(at), raw.begin() + static_cast<long>(at + n));
    at += n;
    if (n == 0) break;
  }
  put32be(z, (b << 16) | a);
  chunk("IDAT", z);
  chunk("IEND", {});
  return out;
}

// Raw scanlines (filter byte 0) of `w` x `h` with `bpp` bytes a pixel, a ramp.
Bytes scanlines(int w, int h, int bpp) {
  Bytes raw;
  for (int y = 0; y < h; ++y) {
    raw.push_back(0);
    for (int i = 0; i < w * bpp; ++i) raw.push_back(static_cast<std::uint8_t>(i * 7 + y * 13));
  }
  return raw;
}

// A JPEG with an EXIF APP1 segment saying orientation `o`, right after SOI.
Bytes jpeg_with_orientation(const Bytes& jpeg, int o) {
  Bytes app1 = {0xFF, 0xE1, 0,   0,  'E', 'x', 'i', 'f', 0,
                0,    'I',  'I', 42, 0,   8,   0,   0,   0,  // TIFF header, IFD at 8
                1,    0,                                     // one entry
                0x12, 0x01, 3,   0,  1,   0,   0,   0,   static_cast<std::uint8_t>(o),
                0,    0,    0,   0,  0,   0,   0};  // no next IFD
  const std::size_t len = app1.size() - 2;
  app1[2] = static_cast<std::uint8_t>(len >> 8);
  app1[3] = static_cast<std::uint8_t>(len);
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

Bytes bmp24(int w, int h) {
  const int row = (w * 3 + 3) & ~3;
  const std::uint32_t size = 54 + static_cast<std::uint32_t>(row * h);
  Bytes b = {'B', 'M'};
  const auto le32 = [&](std::uint32_t v) {
    for (int s = 0; s < 32; s += 8) b.push_back(static_cast<std::uint8_t>(v >> s));
  };
  le32(size), le32(0), le32(54), le32(40), le32(w), le32(h);
  b.insert(b.end(), {1, 0, 24, 0});
  le32(0), le32(static_cast<std::uint32_t>(row * h)), le32(2835), le32(2835), le32(0), le32(0);
  for (int i = 0; i < row * h; ++i) b.push_back(static_cast<std::uint8_t>(i * 5));
  return b;
}

Bytes tga(int w, int h) {
  Bytes b = {0,
             0,
             2,
             0,
             0,
             0,
             0,
             0,
             0,
             0,
             0,
             0,
             static_cast<std::uint8_t>(w),
             0,
             static_cast<std::uint8_t>(h),
             0,
             24,
             0};
  for (int i = 0; i < w * h * 3; ++i) b.push_back(static_cast<std::uint8_t>(i * 3));
  return b;
}

std::vector<std::pair<std::string, Bytes>> images() {
  const cv::Mat pic = picture(24, 20);
  cv::Mat grey(16, 16, CV_8UC1, cv::Scalar(90));
  const Bytes jpg = vlrface::encode_jpeg(pic, 80);
  Bytes ppm = bytes("P6\n4 4\n255\n"), pgm16 = bytes("P5\n4 4\n65535\n");
  for (int i = 0; i < 48; ++i) ppm.push_back(static_cast<std::uint8_t>(i * 5));
  for (int i = 0; i < 32; ++i) pgm16.push_back(static_cast<std::uint8_t>(i * 9));
  // GIF89a, 1x1, the classic transparent pixel.
  const Bytes gif = {'G',  'I', 'F', '8', '9', 'a',  1, 0, 1, 0,   0x80, 0, 0,   0xFF, 0xFF,
                     0xFF, 0,   0,   0,   '!', 0xF9, 4, 1, 0, 0,   0,    0, ',', 0,    0,
                     0,    0,   1,   0,   1,   0,    0, 2, 2, 'D', 1,    0, ';'};
  return {
      {"rgb.png", vlrface::encode_png(pic)},
      {"grey.png", vlrface::encode_png(grey)},
      {"rgba16.png", png(6, 5, 16, 6, scanlines(6, 5, 8))},
      {"grey16.png", png(5, 4, 16, 0, scanlines(5, 4, 2))},
      {"palette1.png", png(8, 2, 1, 0, scanlines(1, 2, 1))},
      // The header claims 3000x3000 16-bit RGBA (69 MiB decoded): over the fuzzers' limits.
      {"claims_big.png", png(3000, 3000, 16, 6, scanlines(4, 1, 8))},
      {"rgb.jpg", jpg},
      {"grey.jpg", vlrface::encode_jpeg(grey, 70)},
      {"rotated6.jpg", jpeg_with_orientation(jpg, 6)},
      {"large.jpg", vlrface::encode_jpeg(picture(200, 150), 60)},  // shrunk by libjpeg
      {"rgb.bmp", bmp24(5, 3)},
      {"rgb.ppm", ppm},
      {"grey16.pgm", pgm16},
      {"rgb.tga", tga(4, 3)},
      {"tiny.gif", gif},
  };
}

// Landmarks (1/64 px, little-endian int16 pairs) of a face in a 96x96 picture, and a size byte.
Bytes face_tail(std::uint8_t size_byte) {
  const int pts[5][2] = {{30, 40}, {66, 40}, {48, 56}, {34, 72}, {62, 72}};
  Bytes t = {size_byte};
  for (const auto& p : pts) {
    for (int v : p) {
      const auto q = static_cast<std::int16_t>(v * 64);
      t.push_back(static_cast<std::uint8_t>(q & 0xFF));
      t.push_back(static_cast<std::uint8_t>((q >> 8) & 0xFF));
    }
  }
  return t;
}

std::vector<vlrface::EnrollFace> faces(int n, int seed) {
  std::vector<vlrface::EnrollFace> out;
  for (int i = 0; i < n; ++i) {
    vlrface::EnrollFace f;
    f.aligned = picture(112, 112) + cv::Scalar(seed * 20 + i * 5, 0, 0);
    for (int k = 0; k < 8; ++k)
      f.embedding.push_back(static_cast<float>((k + seed + i) % 5) - 1.5f);
    f.source = "face" + std::to_string(i) + ".jpg";
    out.push_back(std::move(f));
  }
  return out;
}

void galleries(const fs::path& out) {
  const fs::path tmp = out / "tmp";
  fs::create_directories(tmp);
  fs::create_directories(out / "fuzz_gallery_import");
  vlrface::GallerySettings s;
  s.jpeg_quality = 40;  // small seeds
  {
    vlrface::Gallery g(tmp / "two.vlrg", "fuzz/0", s);
    g.enroll("alice", faces(2, 1));
    g.enroll("bob", faces(1, 2));
    g.export_json(out / "fuzz_gallery_import" / "export_two.json");
  }
  { vlrface::Gallery g(tmp / "empty.vlrg", "fuzz/0", s); }
  for (const char* name : {"two.vlrg", "empty.vlrg"}) {
    fs::create_directories(out / "fuzz_gallery_open");
    fs::copy_file(tmp / name, out / "fuzz_gallery_open" / name,
                  fs::copy_options::overwrite_existing);
  }
  fs::remove_all(tmp);
  const fs::path imp = out / "fuzz_gallery_import";
  write(imp / "reference.json",
        bytes(R"({"people":[{"name":"carol","image_paths":["a.png","b.jpg"],)"
              R"("embedding":[0.1,0.2,0.3]},{"name":"dan","image_paths":[]}]})"));
  write(imp / "export_empty.json",
        bytes(R"({"format":"vlrface-gallery-export","version":1,"model_id":"fuzz/0",)"
              R"("people":[]})"));
}

void http(const fs::path& out) {
  const std::string tok = "fuzz-token-0123456789abcdef";
  const std::string host = "Host: 127.0.0.1:8080\r\n";
  const std::string auth = "Authorization: Bearer " + tok + "\r\n";
  const Bytes png_bytes = vlrface::encode_png(picture(12, 10));
  const std::string img(png_bytes.begin(), png_bytes.end());
  const std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; "
      "filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n" +
      img + "\r\n--XyZ--\r\n";
  const std::string json = R"({"name":"alice","threshold":0.4})";
  const auto post = [&](const std::string& path, const std::string& type, const std::string& body,
                        const std::string& extra = "") {
    return "POST " + path + " HTTP/1.1\r\n" + host + auth + extra + "Content-Type: " + type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::vector<std::pair<std::string, std::string>> reqs = {
      {"get_people", "GET /api/people?offset=1&limit=5 HTTP/1.1\r\n" + host + auth + "\r\n"},
      {"get_person", "GET /api/people/al%20ice HTTP/1.1\r\n" + host +
                         "Cookie: a=b; vlrface_token=" + tok + "\r\n\r\n"},
      {"query_token", "GET /api/stream?fps=10&token=" + tok + " HTTP/1.1\r\n" + host + "\r\n"},
      {"identify_multipart",
       post("/api/identify?top=3", "multipart/form-data; boundary=XyZ", multipart)},
      {"identify_raw", post("/api/identify", "image/png", img)},
      {"add_faces",
       post("/api/people/alice/faces", "multipart/form-data; boundary=XyZ", multipart)},
      {"create_person", post("/api/people", "application/json", json)},
      {"settings", "PUT /api/settings HTTP/1.1\r\n" + host + auth +
                       "Content-Type: application/json\r\nContent-Length: " +
                       std::to_string(json.size()) + "\r\n\r\n" + json},
      {"rename",
       "PATCH /api/people/bob HTTP/1.1\r\n" + host + auth +
           "Content-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"name\":\"ann\"}"},
      {"delete", "DELETE /api/people/bob HTTP/1.1\r\n" + host + auth + "\r\n"},
      {"chunked",
       "POST /api/identify HTTP/1.1\r\n" + host + auth +
           "Transfer-Encoding: Chunked\r\nContent-Type: image/png\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
      {"rebinding", "GET /api/people HTTP/1.1\r\nHost: 127.0.0.1.evil.example\r\n" + auth + "\r\n"},
      {"origin", post("/api/people", "application/json", json, "Origin: http://evil.example\r\n")},
      {"pipelined", "GET /api/capture/00ff HTTP/1.1\r\n" + host + auth +
                        "\r\nHEAD /api/people HTTP/1.1\r\n" + host + auth + "\r\n"},
  };
  for (const auto& [name, r] : reqs) write(out / "fuzz_http" / (name + ".http"), bytes(r));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUT\n";
    return 2;
  }
  const fs::path out = argv[1];
  try {
    int k = 0;
    for (const auto& [name, b] : images()) {
      write(out / "fuzz_image" / name, b);
      Bytes face = b;
      const Bytes tail = face_tail(static_cast<std::uint8_t>(k++ * 37));
      face.insert(face.end(), tail.begin(), tail.end());
      write(out / "fuzz_face" / name, face);
    }
    const Bytes portrait = vlrface::encode_png(picture(96, 96));
    Bytes face = portrait;
    const Bytes tail = face_tail(108);
    face.insert(face.end(), tail.begin(), tail.end());
    write(out / "fuzz_face" / "portrait.png", face);
    galleries(out);
    http(out);
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
