// The direct convolution's arithmetic for one output element, shared by the CUDA kernel
// (conv_direct.cu) and a host test that runs it against the reference backend without a GPU
// (tests/engine/cuda_conv_host_test.cpp). `load` turns a stored value into float.
#pragma once

#include "engine/cuda/conv_direct.cuh"

#if defined(__CUDACC__)
#define FK_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FK_HOST_DEVICE inline
#endif

namespace fk::engine::cuda {

// Output element i of y [n, oh, ow, k] (k fastest), before bias and activation; *channel = k.
// I: the index type, int when the node's tensors are small enough (Use32BitIndex): a
// 64-bit division costs several times a 32-bit one on a GPU, and there are five per output.
template <bool kDepthwise, typename I, typename T, typename Load>
FK_HOST_DEVICE float DirectConvAt(const T* x, const T* w, const DirectConvDesc& d, I i, Load load, I* channel) {
  const I K = static_cast<I>(d.k), OW = static_cast<I>(d.ow), OH = static_cast<I>(d.oh);
  const I H = static_cast<I>(d.h), W = static_cast<I>(d.w), C = static_cast<I>(d.c);
  const I KW = static_cast<I>(d.kw), KH = static_cast<I>(d.kh);
  const I k = i % K;
  I t = i / K;
  const I ox = t % OW;
  t /= OW;
  const I oy = t % OH;
  const I n = t / OH;
  const I iy0 = oy * static_cast<I>(d.sh) - static_cast<I>(d.pad_top);
  const I ix0 = ox * static_cast<I>(d.sw) - static_cast<I>(d.pad_left);
  const I cin = kDepthwise ? k / static_cast<I>(d.multiplier) : 0;
  float acc = 0.f;
  for (I r = 0; r < KH; ++r) {
    const I iy = iy0 + r * static_cast<I>(d.dh);
    if (iy < 0 || iy >= H) continue;
    for (I s = 0; s < KW; ++s) {
      const I ix = ix0 + s * static_cast<I>(d.dw);
      if (ix < 0 || ix >= W) continue;
      const T* xp = x + ((n * H + iy) * W + ix) * C;
      if (kDepthwise) {
        acc += load(xp[cin]) * load(w[(r * KW + s) * K + k]);
      } else {
        const T* wp = w + (r * KW + s) * C * K + k;
        for (I c = 0; c < C; ++c) acc += load(xp[c]) * load(wp[c * K]);
      }
    }
  }
  *channel = k;
  return acc;
}

// True when int indices are safe for the node: input and filter < 2^31 elements, output < 2^30
// (the kernel's grid-stride step, <= 2^29, past the last output must not overflow).
inline bool Use32BitIndex(const DirectConvDesc& d) {
  constexpr long long kMax = 0x7fffffffLL;
  const long long in = d.n * d.h * d.w * d.c, out = d.n * d.oh * d.ow * d.k;
  const long long filt = d.kh * d.kw * (d.multiplier > 0 ? d.k : d.c * d.k);
  return in < kMax && out < (1LL << 30) && filt < kMax;
}

}  // namespace fk::engine::cuda
