// Unary element-wise ops, y = f(x) (host-only launcher; x == y allowed).
#pragma once
#include <cstdint>
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

enum class UnaryKind : int {
  kAbs, kNeg, kSquare, kSqrt, kRsqrt, kExp, kLog, kRelu, kRelu6, kSigmoid, kTanh, kElu,
  kLeakyRelu, kClip, kFloor, kReciprocal
};

// p0/p1: Elu/LeakyRelu alpha in p0; Clip min/max in p0/p1.
// x and y have storage `e`; arithmetic in fp32.
Status LaunchUnary(UnaryKind kind, const void* x, void* y, int64_t n, float p0, float p1, Elem e,
                   void* stream);

}  // namespace fk::engine::cuda
