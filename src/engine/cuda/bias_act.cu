#include "engine/cuda/bias_act.cuh"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T, typename I>
__global__ void BiasActKernel(T* y, I n, I channels, const T* bias, ActParams p) {
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); i < n;
       i += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    const I c = i % channels;
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
  const auto s = static_cast<cudaStream_t>(stream);
  if (Fits32(n)) {
    FK_DISPATCH_ELEM(e, BiasActKernel<T, int><<<BlocksFor(n), kThreads, 0, s>>>(
                            static_cast<T*>(y), static_cast<int>(n), static_cast<int>(channels),
                            static_cast<const T*>(bias), act));
  } else {
    FK_DISPATCH_ELEM(e, BiasActKernel<T, long long><<<BlocksFor(n), kThreads, 0, s>>>(
                            static_cast<T*>(y), static_cast<long long>(n), static_cast<long long>(channels),
                            static_cast<const T*>(bias), act));
  }
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
