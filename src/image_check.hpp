// Checks of image bytes before stb_image decodes them: Debian's stb (2.27) trusts numbers in
// the file that a crafted or damaged image gets wrong (found by fuzzing, fuzz/). Each throws
// Error("image", "<what>: ...") naming the problem, and returns quietly for bytes of another
// format or for faults stb refuses by itself. Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vlrface::detail {

// PNG: every chunk fits in the file; the image data inflates to no more than the header's size
// needs. Call after the header's size passed the decode limits (it inflates into that size).
void check_png(const std::uint8_t* b, std::size_t size, const std::string& what);
// JPEG (also behind fill bytes): no Huffman table of more than 256 codes.
void check_jpeg(const std::uint8_t* b, std::size_t size, const std::string& what);
// PGM/PPM: no header number of more than 9 digits.
void check_pnm(const std::uint8_t* b, std::size_t size, const std::string& what);

}  // namespace vlrface::detail
