#include "engine/cpu/prelu_inplace.h"

#include <algorithm>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define FK_PRELU_X86 1
#endif

namespace fk::engine::cpu {
namespace {

// Rows [r0, r1) with the portable loop (the same expression as ref's activation).
void PreluRowsPlain(float* y, int64_t r0, int64_t r1, int64_t c, const float* alpha, bool scalar) {
  for (int64_t r = r0; r < r1; ++r) {
    float* p = y + r * c;
    if (scalar) {
      const float a = alpha[0];
      for (int64_t k = 0; k < c; ++k) p[k] = p[k] < 0.f ? a * p[k] : p[k];
    } else {
      for (int64_t k = 0; k < c; ++k) p[k] = p[k] < 0.f ? alpha[k] * p[k] : p[k];
    }
  }
}

#ifdef FK_PRELU_X86
__attribute__((target("avx512f"))) void PreluRowsAvx512(float* y, int64_t r0, int64_t r1, int64_t c,
                                                        const float* alpha, bool scalar) {
  const __m512 zero = _mm512_setzero_ps();
  const int64_t full = c / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (c - full)) - 1u);
  const __m512 as = _mm512_set1_ps(alpha[0]);
  for (int64_t r = r0; r < r1; ++r) {
    float* p = y + r * c;
    int64_t k = 0;
    for (; k < full; k += 16) {
      const __m512 v = _mm512_loadu_ps(p + k);
      const __m512 a = scalar ? as : _mm512_loadu_ps(alpha + k);
      const __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
      _mm512_storeu_ps(p + k, _mm512_mask_mul_ps(v, neg, v, a));
    }
    if (tail) {
      const __m512 v = _mm512_maskz_loadu_ps(tail, p + k);
      const __m512 a = scalar ? as : _mm512_maskz_loadu_ps(tail, alpha + k);
      const __mmask16 neg = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
      _mm512_mask_storeu_ps(p + k, tail, _mm512_mask_mul_ps(v, neg, v, a));
    }
  }
}

bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}
#endif

void PreluRows(float* y, int64_t r0, int64_t r1, int64_t c, const float* alpha, bool scalar) {
#ifdef FK_PRELU_X86
  if (HasAvx512()) return PreluRowsAvx512(y, r0, r1, c, alpha, scalar);
#endif
  PreluRowsPlain(y, r0, r1, c, alpha, scalar);
}

}  // namespace

void PreluChannelLastInPlace(float* y, int64_t rows, int64_t channels, const float* alpha,
                             bool scalar_alpha, int num_threads) {
  if (rows <= 0 || channels <= 0) return;
  // Below ~64k elements a parallel region costs more than it saves.
  const int64_t kMinPerThread = 1 << 15;
  const int64_t n = rows * channels;
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, n / kMinPerThread)));
  if (threads <= 1) return PreluRows(y, 0, rows, channels, alpha, scalar_alpha);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int t = 0; t < threads; ++t) {
    const int64_t r0 = rows * t / threads, r1 = rows * (t + 1) / threads;
    PreluRows(y, r0, r1, channels, alpha, scalar_alpha);
  }
}

}  // namespace fk::engine::cpu
