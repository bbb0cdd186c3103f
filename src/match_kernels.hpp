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
