// Unary element-wise ops, y = f(x) (host-only launcher; x == y allowed).
#pragma once
#include <cstdint>
#include "facekit/status.h"

namespace fk::engine::cuda {

enum class UnaryKind : int {
  kAbs, kNeg, kSquare, kSqrt, kRsqrt, kExp, kLog, kRelu, kRelu6, kSigmoid, kTanh, kElu,
  kLeakyRelu, kClip, kFloor, kReciprocal
};

// p0/p1: Elu/LeakyRelu alpha in p0; Clip min/max in p0/p1.
Status LaunchUnary(UnaryKind kind, const float* x, float* y, int64_t n, float p0, float p1,
                   void* stream);

}  // namespace fk::engine::cuda
