#include <math_constants.h>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"
#include "engine/cuda/softmax.cuh"

namespace fk::engine::cuda {

namespace {
// One warp per row: max, sum of exp, normalise (numerically stable, like TF).
template <typename T>
__global__ void SoftmaxRows(const T* x, T* y, long long rows, long long cols) {
  const long long row = blockIdx.x * (long long)(blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  float m = -CUDART_INF_F;
  for (long long j = lane; j < cols; j += 32) m = fmaxf(m, ToF(xr[j]));
  for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  float s = 0.f;
  for (long long j = lane; j < cols; j += 32) s += expf(ToF(xr[j]) - m);
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  const float inv = 1.f / s;
  for (long long j = lane; j < cols; j += 32) yr[j] = FromF<T>(expf(ToF(xr[j]) - m) * inv);
}
}  // namespace

Status LaunchSoftmax(const void* x, void* y, int64_t rows, int64_t cols, Elem e, void* stream) {
  if (rows <= 0 || cols <= 0) return OkStatus();
  const int warps = kThreads / 32;
  const long long blocks = (rows + warps - 1) / warps;
  FK_DISPATCH_ELEM(e, SoftmaxRows<T><<<static_cast<unsigned>(blocks), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
                          static_cast<const T*>(x), static_cast<T*>(y), rows, cols));
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
