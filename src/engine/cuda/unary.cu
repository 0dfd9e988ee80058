#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"
#include "engine/cuda/unary.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T>
__global__ void UnaryKernel(UnaryKind k, const T* x, T* y, long long n, float p0, float p1) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    const float v = ToF(x[i]);
    float r;
    switch (k) {
      case UnaryKind::kAbs: r = fabsf(v); break;
      case UnaryKind::kNeg: r = -v; break;
      case UnaryKind::kSquare: r = v * v; break;
      case UnaryKind::kSqrt: r = sqrtf(v); break;
      case UnaryKind::kRsqrt: r = 1.f / sqrtf(v); break;  // not rsqrtf: keep IEEE accuracy
      case UnaryKind::kExp: r = expf(v); break;
      case UnaryKind::kLog: r = logf(v); break;
      case UnaryKind::kRelu: r = v > 0.f ? v : 0.f; break;
      case UnaryKind::kRelu6: r = fminf(fmaxf(v, 0.f), 6.f); break;
      case UnaryKind::kSigmoid: r = 1.f / (1.f + expf(-v)); break;
      case UnaryKind::kTanh: r = tanhf(v); break;
      case UnaryKind::kElu: r = v >= 0.f ? v : p0 * (expf(v) - 1.f); break;
      case UnaryKind::kLeakyRelu: r = v >= 0.f ? v : p0 * v; break;
      case UnaryKind::kClip: r = fminf(fmaxf(v, p0), p1); break;
      case UnaryKind::kFloor: r = floorf(v); break;
      case UnaryKind::kReciprocal: r = 1.f / v; break;
      default: r = v;
    }
    y[i] = FromF<T>(r);
  }
}
}  // namespace

Status LaunchUnary(UnaryKind kind, const void* x, void* y, int64_t n, float p0, float p1, Elem e,
                   void* stream) {
  if (n <= 0) return OkStatus();
  FK_DISPATCH_ELEM(e, UnaryKernel<T><<<BlocksFor(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
                          kind, static_cast<const T*>(x), static_cast<T*>(y), n, p0, p1));
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
