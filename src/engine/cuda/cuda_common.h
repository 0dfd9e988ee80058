// Internal helpers for engine/cuda .cpp/.cu files (includes the CUDA runtime header; never
// include this from outside engine/cuda). Vendor errors become fk::Status with the call text,
// file:line and the vendor's message.
#pragma once
#include <cstdlib>

#include <cuda_runtime.h>

#include <string>

#include "engine/cuda/dynload.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

Status CudaError(cudaError_t e, const char* call, const char* file, int line);
Status CudnnError(cudnnStatus_t s, const char* call, const char* file, int line);
Status CublasError(cublasStatus_t s, const char* call, const char* file, int line);

// Launch configuration for a 1-D grid over n elements.
constexpr int kThreads = 256;
inline unsigned BlocksFor(long long n) {
  long long b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  if (b > 65535LL * 32) b = 65535LL * 32;  // kernels use grid-stride loops
  return static_cast<unsigned>(b);
}

// Element-wise kernels index with int when the tensor has < 2^30 elements (a 64-bit division or
// modulo costs several times a 32-bit one). FK_CUDA_INDEX64=1 forces 64-bit indices everywhere:
// for A/B timing (scripts/gpu/ab_runmode.sh) and as an escape hatch.
inline bool Force64BitIndex() {
  static const bool force = [] {
    const char* e = std::getenv("FK_CUDA_INDEX64");
    return e && *e && *e != '0';
  }();
  return force;
}
// n < 2^30: a grid-stride step (<= 2^29 threads, BlocksFor) past the last index stays < 2^31.
inline bool Fits32(long long n) { return n < (1LL << 30) && !Force64BitIndex(); }

}  // namespace fk::engine::cuda

#define FK_CUDA_CHECK(expr)                                                              \
  do {                                                                                   \
    cudaError_t fk_e_ = (expr);                                                          \
    if (fk_e_ != cudaSuccess) return ::fk::engine::cuda::CudaError(fk_e_, #expr, __FILE__, __LINE__); \
  } while (0)

#define FK_CUDNN_CHECK(expr)                                                             \
  do {                                                                                   \
    cudnnStatus_t fk_s_ = (expr);                                                        \
    if (fk_s_ != CUDNN_STATUS_SUCCESS)                                                   \
      return ::fk::engine::cuda::CudnnError(fk_s_, #expr, __FILE__, __LINE__);           \
  } while (0)

#define FK_CUBLAS_CHECK(expr)                                                            \
  do {                                                                                   \
    cublasStatus_t fk_s_ = (expr);                                                       \
    if (fk_s_ != CUBLAS_STATUS_SUCCESS)                                                  \
      return ::fk::engine::cuda::CublasError(fk_s_, #expr, __FILE__, __LINE__);          \
  } while (0)

// After a kernel launch: reports launch errors (bad configuration, no kernel image).
#define FK_CUDA_LAUNCH_CHECK() FK_CUDA_CHECK(cudaGetLastError())
