// facekit — choosing the device a model runs on (CPU or an NVIDIA GPU).
//
// No CUDA types here: this header is usable from every build, with or without CUDA.
//
// Configuration (per model / pipeline, mirrored by the CLI flag `--device cpu|cuda[:N]`):
//   use_cuda                  run on the GPU (cuDNN/cuBLAS backend "cuda").
//   gpu_index                 which GPU, counted among the *visible* devices: with
//                             CUDA_VISIBLE_DEVICES=2,3, gpu_index 0 is physical GPU 2.
//   allow_cpu_fallback        when the GPU, its driver, cuDNN or cuBLAS is missing, run on the
//                             CPU instead of failing (a warning says which one is missing).
//   gpu_memory_limit_bytes    cap on the memory facekit's GPU pool may hold (0 = no cap).
//   gpu_memory_limit_fraction cap as a fraction (0..1] of the card's total memory (0 = no cap).
//                             When both are set the smaller applies. Exceeding the cap gives
//                             ResourceExhausted with the numbers, never an out-of-memory crash.
//   precision                 "fp32" (exact IEEE fp32 math), "tf32" (tensor cores, 10-bit
//                             mantissa products), "fp16" (half storage of activations and
//                             weights, fp32 accumulation, tensor cores; range-sensitive nodes
//                             stay fp32; inputs/outputs are fp32 for the caller), or "auto"
//                             (fp16 on compute capability >= 7.0 if the model passes an accuracy
//                             check at load — every output cosine >= 0.999 vs fp32/tf32, no
//                             NaN/Inf — else tf32 (>= 8.0) or fp32; Model::precision() says
//                             which). fp16 is implemented but not yet verified on a GPU
//                             (docs/cuda.md "Precision").
//
// Thread safety: all functions here are thread-safe (no shared mutable state, except the
// process-wide device probe, which is computed once).
#pragma once

#include <cstdint>
#include <string>

#include "facekit/status.h"

namespace fk {

struct DeviceConfig {
  bool use_cuda = false;
  int gpu_index = 0;
  bool allow_cpu_fallback = false;
  int64_t gpu_memory_limit_bytes = 0;
  double gpu_memory_limit_fraction = 0;
  std::string precision = "auto";  // fp32 | tf32 | fp16 | auto
};

// Parses a device flag: "cpu", "cuda" (= "cuda:0"), "cuda:N", "gpu", "gpu:N".
// Errors: InvalidArgument naming the flag and the accepted forms.
Result<DeviceConfig> ParseDeviceFlag(const std::string& flag);

// Checks the fields of `config` (index >= 0, limits non-negative, fraction <= 1,
// precision one of the accepted names). Does not probe the GPU.
Status ValidateDeviceConfig(const DeviceConfig& config);

// Picks the engine backend for `config`:
//  - use_cuda == false: "cpu" (the oneDNN backend, or "ref" in a build without oneDNN).
//  - use_cuda == true and the GPU is usable (driver, device gpu_index, cuDNN, cuBLAS): "cuda".
//  - otherwise, if allow_cpu_fallback: the CPU backend name, and `*warning` (if non-null) is
//    set to the reason the GPU cannot be used and how to fix it.
//  - otherwise the error: Unavailable with the reason (no driver / driver too old / no
//    device visible / cuDNN or cuBLAS not loadable / built without CUDA).
// Never crashes when the GPU, driver or libraries are missing.
Result<std::string> ResolveBackend(const DeviceConfig& config, std::string* warning = nullptr);

// True when this build contains the CUDA backend.
bool BuiltWithCuda();

// One-paragraph description of the GPU `gpu_index` (name, compute capability, memory,
// driver/runtime/cuDNN/cuBLAS versions), or the error explaining why it is unusable.
Result<std::string> DescribeGpu(int gpu_index);

}  // namespace fk
