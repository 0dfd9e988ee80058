// Binary element-wise ops with numpy broadcasting (host-only launcher).
#pragma once
#include <cstdint>
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

enum class BinaryKind : int { kAdd, kSub, kMul, kDiv, kMaximum, kMinimum, kPow, kSquaredDifference };

constexpr int kMaxRank = 6;

// Output dims and the element strides of a and b over them (0 on broadcast dims), padded on
// the left to `rank` dims.
struct BroadcastDesc {
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t a_strides[kMaxRank] = {};
  int64_t b_strides[kMaxRank] = {};
  bool same_shape = false;  // fast path: a, b and y all have n elements
};

// a, b and y all have storage `e`; arithmetic in fp32.
Status LaunchBinary(BinaryKind kind, const void* a, const void* b, void* y, int64_t n,
                    const BroadcastDesc& d, Elem e, void* stream);

}  // namespace fk::engine::cuda
