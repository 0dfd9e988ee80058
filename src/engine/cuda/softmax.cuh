// Softmax over the last axis of a [rows, cols] view (host-only launcher).
#pragma once
#include <cstdint>
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {
// x and y have storage `e`; max, exp and sum in fp32.
Status LaunchSoftmax(const void* x, void* y, int64_t rows, int64_t cols, Elem e, void* stream);
}
