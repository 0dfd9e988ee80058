// Host-only geometry of a CUDA convolution: the direct kernel's descriptor and TF's padding for
// a Conv2D / DepthwiseConv2D node (header-only so the CPU test suite checks it without a GPU:
// tests/engine/cuda_conv_host_test.cpp). Shared by conv.cpp (cuDNN and direct paths).
#pragma once

#include <cstdlib>
#include <string>

#include "engine/cuda/conv_direct.cuh"
#include "engine/ir/graph.h"
#include "engine/ops/op_util.h"
#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk::engine::cuda {

struct ConvGeometry {
  DirectConvDesc d;          // everything the direct kernel needs (pad_top/pad_left included)
  int64_t pad_bottom = 0, pad_right = 0;
  bool depthwise = false;
  int64_t groups = 1;        // cuDNN group count (C for depthwise)
};

// x: input NHWC; w: the filter (HWIO, or HWCM for depthwise); y: the planned output shape.
inline Result<ConvGeometry> MakeConvGeometry(const ir::Node& n, const Shape& xs, const Shape& ws, const Shape& ys) {
  ConvGeometry g;
  g.depthwise = n.op == ir::OpType::kDepthwiseConv2D;
  if (xs.rank() != 4 || ws.rank() != 4 || ys.rank() != 4)
    return ops::NodeError(n, "cuda conv needs 4-D input, filter and output");
  const int64_t N = xs[0], H = xs[1], W = xs[2], C = xs[3];
  const int64_t kh = ws[0], kw = ws[1];
  const int64_t K = g.depthwise ? ws[2] * ws[3] : ws[3];
  if (ws[2] != C)
    return ops::NodeError(n, "filter input channels " + std::to_string(ws[2]) + " != input channels " +
                                 std::to_string(C));
  ops::Window win;
  FK_RETURN_IF_ERROR(ops::ReadConvWindow(n, ws, &win));
  const ops::WindowOut wo = ops::ComputeWindow(win, H, W);
  if (wo.oh != ys[1] || wo.ow != ys[2] || ys[3] != K || ys[0] != N)
    return ops::NodeError(n, "planned output " + ys.ToString() + " != computed [" + std::to_string(N) + "," +
                                 std::to_string(wo.oh) + "," + std::to_string(wo.ow) + "," + std::to_string(K) +
                                 "]");
  DirectConvDesc& d = g.d;
  d.n = N; d.h = H; d.w = W; d.c = C;
  d.oh = ys[1]; d.ow = ys[2]; d.k = K;
  d.kh = kh; d.kw = kw; d.sh = win.sh; d.sw = win.sw; d.dh = win.dh; d.dw = win.dw;
  d.pad_top = wo.pad_top; d.pad_left = wo.pad_left;
  d.multiplier = g.depthwise ? ws[3] : 0;
  g.pad_bottom = wo.pad_bottom;
  g.pad_right = wo.pad_right;
  g.groups = g.depthwise ? C : 1;
  return g;
}

// Channels per thread for the vectorised depthwise kernel, 1 = the scalar kernel. The default
// since its H100 A/B (docs/benchmarks/engine-gpu-summary.md: fr_feature at batch 128 1.7x the
// scalar kernel); FK_CUDA_DW=scalar (read at plan) turns it off. Multiplier 1, channels a
// multiple of the width (8 halves or 4 floats = 16-byte loads; else 4 halves = 8 bytes).
inline int64_t DepthwiseVecWidth(const DirectConvDesc& d, bool half) {
  const char* e = std::getenv("FK_CUDA_DW");
  if ((e && std::string(e) == "scalar") || d.multiplier != 1) return 1;
  if (half) return d.k % 8 == 0 ? 8 : d.k % 4 == 0 ? 4 : 1;
  return d.k % 4 == 0 ? 4 : 1;
}

}  // namespace fk::engine::cuda
