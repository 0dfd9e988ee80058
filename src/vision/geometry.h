// Face alignment geometry: affine transforms, least-squares similarity, warps, templates.
//
// Coordinates (docs/conventions.md): continuous, pixel (c, r) covers [c, c+1) x [r, r+1),
// so its centre is (c + 0.5, r + 0.5). A warp computes output pixel (j, i) by mapping
// its centre (j + 0.5, i + 0.5) through the inverse transform into the source and
// sampling bilinearly there (source pixel centres at half-integers). Consequences:
//   - the identity warp returns the source pixels exactly;
//   - a translation by (-0.5, 0) averages horizontal neighbours;
//   - scaling an image by s scales coordinates by exactly s (no half-pixel offsets).
// Outside the source extent [0, W] x [0, H] the source is `border`; inside it edge pixels
// are replicated (same rule as vision/image_ops.h).
//
// Landmark order of the 5-point set (the order every 5-point function here expects):
//   0 left eye centre, 1 right eye centre, 2 nose tip, 3 left mouth corner,
//   4 right mouth corner — "left" is image left (the subject's right eye).
#pragma once

#include <array>
#include <span>

#include "facekit/image.h"
#include "vision/image_ops.h"

namespace fk::vision {

// x' = a*x + b*y + c ; y' = d*x + e*y + f
struct Affine2x3 {
  double a = 1, b = 0, c = 0;
  double d = 0, e = 1, f = 0;

  static Affine2x3 Identity() { return {}; }
  static Affine2x3 Translation(double tx, double ty) { return {1, 0, tx, 0, 1, ty}; }
  static Affine2x3 Scaling(double sx, double sy) { return {sx, 0, 0, 0, sy, 0}; }
  // p' = center + scale * R(radians) * (p - center), R = [cos -sin; sin cos]. With y
  // pointing down, a positive angle turns +x towards +y (clockwise as displayed).
  static Affine2x3 Similarity(double scale, double radians, Point2f center = {});

  Point2f Apply(Point2f p) const {
    return {static_cast<float>(a * p.x + b * p.y + c), static_cast<float>(d * p.x + e * p.y + f)};
  }
  double Determinant() const { return a * e - b * d; }
  // Uniform scale of a similarity (sqrt |det|).
  double Scale() const;
  // InvalidArgument when the transform is singular (|det| ~ 0) or not finite.
  Result<Affine2x3> Inverse() const;
};

// outer ∘ inner: Apply(Compose(o, i), p) == o.Apply(i.Apply(p)).
Affine2x3 Compose(const Affine2x3& outer, const Affine2x3& inner);

// Least-squares similarity (uniform scale, rotation, translation; never a reflection)
// mapping src[i] to dst[i] — Umeyama's method, which in 2-D has a closed form.
// Requires src.size() == dst.size() >= 2 and src points not all coincident.
Result<Affine2x3> EstimateSimilarity(std::span<const Point2f> src, std::span<const Point2f> dst);

// Warps `src` into an out_w x out_h chip. `src_to_dst` maps source coordinates to chip
// coordinates (what EstimateSimilarity(landmarks, template) returns). Exact bilinear.
// `antialias`: when the transform shrinks by more than 2x (scale < 0.5), the source region
// the chip needs is first area-averaged by about floor(1 / scale), then sampled
// bilinearly; without it (the default, like cv2.warpAffine and what the reference
// pipelines did) small chips from large faces alias.
Result<Image> WarpAffine(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h,
                         Rgb border = {}, bool antialias = false);
// Same, writing normalised float32 HWC (out_h * out_w * 3) at `dst`; `border` is a pixel
// value 0..255 normalised like the pixels.
Status WarpAffineInto(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h,
                      const Normalize& norm, float* dst, float border = 0.f,
                      bool antialias = false);
Result<Tensor> WarpAffineToTensor(const Image& src, const Affine2x3& src_to_dst, int out_w,
                                  int out_h, const Normalize& norm, float border = 0.f,
                                  bool antialias = false);

// How WarpAffine samples (so another implementation, e.g. a GPU kernel through Model::RunWarps,
// can cut the same crop): with box > 1 the region [x0, x1) x [y0, y1) of the source is first
// box-averaged (DownscaleBoxRegion) and `to_dst` maps that smaller image to the chip; with box 1
// `to_dst` is src_to_dst on the source itself.
struct WarpPlan {
  int box = 1;
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  Affine2x3 to_dst;
};
// InvalidArgument for an empty source, a chip smaller than 1x1 or a singular transform.
Result<WarpPlan> PlanWarp(const Image& src, const Affine2x3& src_to_dst, int out_w, int out_h, bool antialias);

// The ArcFace/InsightFace 112x112 5-point template exactly as published (insightface
// `arcface_dst`), in OpenCV's convention where integer coordinates are pixel centres.
inline constexpr std::array<Point2f, 5> kArcFace112TemplateOpenCV = {{
    {38.2946f, 51.6963f},
    {73.5318f, 51.5014f},
    {56.0252f, 71.7366f},
    {41.5493f, 92.3655f},
    {70.7299f, 92.2041f},
}};

// The ArcFace template in facekit coordinates for a chip_size x chip_size chip:
// (published + 0.5) * chip_size / 112. Use this with landmarks in facekit coordinates.
std::array<Point2f, 5> ArcFaceTemplate(int chip_size = 112);

// Mirrors 5-point landmarks of an image `width` wide: x -> width - x and left/right
// points swapped (eyes, mouth corners) so the order stays left-eye-first.
std::array<Point2f, 5> FlipLandmarks5(std::span<const Point2f, 5> pts, float width);

// Similarity aligning 5 landmarks to the ArcFace template of a chip_size chip.
Result<Affine2x3> AlignmentTransform5(std::span<const Point2f> landmarks, int chip_size = 112);

}  // namespace fk::vision
