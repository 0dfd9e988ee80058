// Face crops cut from 8-bit RGB photos (Model::RunWarps): the per-pixel arithmetic shared by the
// host (engine/executor.cpp, the reference) and the GPU kernels (engine/cuda/warp.cu), written to
// give what vision::WarpAffine gives bit for bit: the bilinear warp of vision/geometry.cpp
// (WarpRaw, its interior fast path and its edge taps) and the antialias prefilter's integer box
// average (vision::DownscaleBoxRegion). Header-only and dependency-free: nvcc compiles it too.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define FK_WARP_HD __host__ __device__ __forceinline__
#else
#define FK_WARP_HD inline
#endif

namespace fk::engine {

// One crop (public twin: facekit/engine.h CropWarp): output pixel (j, i) of an out_w x out_h chip
// samples the source at inv * (j + 0.5, i + 0.5) (mirror: j -> out_w - 1 - j first). With box > 1
// the source is first the box x box average of the region [x0, x1) x [y0, y1) of the photo
// (ceil(w / box) x ceil(h / box) pixels, partial blocks averaged over what they hold) and inv maps
// into that smaller image.
struct WarpDesc {
  int image = 0;                       // index of the source photo
  double inv[6] = {1, 0, 0, 0, 1, 0};  // chip -> source: x = a*ox + b*oy + c, y = d*ox + e*oy + f
  int box = 1;
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // box region in photo pixels (box > 1)
  bool mirror = false;
  float border = 0.f;  // pixel value outside the source
};

// A source the sampler reads: 8-bit RGB rows.
struct WarpSource {
  const uint8_t* data = nullptr;
  int width = 0, height = 0;
  int64_t stride = 0;  // bytes per row
};

namespace warp_detail {

FK_WARP_HD float Mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
FK_WARP_HD float Add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
FK_WARP_HD double DMul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
FK_WARP_HD double DAdd(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
FK_WARP_HD bool Finite(double v) {
#if defined(__CUDA_ARCH__)
  return isfinite(v);
#else
  return std::isfinite(v);
#endif
}

// vision/geometry.cpp AxisTaps: the two bilinear taps along one axis at continuous coordinate c;
// index -1 = border.
struct Taps2 {
  int i0, i1;
  float w0, w1;
};
FK_WARP_HD int Pick(double k, int len, bool inside) {
  if (k >= 0 && k < len) return static_cast<int>(k);
  if (inside) return k < 0 ? 0 : len - 1;
  return -1;
}
FK_WARP_HD Taps2 AxisTaps(double c, int len) {
  const double p = c - 0.5;
  const double fl = floor(p);
  const float fr = static_cast<float>(p - fl);
  const bool inside = c >= 0.0 && c <= len;
  Taps2 t;
  t.w0 = 1.f - fr;
  t.w1 = fr;
  t.i0 = Pick(fl, len, inside);
  t.i1 = Pick(fl + 1, len, inside);
  return t;
}

}  // namespace warp_detail

// Output pixel (j, i) of the warp of `src` by `inv` (chip -> source), values 0..255 before
// rounding; border[3]: the RGB value outside the source. vision::WarpAffine's sampler (it calls
// this), the host reference of RunWarps and the GPU kernel's per-thread work.
FK_WARP_HD void WarpPixel(const WarpSource& src, const double* inv, const float* border, int j,
                          int i, float* o) {
  using namespace warp_detail;
  const double ox = j + 0.5, oy = i + 0.5;
  const double sx = DAdd(DAdd(DMul(inv[0], ox), DMul(inv[1], oy)), inv[2]);
  const double sy = DAdd(DAdd(DMul(inv[3], ox), DMul(inv[4], oy)), inv[5]);
  const int w = src.width, h = src.height;
  const double px = sx - 0.5, py = sy - 0.5;
  if (px >= 0.0 && py >= 0.0 && px < w - 1 && py < h - 1) {
    const int x0 = static_cast<int>(px), y0 = static_cast<int>(py);
    const float fx = static_cast<float>(px - x0), fy = static_cast<float>(py - y0);
    const uint8_t* r0 = src.data + src.stride * y0 + 3 * static_cast<int64_t>(x0);
    const uint8_t* r1 = r0 + src.stride;
    const float w00 = Mul(1.f - fy, 1.f - fx), w01 = Mul(1.f - fy, fx), w10 = Mul(fy, 1.f - fx),
                w11 = Mul(fy, fx);
    for (int k = 0; k < 3; ++k)
      o[k] =
          Add(Add(Add(Mul(w00, static_cast<float>(r0[k])), Mul(w01, static_cast<float>(r0[3 + k]))),
                  Mul(w10, static_cast<float>(r1[k]))),
              Mul(w11, static_cast<float>(r1[3 + k])));
    return;
  }
  if (!Finite(sx) || !Finite(sy)) {
    o[0] = border[0], o[1] = border[1], o[2] = border[2];
    return;
  }
  const Taps2 tx = AxisTaps(sx, w), ty = AxisTaps(sy, h);
  float acc[3] = {0.f, 0.f, 0.f};
  const int ys[2] = {ty.i0, ty.i1};
  const float wy[2] = {ty.w0, ty.w1};
  const int xs[2] = {tx.i0, tx.i1};
  const float wx[2] = {tx.w0, tx.w1};
  for (int a = 0; a < 2; ++a) {
    if (wy[a] == 0.f) continue;
    const uint8_t* r = ys[a] >= 0 ? src.data + src.stride * ys[a] : nullptr;
    for (int b = 0; b < 2; ++b) {
      const float wt = Mul(wy[a], wx[b]);
      if (wt == 0.f) continue;
      if (r && xs[b] >= 0) {
        const uint8_t* p = r + 3 * static_cast<int64_t>(xs[b]);
        for (int k = 0; k < 3; ++k) acc[k] = Add(acc[k], Mul(wt, static_cast<float>(p[k])));
      } else {
        for (int k = 0; k < 3; ++k) acc[k] = Add(acc[k], Mul(wt, border[k]));
      }
    }
  }
  o[0] = acc[0], o[1] = acc[1], o[2] = acc[2];
}

// vision's rounding of a warped value to a byte (nearest, ties to even as nearbyint, clamped).
FK_WARP_HD uint8_t WarpToByte(float v) {
#if defined(__CUDA_ARCH__)
  v = rintf(v);
#else
  v = std::nearbyint(v);
#endif
  return static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
}

// Size of the box-averaged image of region [x0, x1) x [y0, y1) (already clipped to the photo).
FK_WARP_HD int BoxOutSize(int len, int box) { return (len + box - 1) / box; }

// Pixel (c, r) of the box x box average of the region [x0, x1) x [y0, y1) of `src` (clipped to
// it): vision::DownscaleBoxRegion's value (integer sums, then float(sum) * (1 / count) + 0.5).
FK_WARP_HD void BoxPixel(const WarpSource& src, int x0, int y0, int x1, int y1, int box, int c,
                         int r, uint8_t* o) {
  using namespace warp_detail;
  const int W = x1 - x0;
  const int ya = y0 + r * box, yb = (ya + box < y1) ? ya + box : y1;
  const int full = W / box;
  const int xa = x0 + c * box;
  const int n = c < full ? box : W - full * box;  // the partial last column
  const int xb = xa + n;
  unsigned sum[3] = {0, 0, 0};
  for (int y = ya; y < yb; ++y) {
    const uint8_t* p = src.data + src.stride * y + 3 * static_cast<int64_t>(xa);
    for (int x = xa; x < xb; ++x, p += 3) {
      sum[0] += p[0];
      sum[1] += p[1];
      sum[2] += p[2];
    }
  }
  const float inv = 1.f / static_cast<float>(n * (yb - ya));
  for (int k = 0; k < 3; ++k)
    o[k] = static_cast<uint8_t>(Add(Mul(static_cast<float>(sum[k]), inv), 0.5f));
}

// The photo pixels [x0, x1) x [y0, y1) a crop reads (a device runner uploads only these when the
// crops of a photo cover little of it): the box region when d.box > 1, else every bilinear tap of
// the output pixel centres (an affine map: the extremes are at the corner pixels) with a margin
// of 2 px, clipped to the photo; at least one pixel. WarpSampleTest.FootprintHoldsEveryTap.
struct WarpRect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int64_t area() const { return int64_t{x1 - x0} * (y1 - y0); }
};
inline WarpRect WarpFootprint(const WarpDesc& d, int out_w, int out_h, int width, int height) {
  if (d.box > 1) return {d.x0, d.y0, d.x1, d.y1};
  double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
  for (int cj = 0; cj < 2; ++cj)
    for (int ci = 0; ci < 2; ++ci) {
      const double ox = (cj ? out_w - 1 : 0) + 0.5, oy = (ci ? out_h - 1 : 0) + 0.5;
      const double s[2] = {d.inv[0] * ox + d.inv[1] * oy + d.inv[2], d.inv[3] * ox + d.inv[4] * oy + d.inv[5]};
      for (int a = 0; a < 2; ++a) lo[a] = s[a] < lo[a] ? s[a] : lo[a], hi[a] = s[a] > hi[a] ? s[a] : hi[a];
    }
  const int len[2] = {width, height};
  int r[4];
  for (int a = 0; a < 2; ++a) {
    if (!std::isfinite(lo[a]) || !std::isfinite(hi[a])) return {0, 0, width, height};
    // Taps floor(c - 0.5) and +1, clamped into the photo as the sampler clamps them.
    const double l = std::floor(lo[a] - 0.5) - 2, h = std::floor(hi[a] - 0.5) + 3;  // [l, h)
    int a0 = l < 0 ? 0 : (l > len[a] - 1 ? len[a] - 1 : static_cast<int>(l));
    int a1 = h > len[a] ? len[a] : (h < 1 ? 1 : static_cast<int>(h));
    if (a1 <= a0) a1 = a0 + 1;
    r[a] = a0, r[a + 2] = a1;
  }
  return {r[0], r[1], r[2], r[3]};
}

// The whole warp on the host, 8-bit (the reference and the executor's host path). `scratch` holds
// the box-averaged source when d.box > 1.
inline void WarpToBytesHost(const WarpSource& photo, const WarpDesc& d, int out_w, int out_h,
                            uint8_t* dst, uint8_t* scratch) {
  WarpSource src = photo;
  if (d.box > 1) {
    const int bw = BoxOutSize(d.x1 - d.x0, d.box), bh = BoxOutSize(d.y1 - d.y0, d.box);
    for (int r = 0; r < bh; ++r)
      for (int c = 0; c < bw; ++c)
        BoxPixel(photo, d.x0, d.y0, d.x1, d.y1, d.box, c, r, scratch + (int64_t{r} * bw + c) * 3);
    src = WarpSource{scratch, bw, bh, int64_t{bw} * 3};
  }
  for (int i = 0; i < out_h; ++i)
    for (int j = 0; j < out_w; ++j) {
      float v[3];
      const float border[3] = {d.border, d.border, d.border};
      WarpPixel(src, d.inv, border, d.mirror ? out_w - 1 - j : j, i, v);
      uint8_t* o = dst + (int64_t{i} * out_w + j) * 3;
      for (int k = 0; k < 3; ++k) o[k] = WarpToByte(v[k]);
    }
}

}  // namespace fk::engine
