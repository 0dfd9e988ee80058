// Separable resampling (bilinear / exact area) with padding, and orientation transforms.
#include "vision/image_ops.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace fk::vision {
namespace {

// Per-axis filter taps: output j uses (idx[t], w[t]) for t in [begin[j], begin[j+1]).
// idx -1 stands for a pad pixel.
struct AxisTaps {
  std::vector<int> begin;
  std::vector<int> idx;
  std::vector<float> w;
  int min_idx = 0;   // smallest valid source index used (or 0 when none)
  int max_idx = -1;  // largest valid source index used (-1 when none)
};

void AddTap(AxisTaps& t, int idx, double w) {
  if (w <= 0) return;
  // Merge with the previous tap of the same output when it is the same source index.
  if (t.idx.size() > static_cast<size_t>(t.begin.back()) && t.idx.back() == idx) {
    t.w.back() += static_cast<float>(w);
    return;
  }
  t.idx.push_back(idx);
  t.w.push_back(static_cast<float>(w));
  if (idx >= 0) {
    if (t.max_idx < 0) {
      t.min_idx = t.max_idx = idx;
    } else {
      t.min_idx = std::min(t.min_idx, idx);
      t.max_idx = std::max(t.max_idx, idx);
    }
  }
}

// Output j covers the source interval [start + j*step, start + (j+1)*step), step = span/dst_len.
AxisTaps MakeTaps(int src_len, double start, double span, int dst_len, bool area) {
  AxisTaps t;
  const double step = span / dst_len;
  t.begin.reserve(static_cast<size_t>(dst_len) + 1);
  for (int j = 0; j < dst_len; ++j) {
    t.begin.push_back(static_cast<int>(t.idx.size()));
    if (area) {
      const double a = start + j * step, b = a + step;
      const double left_pad = std::max(0.0, std::min(b, 0.0) - a);
      const double right_pad = std::max(0.0, b - std::max(a, static_cast<double>(src_len)));
      if (left_pad > 0) AddTap(t, -1, left_pad / step);
      const double ia = std::max(a, 0.0), ib = std::min(b, static_cast<double>(src_len));
      if (ib > ia) {
        const int k0 = static_cast<int>(std::floor(ia));
        const int k1 = std::min(src_len - 1, static_cast<int>(std::ceil(ib)) - 1);
        for (int k = k0; k <= k1; ++k) {
          const double ov = std::min(b, k + 1.0) - std::max(a, static_cast<double>(k));
          AddTap(t, k, ov / step);
        }
      }
      if (right_pad > 0) AddTap(t, -1, right_pad / step);
    } else {
      const double c = start + (j + 0.5) * step;  // sample centre, continuous coordinates
      const double p = c - 0.5;                   // in pixel-index space
      const double fl = std::floor(p);
      const double f = p - fl;
      const bool inside = c >= 0.0 && c <= src_len;
      for (int n = 0; n < 2; ++n) {
        const double k = fl + n;
        const double w = n == 0 ? 1.0 - f : f;
        int idx;
        if (k >= 0 && k < src_len) {
          idx = static_cast<int>(k);
        } else if (inside) {
          idx = k < 0 ? 0 : src_len - 1;
        } else {
          idx = -1;
        }
        AddTap(t, idx, w);
      }
    }
  }
  t.begin.push_back(static_cast<int>(t.idx.size()));
  return t;
}

bool UseArea(ResizeFilter f, double step) {
  switch (f) {
    case ResizeFilter::kBilinear:
      return false;
    case ResizeFilter::kArea:
      return step > 1.0;
    case ResizeFilter::kAuto:
      return step > 2.0;
  }
  return false;
}

Status CheckArgs(const Image& src, const BoxF& box, int out_w, int out_h) {
  if (src.empty()) return InvalidArgument("resize: the source image is empty");
  if (out_w < 1 || out_h < 1)
    return InvalidArgument("resize: output size " + std::to_string(out_w) + "x" +
                           std::to_string(out_h) + " must be at least 1x1");
  if (!(box.width() > 0) || !(box.height() > 0) || !std::isfinite(box.x0) ||
      !std::isfinite(box.y0) || !std::isfinite(box.x1) || !std::isfinite(box.y1))
    return InvalidArgument("resize: crop box (" + std::to_string(box.x0) + "," +
                           std::to_string(box.y0) + ")-(" + std::to_string(box.x1) + "," +
                           std::to_string(box.y1) + ") is empty or not finite");
  return OkStatus();
}

// a[k] += w * s[k] over n values: the vertical pass of Resample, most of its time. Built for
// AVX2 too (chosen at run time) as the library's baseline is plain x86-64.
__attribute__((target_clones("avx2", "default"))) void AccumulateRow(float* a, const uint8_t* s, float w, int n) {
  for (int k = 0; k < n; ++k) a[k] += w * static_cast<float>(s[k]);
}

// Calls emit(row_index, const float* rgb_row) for each output row; values in 0..255.
template <typename Emit>
void Resample(const Image& src, const BoxF& box, int out_w, int out_h, ResizeFilter filter,
              const std::array<float, 3>& pad, Emit&& emit) {
  const double sx = static_cast<double>(box.width()) / out_w;
  const double sy = static_cast<double>(box.height()) / out_h;
  const AxisTaps tx = MakeTaps(src.width(), box.x0, box.width(), out_w, UseArea(filter, sx));
  const AxisTaps ty = MakeTaps(src.height(), box.y0, box.height(), out_h, UseArea(filter, sy));
  const int cx0 = tx.min_idx, cx1 = tx.max_idx;  // source columns used
  const int ncols = cx1 >= cx0 ? cx1 - cx0 + 1 : 0;
  std::vector<float> acc(static_cast<size_t>(ncols) * 3);
  std::vector<float> out(static_cast<size_t>(out_w) * 3);
  for (int i = 0; i < out_h; ++i) {
    // Vertical pass over the needed columns.
    float pad_w = 0.f;
    for (int t = ty.begin[i]; t < ty.begin[i + 1]; ++t)
      if (ty.idx[t] < 0) pad_w += ty.w[t];
    for (int k = 0; k < ncols; ++k) {
      acc[3 * k] = pad[0] * pad_w;
      acc[3 * k + 1] = pad[1] * pad_w;
      acc[3 * k + 2] = pad[2] * pad_w;
    }
    for (int t = ty.begin[i]; t < ty.begin[i + 1]; ++t) {
      if (ty.idx[t] < 0 || ncols == 0) continue;
      AccumulateRow(acc.data(), src.row(ty.idx[t]) + 3 * static_cast<size_t>(cx0), ty.w[t], ncols * 3);
    }
    // Horizontal pass.
    for (int j = 0; j < out_w; ++j) {
      float r = 0.f, g = 0.f, b = 0.f;
      for (int t = tx.begin[j]; t < tx.begin[j + 1]; ++t) {
        const float w = tx.w[t];
        if (tx.idx[t] < 0) {
          r += w * pad[0];
          g += w * pad[1];
          b += w * pad[2];
        } else {
          const float* a = acc.data() + 3 * static_cast<size_t>(tx.idx[t] - cx0);
          r += w * a[0];
          g += w * a[1];
          b += w * a[2];
        }
      }
      out[3 * j] = r;
      out[3 * j + 1] = g;
      out[3 * j + 2] = b;
    }
    emit(i, static_cast<const float*>(out.data()));
  }
}

inline uint8_t ToU8(float v) {
  v = std::nearbyint(v);
  return static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
}

}  // namespace

