// Affine transforms, Umeyama similarity, bilinear warps and alignment templates.
#include "vision/geometry.h"

#include <cmath>
#include <string>
#include <vector>

#include "engine/warp_sample.h"

namespace fk::vision {

Affine2x3 Affine2x3::Similarity(double scale, double radians, Point2f center) {
  const double cs = scale * std::cos(radians), sn = scale * std::sin(radians);
  // p' = R (p - c) + c
  return {cs, -sn, center.x - cs * center.x + sn * center.y,
          sn, cs,  center.y - sn * center.x - cs * center.y};
}

double Affine2x3::Scale() const { return std::sqrt(std::abs(Determinant())); }

Result<Affine2x3> Affine2x3::Inverse() const {
  const double det = Determinant();
  const double norm = std::abs(a) + std::abs(b) + std::abs(d) + std::abs(e);
  if (!std::isfinite(det) || !std::isfinite(c) || !std::isfinite(f) ||
      std::abs(det) <= 1e-12 * norm * norm || norm == 0)
    return InvalidArgument("affine transform [" + std::to_string(a) + " " + std::to_string(b) +
                           " " + std::to_string(c) + "; " + std::to_string(d) + " " +
                           std::to_string(e) + " " + std::to_string(f) +
                           "] is singular or not finite and cannot be inverted");
  const double ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return Affine2x3{ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)};
}

Affine2x3 Compose(const Affine2x3& o, const Affine2x3& i) {
  return {o.a * i.a + o.b * i.d, o.a * i.b + o.b * i.e, o.a * i.c + o.b * i.f + o.c,
          o.d * i.a + o.e * i.d, o.d * i.b + o.e * i.e, o.d * i.c + o.e * i.f + o.f};
}

Result<Affine2x3> EstimateSimilarity(std::span<const Point2f> src, std::span<const Point2f> dst) {
  if (src.size() != dst.size())
    return InvalidArgument("similarity estimate: " + std::to_string(src.size()) +
                           " source points but " + std::to_string(dst.size()) +
                           " destination points");
  if (src.size() < 2)
    return InvalidArgument("similarity estimate: needs at least 2 point pairs, got " +
                           std::to_string(src.size()));
  const double n = static_cast<double>(src.size());
  double msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (size_t k = 0; k < src.size(); ++k) {
    if (!std::isfinite(src[k].x) || !std::isfinite(src[k].y) || !std::isfinite(dst[k].x) ||
        !std::isfinite(dst[k].y))
      return InvalidArgument("similarity estimate: point " + std::to_string(k) + " is not finite");
    msx += src[k].x, msy += src[k].y, mdx += dst[k].x, mdy += dst[k].y;
  }
  msx /= n, msy /= n, mdx /= n, mdy /= n;
  // With centred points s, t: minimise sum |t - (p*s.x - q*s.y, q*s.x + p*s.y)|^2 over p = k cos,
  // q = k sin. Normal equations: p = sum(s.t) / var, q = sum(s x t) / var. This equals
  // Umeyama's solution with the reflection excluded (det R = +1).
  double var = 0, dot = 0, cross = 0;
  for (size_t k = 0; k < src.size(); ++k) {
    const double sx = src[k].x - msx, sy = src[k].y - msy;
    const double tx = dst[k].x - mdx, ty = dst[k].y - mdy;
    var += sx * sx + sy * sy;
    dot += sx * tx + sy * ty;
    cross += sx * ty - sy * tx;
  }
  if (!(var > 1e-12))
    return InvalidArgument(
        "similarity estimate: the source points all coincide; cannot fit a transform");
  const double p = dot / var, q = cross / var;
  if (!(p * p + q * q > 1e-24))
    return InvalidArgument(
        "similarity estimate: the destination points all coincide; cannot fit a transform");
  return Affine2x3{p, -q, mdx - (p * msx - q * msy), q, p, mdy - (q * msx + p * msy)};
}

