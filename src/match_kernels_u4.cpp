// The 4-bit scan of the Matcher's first pass over large galleries (match.cpp says why): a row of
// 512 values is 256 bytes, half the int8 plane's, and a probe against 100,000 people is bound by
// memory bandwidth. Layout and contract in match_kernels.hpp.
#include "match_kernels.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VLRFACE_U4_X86 1
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#if defined(__linux__) && defined(__GNUC__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#define VLRFACE_U4_ARM_DOTPROD 1
#endif
#endif

namespace vlrface::detail {
namespace {

constexpr int kBlockValues = 64;

// Plain C++ over the same layout, in the shape compilers vectorise (32 independent lanes).
[[maybe_unused]] void u4_portable(const std::int8_t* probe, const std::uint8_t* rows,
                                  std::size_t count, int n, std::int32_t* out) {
  const std::size_t bytes = static_cast<std::size_t>(n) / 2;
  for (std::size_t r = 0; r < count; ++r) {
    const std::uint8_t* row = rows + r * bytes;
    std::int32_t acc[32] = {};
    for (int b = 0; b < n; b += kBlockValues) {
      const std::uint8_t* v = row + b / 2;
      const std::int8_t* p = probe + b;
      for (int j = 0; j < 32; ++j) {
        acc[j] += (v[j] & 15) * p[j] + (v[j] >> 4) * p[32 + j];
      }
    }
    std::int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += acc[j];
    out[r] = s;
  }
}

#ifdef VLRFACE_U4_X86
// vpmaddubsw multiplies unsigned bytes (the nibbles, 0..15) by signed ones (the probe) and adds
// pairs into int16: at most 2 * 15 * 127 = 3,810, two of them 7,620, inside int16; vpmaddwd with
// ones widens to int32. Rows fetched ahead by hand, as in the int8 scan.
__attribute__((target("avx2"))) void u4_avx2(const std::int8_t* probe, const std::uint8_t* rows,
                                             std::size_t count, int n, std::int32_t* out) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  const std::size_t bytes = static_cast<std::size_t>(n) / 2;
  constexpr std::size_t kAhead = 32;
  for (std::size_t r = 0; r < count; ++r) {
    const std::uint8_t* row = rows + r * bytes;
    if (r + kAhead < count) {
      const char* ahead = reinterpret_cast<const char*>(row + kAhead * bytes);
      for (std::size_t c = 0; c < bytes; c += 64) _mm_prefetch(ahead + c, _MM_HINT_T0);
    }
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    int b = 0;
    for (; b + 2 * kBlockValues <= n; b += 2 * kBlockValues) {
      const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b / 2));
      const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b / 2 + 32));
      const __m256i lo0 = _mm256_and_si256(v0, mask);
      const __m256i hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), mask);
      const __m256i lo1 = _mm256_and_si256(v1, mask);
      const __m256i hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), mask);
      const __m256i* p = reinterpret_cast<const __m256i*>(probe + b);
      const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, _mm256_loadu_si256(p)),
                                          _mm256_maddubs_epi16(hi0, _mm256_loadu_si256(p + 1)));
      const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo1, _mm256_loadu_si256(p + 2)),
                                          _mm256_maddubs_epi16(hi1, _mm256_loadu_si256(p + 3)));
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(s0, ones));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(s1, ones));
    }
    for (; b < n; b += kBlockValues) {
      const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b / 2));
      const __m256i* p = reinterpret_cast<const __m256i*>(probe + b);
      const __m256i s0 = _mm256_add_epi16(
          _mm256_maddubs_epi16(_mm256_and_si256(v0, mask), _mm256_loadu_si256(p)),
          _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 4), mask),
                               _mm256_loadu_si256(p + 1)));
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(s0, ones));
    }
    const __m256i acc = _mm256_add_epi32(acc0, acc1);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    out[r] = _mm_cvtsi128_si32(h);
  }
}
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
// Baseline NEON: nibbles (0..15) as int8, products widened to int16 (15 * 127 * 2 fits) and
// pairwise added into int32.
void u4_neon(const std::int8_t* probe, const std::uint8_t* rows, std::size_t count, int n,
             std::int32_t* out) {
  const uint8x16_t mask = vdupq_n_u8(0x0f);
  const std::size_t bytes = static_cast<std::size_t>(n) / 2;
  for (std::size_t r = 0; r < count; ++r) {
    const std::uint8_t* row = rows + r * bytes;
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    for (int b = 0; b < n; b += kBlockValues) {
      const std::int8_t* p = probe + b;
      for (int h = 0; h < 32; h += 16) {
        const uint8x16_t v = vld1q_u8(row + b / 2 + h);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(v, mask));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
        const int8x16_t plo = vld1q_s8(p + h), phi = vld1q_s8(p + 32 + h);
        int16x8_t m0 = vmull_s8(vget_low_s8(lo), vget_low_s8(plo));
        int16x8_t m1 = vmull_s8(vget_low_s8(hi), vget_low_s8(phi));
        m0 = vmlal_high_s8(m0, lo, plo);
        m1 = vmlal_high_s8(m1, hi, phi);
        acc0 = vpadalq_s16(acc0, m0);
        acc1 = vpadalq_s16(acc1, m1);
      }
    }
    out[r] = vaddvq_s32(vaddq_s32(acc0, acc1));
  }
}
#endif

