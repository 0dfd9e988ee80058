#include <string>

#include "engine/cuda/conv_direct.cuh"
#include "engine/cuda/conv_direct_impl.h"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
struct LoadF {
  template <typename T>
  __device__ float operator()(T v) const { return ToF(v); }
};

// One thread per output element, output channel fastest: neighbouring threads read neighbouring
// filter taps (HWIO / HWCM rows are output-channel contiguous) and, depthwise, neighbouring inputs.
// The arithmetic is DirectConvAt (conv_direct_impl.h), which the CPU tests also run.
template <typename T, bool kDepthwise, typename I>
__global__ void DirectConvKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                 T* __restrict__ y, DirectConvDesc d, ActParams p, I total) {
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); i < total;
       i += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    I k = 0;
    float acc = DirectConvAt<kDepthwise>(x, w, d, i, LoadF{}, &k);
    if (bias) acc += ToF(bias[k]);
    y[i] = FromF<T>(ApplyAct<T>(acc, p, k));
  }
}

// V channels per thread (DepthwiseVecAt): one vector load of V inputs and V weights per tap.
template <typename T, int V, typename I>
__global__ void DepthwiseVecKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                   T* __restrict__ y, DirectConvDesc d, ActParams p, I work) {
  for (I j = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); j < work;
       j += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    float acc[V];
    I k0 = 0, o = 0;
    DepthwiseVecAt<V>(x, w, d, j, LoadF{}, acc, &k0, &o);
    VecOf<V, T> out;
    for (int v = 0; v < V; ++v) {
      float a = acc[v];
      if (bias) a += ToF(bias[k0 + v]);
      out.v[v] = FromF<T>(ApplyAct<T>(a, p, k0 + v));
    }
    *reinterpret_cast<VecOf<V, T>*>(y + o) = out;
  }
}

template <typename I>
void LaunchTyped(const void* x, const void* w, const void* bias, void* y, const DirectConvDesc& d,
                 const ActParams& act, Elem e, cudaStream_t s, long long total) {
  if (d.multiplier == 1 && d.vec > 1) {
    const long long work = total / d.vec;
    if (e == Elem::kF16 && d.vec == 8)
      DepthwiseVecKernel<__half, 8, I><<<BlocksFor(work), kThreads, 0, s>>>(
          static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<const __half*>(bias),
          static_cast<__half*>(y), d, act, static_cast<I>(work));
    else if (e == Elem::kF16)
      DepthwiseVecKernel<__half, 4, I><<<BlocksFor(work), kThreads, 0, s>>>(
          static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<const __half*>(bias),
          static_cast<__half*>(y), d, act, static_cast<I>(work));
    else
      DepthwiseVecKernel<float, 4, I><<<BlocksFor(work), kThreads, 0, s>>>(
          static_cast<const float*>(x), static_cast<const float*>(w), static_cast<const float*>(bias),
          static_cast<float*>(y), d, act, static_cast<I>(work));
  } else if (d.multiplier > 0) {
    FK_DISPATCH_ELEM(e, DirectConvKernel<T, true, I><<<BlocksFor(total), kThreads, 0, s>>>(
                            static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                            static_cast<T*>(y), d, act, static_cast<I>(total)));
  } else {
    FK_DISPATCH_ELEM(e, DirectConvKernel<T, false, I><<<BlocksFor(total), kThreads, 0, s>>>(
                            static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                            static_cast<T*>(y), d, act, static_cast<I>(total)));
  }
}
}  // namespace

Status LaunchDirectConv(const void* x, const void* w, const void* bias, void* y, const DirectConvDesc& d,
                        const ActParams& act, Elem e, void* stream) {
  const long long total = d.n * d.oh * d.ow * d.k;
  if (total <= 0) return OkStatus();
  if (d.multiplier < 0 || d.k <= 0 || (d.multiplier > 0 && d.k != d.c * d.multiplier))
    return Internal("direct conv: inconsistent channels");
  if (d.vec > 1 && (d.multiplier != 1 || d.k % d.vec != 0 || (e == Elem::kF32 && d.vec != 4) ||
                    (e == Elem::kF16 && d.vec != 4 && d.vec != 8)))
    return Internal("direct conv: vector width " + std::to_string(d.vec) + " does not fit the node");
  const auto s = static_cast<cudaStream_t>(stream);
  if (Use32BitIndex(d) && !Force64BitIndex()) LaunchTyped<int>(x, w, bias, y, d, act, e, s, total);
  else LaunchTyped<long long>(x, w, bias, y, d, act, e, s, total);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
