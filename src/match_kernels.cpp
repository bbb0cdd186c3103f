#include "match_kernels.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VLRFACE_X86_DISPATCH 1
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#if defined(__linux__) && defined(__GNUC__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // the Linux value; older headers lack the name
#endif
#define VLRFACE_ARM_DOTPROD_DISPATCH 1
#endif
#endif

namespace vlrface::detail {
namespace {

// A plain `s += a[i] * b[i]` loop is one serial chain of dependent adds: without -ffast-math the
// compiler may not reorder it, so it neither vectorises nor hides the add latency (4.5 ms for
// 10,000 x 512 here). Sixteen independent partial sums are a reordering we choose, which the
// compiler can keep in vector registers (SSE2 on x86-64, NEON on aarch64).
float dot_f32_portable(const float* a, const float* b, int n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Sixteen int32 partial sums of int16 products: the shape GCC and Clang turn into pmaddwd (SSE2)
// or smull/sadalp (NEON) at -O2/-O3; exact whatever they do.
std::int32_t dot_i8_portable(const std::int8_t* a, const std::int8_t* b, int n) {
  constexpr int kLanes = 16;
  std::int32_t acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      acc[j] += static_cast<std::int16_t>(a[i + j]) * static_cast<std::int16_t>(b[i + j]);
    }
  }
  std::int32_t s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

[[maybe_unused]] void rows_portable(const std::int8_t* probe, const std::int8_t* rows,
                                    std::size_t count, int n, std::int32_t* out) {
  for (std::size_t r = 0; r < count; ++r) {
    out[r] = dot_i8_portable(probe, rows + r * static_cast<std::size_t>(n), n);
  }
}

#ifdef VLRFACE_X86_DISPATCH
// The default x86-64 target stops at SSE2; AVX2 + FMA doubles the width and fuses the multiply-add.
// Compiled for those instructions only here and chosen at run time, so the binary still runs on
// any x86-64.
__attribute__((target("avx2,fma"))) float dot_f32_avx2(const float* a, const float* b, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  const __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x1));
  float s = _mm_cvtss_f32(h);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// 32 int8 pairs a step: |a| (unsigned) times b with a's sign (vpsignb) makes vpmaddubsw's
// unsigned x signed product the signed one; a pair sum is at most 2 * 127 * 127, inside int16.
// vpmaddwd with ones widens the pairs to int32.
// Rows fetched ahead by hand: at 100,000 x 512 (51 MB, out of cache) this took the scan's median
// thread CPU time from 7.2 to 5.7-6.7 ms on the shared 2-core EPYC VM (two runs of 100 probes).
constexpr std::size_t kPrefetchRows = 4;

__attribute__((target("avx2"))) void rows_avx2(const std::int8_t* probe, const std::int8_t* rows,
                                               std::size_t count, int n, std::int32_t* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int whole = n - n % 32;
  for (std::size_t r = 0; r < count; ++r) {
    const std::int8_t* row = rows + r * static_cast<std::size_t>(n);
    if (r + kPrefetchRows < count) {
      const char* ahead =
          reinterpret_cast<const char*>(row + kPrefetchRows * static_cast<std::size_t>(n));
      for (int c = 0; c < n; c += 64) _mm_prefetch(ahead + c, _MM_HINT_T0);
    }
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    int i = 0;
    for (; i + 64 <= whole; i += 64) {
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(probe + i));
      const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(probe + i + 32));
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i + 32));
      const __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
      const __m256i p1 = _mm256_maddubs_epi16(_mm256_abs_epi8(a1), _mm256_sign_epi8(b1, a1));
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
    }
    for (; i < whole; i += 32) {
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(probe + i));
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i));
      const __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
    }
    const __m256i acc = _mm256_add_epi32(acc0, acc1);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    std::int32_t s = _mm_cvtsi128_si32(h);
    for (; i < n; ++i) s += probe[i] * row[i];
    out[r] = s;
  }
}
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
// Baseline ARMv8 NEON (every aarch64 CPU): 16 pairs a step, two products summed in int16
// (at most 2 * 127 * 127 = 32,258) before the pairwise widening add into int32.
void rows_neon(const std::int8_t* probe, const std::int8_t* rows, std::size_t count, int n,
               std::int32_t* out) {
  const int whole = n - n % 16;
  for (std::size_t r = 0; r < count; ++r) {
    const std::int8_t* row = rows + r * static_cast<std::size_t>(n);
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    int i = 0;
    for (; i + 32 <= whole; i += 32) {
      const int8x16_t a0 = vld1q_s8(probe + i), b0 = vld1q_s8(row + i);
      const int8x16_t a1 = vld1q_s8(probe + i + 16), b1 = vld1q_s8(row + i + 16);
      int16x8_t m0 = vmull_s8(vget_low_s8(a0), vget_low_s8(b0));
      int16x8_t m1 = vmull_s8(vget_low_s8(a1), vget_low_s8(b1));
      m0 = vmlal_high_s8(m0, a0, b0);
      m1 = vmlal_high_s8(m1, a1, b1);
      acc0 = vpadalq_s16(acc0, m0);
      acc1 = vpadalq_s16(acc1, m1);
    }
    for (; i < whole; i += 16) {
      const int8x16_t a0 = vld1q_s8(probe + i), b0 = vld1q_s8(row + i);
      int16x8_t m0 = vmull_s8(vget_low_s8(a0), vget_low_s8(b0));
      m0 = vmlal_high_s8(m0, a0, b0);
      acc0 = vpadalq_s16(acc0, m0);
    }
    std::int32_t s = vaddvq_s32(vaddq_s32(acc0, acc1));
    for (; i < n; ++i) s += probe[i] * row[i];
    out[r] = s;
  }
}
#endif

