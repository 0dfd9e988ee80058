#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/cuda/bias_act.cuh"
#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device_math.cuh"

namespace fk::engine::cuda {

namespace {
template <typename T, typename I>
__global__ void BiasActKernel(T* y, I n, I channels, const T* bias, ActParams p) {
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); i < n;
       i += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    const I c = i % channels;
    float v = ToF(y[i]);
    if (bias) v += ToF(bias[c]);
    y[i] = FromF<T>(ApplyAct<T>(v, p, c));
  }
}

// V elements per thread in one 16-byte load and store (8 halves or 4 floats): channels is a
// multiple of V, so a vector never crosses a channel wrap and its channels are c0..c0+V-1.
template <typename T, int V, typename I>
__global__ void BiasActVecKernel(T* y, I nv, I cv, const T* bias, ActParams p) {
  static_assert(V * sizeof(T) == sizeof(uint4), "one 16-byte vector");
  for (I j = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); j < nv;
       j += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    const I cvec = j % cv;
    uint4 raw = reinterpret_cast<const uint4*>(y)[j];
    uint4 braw = bias ? reinterpret_cast<const uint4*>(bias)[cvec] : uint4{};
    T* e = reinterpret_cast<T*>(&raw);
    const T* b = reinterpret_cast<const T*>(&braw);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      float v = ToF(e[k]);
      if (bias) v += ToF(b[k]);
      e[k] = FromF<T>(ApplyAct<T>(v, p, static_cast<long long>(cvec) * V + k));
    }
    reinterpret_cast<uint4*>(y)[j] = raw;
  }
}

bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

Status LaunchBiasAct(void* y, int64_t n, int64_t channels, const void* bias, const ActParams& act,
                     Elem e, void* stream) {
  if (n <= 0 || (!bias && act.kind == ActKind::kNone)) return OkStatus();
  if (channels <= 0) channels = 1;
  const auto s = static_cast<cudaStream_t>(stream);
  // The vectorised kernel (16-byte accesses) when the channels split into whole vectors and the
  // tensors are 16-byte aligned (pool buffers are); FK_CUDA_BIASACT=scalar turns it off (A/B).
  static const bool scalar_only = [] {
    const char* v = std::getenv("FK_CUDA_BIASACT");
    return v && std::string(v) == "scalar";
  }();
  const int64_t V = e == Elem::kF16 ? 8 : 4;
  if (!scalar_only && channels % V == 0 && Aligned16(y) && (!bias || Aligned16(bias))) {
    const int64_t nv = n / V, cv = channels / V;
    if (Fits32(n)) {
      FK_DISPATCH_ELEM(e, BiasActVecKernel<T, 16 / sizeof(T), int><<<BlocksFor(nv), kThreads, 0, s>>>(
                              static_cast<T*>(y), static_cast<int>(nv), static_cast<int>(cv),
                              static_cast<const T*>(bias), act));
    } else {
      FK_DISPATCH_ELEM(e, BiasActVecKernel<T, 16 / sizeof(T), long long><<<BlocksFor(nv), kThreads, 0, s>>>(
                              static_cast<T*>(y), static_cast<long long>(nv), static_cast<long long>(cv),
                              static_cast<const T*>(bias), act));
    }
    FK_CUDA_LAUNCH_CHECK();
    return OkStatus();
  }
  if (Fits32(n)) {
    FK_DISPATCH_ELEM(e, BiasActKernel<T, int><<<BlocksFor(n), kThreads, 0, s>>>(
                            static_cast<T*>(y), static_cast<int>(n), static_cast<int>(channels),
                            static_cast<const T*>(bias), act));
  } else {
    FK_DISPATCH_ELEM(e, BiasActKernel<T, long long><<<BlocksFor(n), kThreads, 0, s>>>(
                            static_cast<T*>(y), static_cast<long long>(n), static_cast<long long>(channels),
                            static_cast<const T*>(bias), act));
  }
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
