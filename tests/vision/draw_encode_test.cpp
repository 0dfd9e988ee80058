// Drawing primitives and encoding / SaveImage round trips.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "test_images.h"
#include "vision/draw.h"

namespace fk::vision {
namespace {

using fk::testing_images::MaxAbsDiff;
using fk::testing_images::MeanAbsDiff;
using fk::testing_images::NoiseImage;
namespace fs = std::filesystem;

int CountColor(const Image& img, Rgb c) {
  int n = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = 0; x < img.width(); ++x) {
      const uint8_t* p = img.at(x, y);
      n += p[0] == c.r && p[1] == c.g && p[2] == c.b;
    }
  return n;
}

bool Is(const Image& img, int x, int y, Rgb c) {
  const uint8_t* p = img.at(x, y);
  return p[0] == c.r && p[1] == c.g && p[2] == c.b;
}

TEST(Draw, BoxOutlineCoversExactlyItsEdges) {
  Image img(20, 20);
  const Rgb red{255, 0, 0};
  DrawBox(img, BoxF{2, 3, 12, 9}, red, 1);  // pixels x 2..11, y 3..8
  EXPECT_EQ(CountColor(img, red), 2 * 10 + 2 * 6 - 4);
  EXPECT_TRUE(Is(img, 2, 3, red));
  EXPECT_TRUE(Is(img, 11, 8, red));
  EXPECT_FALSE(Is(img, 5, 5, red));  // inside stays
  EXPECT_FALSE(Is(img, 12, 5, red));
  Image thick(20, 20);
  DrawBox(thick, BoxF{2, 3, 12, 9}, red, 2);
  EXPECT_EQ(CountColor(thick, red), 10 * 6 - 6 * 2);
}

TEST(Draw, ClippedAndNonFiniteShapesAreSafe) {
  Image img(10, 10);
  const Rgb c{1, 2, 3};
  DrawBox(img, BoxF{-100, -100, 1e9f, 1e9f}, c, 3);
  DrawBox(img, BoxF{NAN, 0, 5, INFINITY}, c, 1);
  DrawLine(img, {-50, -50}, {60, 60}, c, 2);
  DrawLine(img, {NAN, 0}, {5, 5}, c);
  DrawMarker(img, {-1e30f, 5}, c, MarkerShape::kDisc, 5);
  DrawMarker(img, {9.9f, 9.9f}, c, MarkerShape::kCross, 4);
  FillBox(img, BoxF{8, 8, 30, 30}, c);
  EXPECT_TRUE(Is(img, 0, 0, c));  // the diagonal line passes (0, 0)
  EXPECT_TRUE(Is(img, 5, 5, c));  // diagonal line
  EXPECT_TRUE(Is(img, 9, 9, c));  // fill
}

TEST(Draw, MarkersAndLines) {
  Image img(21, 21);
  const Rgb g{0, 255, 0};
  DrawMarker(img, {10.5f, 10.5f}, g, MarkerShape::kSquare, 2);
  EXPECT_EQ(CountColor(img, g), 25);
  Image cross(21, 21);
  DrawMarker(cross, {10.5f, 10.5f}, g, MarkerShape::kCross, 3);
  EXPECT_EQ(CountColor(cross, g), 13);
  Image disc(21, 21);
  DrawMarker(disc, {10.5f, 10.5f}, g, MarkerShape::kDisc, 3);
  EXPECT_TRUE(Is(disc, 10, 13, g));
  EXPECT_FALSE(Is(disc, 13, 13, g));
  Image line(21, 21);
  DrawLine(line, {0.5f, 5.5f}, {20.5f, 5.5f}, g, 1);
  EXPECT_EQ(CountColor(line, g), 21);
  EXPECT_NE(PaletteColor(0).g, PaletteColor(1).g);
  EXPECT_EQ(PaletteColor(-1).r, PaletteColor(9).r);
}

TEST(Encode, RoundTripsThroughEveryFormat) {
  const Image noise = NoiseImage(41, 27);
  const Image smooth = fk::testing_images::BlockPattern(64, 48);
  auto png = EncodeImage(noise, ImageFormat::kPng);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(SniffImageFormat(*png), ImageFormat::kPng);
  EXPECT_EQ(MaxAbsDiff(*DecodeImage(*png), noise), 0);
  auto webp_lossless = EncodeImage(noise, ImageFormat::kWebp, 101);
  EXPECT_EQ(MaxAbsDiff(*DecodeImage(*webp_lossless), noise), 0);
  auto jpg = EncodeImage(smooth, ImageFormat::kJpeg, 95);
  ASSERT_TRUE(jpg.ok());
  EXPECT_EQ(SniffImageFormat(*jpg), ImageFormat::kJpeg);
  EXPECT_LT(MeanAbsDiff(*DecodeImage(*jpg), smooth), 3.0);
  EXPECT_EQ(EncodeImage(Image(), ImageFormat::kPng).status().code(), StatusCode::kInvalidArgument);
}

TEST(Encode, SaveImageByExtension) {
  const fs::path dir = fs::temp_directory_path() / ("fk_vision_save_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const Image img = NoiseImage(16, 9);
  for (const char* name : {"a.png", "b.JPG", "c.jpeg", "d.webp"}) {
    const std::string p = (dir / name).string();
    ASSERT_TRUE(SaveImage(p, img).ok()) << p;
    auto back = DecodeImageFile(p);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->width(), 16);
  }
  EXPECT_EQ(MaxAbsDiff(*DecodeImageFile((dir / "a.png").string()), img), 0);
  auto bad_ext = SaveImage((dir / "x.gif").string(), img);
  EXPECT_EQ(bad_ext.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_ext.message().find("x.gif"), std::string::npos);
  auto no_dir = SaveImage("/nonexistent/dir/out.png", img);
  EXPECT_EQ(no_dir.code(), StatusCode::kIoError);
  EXPECT_NE(no_dir.message().find("/nonexistent/dir/out.png"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fk::vision
