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
template <typename T, bool kDepthwise>
__global__ void DirectConvKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                 T* __restrict__ y, DirectConvDesc d, ActParams p, long long total) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    long long k = 0;
    float acc = DirectConvAt<kDepthwise>(x, w, d, i, LoadF{}, &k);
    if (bias) acc += ToF(bias[k]);
    y[i] = FromF<T>(ApplyAct<T>(acc, p, k));
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
  if (d.multiplier > 0) {
    FK_DISPATCH_ELEM(e, DirectConvKernel<T, true><<<BlocksFor(total), kThreads, 0, s>>>(
                            static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                            static_cast<T*>(y), d, act, total));
  } else {
    FK_DISPATCH_ELEM(e, DirectConvKernel<T, false><<<BlocksFor(total), kThreads, 0, s>>>(
                            static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
                            static_cast<T*>(y), d, act, total));
  }
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
