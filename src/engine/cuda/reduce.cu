#include <math_constants.h>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"
#include "engine/cuda/reduce.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T>
__global__ void ReduceKernel(const T* x, T* y, ReduceDesc d) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < d.out_n;
       i += (long long)gridDim.x * blockDim.x) {
    long long rem = i, base = 0;
    for (int r = d.keep_rank - 1; r >= 0; --r) {
      base += (rem % d.keep_dims[r]) * d.keep_strides[r];
      rem /= d.keep_dims[r];
    }
    float acc = d.kind == ReduceKind::kMax   ? -CUDART_INF_F
                : d.kind == ReduceKind::kMin ? CUDART_INF_F
                : d.kind == ReduceKind::kProd ? 1.f
                                              : 0.f;
    for (long long j = 0; j < d.red_n; ++j) {
      long long rr = j, off = base;
      for (int r = d.red_rank - 1; r >= 0; --r) {
        off += (rr % d.red_dims[r]) * d.red_strides[r];
        rr /= d.red_dims[r];
      }
      const float v = ToF(x[off]);
      switch (d.kind) {
        case ReduceKind::kMax: acc = fmaxf(acc, v); break;
        case ReduceKind::kMin: acc = fminf(acc, v); break;
        case ReduceKind::kProd: acc *= v; break;
        default: acc += v;
      }
    }
    y[i] = FromF<T>(d.kind == ReduceKind::kMean ? acc / (float)d.red_n : acc);
  }
}
}  // namespace

Status LaunchReduce(const void* x, void* y, const ReduceDesc& d, Elem e, void* stream) {
  if (d.out_n <= 0) return OkStatus();
  FK_DISPATCH_ELEM(e, ReduceKernel<T><<<BlocksFor(d.out_n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
                          static_cast<const T*>(x), static_cast<T*>(y), d));
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
