// Reference Conv2D (x NHWC, w HWIO) and DepthwiseConv2D (w [kh,kw,C,M], out channel
// c*M+m): direct loops, double accumulation, then + bias, then the fused activation.
#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

namespace {

Status ConvCommon(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out, bool depthwise) {
  const Tensor& x = in[0];
  const Tensor& w = in[1];
  if (x.shape().rank() != 4 || w.shape().rank() != 4)
    return ops::NodeError(node, "input and filter must be rank 4");
  const int64_t N = x.shape()[0], H = x.shape()[1], W = x.shape()[2], C = x.shape()[3];
  const int64_t KH = w.shape()[0], KW = w.shape()[1], WC = w.shape()[2], WO = w.shape()[3];
  if (WC != C)
    return ops::NodeError(node, "input channels " + std::to_string(C) + " != filter input channels " +
                                    std::to_string(WC));
  const int64_t CO = depthwise ? C * WO : WO;
  ops::Window win;
  FK_RETURN_IF_ERROR(ops::ReadConvWindow(node, w.shape(), &win));
  const ops::WindowOut g = ops::ComputeWindow(win, H, W);
  Tensor& y = out[0];
  FK_RETURN_IF_ERROR(CheckOutShape(node, y, Shape{N, g.oh, g.ow, CO}));
  const ops::FusedInputs f = ops::GetFusedInputs(node);
  if (static_cast<int>(in.size()) != f.count)
    return ops::NodeError(node, "expects " + std::to_string(f.count) + " inputs, got " + std::to_string(in.size()));
  const float* bias = nullptr;
  if (f.bias >= 0) {
    if (in[static_cast<size_t>(f.bias)].num_elements() != CO)
      return ops::NodeError(node, "bias must have " + std::to_string(CO) + " values");
    bias = in[static_cast<size_t>(f.bias)].data<float>();
  }
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  float* yp = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox)
        for (int64_t co = 0; co < CO; ++co) {
          double acc = 0.0;
          const int64_t ci_dw = depthwise ? co / WO : 0, m = depthwise ? co % WO : 0;
          for (int64_t ky = 0; ky < KH; ++ky) {
            const int64_t iy = oy * win.sh - g.pad_top + ky * win.dh;
            if (iy < 0 || iy >= H) continue;
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t ix = ox * win.sw - g.pad_left + kx * win.dw;
              if (ix < 0 || ix >= W) continue;
              const float* xr = xp + ((n * H + iy) * W + ix) * C;
              const float* wr = wp + (ky * KW + kx) * WC * WO;
              if (depthwise) {
                acc += static_cast<double>(xr[ci_dw]) * wr[ci_dw * WO + m];
              } else {
                for (int64_t ci = 0; ci < C; ++ci) acc += static_cast<double>(xr[ci]) * wr[ci * WO + co];
              }
            }
          }
          if (bias) acc += bias[co];
          yp[((n * g.oh + oy) * g.ow + ox) * CO + co] = static_cast<float>(acc);
        }
  return ApplyFusedActivation(node, &y, f.alpha >= 0 ? &in[static_cast<size_t>(f.alpha)] : nullptr);
}

}  // namespace

Status Conv2D(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  return ConvCommon(node, in, out, false);
}

Status DepthwiseConv2D(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  return ConvCommon(node, in, out, true);
}

}  // namespace fk::engine::ref
