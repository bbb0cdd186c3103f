// match_kernels.hpp — the inner loops of the matchers (internal to vlrface_core).
//
// Kept free of OpenCV and of the Matcher so that they can be built and checked alone, e.g. by a
// cross compiler for aarch64 under qemu (tests/unit/test_match_kernels.cpp runs them on the host).
// Each picks the widest path the running CPU has (AVX2 on x86-64, NEON dot-product on aarch64
// when the kernel reports it) and falls back to plain C++ that the compiler may vectorise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vlrface::detail {

// Sum of a[i] * b[i], the floats accumulated in 16 (or more) independent partial sums.
float dot_f32(const float* a, const float* b, int n);

// Exact integer dot products of one int8 probe with `count` consecutive int8 rows of `n` values
// (row r at rows + r * n): out[r] = sum a[i] * row_r[i]. Every value must lie in [-127, 127]
// (-128 is excluded so that two products fit an int16 in the NEON path); n at most 65,536, so
// the int32 sums cannot overflow.
void dot_i8_rows(const std::int8_t* probe, const std::int8_t* rows, std::size_t count, int n,
                 std::int32_t* out);

// The same without any vector instructions: the reference the fast paths are tested against.
void dot_i8_rows_scalar(const std::int8_t* probe, const std::int8_t* rows, std::size_t count, int n,
                        std::int32_t* out);

// Which dot_i8_rows path this CPU runs ("avx2", "neon-dotprod", "neon", "portable").
const char* dot_i8_path();

}  // namespace vlrface::detail

namespace vlrface::detail {

// 4-bit rows: `n` values a row (a multiple of 64), n / 2 bytes, values 0..15 in nibbles laid out
// by blocks of 64 values: byte b of a block (0..31) holds value b in its low nibble and value
// 32 + b in its high one, so that a 32-byte load yields two runs of 32 values with one mask and
// one shift. out[r] = sum over i of probe[i] * value_i of row r, exact (probe in [-127, 127]).
void dot_u4_rows(const std::int8_t* probe, const std::uint8_t* rows, std::size_t count, int n,
                 std::int32_t* out);
// The same in plain C++ (the reference of the tests), and the packing the layout above describes.
void dot_u4_rows_scalar(const std::int8_t* probe, const std::uint8_t* rows, std::size_t count,
                        int n, std::int32_t* out);
void pack_u4(const std::uint8_t* values, int n, std::uint8_t* out);  // values 0..15, n % 64 == 0
// Which dot_u4_rows path this CPU runs ("avx2", "neon-dotprod", "neon", "portable").
const char* dot_u4_path();

}  // namespace vlrface::detail
