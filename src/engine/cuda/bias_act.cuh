// y = act(y + bias[c]) in place, c = i % channels (host-only launcher).
#pragma once
#include <cstdint>
#include "facekit/status.h"

namespace fk::engine::cuda {

enum class ActKind : int { kNone, kRelu, kRelu6, kClip, kSigmoid, kTanh, kPrelu, kLeakyRelu, kElu };

struct ActParams {
  ActKind kind = ActKind::kNone;
  float a = 0, b = 0;              // clip min/max; leaky/elu alpha in a
  const float* alpha = nullptr;    // prelu: device pointer, alpha_n == channels or 1
  int64_t alpha_n = 0;
};

// bias may be null. No-op when there is neither bias nor activation.
Status LaunchBiasAct(float* y, int64_t n, int64_t channels, const float* bias, const ActParams& act,
                     void* stream);

}  // namespace fk::engine::cuda