#ifdef VLRFACE_ARM_DOTPROD_DISPATCH
// ARMv8.2 SDOT (Cortex-A76 of a Pi 5 has it, the A72 of a Pi 4 does not): four int8 products
// summed into each int32 lane in one instruction. Built for it here only, chosen at run time.
__attribute__((target("arch=armv8.2-a+dotprod"))) void rows_neon_dotprod(const std::int8_t* probe,
                                                                         const std::int8_t* rows,
                                                                         std::size_t count, int n,
                                                                         std::int32_t* out) {
  const int whole = n - n % 16;
  for (std::size_t r = 0; r < count; ++r) {
    const std::int8_t* row = rows + r * static_cast<std::size_t>(n);
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    int i = 0;
    for (; i + 32 <= whole; i += 32) {
      acc0 = vdotq_s32(acc0, vld1q_s8(probe + i), vld1q_s8(row + i));
      acc1 = vdotq_s32(acc1, vld1q_s8(probe + i + 16), vld1q_s8(row + i + 16));
    }
    for (; i < whole; i += 16) acc0 = vdotq_s32(acc0, vld1q_s8(probe + i), vld1q_s8(row + i));
    std::int32_t s = vaddvq_s32(vaddq_s32(acc0, acc1));
    for (; i < n; ++i) s += probe[i] * row[i];
    out[r] = s;
  }
}
#endif

using RowsFn = void (*)(const std::int8_t*, const std::int8_t*, std::size_t, int, std::int32_t*);

struct RowsImpl {
  RowsFn fn;
  const char* name;
};

// Chosen on first use rather than at static initialisation, so a Matcher built by another static
// initialiser cannot see it unset.
const RowsImpl& rows_impl() {
  static const RowsImpl impl = [] {
#ifdef VLRFACE_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) return RowsImpl{rows_avx2, "avx2"};
#endif
#ifdef VLRFACE_ARM_DOTPROD_DISPATCH
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) return RowsImpl{rows_neon_dotprod, "neon-dotprod"};
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    return RowsImpl{rows_neon, "neon"};
#else
    return RowsImpl{rows_portable, "portable"};
#endif
  }();
  return impl;
}

}  // namespace

float dot_f32(const float* a, const float* b, int n) {
#ifdef VLRFACE_X86_DISPATCH
  static const auto impl = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? dot_f32_avx2
                                                                           : dot_f32_portable;
  }();
  return impl(a, b, n);
#else
  return dot_f32_portable(a, b, n);
#endif
}

void dot_i8_rows(const std::int8_t* probe, const std::int8_t* rows, std::size_t count, int n,
                 std::int32_t* out) {
  rows_impl().fn(probe, rows, count, n, out);
}

void dot_i8_rows_scalar(const std::int8_t* probe, const std::int8_t* rows, std::size_t count, int n,
                        std::int32_t* out) {
  for (std::size_t r = 0; r < count; ++r) {
    const std::int8_t* row = rows + r * static_cast<std::size_t>(n);
    std::int32_t s = 0;
    for (int i = 0; i < n; ++i) s += probe[i] * row[i];
    out[r] = s;
  }
}

const char* dot_i8_path() {
  return rows_impl().name;
}

}  // namespace vlrface::detail
