// 8-bit pixels -> float or half model input on the device (Model::RunPixels on a cuda model).
#pragma once

#include <cstdint>

#include "engine/cuda/elem.h"
#include "engine/pixel_transform.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

// dst[i] = PixelAt(src, t, i) for i < n (n = pixels * t.channels), stored as `e`.
Status LaunchPixelsToFloat(const uint8_t* src, void* dst, Elem e, int64_t n, const PixelTransform& t,
                           void* stream);

}  // namespace fk::engine::cuda
