// Affine transforms, the least-squares similarity, warps and the pixel-centre convention.
#include "vision/geometry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/warp_sample.h"
#include "test_images.h"

namespace fk::vision {
namespace {

using fk::testing_images::MaxAbsDiff;
using fk::testing_images::NoiseImage;

void ExpectNearAffine(const Affine2x3& x, const Affine2x3& y, double tol) {
  EXPECT_NEAR(x.a, y.a, tol);
  EXPECT_NEAR(x.b, y.b, tol);
  EXPECT_NEAR(x.c, y.c, tol);
  EXPECT_NEAR(x.d, y.d, tol);
  EXPECT_NEAR(x.e, y.e, tol);
  EXPECT_NEAR(x.f, y.f, tol);
}

double SumSq(const Affine2x3& m, const std::vector<Point2f>& s, const std::vector<Point2f>& d) {
  double e = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const double px = m.a * s[i].x + m.b * s[i].y + m.c, py = m.d * s[i].x + m.e * s[i].y + m.f;
    e += (px - d[i].x) * (px - d[i].x) + (py - d[i].y) * (py - d[i].y);
  }
  return e;
}

TEST(Affine, InverseAndCompose) {
  const Affine2x3 m =
      Compose(Affine2x3::Translation(3, -2), Affine2x3::Similarity(1.5, 0.4, {10, 20}));
  auto inv = m.Inverse();
  ASSERT_TRUE(inv.ok());
  ExpectNearAffine(Compose(m, *inv), Affine2x3::Identity(), 1e-12);
  const Point2f p{7.25f, -3.5f};
  const Point2f q = Compose(Affine2x3::Scaling(2, 3), Affine2x3::Translation(1, 1)).Apply(p);
  EXPECT_FLOAT_EQ(q.x, 2 * (p.x + 1));
  EXPECT_FLOAT_EQ(q.y, 3 * (p.y + 1));
  // The rotation's centre is fixed; a positive angle turns +x towards +y.
  const Affine2x3 r = Affine2x3::Similarity(1, M_PI / 2, {5, 5});
  EXPECT_NEAR(r.Apply({5, 5}).x, 5, 1e-5);
  EXPECT_NEAR(r.Apply({6, 5}).x, 5, 1e-5);
  EXPECT_NEAR(r.Apply({6, 5}).y, 6, 1e-5);
  EXPECT_NEAR(r.Scale(), 1.0, 1e-12);
  EXPECT_EQ(Affine2x3::Scaling(0, 1).Inverse().status().code(), StatusCode::kInvalidArgument);
}

TEST(Similarity, RecoversExactTransform) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-50, 150);
  for (int trial = 0; trial < 20; ++trial) {
    const Affine2x3 t =
        Compose(Affine2x3::Translation(u(rng), u(rng)),
                Affine2x3::Similarity(0.2 + trial * 0.2, -3 + 0.3 * trial, {u(rng), u(rng)}));
    const size_t n = 2 + trial % 5;
    std::vector<Point2f> s(n), d(n);
    for (size_t i = 0; i < n; ++i) {
      s[i] = {u(rng), u(rng)};
      d[i] = t.Apply(s[i]);
    }
    auto m = EstimateSimilarity(s, d);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ExpectNearAffine(*m, t, 2e-3);
  }
}