Result<Image> CropResizeImage(const Image& src, const BoxF& box, int out_w, int out_h, Rgb pad,
                              ResizeFilter filter) {
  FK_RETURN_IF_ERROR(CheckArgs(src, box, out_w, out_h));
  Image dst = Image::Uninitialized(out_w, out_h);  // every row is written below
  const std::array<float, 3> pads = {float(pad.r), float(pad.g), float(pad.b)};
  Resample(src, box, out_w, out_h, filter, pads, [&](int i, const float* row) {
    uint8_t* d = dst.row(i);
    for (int k = 0; k < out_w * 3; ++k) d[k] = ToU8(row[k]);
  });
  return dst;
}

Result<Image> ResizeImage(const Image& src, int out_w, int out_h, ResizeFilter filter) {
  return CropResizeImage(
      src, BoxF{0.f, 0.f, static_cast<float>(src.width()), static_cast<float>(src.height())}, out_w,
      out_h, Rgb{}, filter);
}

Status CropResizeInto(const Image& src, const BoxF& box, int out_w, int out_h,
                      const Normalize& norm, float* dst, float pad, ResizeFilter filter) {
  FK_RETURN_IF_ERROR(CheckArgs(src, box, out_w, out_h));
  if (dst == nullptr) return InvalidArgument("resize: null destination buffer");
  const bool bgr = norm.order == ChannelOrder::kBGR;
  Resample(src, box, out_w, out_h, filter, {pad, pad, pad}, [&](int i, const float* row) {
    float* d = dst + static_cast<size_t>(i) * out_w * 3;
    for (int j = 0; j < out_w; ++j) {
      for (int k = 0; k < 3; ++k) {
        const int c = bgr ? 2 - k : k;
        d[3 * j + k] = row[3 * j + c] * norm.scale[k] + norm.offset[k];
      }
    }
  });
  return OkStatus();
}

