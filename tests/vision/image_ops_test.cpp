// Resampling (bilinear / area), crop with padding, normalisation to float NHWC, flips.
#include "vision/image_ops.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_images.h"

namespace fk::vision {
namespace {

using fk::testing_images::MaxAbsDiff;
using fk::testing_images::NoiseImage;

Image Row(std::initializer_list<int> vals) {
  Image img(static_cast<int>(vals.size()), 1);
  int x = 0;
  for (int v : vals) {
    uint8_t* p = img.at(x++, 0);
    p[0] = p[1] = p[2] = static_cast<uint8_t>(v);
  }
  return img;
}

std::vector<int> Values(const Image& img) {
  std::vector<int> v;
  for (int x = 0; x < img.width(); ++x) v.push_back(img.at(x, 0)[0]);
  return v;
}

// Brute-force area average of [a, b) x [c, d) (pixel (x, y) covers [x, x+1) x [y, y+1)).
double AreaRef(const Image& img, int ch, double a, double b, double c, double d) {
  double sum = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const double ox = std::max(0.0, std::min(b, x + 1.0) - std::max(a, double(x)));
      const double oy = std::max(0.0, std::min(d, y + 1.0) - std::max(c, double(y)));
      sum += ox * oy * img.at(x, y)[ch];
    }
  return sum / ((b - a) * (d - c));
}

// Integer box downscale: every full block is its exact (rounded) mean, the partial last
// column/row averages what is there, the source size is kept for coordinate mapping.
TEST(DownscaleBox, BlockMeansAndPartialEdges) {
  Image src = NoiseImage(10, 7, 5);
  src.set_source_size(40, 28);
  const Image d = DownscaleBox(src, 3);
  ASSERT_EQ(d.width(), 4);
  ASSERT_EQ(d.height(), 3);
  EXPECT_EQ(d.source_width(), 40);
  EXPECT_EQ(d.source_height(), 28);
  for (int r = 0; r < d.height(); ++r)
    for (int c = 0; c < d.width(); ++c)
      for (int ch = 0; ch < 3; ++ch) {
        const int x1 = std::min(10, 3 * c + 3), y1 = std::min(7, 3 * r + 3);
        double sum = 0;
        int n = 0;
        for (int y = 3 * r; y < y1; ++y)
          for (int x = 3 * c; x < x1; ++x, ++n) sum += src.at(x, y)[ch];
        EXPECT_NEAR(d.at(c, r)[ch], sum / n, 0.5 + 1e-9) << c << "," << r << " ch " << ch;
      }
  // factor 1 (and below) is a copy
  EXPECT_EQ(MaxAbsDiff(DownscaleBox(src, 1), src), 0);
}

TEST(Image, UninitializedHasTheSizeAndIsWritable) {
  Image img = Image::Uninitialized(5, 3);
  ASSERT_EQ(img.width(), 5);
  ASSERT_EQ(img.height(), 3);
  EXPECT_EQ(img.stride(), 15u);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 15; ++x) img.row(y)[x] = static_cast<uint8_t>(x + y);
  EXPECT_EQ(img.at(4, 2)[2], 16);
  EXPECT_TRUE(Image::Uninitialized(0, 3).empty());
  // The filling constructor still fills.
  Image g(4, 2, Rgb{7, 7, 7});
  EXPECT_EQ(g.at(3, 1)[1], 7);
}

TEST(Resize, SameSizeIsIdentity) {
  const Image src = NoiseImage(31, 17);
  for (ResizeFilter f : {ResizeFilter::kAuto, ResizeFilter::kBilinear, ResizeFilter::kArea}) {
    auto out = ResizeImage(src, 31, 17, f);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(MaxAbsDiff(*out, src), 0);
  }
}

