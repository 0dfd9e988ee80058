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
#if defined(__CUDACC__)
#pragma nv_exec_check_disable  // `load` is __device__ in the kernel, a plain function on the host
#endif
template <bool kDepthwise, typename T, typename Load>
FK_HOST_DEVICE float DirectConvAt(const T* x, const T* w, const DirectConvDesc& d, long long i, Load load,
                                  long long* channel) {
  const long long k = i % d.k;
  long long t = i / d.k;
  const long long ox = t % d.ow;
  t /= d.ow;
  const long long oy = t % d.oh;
  const long long n = t / d.oh;
  const long long iy0 = oy * d.sh - d.pad_top, ix0 = ox * d.sw - d.pad_left;
  const long long cin = kDepthwise ? k / d.multiplier : 0;
  float acc = 0.f;
  for (long long r = 0; r < d.kh; ++r) {
    const long long iy = iy0 + r * d.dh;
    if (iy < 0 || iy >= d.h) continue;
    for (long long s = 0; s < d.kw; ++s) {
      const long long ix = ix0 + s * d.dw;
      if (ix < 0 || ix >= d.w) continue;
      const T* xp = x + ((n * d.h + iy) * d.w + ix) * d.c;
      if (kDepthwise) {
        acc += load(xp[cin]) * load(w[(r * d.kw + s) * d.k + k]);
      } else {
        const T* wp = w + (r * d.kw + s) * d.c * d.k + k;
        for (long long c = 0; c < d.c; ++c) acc += load(xp[c]) * load(wp[c * d.k]);
      }
    }
  }
  *channel = k;
  return acc;
}

}  // namespace fk::engine::cuda
