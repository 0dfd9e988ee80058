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

// Work item j of n * oh * ow * inner (inner fastest: a channel, or a group of channels) -> the
// output position and the top-left input tap of its window.
template <typename I>
struct OutputPos {
  I inner, n, oy, ox, iy0, ix0;
};
template <typename I>
FK_HOST_DEVICE OutputPos<I> Unravel(const DirectConvDesc& d, I j, I inner) {
  OutputPos<I> p;
  p.inner = j % inner;
  I t = j / inner;
  p.ox = t % static_cast<I>(d.ow);
  t /= static_cast<I>(d.ow);
  p.oy = t % static_cast<I>(d.oh);
  p.n = t / static_cast<I>(d.oh);
  p.iy0 = p.oy * static_cast<I>(d.sh) - static_cast<I>(d.pad_top);
  p.ix0 = p.ox * static_cast<I>(d.sw) - static_cast<I>(d.pad_left);
  return p;
}

// Output element i of y [n, oh, ow, k] (k fastest), before bias and activation; *channel = k.
// I: the index type, int when the node's tensors are small enough (Use32BitIndex): a
// 64-bit division costs several times a 32-bit one on a GPU, and there are five per output.
template <bool kDepthwise, typename I, typename T, typename Load>
FK_HOST_DEVICE float DirectConvAt(const T* x, const T* w, const DirectConvDesc& d, I i, Load load, I* channel) {
  const I K = static_cast<I>(d.k), H = static_cast<I>(d.h), W = static_cast<I>(d.w), C = static_cast<I>(d.c);
  const I KW = static_cast<I>(d.kw), KH = static_cast<I>(d.kh);
  const OutputPos<I> p = Unravel(d, i, K);
  const I k = p.inner, n = p.n, iy0 = p.iy0, ix0 = p.ix0;
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

// V values of T loaded as one aligned vector (16 or 8 bytes: one LDG.128 / LDG.64 on the GPU).
template <int V, typename T>
struct alignas(sizeof(T) * V) VecOf {
  T v[V];
};

// Depthwise with multiplier 1, V adjacent channels per call: work item j of
// n * oh * ow * (k / V) (channel group fastest). acc[0..V) before bias and activation;
// *k0 = first channel, *out = flat index of y[n, oy, ox, k0]. Needs k % V == 0 and x, w, y
// aligned to V * sizeof(T) (arena offsets and pool blocks are 256-byte aligned).
#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <int V, typename I, typename T, typename Load>
FK_HOST_DEVICE void DepthwiseVecAt(const T* x, const T* w, const DirectConvDesc& d, I j, Load load, float* acc,
                                   I* k0, I* out) {
  const I K = static_cast<I>(d.k), H = static_cast<I>(d.h), W = static_cast<I>(d.w);
  const I KW = static_cast<I>(d.kw), KH = static_cast<I>(d.kh);
  const OutputPos<I> p = Unravel(d, j, K / V);
  const I c0 = p.inner * V, n = p.n, iy0 = p.iy0, ix0 = p.ix0;
  for (int v = 0; v < V; ++v) acc[v] = 0.f;
  for (I r = 0; r < KH; ++r) {
    const I iy = iy0 + r * static_cast<I>(d.dh);
    if (iy < 0 || iy >= H) continue;
    for (I s = 0; s < KW; ++s) {
      const I ix = ix0 + s * static_cast<I>(d.dw);
      if (ix < 0 || ix >= W) continue;
      const VecOf<V, T> xv = *reinterpret_cast<const VecOf<V, T>*>(x + ((n * H + iy) * W + ix) * K + c0);
      const VecOf<V, T> wv = *reinterpret_cast<const VecOf<V, T>*>(w + (r * KW + s) * K + c0);
      for (int v = 0; v < V; ++v) acc[v] += load(xv.v[v]) * load(wv.v[v]);
    }
  }
  *k0 = c0;
  *out = ((n * static_cast<I>(d.oh) + p.oy) * static_cast<I>(d.ow) + p.ox) * K + c0;
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
