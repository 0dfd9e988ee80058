// Max / average pooling, NHWC, TF semantics: padded cells never win a max and are not
// counted in an average (host-only launcher).
#pragma once
#include <cstdint>
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

struct Pool2dDesc {
  int64_t n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, pad_top = 0, pad_left = 0;
  bool max = true;
};

// x and y have storage `e`; the window sum of AvgPool is accumulated in fp32.
Status LaunchPool2d(const void* x, void* y, const Pool2dDesc& d, Elem e, void* stream);

}  // namespace fk::engine::cuda
