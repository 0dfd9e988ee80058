#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"
#include "engine/cuda/pad.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T>
__global__ void PadKernel(const T* x, T* y, PadDesc d, long long total) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    long long rem = i, src = 0, stride = 1;
    bool outside = false;
    for (int r = d.rank - 1; r >= 0; --r) {
      const long long o = rem % d.out_dims[r];
      rem /= d.out_dims[r];
      long long j = o - d.before[r];
      const long long n = d.in_dims[r];
      if (j < 0 || j >= n) {
        if (d.mode == PadMode::kConstant) {
          outside = true;
        } else if (d.mode == PadMode::kReflect) {
          j = j < 0 ? -j : 2 * (n - 1) - j;
        } else {
          j = j < 0 ? -j - 1 : 2 * n - 1 - j;
        }
      }
      src += j * stride;
      stride *= n;
    }
    y[i] = outside ? FromF<T>(d.value) : x[src];
  }
}
}  // namespace

Status LaunchPad(const void* x, void* y, const PadDesc& d, Elem e, void* stream) {
  long long total = 1;
  for (int r = 0; r < d.rank; ++r) total *= d.out_dims[r];
  if (total <= 0) return OkStatus();
  FK_DISPATCH_ELEM(e, PadKernel<T><<<BlocksFor(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
                          static_cast<const T*>(x), static_cast<T*>(y), d, total));
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