Result<Tensor> CropResizeToTensor(const Image& src, const BoxF& box, int out_w, int out_h,
                                  const Normalize& norm, float pad, ResizeFilter filter) {
  FK_RETURN_IF_ERROR(CheckArgs(src, box, out_w, out_h));
  Tensor t(DType::kFloat32, Shape{1, out_h, out_w, 3});
  FK_RETURN_IF_ERROR(CropResizeInto(src, box, out_w, out_h, norm, t.data<float>(), pad, filter));
  return t;
}

Result<Tensor> ResizeToTensor(const Image& src, int out_w, int out_h, const Normalize& norm,
                              ResizeFilter filter) {
  return CropResizeToTensor(
      src, BoxF{0.f, 0.f, static_cast<float>(src.width()), static_cast<float>(src.height())}, out_w,
      out_h, norm, 0.f, filter);
}

Tensor ImageToTensor(const Image& src, const Normalize& norm) {
  Tensor t(DType::kFloat32, Shape{1, src.height(), src.width(), 3});
  float* d = t.data<float>();
  const bool bgr = norm.order == ChannelOrder::kBGR;
  for (int y = 0; y < src.height(); ++y) {
    const uint8_t* s = src.row(y);
    for (int x = 0; x < src.width(); ++x, s += 3, d += 3) {
      for (int k = 0; k < 3; ++k) d[k] = s[bgr ? 2 - k : k] * norm.scale[k] + norm.offset[k];
    }
  }
  return t;
}

namespace {

// One output row of DownscaleBox: `acc` holds the column sums of the block's ny source rows.
template <int F>
void BoxRow(const uint16_t* acc, int W, int f_rt, int ny, uint8_t* d) {
  const int f = F > 0 ? F : f_rt;
  const int full = W / f;  // output columns with a whole block
  const float inv = 1.f / static_cast<float>(f * ny);
  for (int c = 0; c < full; ++c) {
    const uint16_t* a = acc + 3 * static_cast<size_t>(c) * f;
    uint32_t r = 0, g = 0, b = 0;
    for (int j = 0; j < f; ++j) {
      r += a[3 * j];
      g += a[3 * j + 1];
      b += a[3 * j + 2];
    }
    d[3 * c] = static_cast<uint8_t>(static_cast<float>(r) * inv + 0.5f);
    d[3 * c + 1] = static_cast<uint8_t>(static_cast<float>(g) * inv + 0.5f);
    d[3 * c + 2] = static_cast<uint8_t>(static_cast<float>(b) * inv + 0.5f);
  }
  if (full * f < W) {  // the partial last column
    const int n = W - full * f;
    uint32_t sum[3] = {0, 0, 0};
    for (int j = 0; j < n; ++j)
      for (int ch = 0; ch < 3; ++ch) sum[ch] += acc[3 * static_cast<size_t>(full * f + j) + ch];
    const float inv_n = 1.f / static_cast<float>(n * ny);
    for (int ch = 0; ch < 3; ++ch) d[3 * full + ch] = static_cast<uint8_t>(static_cast<float>(sum[ch]) * inv_n + 0.5f);
  }
}

}  // namespace

Image DownscaleBox(const Image& src, int f) {
  if (src.empty() || f <= 1) return src;
  Image dst = DownscaleBoxRegion(src, 0, 0, src.width(), src.height(), f);
  dst.set_source_size(src.source_width(), src.source_height());
  return dst;
}

