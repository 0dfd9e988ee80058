// Run-time loading of cuDNN and cuBLAS (internal to engine/cuda; includes vendor headers).
//
// Why: a binary that links libcudnn/libcublas directly does not even start when they are
// missing from the loader path, which breaks "the same binary runs on the CPU when the GPU is
// unusable". We dlopen them on first use and report a precise, actionable error instead.
// Search order for each library: $FK_CUDNN_LIBRARY / $FK_CUBLAS_LIBRARY (full path), the
// loader path (LD_LIBRARY_PATH, ldconfig), then /usr/local/cuda/lib64 and
// /usr/local/cuda/targets/x86_64-linux/lib.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <string>
#include <vector>

#include "facekit/status.h"

namespace fk::engine::cuda {

#define FK_CUDNN_FUNCS(X)                                                                   \
  X(cudnnGetVersion) X(cudnnGetErrorString) X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream) \
  X(cudnnCreateTensorDescriptor) X(cudnnDestroyTensorDescriptor) X(cudnnSetTensor4dDescriptor) \
  X(cudnnCreateFilterDescriptor) X(cudnnDestroyFilterDescriptor) X(cudnnSetFilter4dDescriptor) \
  X(cudnnCreateConvolutionDescriptor) X(cudnnDestroyConvolutionDescriptor)                   \
  X(cudnnSetConvolution2dDescriptor) X(cudnnSetConvolutionGroupCount)                        \
  X(cudnnSetConvolutionMathType) X(cudnnGetConvolution2dForwardOutputDim)                    \
  X(cudnnGetConvolutionForwardAlgorithm_v7) X(cudnnFindConvolutionForwardAlgorithm)         \
  X(cudnnGetConvolutionForwardWorkspaceSize)                                                 \
  X(cudnnConvolutionForward)

#define FK_CUBLAS_FUNCS(X)                                                                 \
  X(cublasCreate_v2) X(cublasDestroy_v2) X(cublasSetStream_v2) X(cublasSetMathMode)       \
  X(cublasSgemm_v2) X(cublasGetVersion_v2) X(cublasGetStatusString)

struct CudnnApi {
#define FK_DECL_(f) decltype(&::f) f = nullptr;
  FK_CUDNN_FUNCS(FK_DECL_)
#undef FK_DECL_
  std::string path;  // the library actually loaded
};

struct CublasApi {
#define FK_DECL_(f) decltype(&::f) f = nullptr;
  FK_CUBLAS_FUNCS(FK_DECL_)
#undef FK_DECL_
  // cublasGemmEx is overloaded in C++ (a cudaDataType-compute wrapper), so decltype cannot name
  // it: the exported C symbol's type, spelled out.
  using GemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int,
                                      int, const void*, const void*, cudaDataType, int, const void*,
                                      cudaDataType, int, const void*, void*, cudaDataType, int,
                                      cublasComputeType_t, cublasGemmAlgo_t);
  GemmExFn cublasGemmEx = nullptr;
  std::string path;
};

// dlopen of a CUDA library: `env` (a full path) if set, then each of `names` on the loader path,
// then in /usr/local/cuda/lib64 and /usr/local/cuda/targets/x86_64-linux/lib. The handle and
// *path, or null with every attempt listed in *errors. LdLibraryPath(): $LD_LIBRARY_PATH or
// "(unset)", for the messages.
void* OpenLibrary(const char* env, const std::vector<std::string>& names, std::string* path, std::string* errors);
std::string LdLibraryPath();

// Loads on first call (thread-safe, cached). Unavailable with the fix on failure.
Result<const CudnnApi*> LoadCudnn();
Result<const CublasApi*> LoadCublas();

// After a successful Load*(): the table (never null then).
const CudnnApi& Dnn();
const CublasApi& Blas();

}  // namespace fk::engine::cuda
