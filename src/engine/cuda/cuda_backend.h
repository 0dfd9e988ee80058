// The CUDA backend (host-only header). cuDNN for convolutions, cuBLAS for MatMul, own kernels
// (engine/cuda/<op>.cu) for the rest; NHWC, fp32 / tf32 / fp16 storage. Ops it does not support run on the reference
// backend (the executor falls back per node). Design and status: docs/cuda.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/memory_pool.h"

namespace fk::engine {

struct CudaBackendOptions {
  int gpu_index = 0;  // among visible devices
  // fp32: exact fp32 math; tf32: tensor-op fp32 (TF32); fp16: half storage of activations and
  // weights, fp32 accumulation, tensor cores, some nodes kept in fp32 (Fp32NodesInFp16Graph);
  // auto: here the same as tf32 — the "fp16 if it passes the accuracy check" choice is made
  // per model by Model::Load (docs/cuda.md "Precision").
  std::string precision = "fp32";
};

// The backend for GPU 0, fp32. Always non-null in a CUDA build; Plan fails with Unavailable
// (the device layer's message) when the GPU is not usable, so Supports() stays cheap.
const Backend* CudaBackend();
// A backend bound to another GPU / precision (cached; lives for the process).
Result<const Backend*> CudaBackendFor(const CudaBackendOptions& options);

// The fp16 storage policy: per node of `g` (in node order), true when the node keeps float
// storage in an fp16 graph. `on_gpu(n)` says whether node n runs on the GPU. See the definition
// in cuda_backend.cpp for the rules; host logic, unit-tested without a GPU.
std::vector<bool> Fp32NodesInFp16Graph(const ir::Graph& g, const std::function<bool(const ir::Node&)>& on_gpu);

// Sets the memory-pool limit of a GPU (0 = none); see facekit/device.h for the fields.
Status SetCudaMemoryLimit(int gpu_index, int64_t limit_bytes, double limit_fraction);
// Pool statistics of a GPU (zeros if the device was never used).
cuda::PoolStats CudaPoolStats(int gpu_index);
// MemoryPool::ResetPeak on a GPU's pool (no-op if the device was never used).
void ResetCudaPoolPeak(int gpu_index);

}  // namespace fk::engine
