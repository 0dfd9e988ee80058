// 8-bit pixels -> a float model input (Model::RunPixels): the arithmetic shared by the host
// conversion (engine/executor.cpp) and the GPU kernel (engine/cuda/pixels.cu), so both give the
// same floats. Header-only and dependency-free: nvcc compiles it too.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FK_PIXEL_HD __host__ __device__ __forceinline__
#else
#define FK_PIXEL_HD inline
#endif

namespace fk::engine {

// One input's normalisation, expanded to its channel count (1..4; Executor::RunPixels checks).
struct PixelTransform {
  int channels = 3;
  float scale[4] = {1.f, 1.f, 1.f, 1.f};
  float offset[4] = {0.f, 0.f, 0.f, 0.f};
  bool reverse = false;  // output channel c reads source channel channels-1-c (RGB <-> BGR)
};

// One normalised value: a multiply then an add, never a fused multiply-add (the GPU rounds each
// step like the host does: vision::Normalize's arithmetic).
FK_PIXEL_HD float NormalizePixel(uint8_t v, float scale, float offset) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(__fmul_rn(static_cast<float>(v), scale), offset);
#else
  return static_cast<float>(v) * scale + offset;
#endif
}

// Element i of the normalised NHWC tensor (channel i % channels) from the pixels `src` of the
// same shape (the GPU kernel's per-thread work).
template <typename I>
FK_PIXEL_HD float PixelAt(const uint8_t* src, const PixelTransform& t, I i) {
  const int c = static_cast<int>(i % static_cast<I>(t.channels));
  const int s = t.reverse ? t.channels - 1 - c : c;
  return NormalizePixel(src[i - c + s], t.scale[c], t.offset[c]);
}

// The whole tensor on the host (n = pixels * channels): the same values as PixelAt.
inline void PixelsToFloat(const uint8_t* src, float* dst, int64_t n, const PixelTransform& t) {
  const int ch = t.channels;
  for (int64_t p = 0; p < n; p += ch)
    for (int c = 0; c < ch; ++c)
      dst[p + c] = NormalizePixel(src[p + (t.reverse ? ch - 1 - c : c)], t.scale[c], t.offset[c]);
}

}  // namespace fk::engine
