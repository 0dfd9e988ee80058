// Direct NHWC convolution on the GPU (host-only launcher): depthwise (any channel multiplier)
// and dense Conv2D with stride, dilation and asymmetric padding, bias and activation fused.
// Depthwise convolutions always run here (memory-bound; cuDNN's legacy API offered no NHWC
// algorithm for them on an H100, cuDNN 9.19); dense ones only when cuDNN has no algorithm.
#pragma once
#include <cstdint>

#include "engine/cuda/bias_act.cuh"
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

struct DirectConvDesc {
  int64_t n = 0, h = 0, w = 0, c = 0;      // input NHWC
  int64_t oh = 0, ow = 0, k = 0;           // output NHWC (k output channels)
  int64_t kh = 1, kw = 1;                  // window
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;  // strides, dilations
  int64_t pad_top = 0, pad_left = 0;       // bottom/right padding follows from the sizes
  int64_t multiplier = 0;                  // depthwise: output channels per input channel; 0 = dense
  int64_t vec = 1;                         // depthwise, multiplier 1: channels per thread (1, 4, 8),
                                           // vector loads; see DepthwiseVecWidth
                                           // (conv_geometry.h)
};


// x [n,h,w,c]; w: dense HWIO [kh,kw,c,k], depthwise HWCM [kh,kw,c,multiplier]; bias [k] or null;
// y [n,oh,ow,k]. Storage `e` for x, w, bias, y and act.alpha; fp32 accumulation.
Status LaunchDirectConv(const void* x, const void* w, const void* bias, void* y, const DirectConvDesc& d,
                        const ActParams& act, Elem e, void* stream);

}  // namespace fk::engine::cuda
