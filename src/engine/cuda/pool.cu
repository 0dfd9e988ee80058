#include <math_constants.h>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"
#include "engine/cuda/pool.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T>
__global__ void Pool2d(const T* x, T* y, Pool2dDesc d, long long total) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long c = i % d.c;
    long long r = i / d.c;
    const long long ox = r % d.ow;
    r /= d.ow;
    const long long oy = r % d.oh;
    const long long n = r / d.oh;
    const long long y0 = oy * d.sh - d.pad_top, x0 = ox * d.sw - d.pad_left;
    float acc = d.max ? -CUDART_INF_F : 0.f;
    int count = 0;
    for (long long ky = 0; ky < d.kh; ++ky) {
      const long long iy = y0 + ky;
      if (iy < 0 || iy >= d.h) continue;
      for (long long kx = 0; kx < d.kw; ++kx) {
        const long long ix = x0 + kx;
        if (ix < 0 || ix >= d.w) continue;
        const float v = ToF(x[((n * d.h + iy) * d.w + ix) * d.c + c]);
        acc = d.max ? fmaxf(acc, v) : acc + v;
        ++count;
      }
    }
    y[i] = FromF<T>(d.max ? acc : (count ? acc / count : 0.f));
  }
}
}  // namespace

Status LaunchPool2d(const void* x, void* y, const Pool2dDesc& d, Elem e, void* stream) {
  const long long total = d.n * d.oh * d.ow * d.c;
  if (total <= 0) return OkStatus();
  FK_DISPATCH_ELEM(e, Pool2d<T><<<BlocksFor(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
                          static_cast<const T*>(x), static_cast<T*>(y), d, total));
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
