// ResizeBilinear / ResizeNearest, NHWC, TF semantics for align_corners and
// half_pixel_centers (host-only launcher).
#pragma once
#include <cstdint>
#include "facekit/status.h"

namespace fk::engine::cuda {

struct ResizeDesc {
  int64_t n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0;
  bool bilinear = true, align_corners = false, half_pixel_centers = false;
};

Status LaunchResize(const float* x, float* y, const ResizeDesc& d, void* stream);

}  // namespace fk::engine::cuda