TEST(Resize, BilinearHalfPixelCentres) {
  auto up = ResizeImage(Row({0, 100}), 4, 1, ResizeFilter::kBilinear);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(Values(*up), (std::vector<int>{0, 25, 75, 100}));
  // Downscale by exactly 2 with bilinear samples between pixel pairs.
  auto down = ResizeImage(Row({0, 100, 200, 40}), 2, 1, ResizeFilter::kBilinear);
  EXPECT_EQ(Values(*down), (std::vector<int>{50, 120}));
}

TEST(Resize, AreaMatchesBruteForceForFractionalFactors) {
  const Image src = NoiseImage(53, 29, 5);
  for (auto [w, h] : {std::pair{10, 7}, std::pair{21, 11}, std::pair{5, 3}, std::pair{26, 14}}) {
    auto out = ResizeImage(src, w, h, ResizeFilter::kArea);
    ASSERT_TRUE(out.ok());
    const double sx = 53.0 / w, sy = 29.0 / h;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          const double ref = AreaRef(src, c, x * sx, (x + 1) * sx, y * sy, (y + 1) * sy);
          ASSERT_NEAR(out->at(x, y)[c], ref, 0.51) << w << "x" << h << " at " << x << "," << y;
        }
  }
}

TEST(Resize, AutoUsesAreaBeyondTwoX) {
  const Image src = NoiseImage(60, 60, 9);
  auto a = ResizeImage(src, 20, 20, ResizeFilter::kAuto);  // 3x: area
  auto b = ResizeImage(src, 20, 20, ResizeFilter::kArea);
  EXPECT_EQ(MaxAbsDiff(*a, *b), 0);
  auto c = ResizeImage(src, 40, 40, ResizeFilter::kAuto);  // 1.5x: bilinear
  auto d = ResizeImage(src, 40, 40, ResizeFilter::kBilinear);
  EXPECT_EQ(MaxAbsDiff(*c, *d), 0);
}

TEST(Resize, ConstantImageStaysConstant) {
  const Image src(45, 33, Rgb{10, 120, 240});
  for (auto [w, h] : {std::pair{7, 5}, std::pair{100, 80}, std::pair{44, 33}, std::pair{1, 1}}) {
    auto out = ResizeImage(src, w, h);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(MaxAbsDiff(*out, Image(w, h, Rgb{10, 120, 240})), 0) << w << "x" << h;
  }
}

TEST(CropResize, BoxPastTheImageIsPadded) {
  const Image src = Row({100, 100, 100, 100});
  auto out = CropResizeImage(src, BoxF{-4, 0, 4, 1}, 8, 1, Rgb{7, 7, 7});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Values(*out), (std::vector<int>{7, 7, 7, 7, 100, 100, 100, 100}));
  // Non-grey pad colour per channel.
  auto col = CropResizeImage(src, BoxF{4, 0, 6, 1}, 2, 1, Rgb{1, 2, 3});
  EXPECT_EQ(col->at(1, 0)[0], 1);
  EXPECT_EQ(col->at(1, 0)[1], 2);
  EXPECT_EQ(col->at(1, 0)[2], 3);
  // Area path with pad: half the output pixel outside -> half pad.
  auto area = CropResizeImage(Row({200, 200, 200, 200}), BoxF{-2, 0, 6, 1}, 2, 1, Rgb{0, 0, 0},
                              ResizeFilter::kArea);
  EXPECT_EQ(Values(*area), (std::vector<int>{100, 100}));
}

TEST(CropResize, HalfPixelShiftAveragesNeighbours) {
  auto out = CropResizeImage(Row({0, 100, 0, 100}), BoxF{0.5f, 0, 3.5f, 1}, 3, 1);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(Values(*out), (std::vector<int>{50, 50, 50}));
}