namespace {

Status CheckWarp(const Image& src, int out_w, int out_h) {
  if (src.empty()) return InvalidArgument("warp: the source image is empty");
  if (out_w < 1 || out_h < 1)
    return InvalidArgument("warp: output size " + std::to_string(out_w) + "x" +
                           std::to_string(out_h) + " must be at least 1x1");
  return OkStatus();
}

// emit(i, const float* rgb_row) per output row, values 0..255.
template <typename Emit>
Status WarpRaw(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h,
               const std::array<float, 3>& border, Emit&& emit) {
  FK_RETURN_IF_ERROR(CheckWarp(src, out_w, out_h));
  FK_ASSIGN_OR_RETURN(const Affine2x3 inv, src_to_dst.Inverse());
  // The sampler shared with Model::RunWarps (engine/warp_sample.h: host and GPU kernel).
  const engine::WarpSource ws{src.row(0), src.width(), src.height(), static_cast<int64_t>(src.stride())};
  const double m[6] = {inv.a, inv.b, inv.c, inv.d, inv.e, inv.f};
  std::vector<float> row(static_cast<size_t>(out_w) * 3);
  for (int i = 0; i < out_h; ++i) {
    for (int j = 0; j < out_w; ++j)
      engine::WarpPixel(ws, m, border.data(), j, i, row.data() + 3 * static_cast<size_t>(j));
    emit(i, static_cast<const float*>(row.data()));
  }
  return OkStatus();
}

// Antialiasing for strong shrinks: area-average the source region the chip needs by about
// k = floor(1 / scale); the plan's to_dst maps the smaller image to the chip. Box 1 when no
// prefilter is needed.
Status Prefilter(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h, WarpPlan* plan) {
  plan->box = 1;
  plan->to_dst = src_to_dst;
  const double scale = src_to_dst.Scale();
  if (!(scale < 0.5)) return OkStatus();
  FK_ASSIGN_OR_RETURN(const Affine2x3 inv, src_to_dst.Inverse());
  const double k = std::floor(1.0 / scale);
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  for (Point2f c : {Point2f{0, 0}, Point2f{float(out_w), 0}, Point2f{0, float(out_h)},
                    Point2f{float(out_w), float(out_h)}}) {
    const double sx = inv.a * c.x + inv.b * c.y + inv.c, sy = inv.d * c.x + inv.e * c.y + inv.f;
    x0 = std::min(x0, sx), x1 = std::max(x1, sx), y0 = std::min(y0, sy), y1 = std::max(y1, sy);
  }
  // Margin of two filter widths, clipped to the image: region edges inside the image are
  // never reached by the bilinear support; edges on the image border keep its semantics.
  const double rx0 = std::max(0.0, std::floor(x0 - 2 * k)),
               ry0 = std::max(0.0, std::floor(y0 - 2 * k));
  const double rx1 = std::min<double>(src.width(), std::ceil(x1 + 2 * k));
  const double ry1 = std::min<double>(src.height(), std::ceil(y1 + 2 * k));
  if (!(rx1 - rx0 >= 2 * k) || !(ry1 - ry0 >= 2 * k)) return OkStatus();  // (mostly) outside
  // Integer k x k box averages over the region (16-bit sums; ~5x faster than the general area
  // resampler, which cost ~1 ms per 112-px chip cut from a 400-px face). Output pixel c covers
  // [rx0 + c*k, rx0 + c*k + k); the last one is partial when k does not divide the region, but
  // it lies in the margin, beyond the bilinear support of the chip. DownscaleBoxRegion takes
  // k <= 64 (its 16-bit sums).
  const int ik = std::min(64, static_cast<int>(k));
  plan->box = ik;
  plan->x0 = static_cast<int>(rx0), plan->y0 = static_cast<int>(ry0);
  plan->x1 = static_cast<int>(rx1), plan->y1 = static_cast<int>(ry1);
  const Affine2x3 small_to_src{static_cast<double>(ik), 0, rx0, 0, static_cast<double>(ik), ry0};
  plan->to_dst = Compose(src_to_dst, small_to_src);
  return OkStatus();
}

template <typename Emit>
Status Warp(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h,
            const std::array<float, 3>& border, bool antialias, Emit&& emit) {
  FK_ASSIGN_OR_RETURN(const WarpPlan plan, PlanWarp(src, src_to_dst, out_w, out_h, antialias));
  if (plan.box > 1) {
    const Image small = DownscaleBoxRegion(src, plan.x0, plan.y0, plan.x1, plan.y1, plan.box);
    return WarpRaw(small, plan.to_dst, out_w, out_h, border, emit);
  }
  return WarpRaw(src, src_to_dst, out_w, out_h, border, emit);
}

}  // namespace

