#include "engine/cuda/bias_act.cuh"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
__global__ void BiasActKernel(float* y, long long n, long long channels, const float* bias,
                              ActParams p) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const long long c = i % channels;
    float v = y[i];
    if (bias) v += bias[c];
    y[i] = ApplyAct(v, p, c);
  }
}
}  // namespace

Status LaunchBiasAct(float* y, int64_t n, int64_t channels, const float* bias, const ActParams& act,
                     void* stream) {
  if (n <= 0 || (!bias && act.kind == ActKind::kNone)) return OkStatus();
  if (channels <= 0) channels = 1;
  BiasActKernel<<<BlocksFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(y, n, channels,
                                                                                   bias, act);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
