// Device-side helpers shared by the .cu files (include only from .cu files).
#pragma once
#include "engine/cuda/bias_act.cuh"

namespace fk::engine::cuda {

__device__ __forceinline__ float ApplyAct(float v, const ActParams& p, long long c) {
  switch (p.kind) {
    case ActKind::kNone: return v;
    case ActKind::kRelu: return v > 0.f ? v : 0.f;
    case ActKind::kRelu6: return fminf(fmaxf(v, 0.f), 6.f);
    case ActKind::kClip: return fminf(fmaxf(v, p.a), p.b);
    case ActKind::kSigmoid: return 1.f / (1.f + expf(-v));
    case ActKind::kTanh: return tanhf(v);
    case ActKind::kPrelu: {
      const float al = p.alpha_n == 1 ? p.alpha[0] : p.alpha[c % p.alpha_n];
      return v >= 0.f ? v : al * v;
    }
    case ActKind::kLeakyRelu: return v >= 0.f ? v : p.a * v;
    case ActKind::kElu: return v >= 0.f ? v : p.a * (expf(v) - 1.f);
  }
  return v;
}

}  // namespace fk::engine::cuda
