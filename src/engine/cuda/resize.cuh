// ResizeBilinear / ResizeNearest, NHWC, TF semantics for align_corners and
// half_pixel_centers (host-only launcher).
#pragma once
#include <cstdint>
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

struct ResizeDesc {
  int64_t n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0;
  bool bilinear = true, align_corners = false, half_pixel_centers = false;
};

// x and y have storage `e`; interpolation in fp32.
Status LaunchResize(const void* x, void* y, const ResizeDesc& d, Elem e, void* stream);

}  // namespace fk::engine::cuda
