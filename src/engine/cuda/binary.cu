#include "engine/cuda/binary.cuh"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

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

template <typename T>
__global__ void BinarySame(BinaryKind k, const T* a, const T* b, T* y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = FromF<T>(Op(k, ToF(a[i]), ToF(b[i])));
}

template <typename T>
__global__ void BinaryBroadcast(BinaryKind k, const T* a, const T* b, T* y, long long n,
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
    y[i] = FromF<T>(Op(k, ToF(a[ia]), ToF(b[ib])));
  }
}
}  // namespace

Status LaunchBinary(BinaryKind kind, const void* a, const void* b, void* y, int64_t n,
                    const BroadcastDesc& d, Elem e, void* stream) {
  if (n <= 0) return OkStatus();
  auto s = static_cast<cudaStream_t>(stream);
  FK_DISPATCH_ELEM(e, {
    const T* ta = static_cast<const T*>(a);
    const T* tb = static_cast<const T*>(b);
    T* ty = static_cast<T*>(y);
    if (d.same_shape) BinarySame<T><<<BlocksFor(n), kThreads, 0, s>>>(kind, ta, tb, ty, n);
    else BinaryBroadcast<T><<<BlocksFor(n), kThreads, 0, s>>>(kind, ta, tb, ty, n, d);
  });
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
