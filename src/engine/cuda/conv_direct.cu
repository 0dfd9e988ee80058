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

template <typename I>
void LaunchTyped(const void* x, const void* w, const void* bias, void* y, const DirectConvDesc& d,
                 const ActParams& act, Elem e, cudaStream_t s, long long total) {
  if (d.multiplier > 0) {
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
  const auto s = static_cast<cudaStream_t>(stream);
  if (Use32BitIndex(d) && !Force64BitIndex()) LaunchTyped<int>(x, w, bias, y, d, act, e, s, total);
  else LaunchTyped<long long>(x, w, bias, y, d, act, e, s, total);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
