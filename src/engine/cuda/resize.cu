#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"
#include "engine/cuda/resize.cuh"

namespace fk::engine::cuda {

namespace {
__device__ __forceinline__ long long Clamp(long long v, long long lo, long long hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

__device__ __forceinline__ float Scale(long long in, long long out, bool align) {
  return (align && out > 1) ? (float)(in - 1) / (float)(out - 1) : (float)in / (float)out;
}

template <typename T>
__global__ void ResizeKernel(const T* x, T* y, ResizeDesc d, long long total) {
  const float sy = Scale(d.h, d.oh, d.align_corners), sx = Scale(d.w, d.ow, d.align_corners);
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    const long long c = i % d.c;
    long long r = i / d.c;
    const long long ox = r % d.ow;
    r /= d.ow;
    const long long oy = r % d.oh;
    const long long n = r / d.oh;
    const T* xn = x + n * d.h * d.w * d.c;
    if (!d.bilinear) {
      float fy = d.half_pixel_centers ? (oy + 0.5f) * sy : oy * sy;
      float fx = d.half_pixel_centers ? (ox + 0.5f) * sx : ox * sx;
      long long iy = d.align_corners ? llroundf(fy) : (long long)floorf(fy);
      long long ix = d.align_corners ? llroundf(fx) : (long long)floorf(fx);
      iy = Clamp(iy, 0, (long long)d.h - 1);
      ix = Clamp(ix, 0, (long long)d.w - 1);
      y[i] = xn[(iy * d.w + ix) * d.c + c];
      continue;
    }
    const float fy = d.half_pixel_centers ? (oy + 0.5f) * sy - 0.5f : oy * sy;
    const float fx = d.half_pixel_centers ? (ox + 0.5f) * sx - 0.5f : ox * sx;
    const float fly = floorf(fy), flx = floorf(fx);
    const long long y0 = Clamp((long long)fly, 0, (long long)d.h - 1);
    const long long x0 = Clamp((long long)flx, 0, (long long)d.w - 1);
    const long long y1 = Clamp((long long)ceilf(fy), 0, (long long)d.h - 1);
    const long long x1 = Clamp((long long)ceilf(fx), 0, (long long)d.w - 1);
    const float ly = fy - fly, lx = fx - flx;
    const float tl = ToF(xn[(y0 * d.w + x0) * d.c + c]), tr = ToF(xn[(y0 * d.w + x1) * d.c + c]);
    const float bl = ToF(xn[(y1 * d.w + x0) * d.c + c]), br = ToF(xn[(y1 * d.w + x1) * d.c + c]);
    const float top = tl + (tr - tl) * lx, bot = bl + (br - bl) * lx;
    y[i] = FromF<T>(top + (bot - top) * ly);
  }
}
}  // namespace

Status LaunchResize(const void* x, void* y, const ResizeDesc& d, Elem e, void* stream) {
  const long long total = d.n * d.oh * d.ow * d.c;
  if (total <= 0) return OkStatus();
  FK_DISPATCH_ELEM(e, ResizeKernel<T><<<BlocksFor(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
                          static_cast<const T*>(x), static_cast<T*>(y), d, total));
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
