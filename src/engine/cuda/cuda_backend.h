// The CUDA backend (host-only header). cuDNN for convolutions, cuBLAS for MatMul, own kernels
// (engine/cuda/<op>.cu) for the rest; NHWC, fp32. Ops it does not support run on the reference
// backend (the executor falls back per node). Design and status: docs/cuda.md.
#pragma once

#include <cstdint>
#include <string>

#include "engine/backend.h"
#include "engine/cuda/memory_pool.h"

namespace fk::engine {

struct CudaBackendOptions {
  int gpu_index = 0;               // among visible devices
  std::string precision = "fp32";  // fp32 | tf32 | fp16 | auto (fp16/auto run as fp32 today)
};

// The backend for GPU 0, fp32. Always non-null in a CUDA build; Plan fails with Unavailable
// (the device layer's message) when the GPU is not usable, so Supports() stays cheap.
const Backend* CudaBackend();
// A backend bound to another GPU / precision (cached; lives for the process).
Result<const Backend*> CudaBackendFor(const CudaBackendOptions& options);

// Sets the memory-pool limit of a GPU (0 = none); see facekit/device.h for the fields.
Status SetCudaMemoryLimit(int gpu_index, int64_t limit_bytes, double limit_fraction);
// Pool statistics of a GPU (zeros if the device was never used).
cuda::PoolStats CudaPoolStats(int gpu_index);

}  // namespace fk::engine
