// Reference ResizeBilinear / ResizeNearest with TF's align_corners / half_pixel_centers
// (tensorflow/core/kernels/image/resize_{bilinear,nearest_neighbor}_op.cc, computed in
// float like TF), and DepthToSpace (NHWC, DCR order).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

namespace {

// TF CalculateResizeScale.
float ResizeScale(int64_t in, int64_t out, bool align_corners) {
  return (align_corners && out > 1) ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                                    : static_cast<float>(in) / static_cast<float>(out);
}

struct Interp {
  int64_t lower, upper;
  float lerp;
};

// TF compute_interpolation_weights with HalfPixelScaler ((i+0.5)*s-0.5) or LegacyScaler (i*s).
std::vector<Interp> Weights(int64_t out, int64_t in, float scale, bool half_pixel) {
  std::vector<Interp> w(static_cast<size_t>(out));
  for (int64_t i = 0; i < out; ++i) {
    const float src = half_pixel ? (static_cast<float>(i) + 0.5f) * scale - 0.5f : static_cast<float>(i) * scale;
    const float fl = std::floor(src);
    Interp& e = w[static_cast<size_t>(i)];
    e.lower = std::max<int64_t>(static_cast<int64_t>(fl), 0);
    e.upper = std::min<int64_t>(static_cast<int64_t>(std::ceil(src)), in - 1);
    e.lerp = src - fl;
  }
  return w;
}

Status ResizeCheck(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out, int64_t* oh,
                   int64_t* ow) {
  const Shape& s = in[0].shape();
  if (s.rank() != 4) return ops::NodeError(node, "input must be rank 4");
  const auto sz = ops::TensorToInts(in[1]);
  if (sz.size() != 2 || sz[0] <= 0 || sz[1] <= 0) return ops::NodeError(node, "size must be 2 positive values");
  *oh = sz[0];
  *ow = sz[1];
  return CheckOutShape(node, out[0], Shape{s[0], sz[0], sz[1], s[3]});
}

}  // namespace

Status ResizeBilinear(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  int64_t OH, OW;
  FK_RETURN_IF_ERROR(ResizeCheck(node, in, out, &OH, &OW));
  const Shape& s = in[0].shape();
  const int64_t N = s[0], H = s[1], W = s[2], C = s[3];
  const bool ac = node.attrs.i("align_corners") != 0, hp = node.attrs.i("half_pixel_centers") != 0;
  const auto ys = Weights(OH, H, ResizeScale(H, OH, ac), hp);
  const auto xs = Weights(OW, W, ResizeScale(W, OW, ac), hp);
  const float* xp = in[0].data<float>();
  float* yp = out[0].data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < OH; ++oy) {
      const Interp& y = ys[static_cast<size_t>(oy)];
      for (int64_t ox = 0; ox < OW; ++ox) {
        const Interp& x = xs[static_cast<size_t>(ox)];
        for (int64_t c = 0; c < C; ++c) {
          auto at = [&](int64_t iy, int64_t ix) { return xp[((n * H + iy) * W + ix) * C + c]; };
          const float tl = at(y.lower, x.lower), tr = at(y.lower, x.upper);
          const float bl = at(y.upper, x.lower), br = at(y.upper, x.upper);
          const float top = tl + (tr - tl) * x.lerp;
          const float bottom = bl + (br - bl) * x.lerp;
          yp[((n * OH + oy) * OW + ox) * C + c] = top + (bottom - top) * y.lerp;
        }
      }
    }
  return OkStatus();
}

Status ResizeNearest(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  int64_t OH, OW;
  FK_RETURN_IF_ERROR(ResizeCheck(node, in, out, &OH, &OW));
  const Shape& s = in[0].shape();
  const int64_t N = s[0], H = s[1], W = s[2], C = s[3];
  const bool ac = node.attrs.i("align_corners") != 0, hp = node.attrs.i("half_pixel_centers") != 0;
  auto src = [&](int64_t o, int64_t in_size, float scale) {
    const float f = hp ? (static_cast<float>(o) + 0.5f) * scale : static_cast<float>(o) * scale;
    int64_t i = ac ? static_cast<int64_t>(std::round(f)) : static_cast<int64_t>(std::floor(f));
    i = std::min<int64_t>(i, in_size - 1);
    if (hp) i = std::max<int64_t>(i, 0);
    return i;
  };
  const float sh = ResizeScale(H, OH, ac), sw = ResizeScale(W, OW, ac);
  const float* xp = in[0].data<float>();
  float* yp = out[0].data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t oy = 0; oy < OH; ++oy) {
      const int64_t iy = src(oy, H, sh);
      for (int64_t ox = 0; ox < OW; ++ox) {
        const int64_t ix = src(ox, W, sw);
        std::memcpy(yp + ((n * OH + oy) * OW + ox) * C, xp + ((n * H + iy) * W + ix) * C,
                    static_cast<size_t>(C) * sizeof(float));
      }
    }
  return OkStatus();
}

// out[n, h*b + i, w*b + j, c] = in[n, h, w, (i*b + j)*Cout + c].
Status DepthToSpace(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& s = in[0].shape();
  const int64_t b = node.attrs.i("block_size");
  if (s.rank() != 4 || b < 2 || s[3] % (b * b) != 0)
    return ops::NodeError(node, "needs rank-4 input with channels divisible by block_size^2");
  const int64_t N = s[0], H = s[1], W = s[2], C = s[3], CO = C / (b * b);
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape{N, H * b, W * b, CO}));
  const size_t es = DTypeSize(in[0].dtype());
  const auto* xp = static_cast<const unsigned char*>(in[0].raw());
  auto* yp = static_cast<unsigned char*>(out[0].raw());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t i = 0; i < b; ++i)
          for (int64_t j = 0; j < b; ++j) {
            const int64_t dst = ((n * H * b + h * b + i) * W * b + w * b + j) * CO;
            const int64_t src = ((n * H + h) * W + w) * C + (i * b + j) * CO;
            std::memcpy(yp + static_cast<size_t>(dst) * es, xp + static_cast<size_t>(src) * es,
                        static_cast<size_t>(CO) * es);
          }
  return OkStatus();
}

}  // namespace fk::engine::ref
