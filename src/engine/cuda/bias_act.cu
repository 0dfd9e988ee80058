#include "engine/cuda/bias_act.cuh"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T>
__global__ void BiasActKernel(T* y, long long n, long long channels, const T* bias, ActParams p) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const long long c = i % channels;
    float v = ToF(y[i]);
    if (bias) v += ToF(bias[c]);
    y[i] = FromF<T>(ApplyAct<T>(v, p, c));
  }
}
}  // namespace

Status LaunchBiasAct(void* y, int64_t n, int64_t channels, const void* bias, const ActParams& act,
                     Elem e, void* stream) {
  if (n <= 0 || (!bias && act.kind == ActKind::kNone)) return OkStatus();
  if (channels <= 0) channels = 1;
  FK_DISPATCH_ELEM(e, BiasActKernel<T><<<BlocksFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
                          static_cast<T*>(y), n, channels, static_cast<const T*>(bias), act));
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
