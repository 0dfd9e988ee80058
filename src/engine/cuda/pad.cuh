// Pad (CONSTANT / REFLECT / SYMMETRIC), any rank <= 6 (host-only launcher).
#pragma once
#include <cstdint>
#include "engine/cuda/binary.cuh"  // kMaxRank
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

enum class PadMode : int { kConstant, kReflect, kSymmetric };

struct PadDesc {
  int rank = 0;
  int64_t in_dims[kMaxRank] = {};
  int64_t out_dims[kMaxRank] = {};
  int64_t before[kMaxRank] = {};
  PadMode mode = PadMode::kConstant;
  float value = 0.f;
};

// x and y have storage `e`.
Status LaunchPad(const void* x, void* y, const PadDesc& d, Elem e, void* stream);

}  // namespace fk::engine::cuda