#ifdef VLRFACE_U4_ARM_DOTPROD
__attribute__((target("arch=armv8.2-a+dotprod"))) void u4_neon_dotprod(const std::int8_t* probe,
                                                                       const std::uint8_t* rows,
                                                                       std::size_t count, int n,
                                                                       std::int32_t* out) {
  const uint8x16_t mask = vdupq_n_u8(0x0f);
  const std::size_t bytes = static_cast<std::size_t>(n) / 2;
  for (std::size_t r = 0; r < count; ++r) {
    const std::uint8_t* row = rows + r * bytes;
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    for (int b = 0; b < n; b += kBlockValues) {
      const std::int8_t* p = probe + b;
      for (int h = 0; h < 32; h += 16) {
        const uint8x16_t v = vld1q_u8(row + b / 2 + h);
        acc0 = vdotq_s32(acc0, vreinterpretq_s8_u8(vandq_u8(v, mask)), vld1q_s8(p + h));
        acc1 = vdotq_s32(acc1, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vld1q_s8(p + 32 + h));
      }
    }
    out[r] = vaddvq_s32(vaddq_s32(acc0, acc1));
  }
}
#endif

using U4Fn = void (*)(const std::int8_t*, const std::uint8_t*, std::size_t, int, std::int32_t*);
struct U4Impl {
  U4Fn fn;
  const char* name;
};

const U4Impl& u4_impl() {
  static const U4Impl impl = [] {
#ifdef VLRFACE_U4_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) return U4Impl{u4_avx2, "avx2"};
#endif
#ifdef VLRFACE_U4_ARM_DOTPROD
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) return U4Impl{u4_neon_dotprod, "neon-dotprod"};
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    return U4Impl{u4_neon, "neon"};
#else
    return U4Impl{u4_portable, "portable"};
#endif
  }();
  return impl;
}

}  // namespace

void dot_u4_rows(const std::int8_t* probe, const std::uint8_t* rows, std::size_t count, int n,
                 std::int32_t* out) {
  u4_impl().fn(probe, rows, count, n, out);
}

void dot_u4_rows_scalar(const std::int8_t* probe, const std::uint8_t* rows, std::size_t count,
                        int n, std::int32_t* out) {
  const std::size_t bytes = static_cast<std::size_t>(n) / 2;
  for (std::size_t r = 0; r < count; ++r) {
    const std::uint8_t* row = rows + r * bytes;
    std::int32_t s = 0;
    for (int i = 0; i < n; ++i) {
      const int block = i / kBlockValues, j = i % kBlockValues;
      const std::uint8_t byte = row[block * 32 + j % 32];
      s += probe[i] * (j < 32 ? (byte & 15) : (byte >> 4));
    }
    out[r] = s;
  }
}

void pack_u4(const std::uint8_t* values, int n, std::uint8_t* out) {
  for (int b = 0; b < n; b += kBlockValues) {
    for (int j = 0; j < 32; ++j) {
      out[b / 2 + j] = static_cast<std::uint8_t>((values[b + j] & 15) | (values[b + 32 + j] << 4));
    }
  }
}

const char* dot_u4_path() {
  return u4_impl().name;
}

}  // namespace vlrface::detail
