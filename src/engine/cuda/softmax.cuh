// Softmax over the last axis of a [rows, cols] view (host-only launcher).
#pragma once
#include <cstdint>
#include "facekit/status.h"

namespace fk::engine::cuda {
Status LaunchSoftmax(const float* x, float* y, int64_t rows, int64_t cols, void* stream);
}
