#include "engine/cuda/conv_direct.cuh"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
// One thread per output element, output channel fastest: neighbouring threads read neighbouring
// filter taps (HWIO / HWCM rows are output-channel contiguous) and, depthwise, neighbouring inputs.
template <typename T, bool kDepthwise>
__global__ void DirectConvKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                 T* __restrict__ y, DirectConvDesc d, ActParams p, long long total) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long k = i % d.k;
    long long t = i / d.k;
    const long long ox = t % d.ow;
    t /= d.ow;
    const long long oy = t % d.oh;
    const long long n = t / d.oh;
    const long long iy0 = oy * d.sh - d.pad_top, ix0 = ox * d.sw - d.pad_left;
    float acc = 0.f;
    for (long long r = 0; r < d.kh; ++r) {
      const long long iy = iy0 + r * d.dh;
      if (iy < 0 || iy >= d.h) continue;
      for (long long s = 0; s < d.kw; ++s) {
        const long long ix = ix0 + s * d.dw;
        if (ix < 0 || ix >= d.w) continue;
        const T* xp = x + ((n * d.h + iy) * d.w + ix) * d.c;
        if (kDepthwise) {
          acc += ToF(xp[k / d.multiplier]) * ToF(w[(r * d.kw + s) * d.k + k]);
        } else {
          const T* wp = w + (r * d.kw + s) * d.c * d.k + k;
          for (long long c = 0; c < d.c; ++c) acc += ToF(xp[c]) * ToF(wp[c * d.k]);
        }
      }
    }
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
