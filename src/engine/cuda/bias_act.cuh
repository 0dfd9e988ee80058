// y = act(y + bias[c]) in place, c = i % channels (host-only launcher).
#pragma once
#include <cstdint>
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

enum class ActKind : int { kNone, kRelu, kRelu6, kClip, kSigmoid, kTanh, kPrelu, kLeakyRelu, kElu };

struct ActParams {
  ActKind kind = ActKind::kNone;
  float a = 0, b = 0;              // clip min/max; leaky/elu alpha in a
  const void* alpha = nullptr;     // prelu: device pointer in the storage type of y,
  int64_t alpha_n = 0;             //        alpha_n == channels or 1
};

// y, bias and act.alpha have storage `e` (arithmetic in fp32). bias may be null. No-op when
// there is neither bias nor activation.
Status LaunchBiasAct(void* y, int64_t n, int64_t channels, const void* bias, const ActParams& act,
                     Elem e, void* stream);

}  // namespace fk::engine::cuda
