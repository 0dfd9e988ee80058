#include "engine/cuda/binary.cuh"
#include "engine/cuda/cuda_common.h"

namespace fk::engine::cuda {

namespace {
__device__ __forceinline__ float Op(BinaryKind k, float a, float b) {
  switch (k) {
    case BinaryKind::kAdd: return a + b;
    case BinaryKind::kSub: return a - b;
    case BinaryKind::kMul: return a * b;
    case BinaryKind::kDiv: return a / b;
    case BinaryKind::kMaximum: return fmaxf(a, b);
    case BinaryKind::kMinimum: return fminf(a, b);
    case BinaryKind::kPow: return powf(a, b);
    case BinaryKind::kSquaredDifference: { const float d = a - b; return d * d; }
  }
  return 0.f;
}

__global__ void BinarySame(BinaryKind k, const float* a, const float* b, float* y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = Op(k, a[i], b[i]);
}

__global__ void BinaryBroadcast(BinaryKind k, const float* a, const float* b, float* y, long long n,
                                BroadcastDesc d) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    long long rem = i, ia = 0, ib = 0;
    for (int r = d.rank - 1; r >= 0; --r) {
      const long long idx = rem % d.out_dims[r];
      rem /= d.out_dims[r];
      ia += idx * d.a_strides[r];
      ib += idx * d.b_strides[r];
    }
    y[i] = Op(k, a[ia], b[ib]);
  }
}
}  // namespace

Status LaunchBinary(BinaryKind kind, const float* a, const float* b, float* y, int64_t n,
                    const BroadcastDesc& d, void* stream) {
  if (n <= 0) return OkStatus();
  auto s = static_cast<cudaStream_t>(stream);
  if (d.same_shape)
    BinarySame<<<BlocksFor(n), kThreads, 0, s>>>(kind, a, b, y, n);
  else
    BinaryBroadcast<<<BlocksFor(n), kThreads, 0, s>>>(kind, a, b, y, n, d);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