TEST(Similarity, LeastSquaresOptimalAndNeverReflects) {
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0, 2);
  std::vector<Point2f> s = {{30, 40}, {80, 42}, {55, 70}, {35, 95}, {78, 93}};
  std::vector<Point2f> d;
  const Affine2x3 t = Affine2x3::Similarity(0.8, 0.2, {50, 60});
  for (auto p : s) {
    Point2f q = t.Apply(p);
    d.push_back({q.x + noise(rng), q.y + noise(rng)});
  }
  auto m = EstimateSimilarity(s, d);
  ASSERT_TRUE(m.ok());
  EXPECT_NEAR(m->a, m->e, 1e-9);  // a similarity: [p -q; q p]
  EXPECT_NEAR(m->b, -m->d, 1e-9);
  // Any perturbation of the 4 similarity parameters increases the squared error.
  const double best = SumSq(*m, s, d);
  for (int k = 0; k < 4; ++k)
    for (double eps : {-1e-3, 1e-3}) {
      Affine2x3 x = *m;
      if (k == 0) x.a += eps, x.e += eps;
      if (k == 1) x.d += eps, x.b -= eps;
      if (k == 2) x.c += eps;
      if (k == 3) x.f += eps;
      EXPECT_GT(SumSq(x, s, d), best) << "param " << k << " eps " << eps;
    }
  // Mirrored targets: the best similarity is still a rotation (det > 0), not a reflection.
  std::vector<Point2f> mirrored;
  for (auto p : s) mirrored.push_back({200 - p.x, p.y});
  auto r = EstimateSimilarity(s, mirrored);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->Determinant(), 0);
}

TEST(Similarity, DegenerateInputs) {
  std::vector<Point2f> one = {{1, 2}};
  std::vector<Point2f> same = {{1, 2}, {1, 2}, {1, 2}};
  std::vector<Point2f> three = {{0, 0}, {1, 0}, {0, 1}};
  EXPECT_EQ(EstimateSimilarity(one, one).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EstimateSimilarity(same, three).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EstimateSimilarity(three, same).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EstimateSimilarity(three, one).status().code(), StatusCode::kInvalidArgument);
  std::vector<Point2f> nan_pts = {{0, 0}, {NAN, 0}};
  EXPECT_EQ(EstimateSimilarity(nan_pts, nan_pts).status().code(), StatusCode::kInvalidArgument);
}

TEST(Warp, IdentityReturnsSamePixels) {
  const Image src = NoiseImage(23, 19);
  auto out = WarpAffine(src, Affine2x3::Identity(), 23, 19);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(MaxAbsDiff(*out, src), 0);
  // Integer translation shifts pixels exactly.
  auto shifted = WarpAffine(src, Affine2x3::Translation(-3, -2), 10, 10);
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 10; ++x)
      EXPECT_EQ(std::memcmp(shifted->at(x, y), src.at(x + 3, y + 2), 3), 0);
}

TEST(Warp, HalfPixelTranslationAveragesNeighbours) {
  const Image src = NoiseImage(16, 8, 11);
  std::vector<float> out(16 * 8 * 3);
  ASSERT_TRUE(
      WarpAffineInto(src, Affine2x3::Translation(-0.5, 0), 16, 8, Normalize::Raw(), out.data())
          .ok());
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 15; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_NEAR(out[(y * 16 + x) * 3 + c], 0.5f * (src.at(x, y)[c] + src.at(x + 1, y)[c]),
                    1e-3);
  // Last column samples at the image edge: replicated edge pixel.
  EXPECT_NEAR(out[(0 * 16 + 15) * 3], src.at(15, 0)[0], 1e-3);
}

// Bilinear sampling reproduces a linear ramp exactly, so the warped value at each output
// pixel tells where its centre was mapped: this pins down the pixel-centre convention.
TEST(Warp, KnownSimilarityMapsPixelCentres) {
  const int w = 120, h = 100;
  Image ramp(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = ramp.at(x, y);
      p[0] = static_cast<uint8_t>(2 * x + 1);  // = 2 * (x + 0.5): pixel centre coordinate * 2
      p[1] = static_cast<uint8_t>(2 * y + 1);
      p[2] = 0;
    }
  const Affine2x3 m =
      Compose(Affine2x3::Translation(-20, -10), Affine2x3::Similarity(1.7, 0.35, {60, 50}));
  const int ow = 80, oh = 80;
  auto t = WarpAffineToTensor(ramp, m, ow, oh, Normalize::Raw());
  ASSERT_TRUE(t.ok());
  auto inv = m.Inverse();
  int checked = 0;
  for (int i = 0; i < oh; ++i)
    for (int j = 0; j < ow; ++j) {
      const Point2f s = inv->Apply({j + 0.5f, i + 0.5f});
      if (s.x < 1 || s.y < 1 || s.x > w - 1 || s.y > h - 1) continue;
      const float* px = t->data<float>() + (i * ow + j) * 3;
      ASSERT_NEAR(px[0] / 2, s.x, 2e-3) << j << "," << i;
      ASSERT_NEAR(px[1] / 2, s.y, 2e-3) << j << "," << i;
      ++checked;
    }
  EXPECT_GT(checked, 1000);
}

