// Device-side helpers shared by the .cu files (include only from .cu files).
#pragma once
#include <cuda_fp16.h>

#include "engine/cuda/bias_act.cuh"
#include "engine/cuda/elem.h"

namespace fk::engine::cuda {

// Element loads/stores: every kernel computes in fp32 and stores in its storage type T
// (float or __half; stores round to nearest even, overflow gives +-inf).
__device__ __forceinline__ float ToF(float v) { return v; }
__device__ __forceinline__ float ToF(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T FromF(float v);
template <> __device__ __forceinline__ float FromF<float>(float v) { return v; }
template <> __device__ __forceinline__ __half FromF<__half>(float v) { return __float2half_rn(v); }

// p.alpha has the kernel's storage type T (see ActParams).
template <typename T>
__device__ __forceinline__ float ApplyAct(float v, const ActParams& p, long long c) {
  switch (p.kind) {
    case ActKind::kNone: return v;
    case ActKind::kRelu: return v > 0.f ? v : 0.f;
    case ActKind::kRelu6: return fminf(fmaxf(v, 0.f), 6.f);
    case ActKind::kClip: return fminf(fmaxf(v, p.a), p.b);
    case ActKind::kSigmoid: return 1.f / (1.f + expf(-v));
    case ActKind::kTanh: return tanhf(v);
    case ActKind::kPrelu: {
      const T* al = static_cast<const T*>(p.alpha);
      // c is the channel (< alpha_n when alpha is per channel): no modulo on that path.
      const float a = ToF(p.alpha_n == 1 ? al[0] : al[c < p.alpha_n ? c : c % p.alpha_n]);
      return v >= 0.f ? v : a * v;
    }
    case ActKind::kLeakyRelu: return v >= 0.f ? v : p.a * v;
    case ActKind::kElu: return v >= 0.f ? v : p.a * (expf(v) - 1.f);
  }
  return v;
}

}  // namespace fk::engine::cuda

// Runs the statement list with `T` bound to the storage type of `elem` (float / __half).
#define FK_DISPATCH_ELEM(elem, ...)              \
  do {                                           \
    if ((elem) == ::fk::engine::cuda::Elem::kF16) { \
      using T = __half;                          \
      __VA_ARGS__;                               \
    } else {                                     \
      using T = float;                           \
      __VA_ARGS__;                               \
    }                                            \
  } while (0)