Image DownscaleBoxRegion(const Image& src, int rx0, int ry0, int rx1, int ry1, int f) {
  rx0 = std::clamp(rx0, 0, src.width()), rx1 = std::clamp(rx1, rx0, src.width());
  ry0 = std::clamp(ry0, 0, src.height()), ry1 = std::clamp(ry1, ry0, src.height());
  if (src.empty() || rx1 <= rx0 || ry1 <= ry0) return Image();
  f = std::clamp(f, 1, 64);  // 16-bit column sums: 64 rows * 255 < 65536
  const int W = rx1 - rx0, H = ry1 - ry0;
  const int w = (W + f - 1) / f, h = (H + f - 1) / f;
  Image dst = Image::Uninitialized(w, h);
  std::vector<uint16_t> acc(static_cast<size_t>(W) * 3);
  for (int r = 0; r < h; ++r) {
    const int y0 = ry0 + r * f, y1 = std::min(ry1, y0 + f);
    {  // vertical sums over the region's columns (vectorises)
      const uint8_t* s = src.row(y0) + 3 * static_cast<size_t>(rx0);
      uint16_t* a = acc.data();
      for (int k = 0; k < 3 * W; ++k) a[k] = s[k];
    }
    for (int y = y0 + 1; y < y1; ++y) {
      const uint8_t* s = src.row(y) + 3 * static_cast<size_t>(rx0);
      uint16_t* a = acc.data();
      for (int k = 0; k < 3 * W; ++k) a[k] = static_cast<uint16_t>(a[k] + s[k]);
    }
    uint8_t* d = dst.row(r);
    switch (f) {
      case 2: BoxRow<2>(acc.data(), W, f, y1 - y0, d); break;
      case 3: BoxRow<3>(acc.data(), W, f, y1 - y0, d); break;
      case 4: BoxRow<4>(acc.data(), W, f, y1 - y0, d); break;
      default: BoxRow<0>(acc.data(), W, f, y1 - y0, d); break;
    }
  }
  return dst;
}

Image FlipHorizontal(const Image& src) {
  Image dst(src.width(), src.height());
  const int w = src.width();
  for (int y = 0; y < src.height(); ++y) {
    const uint8_t* s = src.row(y);
    uint8_t* d = dst.row(y);
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = s + 3 * static_cast<size_t>(w - 1 - x);
      d[3 * x] = p[0];
      d[3 * x + 1] = p[1];
      d[3 * x + 2] = p[2];
    }
  }
  dst.set_source_size(src.source_width(), src.source_height());
  return dst;
}

Image ApplyExifOrientation(const Image& src, int o) {
  if (o < 2 || o > 8) return src;
  const int w = src.width(), h = src.height();
  const bool swap = o >= 5;
  Image dst(swap ? h : w, swap ? w : h);
  const int dw = dst.width(), dh = dst.height();
  for (int y = 0; y < dh; ++y) {
    uint8_t* d = dst.row(y);
    for (int x = 0; x < dw; ++x) {
      int sx, sy;
      switch (o) {
        case 2:
          sx = w - 1 - x;
          sy = y;
          break;  // mirror horizontal
        case 3:
          sx = w - 1 - x;
          sy = h - 1 - y;
          break;  // rotate 180
        case 4:
          sx = x;
          sy = h - 1 - y;
          break;  // mirror vertical
        case 5:
          sx = y;
          sy = x;
          break;  // transpose
        case 6:
          sx = y;
          sy = h - 1 - x;
          break;  // rotate 90 clockwise
        case 7:
          sx = w - 1 - y;
          sy = h - 1 - x;
          break;  // transverse
        default:
          sx = w - 1 - y;
          sy = x;
          break;  // 8: rotate 90 counter-clockwise
      }
      const uint8_t* s = src.at(sx, sy);
      d[3 * x] = s[0];
      d[3 * x + 1] = s[1];
      d[3 * x + 2] = s[2];
    }
  }
  if (swap) {
    dst.set_source_size(src.source_height(), src.source_width());
  } else {
    dst.set_source_size(src.source_width(), src.source_height());
  }
  return dst;
}

}  // namespace fk::vision