TEST(Warp, BorderOutsideAndBadArguments) {
  const Image src = NoiseImage(10, 10);
  auto far = WarpAffine(src, Affine2x3::Translation(500, 500), 4, 4, Rgb{9, 8, 7});
  ASSERT_TRUE(far.ok());
  EXPECT_EQ(MaxAbsDiff(*far, Image(4, 4, Rgb{9, 8, 7})), 0);
  EXPECT_EQ(WarpAffine(src, Affine2x3::Scaling(0, 0), 4, 4).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(WarpAffine(src, Affine2x3::Identity(), 0, 4).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(WarpAffine(Image(), Affine2x3::Identity(), 4, 4).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Warp, AntialiasAreaAveragesStrongShrinks) {
  const Image src = NoiseImage(64, 64, 21);
  auto aa = WarpAffine(src, Affine2x3::Scaling(0.25, 0.25), 16, 16, Rgb{}, true);
  auto area = ResizeImage(src, 16, 16, ResizeFilter::kArea);
  ASSERT_TRUE(aa.ok() && area.ok());
  // The prefilter is an exact integer 4x4 box mean (rounded once); the area resampler sums
  // float-weighted taps: the two round a mean of x.5 apart at most.
  EXPECT_LE(MaxAbsDiff(*aa, *area), 1);
  // Without antialiasing the same warp samples 2x2 pixel pairs only.
  auto plain = WarpAffine(src, Affine2x3::Scaling(0.25, 0.25), 16, 16);
  EXPECT_GT(MaxAbsDiff(*plain, *area), 10);
  // One-pixel stripes shrunk 5x under rotation: antialiased output is nearly flat grey.
  Image stripes(400, 400);
  for (int y = 0; y < 400; ++y)
    for (int x = 0; x < 400; ++x) std::memset(stripes.at(x, y), x % 2 ? 255 : 0, 3);
  const Affine2x3 m = Affine2x3::Similarity(0.2, 0.3, {200, 200});
  const Affine2x3 shrink = Compose(Affine2x3::Translation(-180, -180), m);
  auto smooth = WarpAffine(stripes, shrink, 40, 40, Rgb{}, true);
  auto aliased = WarpAffine(stripes, shrink, 40, 40, Rgb{}, false);
  auto spread = [](const Image& img) {
    int lo = 255, hi = 0;
    for (int y = 5; y < 35; ++y)
      for (int x = 5; x < 35; ++x)
        lo = std::min<int>(lo, img.at(x, y)[0]), hi = std::max<int>(hi, img.at(x, y)[0]);
    return hi - lo;
  };
  EXPECT_LT(spread(*smooth), 60);  // 5-wide boxes hold 2 or 3 white columns: 102..153
  EXPECT_GT(spread(*aliased), 150);
}

TEST(Template, ArcFaceConstantsAndScaling) {
  const auto t112 = ArcFaceTemplate(112);
  EXPECT_FLOAT_EQ(t112[0].x, 38.2946f + 0.5f);
  EXPECT_FLOAT_EQ(t112[4].y, 92.2041f + 0.5f);
  const auto t224 = ArcFaceTemplate(224);
  const auto t150 = ArcFaceTemplate(150);
  for (int k = 0; k < 5; ++k) {
    EXPECT_FLOAT_EQ(t224[k].x, 2 * t112[k].x);
    EXPECT_NEAR(t150[k].y, t112[k].y * 150 / 112.0, 1e-4);
  }
  // Left eye is on the image left, left mouth corner below it.
  EXPECT_LT(t112[0].x, t112[1].x);
  EXPECT_LT(t112[3].x, t112[4].x);
  EXPECT_GT(t112[3].y, t112[2].y);
}

TEST(Template, AlignmentRecoversKnownPose) {
  // A face rotated by 25 degrees, 3x the chip scale, somewhere in a photo.
  const Affine2x3 photo_to_chip =
      Compose(Affine2x3::Translation(-300, -200),
              Affine2x3::Similarity(1 / 3.0, 25 * M_PI / 180, {400, 300}));
  auto chip_to_photo = photo_to_chip.Inverse();
  ASSERT_TRUE(chip_to_photo.ok());
  const auto tmpl = ArcFaceTemplate(112);
  std::vector<Point2f> landmarks;
  for (auto p : tmpl) landmarks.push_back(chip_to_photo->Apply(p));
  auto m = AlignmentTransform5(landmarks, 112);
  ASSERT_TRUE(m.ok());
  ExpectNearAffine(*m, photo_to_chip, 1e-3);
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(m->Apply(landmarks[k]).x, tmpl[k].x, 1e-3);
    EXPECT_NEAR(m->Apply(landmarks[k]).y, tmpl[k].y, 1e-3);
  }
  EXPECT_EQ(AlignmentTransform5(std::span(landmarks).first(3), 112).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(Template, FlipLandmarksMatchesFlippedImage) {
  const int w = 50, h = 40;
  Image img(w, h);
  const std::array<Point2f, 5> pts = {
      {{12.5f, 10.5f}, {30.5f, 11.5f}, {20.5f, 20.5f}, {14.5f, 30.5f}, {29.5f, 31.5f}}};
  for (int k = 0; k < 5; ++k)
    img.at(int(pts[k].x), int(pts[k].y))[0] = static_cast<uint8_t>(50 * (k + 1));
  const Image flipped = FlipHorizontal(img);
  const auto fp = FlipLandmarks5(pts, static_cast<float>(w));
  // Order is preserved semantically: index 0 is again the left-most eye.
  EXPECT_LT(fp[0].x, fp[1].x);
  EXPECT_LT(fp[3].x, fp[4].x);
  static constexpr int kSwap[5] = {1, 0, 2, 4, 3};
  for (int k = 0; k < 5; ++k)
    EXPECT_EQ(flipped.at(int(fp[k].x), int(fp[k].y))[0], 50 * (kSwap[k] + 1)) << k;
  const auto back = FlipLandmarks5(fp, static_cast<float>(w));
  for (int k = 0; k < 5; ++k) EXPECT_FLOAT_EQ(back[k].x, pts[k].x);
}

// engine/warp_sample.h (the arithmetic of Model::RunWarps, on the host and in the GPU kernels)
// cuts what WarpAffine cuts, bit for bit, from the fields PlanWarp gives: shrinks with and
// without the antialias box prefilter (box 2..9), enlargements, rotations, crops that leave the
// image, the mirrored chip, a border colour; and engine::WarpFootprint holds every pixel read.
TEST(WarpAffine, SharedSamplerOfRunWarpsEqualsItBitForBit) {
  const Image src = NoiseImage(331, 257, 7);
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> scale(0.1, 2.5), angle(-0.8, 0.8), pos(-60, 390);
  int prefiltered = 0, outside = 0, partial = 0;
  for (int t = 0; t < 60; ++t) {
    const int ow = 16 + t % 5 * 23, oh = 16 + t % 3 * 31;
    const Affine2x3 m = Compose(Affine2x3::Translation(ow / 2.0, oh / 2.0),
                                Compose(Affine2x3::Similarity(scale(rng), angle(rng)),
                                        Affine2x3::Translation(-pos(rng), -pos(rng) * 0.7)));
    for (bool antialias : {false, true}) {
      SCOPED_TRACE("case " + std::to_string(t) + (antialias ? " antialias" : ""));
      const float border = t % 4 == 0 ? 37.f : 0.f;
      auto want = WarpAffine(src, m, ow, oh, Rgb{37, 37, 37}, antialias);
      if (border == 0.f) want = WarpAffine(src, m, ow, oh, Rgb{}, antialias);
      ASSERT_TRUE(want.ok());
      auto plan = PlanWarp(src, m, ow, oh, antialias);
      ASSERT_TRUE(plan.ok()) << plan.status().ToString();
      auto inv = plan->to_dst.Inverse();
      ASSERT_TRUE(inv.ok());
      engine::WarpDesc d;
      const double f[6] = {inv->a, inv->b, inv->c, inv->d, inv->e, inv->f};
      for (int k = 0; k < 6; ++k) d.inv[k] = f[k];
      d.box = plan->box;
      d.x0 = plan->x0, d.y0 = plan->y0, d.x1 = plan->x1, d.y1 = plan->y1;
      d.border = border;
      prefiltered += d.box > 1;
      const engine::WarpSource ws{src.row(0), src.width(), src.height(), static_cast<int64_t>(src.stride())};
      std::vector<uint8_t> scratch(d.box > 1 ? static_cast<size_t>(engine::BoxOutSize(d.x1 - d.x0, d.box)) *
                                                   engine::BoxOutSize(d.y1 - d.y0, d.box) * 3
                                             : 0);
      Image got(ow, oh);
      engine::WarpToBytesHost(ws, d, ow, oh, got.row(0), scratch.data());
      EXPECT_EQ(MaxAbsDiff(got, *want), 0);
      // The mirrored chip is the chip mirrored.
      d.mirror = true;
      Image mirrored(ow, oh);
      engine::WarpToBytesHost(ws, d, ow, oh, mirrored.row(0), scratch.data());
      EXPECT_EQ(MaxAbsDiff(mirrored, FlipHorizontal(*want)), 0);
      // Some chips reach past the image (border / edge taps).
      const Point2f c = inv->Apply({0.f, 0.f});
      outside += c.x < 0 || c.y < 0;
      // WarpFootprint holds every pixel the crop reads: with every other pixel of the photo
      // changed, both chips stay the same (what a GPU runner that uploads only it relies on).
      const engine::WarpRect r = engine::WarpFootprint(d, ow, oh, src.width(), src.height());
      ASSERT_TRUE(r.x0 >= 0 && r.y0 >= 0 && r.x0 < r.x1 && r.y0 < r.y1 && r.x1 <= src.width() && r.y1 <= src.height());
      partial += r.area() < int64_t{src.width()} * src.height();
      Image poisoned = src;
      for (int y = 0; y < src.height(); ++y)
        for (int x = 0; x < src.width(); ++x)
          if (x < r.x0 || x >= r.x1 || y < r.y0 || y >= r.y1)
            for (int k = 0; k < 3; ++k) poisoned.row(y)[3 * x + k] = static_cast<uint8_t>(255 - src.row(y)[3 * x + k]);
      const engine::WarpSource wp{poisoned.row(0), src.width(), src.height(), static_cast<int64_t>(poisoned.stride())};
      Image got2(ow, oh);
      engine::WarpToBytesHost(wp, d, ow, oh, got2.row(0), scratch.data());
      EXPECT_EQ(MaxAbsDiff(got2, mirrored), 0) << "footprint (" << r.x0 << "," << r.y0 << ")-(" << r.x1 << "," << r.y1 << ")";
      d.mirror = false;
      engine::WarpToBytesHost(wp, d, ow, oh, got2.row(0), scratch.data());
      EXPECT_EQ(MaxAbsDiff(got2, got), 0);
    }
  }
  EXPECT_GE(prefiltered, 5);  // the box path was exercised (9 of the 60 antialiased cases)
  EXPECT_GT(outside, 5);
  EXPECT_GT(partial, 30);  // most footprints are a part of the photo
  // PlanWarp refuses what WarpAffine refuses.
  EXPECT_FALSE(PlanWarp(Image(), Affine2x3::Identity(), 8, 8, true).ok());
  EXPECT_FALSE(PlanWarp(src, Affine2x3::Scaling(0, 1), 8, 8, true).ok());
  EXPECT_FALSE(PlanWarp(src, Affine2x3::Identity(), 0, 8, false).ok());
}

}  // namespace
}  // namespace fk::vision