TEST(CropResize, ToTensorNormalisesAndOrdersChannels) {
  Image src(2, 1);
  src.at(0, 0)[0] = 255, src.at(0, 0)[1] = 0, src.at(0, 0)[2] = 51;
  src.at(1, 0)[0] = 0, src.at(1, 0)[1] = 255, src.at(1, 0)[2] = 102;
  auto t = ResizeToTensor(src, 2, 1, Normalize::MinusOneOne(ChannelOrder::kBGR));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->shape(), (Shape{1, 1, 2, 3}));
  const float* d = t->data<float>();
  EXPECT_NEAR(d[0], 51 * 2 / 255.f - 1, 1e-6);  // B first
  EXPECT_NEAR(d[1], -1.f, 1e-6);
  EXPECT_NEAR(d[2], 1.f, 1e-6);
  EXPECT_NEAR(d[3], 102 * 2 / 255.f - 1, 1e-6);

  auto z = ImageToTensor(src, Normalize::MeanStd({127.5f, 127.5f, 127.5f}, {128.f, 128.f, 128.f}));
  EXPECT_NEAR(z.data<float>()[0], (255 - 127.5f) / 128.f, 1e-6);
  auto raw = ImageToTensor(src, Normalize::Raw());
  EXPECT_EQ(raw.data<float>()[5], 102.f);
  // Padding value is normalised like pixels.
  auto padded = CropResizeToTensor(src, BoxF{2, 0, 4, 1}, 2, 1, Normalize::ZeroOne(), 255.f);
  ASSERT_TRUE(padded.ok());
  EXPECT_NEAR(padded->data<float>()[4], 1.f, 1e-6);
}

TEST(CropResize, FloatAndByteResizesAgree) {
  const Image src = NoiseImage(90, 70, 3);
  const BoxF box{-10.3f, 5.7f, 60.2f, 80.1f};
  auto bytes = CropResizeImage(src, box, 37, 41);
  auto floats = CropResizeToTensor(src, box, 37, 41, Normalize::Raw());
  ASSERT_TRUE(bytes.ok() && floats.ok());
  const float* f = floats->data<float>();
  for (int y = 0; y < 41; ++y)
    for (int x = 0; x < 37 * 3; ++x) ASSERT_NEAR(bytes->row(y)[x], f[y * 37 * 3 + x], 0.5f + 1e-3f);
}

TEST(CropResize, BadArguments) {
  const Image src = NoiseImage(8, 8);
  EXPECT_EQ(ResizeImage(src, 0, 5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CropResizeImage(src, BoxF{3, 3, 3, 5}, 4, 4).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CropResizeImage(src, BoxF{0, 0, NAN, 5}, 4, 4).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ResizeImage(Image(), 4, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CropResizeInto(src, BoxF{0, 0, 8, 8}, 4, 4, Normalize::Raw(), nullptr).code(),
            StatusCode::kInvalidArgument);
}

TEST(Flip, HorizontalMirror) {
  const Image src = NoiseImage(7, 3);
  const Image f = FlipHorizontal(src);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(f.at(x, y)[c], src.at(6 - x, y)[c]);
  EXPECT_EQ(MaxAbsDiff(FlipHorizontal(f), src), 0);
}

TEST(Orientation, RotationsComposeToIdentity) {
  const Image src = NoiseImage(9, 4);
  // 6 (90 cw) four times; 8 (90 ccw) undoes 6; 3 twice; 2, 4, 5, 7 are involutions.
  Image r = src;
  for (int i = 0; i < 4; ++i) r = ApplyExifOrientation(r, 6);
  EXPECT_EQ(MaxAbsDiff(r, src), 0);
  EXPECT_EQ(MaxAbsDiff(ApplyExifOrientation(ApplyExifOrientation(src, 6), 8), src), 0);
  for (int o : {2, 3, 4, 5, 7})
    EXPECT_EQ(MaxAbsDiff(ApplyExifOrientation(ApplyExifOrientation(src, o), o), src), 0);
  const Image cw = ApplyExifOrientation(src, 6);
  ASSERT_EQ(cw.width(), 4);
  // Rotating clockwise puts the source's bottom-left pixel at the top-left.
  EXPECT_EQ(std::memcmp(cw.at(0, 0), src.at(0, 3), 3), 0);
  EXPECT_EQ(cw.source_width(), 4);
}

}  // namespace
}  // namespace fk::vision
