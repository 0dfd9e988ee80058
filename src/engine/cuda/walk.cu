#include "engine/cuda/cuda_common.h"
#include "engine/cuda/walk.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T>
__global__ void WalkKernel(const T* __restrict__ x, T* __restrict__ y, WalkDesc d, long long total) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    long long rem = i, src = d.offset;
    for (int r = d.rank - 1; r >= 0; --r) {
      const long long o = rem % d.dims[r];
      rem /= d.dims[r];
      src += o * d.steps[r];
    }
    y[i] = x[src];
  }
}
}  // namespace

Status LaunchWalk(const void* x, void* y, const WalkDesc& d, size_t elem_bytes, void* stream) {
  long long total = 1;
  for (int r = 0; r < d.rank; ++r) total *= d.dims[r];
  if (total <= 0) return OkStatus();
  auto s = static_cast<cudaStream_t>(stream);
  switch (elem_bytes) {
    case 1: WalkKernel<uint8_t><<<BlocksFor(total), kThreads, 0, s>>>(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y), d, total); break;
    case 2: WalkKernel<uint16_t><<<BlocksFor(total), kThreads, 0, s>>>(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), d, total); break;
    case 4: WalkKernel<uint32_t><<<BlocksFor(total), kThreads, 0, s>>>(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y), d, total); break;
    case 8: WalkKernel<uint64_t><<<BlocksFor(total), kThreads, 0, s>>>(static_cast<const uint64_t*>(x), static_cast<uint64_t*>(y), d, total); break;
    default: return InvalidArgument("cuda walk: element size " + std::to_string(elem_bytes) + " not supported");
  }
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
