// Structural checks of image bytes before stb_image decodes them (see image_check.hpp).
#include "image_check.hpp"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "vlrface/error.hpp"

namespace vlrface::detail {
namespace {

// A chunk type for a message: its four bytes when printable, else as hex.
std::string printable_type(const std::string& t) {
  std::string out;
  char hex[5];
  for (unsigned char c : t) {
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
    } else {
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  return out;
}

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

}  // namespace

// stb_image trusts a PNG's own numbers twice: it reserves what an IDAT chunk claims before
// reading it (a 949-byte file made it reserve 1.7 GB), and it inflates the image data into a
// buffer that grows for as long as the data inflates, whatever the header's size (a 12x10 image
// whose data inflates to gigabytes passes every header check). So, before stb: every chunk must
// fit in the bytes there are, and the image data must inflate to no more than its size needs
// (inflated here into a buffer of exactly that bound, which stb's decoder refuses to outgrow).
void check_png(const std::uint8_t* b, std::size_t size, const std::string& what) {
  static const std::uint8_t kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size < 8 || std::memcmp(b, kSig, 8) != 0) return;
  std::uint32_t w = 0, h = 0;
  int depth = 0, colour = -1, interlace = 0;
  bool iphone = false;
  std::vector<char> idat;
  for (std::size_t pos = 8; pos + 8 <= size;) {
    const std::size_t len = be32(b + pos);
    const std::string type(reinterpret_cast<const char*>(b + pos + 4), 4);
    if (len > size - pos - 8) {
      throw Error("image", what + ": PNG chunk '" + printable_type(type) + "' claims " +
                               std::to_string(len) + " bytes, the file has " +
                               std::to_string(size - pos - 8) + " after it (truncated or damaged)");
    }
    const std::uint8_t* d = b + pos + 8;
    if (type == "IHDR" && len >= 13) {
      w = be32(d), h = be32(d + 4), depth = d[8], colour = d[9], interlace = d[12];
    } else if (type == "CgBI") {
      iphone = true;  // Apple's PNG: raw deflate without the zlib header
    } else if (type == "IDAT") {
      idat.insert(idat.end(), d, d + len);
    } else if (type == "IEND") {
      break;
    }
    pos += 8 + len + 4;  // data, CRC
  }
  static const int kChannels[7] = {1, 0, 3, 1, 2, 0, 4};  // by colour type
  if (idat.empty() || colour < 0 || colour > 6 || kChannels[colour] == 0 || depth < 1 || w == 0 ||
      h == 0) {
    return;  // stb refuses these with its own reason
  }
  // The filtered scanlines the header asks for (each row: a filter byte, then the pixels), over
  // the 7 Adam7 passes when interlaced. Called after check_limits: w x h is bounded.
  const std::uint64_t bits = std::uint64_t(kChannels[colour]) * depth;
  const auto rows = [&](std::uint64_t pw, std::uint64_t ph) {
    return pw && ph ? ph * ((pw * bits + 7) / 8 + 1) : 0;
  };
  std::uint64_t need = 0;
  if (interlace) {
    static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
    static const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    for (int p = 0; p < 7; ++p) {
      need += rows((w - std::min<std::uint64_t>(w, x0[p]) + dx[p] - 1) / dx[p],
                   (h - std::min<std::uint64_t>(h, y0[p]) + dy[p] - 1) / dy[p]);
    }
  } else {
    need = rows(w, h);
  }
  const std::uint64_t bound = need + need / 8 + 4096;  // tolerates a little trailing data
  if (bound > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return;
  std::unique_ptr<char[]> out(new char[bound]);
  const int n = iphone
                    ? stbi_zlib_decode_noheader_buffer(out.get(), static_cast<int>(bound),
                                                       idat.data(), static_cast<int>(idat.size()))
                    : stbi_zlib_decode_buffer(out.get(), static_cast<int>(bound), idat.data(),
                                              static_cast<int>(idat.size()));
  if (n < 0) {
    throw Error("image", what + ": PNG image data is damaged or inflates to more than the " +
                             std::to_string(w) + "x" + std::to_string(h) + " image needs (" +
                             std::to_string(need) + " bytes)");
  }
}

// Debian's stb_image (2.27) builds a JPEG Huffman table from the 16 code counts of a DHT segment
// without checking that they add up to at most 256 symbols, and writes that many entries into
// 257- and 256-entry arrays (memory past the table is overwritten: found by fuzz_image, UBSan
// "index 257 out of bounds"; stb 2.28 checks it). Every DHT segment is checked here first,
// including those between the scans of a progressive JPEG.
void check_jpeg(const std::uint8_t* b, std::size_t size, const std::string& what) {
  std::size_t pos = 0;
  while (pos < size && b[pos] == 0xFF) ++pos;  // stb skips fill bytes before SOI too
  if (pos == 0 || pos >= size || b[pos] != 0xD8) return;
  ++pos;  // after SOI
  while (pos + 4 <= size) {
    if (b[pos] != 0xFF) {
      ++pos;  // entropy-coded data or fill: look for the next marker
      continue;
    }
    const std::uint8_t marker = b[pos + 1];
    if (marker == 0xFF || marker == 0x00 || (marker >= 0xD0 && marker <= 0xD7)) {
      ++pos;  // fill byte, stuffed 0xFF in the data, restart marker: no segment
      continue;
    }
    if (marker == 0xD9) return;  // end of image
    const std::size_t len = (std::size_t{b[pos + 2]} << 8) | b[pos + 3];
    if (len < 2) return;
    if (marker == 0xC4) {
      // stb reads a segment cut short by the end of the file as zeros: so is it checked. It
      // also reads a table's 16 counts past the end of a segment too short to hold them (a DHT
      // of length 3 takes its counts from the next segment: found by CI's fuzz_image run).
      const std::size_t end = std::min(pos + 2 + len, size);
      for (std::size_t t = pos + 4; t < end;) {
        std::size_t n = 0;
        for (std::size_t i = t + 1; i <= t + 16 && i < size; ++i) n += b[i];
        if (n > 256) {
          throw Error("image", what + ": JPEG Huffman table defines " + std::to_string(n) +
                                   " codes, more than 256 (damaged or crafted)");
        }
        t += 17 + n;
      }
    }
    if (pos + 2 + len > size) return;  // truncated: stb refuses it
    pos += 2 + len;
  }
}

// stb 2.27 reads a PGM/PPM header's numbers into an int without an overflow check (UB; found by
// fuzz_face: "588888888 * 10 cannot be represented"): a number of more than 9 digits is refused.
void check_pnm(const std::uint8_t* b, std::size_t size, const std::string& what) {
  if (size < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return;
  std::size_t pos = 2;
  for (int field = 0; field < 3 && pos < size; ++field) {
    while (pos < size && (std::isspace(b[pos]) || b[pos] == '#')) {
      if (b[pos] == '#') {
        while (pos < size && b[pos] != '\n' && b[pos] != '\r') ++pos;
      } else {
        ++pos;
      }
    }
    std::size_t digits = 0;
    while (pos < size && b[pos] >= '0' && b[pos] <= '9') ++pos, ++digits;
    if (digits > 9) {
      throw Error("image", what + ": PGM/PPM header number of " + std::to_string(digits) +
                               " digits (damaged or crafted)");
    }
    if (digits == 0) return;  // stb refuses it
  }
}

}  // namespace vlrface::detail