Result<WarpPlan> PlanWarp(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h, bool antialias) {
  FK_RETURN_IF_ERROR(CheckWarp(src, out_w, out_h));
  FK_RETURN_IF_ERROR(src_to_dst.Inverse().status());
  WarpPlan plan;
  plan.to_dst = src_to_dst;
  if (antialias) FK_RETURN_IF_ERROR(Prefilter(src, src_to_dst, out_w, out_h, &plan));
  return plan;
}

Result<Image> WarpAffine(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h,
                         Rgb border, bool antialias) {
  FK_RETURN_IF_ERROR(CheckWarp(src, out_w, out_h));
  Image dst(out_w, out_h);
  FK_RETURN_IF_ERROR(Warp(src, src_to_dst, out_w, out_h,
                          {float(border.r), float(border.g), float(border.b)}, antialias,
                          [&](int i, const float* row) {
                            uint8_t* d = dst.row(i);
                            for (int k = 0; k < out_w * 3; ++k) {
                              const float v = std::nearbyint(row[k]);
                              d[k] = static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
                            }
                          }));
  return dst;
}

Status WarpAffineInto(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h,
                      const Normalize& norm, float* dst, float border, bool antialias) {
  if (dst == nullptr) return InvalidArgument("warp: null destination buffer");
  const bool bgr = norm.order == ChannelOrder::kBGR;
  return Warp(src, src_to_dst, out_w, out_h, {border, border, border}, antialias,
              [&](int i, const float* row) {
                float* d = dst + static_cast<size_t>(i) * out_w * 3;
                for (int j = 0; j < out_w; ++j)
                  for (int k = 0; k < 3; ++k)
                    d[3 * j + k] = row[3 * j + (bgr ? 2 - k : k)] * norm.scale[k] + norm.offset[k];
              });
}

Result<Tensor> WarpAffineToTensor(const Image& src, const Affine2x3& src_to_dst, int out_w,
                                  int out_h, const Normalize& norm, float border, bool antialias) {
  FK_RETURN_IF_ERROR(CheckWarp(src, out_w, out_h));
  Tensor t(DType::kFloat32, Shape{1, out_h, out_w, 3});
  FK_RETURN_IF_ERROR(
      WarpAffineInto(src, src_to_dst, out_w, out_h, norm, t.data<float>(), border, antialias));
  return t;
}

std::array<Point2f, 5> ArcFaceTemplate(int chip_size) {
  const float s = static_cast<float>(chip_size) / 112.f;
  std::array<Point2f, 5> out;
  for (int k = 0; k < 5; ++k)
    out[k] = {(kArcFace112TemplateOpenCV[k].x + 0.5f) * s,
              (kArcFace112TemplateOpenCV[k].y + 0.5f) * s};
  return out;
}

std::array<Point2f, 5> FlipLandmarks5(std::span<const Point2f, 5> pts, float width) {
  static constexpr int kSwap[5] = {1, 0, 2, 4, 3};
  std::array<Point2f, 5> out;
  for (int k = 0; k < 5; ++k) out[k] = {width - pts[kSwap[k]].x, pts[kSwap[k]].y};
  return out;
}

Result<Affine2x3> AlignmentTransform5(std::span<const Point2f> landmarks, int chip_size) {
  if (landmarks.size() != 5)
    return InvalidArgument("alignment: expected 5 landmarks (eyes, nose tip, mouth corners), got " +
                           std::to_string(landmarks.size()));
  if (chip_size < 1) return InvalidArgument("alignment: chip size must be positive");
  const auto tmpl = ArcFaceTemplate(chip_size);
  return EstimateSimilarity(landmarks, tmpl);
}

}  // namespace fk::vision
