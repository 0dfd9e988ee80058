// Reference MaxPool / AvgPool (NHWC). Padded positions never contribute: MaxPool takes
// the max over the valid elements, AvgPool divides by the number of valid (non-padded)
// elements of the window (TF semantics for SAME; ONNX count_include_pad=0 for EXPLICIT).
#include <algorithm>
#include <cmath>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status Pool(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  if (x.shape().rank() != 4) return ops::NodeError(node, "input must be rank 4");
  ops::Window win;
  FK_RETURN_IF_ERROR(ops::ReadWindow(node, true, &win));
  const int64_t N = x.shape()[0], H = x.shape()[1], W = x.shape()[2], C = x.shape()[3];
  const ops::WindowOut g = ops::ComputeWindow(win, H, W);
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape{N, g.oh, g.ow, C}));
  const bool is_max = node.op == ir::OpType::kMaxPool;
  const float* xp = x.data<float>();
  float* yp = out[0].data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox)
        for (int64_t c = 0; c < C; ++c) {
          double acc = is_max ? -INFINITY : 0.0;
          int64_t count = 0;
          for (int64_t ky = 0; ky < win.kh; ++ky) {
            const int64_t iy = oy * win.sh - g.pad_top + ky;
            if (iy < 0 || iy >= H) continue;
            for (int64_t kx = 0; kx < win.kw; ++kx) {
              const int64_t ix = ox * win.sw - g.pad_left + kx;
              if (ix < 0 || ix >= W) continue;
              const double v = xp[((n * H + iy) * W + ix) * C + c];
              acc = is_max ? std::max(acc, v) : acc + v;
              ++count;
            }
          }
          float r = 0.f;
          if (count > 0) r = static_cast<float>(is_max ? acc : acc / static_cast<double>(count));
          yp[((n * g.oh + oy) * g.ow + ox) * C + c] = r;
        }
  return OkStatus();
}

}  // namespace fk::engine::ref
