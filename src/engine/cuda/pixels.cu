#include "engine/cuda/pixels.cuh"

#include <string>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
// One thread per output element (consecutive threads: consecutive channels of consecutive
// pixels, so the byte reads and the float/half writes are coalesced).
template <typename T, typename I>
__global__ void PixelsKernel(const uint8_t* __restrict__ src, T* __restrict__ dst, I n, PixelTransform t) {
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); i < n;
       i += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x))
    dst[i] = FromF<T>(PixelAt(src, t, i));
}
}  // namespace

Status LaunchPixelsToFloat(const uint8_t* src, void* dst, Elem e, int64_t n, const PixelTransform& t,
                           void* stream) {
  if (n <= 0) return OkStatus();
  if (t.channels < 1 || t.channels > 4 || n % t.channels != 0)
    return Internal("pixels to float: " + std::to_string(n) + " elements do not hold whole pixels of " +
                    std::to_string(t.channels) + " channel(s)");
  const auto s = static_cast<cudaStream_t>(stream);
  if (Fits32(n)) {
    FK_DISPATCH_ELEM(e, PixelsKernel<T, int><<<BlocksFor(n), kThreads, 0, s>>>(src, static_cast<T*>(dst),
                                                                             static_cast<int>(n), t));
  } else {
    FK_DISPATCH_ELEM(e, PixelsKernel<T, long long><<<BlocksFor(n), kThreads, 0, s>>>(
                            src, static_cast<T*>(dst), static_cast<long long>(n), t));
  }
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
