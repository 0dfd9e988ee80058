#include "engine/cuda/cast.cuh"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
template <typename S, typename D>
__global__ void CastKernel(const S* x, D* y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = FromF<D>(ToF(x[i]));
}
}  // namespace

Status LaunchCast(const void* x, Elem xe, void* y, Elem ye, int64_t n, void* stream) {
  if (n <= 0) return OkStatus();
  auto s = static_cast<cudaStream_t>(stream);
  if (xe == ye) {
    if (x != y) FK_CUDA_CHECK(cudaMemcpyAsync(y, x, static_cast<size_t>(n) * ElemSize(xe), cudaMemcpyDeviceToDevice, s));
    return OkStatus();
  }
  if (xe == Elem::kF32)
    CastKernel<float, __half><<<BlocksFor(n), kThreads, 0, s>>>(static_cast<const float*>(x), static_cast<__half*>(y), n);
  else
    CastKernel<__half, float><<<BlocksFor(n), kThreads, 0, s>>>(static_cast<const __half*>(x), static_cast<float*>(y), n);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

uint16_t FloatToHalfBits(float f) {
  const __half_raw r = __float2half_rn(f);  // host+device conversion (cuda_fp16.hpp)
  return r.x;
}
float HalfBitsToFloat(uint16_t bits) {
  __half_raw r;
  r.x = bits;
  return __half2float(__half(r));
}

}  // namespace fk::engine::cuda
