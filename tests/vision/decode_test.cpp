// Decoding: formats and their variants, EXIF orientation, DCT scaling, size limits, bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "facekit/image.h"
#include "test_images.h"
#include "vision/image_ops.h"

namespace fk {
namespace {

using namespace fk::testing_images;
namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("fk_vision_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

DecodeOptions NoLimits() {
  DecodeOptions o;
  o.max_side = 0;
  return o;
}

// ---- JPEG --------------------------------------------------------------------------------

TEST(DecodeJpeg, RgbBaselineAndProgressive) {
  const Image src = BlockPattern(64, 48);
  for (bool progressive : {false, true}) {
    JpegSpec spec;
    spec.progressive = progressive;
    auto img = DecodeImage(EncodeJpegRgb(src, spec));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ(img->width(), 64);
    EXPECT_EQ(img->height(), 48);
    EXPECT_LT(MeanAbsDiff(*img, src), 3.0) << "progressive=" << progressive;
  }
}

TEST(DecodeJpeg, GrayscaleBecomesRgb) {
  const int w = 40, h = 24;
  std::vector<uint8_t> gray(w * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) gray[y * w + x] = static_cast<uint8_t>(x * 6);
  JpegSpec spec;
  spec.in_space = JCS_GRAYSCALE;
  auto img = DecodeImage(EncodeJpegRaw(gray.data(), w, h, 1, spec));
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  ASSERT_EQ(img->width(), w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = img->at(x, y);
      EXPECT_EQ(p[0], p[1]);
      EXPECT_EQ(p[1], p[2]);
      EXPECT_NEAR(p[0], gray[y * w + x], 6);
    }
}

// CMYK as Photoshop writes it (Adobe marker, inverted inks), YCCK, and plain CMYK.
TEST(DecodeJpeg, CmykAndYcck) {
  const int w = 32, h = 32;
  struct Case {
    J_COLOR_SPACE jpeg_space;
    bool adobe;
  };
  for (Case c : {Case{JCS_CMYK, true}, Case{JCS_YCCK, true}, Case{JCS_CMYK, false}}) {
    // Left half: stored (200, 100, 50, 255); right half: stored (200, 100, 50, 128).
    std::vector<uint8_t> px(w * h * 4);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        uint8_t* p = &px[(y * w + x) * 4];
        p[0] = 200, p[1] = 100, p[2] = 50, p[3] = x < w / 2 ? 255 : 128;
      }
    // Build with a custom encoder call so the Adobe marker can be switched off.
    jpeg_compress_struct cinfo;
    jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_mem_dest(&cinfo, &buf, &size);
    cinfo.image_width = w, cinfo.image_height = h, cinfo.input_components = 4,
    cinfo.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, c.jpeg_space);
    cinfo.write_Adobe_marker = c.adobe;
    jpeg_set_quality(&cinfo, 98, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
      JSAMPROW row = &px[cinfo.next_scanline * w * 4];
      jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    std::vector<uint8_t> bytes(buf, buf + size);
    std::free(buf);

    auto img = DecodeImage(bytes);
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    const uint8_t* l = img->at(4, 16);
    const uint8_t* r = img->at(w - 5, 16);
    SCOPED_TRACE("space=" + std::to_string(c.jpeg_space) + " adobe=" + std::to_string(c.adobe));
    if (c.adobe) {  // rgb = stored * K / 255
      EXPECT_NEAR(l[0], 200, 4);
      EXPECT_NEAR(l[1], 100, 4);
      EXPECT_NEAR(l[2], 50, 4);
      EXPECT_NEAR(r[0], 200 * 128 / 255, 4);
      EXPECT_NEAR(r[1], 100 * 128 / 255, 4);
      EXPECT_NEAR(r[2], 50 * 128 / 255, 4);
    } else {  // plain inks: rgb = (255 - C) * (255 - K) / 255
      EXPECT_NEAR(l[0], 0, 4);
      EXPECT_NEAR(r[0], 55 * 127 / 255, 4);
      EXPECT_NEAR(r[1], 155 * 127 / 255, 4);
      EXPECT_NEAR(r[2], 205 * 127 / 255, 4);
    }
  }
}

// Every EXIF orientation, both TIFF byte orders. The expected display position of each
// stored pixel is derived from the EXIF table ("0th row is at side X, 0th column at side Y"),
// independently of the library's transform code.
TEST(DecodeJpeg, ExifOrientationAllEight) {
  const int dw = 64, dh = 32;  // displayed (upright) size
  // Upright image: four 32x16 quadrants of distinct colours.
  const Rgb quad[4] = {{220, 30, 30}, {30, 220, 30}, {30, 30, 220}, {220, 220, 30}};
  Image upright(dw, dh);
  for (int y = 0; y < dh; ++y)
    for (int x = 0; x < dw; ++x) {
      const Rgb c = quad[(y >= dh / 2) * 2 + (x >= dw / 2)];
      uint8_t* p = upright.at(x, y);
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
  enum Side { kTop, kBottom, kLeft, kRight };
  struct Row0Col0 {
    Side row0, col0;
  };
  const Row0Col0 table[9] = {{},
                             {kTop, kLeft},
                             {kTop, kRight},
                             {kBottom, kRight},
                             {kBottom, kLeft},
                             {kLeft, kTop},
                             {kRight, kTop},
                             {kRight, kBottom},
                             {kLeft, kBottom}};
  for (int o = 1; o <= 8; ++o) {
    for (bool le : {false, true}) {
      const bool swap = o >= 5;
      const int sw = swap ? dh : dw, sh = swap ? dw : dh;
      Image stored(sw, sh);
      for (int sy = 0; sy < sh; ++sy)
        for (int sx = 0; sx < sw; ++sx) {
          int dx, dy;
          const Row0Col0 t = table[o];
          if (!swap) {  // rows stay rows
            dy = t.row0 == kTop ? sy : dh - 1 - sy;
            dx = t.col0 == kLeft ? sx : dw - 1 - sx;
          } else {  // stored rows become display columns
            dx = t.row0 == kLeft ? sy : dw - 1 - sy;
            dy = t.col0 == kTop ? sx : dh - 1 - sx;
          }
          std::memcpy(stored.at(sx, sy), upright.at(dx, dy), 3);
        }
      JpegSpec spec;
      spec.exif_orientation = o;
      spec.exif_little_endian = le;
      const auto bytes = EncodeJpegRgb(stored, spec);
      SCOPED_TRACE("orientation " + std::to_string(o) + (le ? " II" : " MM"));
      auto img = DecodeImage(bytes);
      ASSERT_TRUE(img.ok()) << img.status().ToString();
      ASSERT_EQ(img->width(), dw);
      ASSERT_EQ(img->height(), dh);
      EXPECT_EQ(img->source_width(), dw);
      EXPECT_EQ(img->source_height(), dh);
      EXPECT_LT(MeanAbsDiff(*img, upright), 4.0);

      DecodeOptions raw;
      raw.apply_exif_orientation = false;
      auto as_stored = DecodeImage(bytes, raw);
      ASSERT_TRUE(as_stored.ok());
      EXPECT_EQ(as_stored->width(), sw);
      EXPECT_LT(MeanAbsDiff(*as_stored, stored), 4.0);
    }
  }
}

TEST(DecodeJpeg, DctScalingPicksSmallestScaleAboveTarget) {
  const Image src = BlockPattern(800, 600);
  const auto bytes = EncodeJpegRgb(src);
  struct Case {
    int target, w, h;
  };
  for (Case c : {Case{200, 200, 150}, Case{201, 400, 300}, Case{100, 100, 75}, Case{50, 100, 75},
                 Case{500, 800, 600}, Case{0, 800, 600}}) {
    DecodeOptions o = NoLimits();
    o.target_max_side = c.target;
    auto img = DecodeImage(bytes, o);
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ(img->width(), c.w) << "target " << c.target;
    EXPECT_EQ(img->height(), c.h) << "target " << c.target;
    EXPECT_EQ(img->source_width(), 800);
    EXPECT_EQ(img->source_height(), 600);
    // Content matches an area-downscaled full decode.
    auto ref = vision::ResizeImage(src, c.w, c.h, vision::ResizeFilter::kArea);
    ASSERT_TRUE(ref.ok());
    EXPECT_LT(MeanAbsDiff(*img, *ref), 6.0) << "target " << c.target;
  }
}

// DecodeOptions::jpeg_pixels (a GPU decoder, FaceConfig::gpu_decode): its pixels at full size
// replace libjpeg-turbo's whatever target_max_side says; EXIF orientation, max_side and the
// source size are applied as usual; when it fails, libjpeg-turbo decodes; CMYK never reaches it.
TEST(DecodeJpeg, CallersPixelDecoderReplacesLibjpegAndFallsBack) {
  const Image src = BlockPattern(200, 120);
  JpegSpec spec;
  spec.exif_orientation = 6;  // stored 200x120, upright 120x200
  const auto bytes = EncodeJpegRgb(src, spec);
  int calls = 0;
  DecodeOptions o = NoLimits();
  o.target_max_side = 60;  // libjpeg-turbo would decode at 1/2
  o.jpeg_pixels = [&](std::span<const uint8_t> jpeg, uint8_t* dst, int64_t stride) {
    ++calls;
    EXPECT_EQ(jpeg.size(), bytes.size());
    for (int y = 0; y < 120; ++y)  // the stored (unrotated) image, pixel (x, y) = (x, y, 7)
      for (int x = 0; x < 200; ++x) {
        uint8_t* p = dst + y * stride + 3 * x;
        p[0] = static_cast<uint8_t>(x), p[1] = static_cast<uint8_t>(y), p[2] = 7;
      }
    return OkStatus();
  };
  auto img = DecodeImage(bytes, o);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(img->width(), 120);  // full size, rotated upright
  ASSERT_EQ(img->height(), 200);
  EXPECT_EQ(img->source_width(), 120);
  EXPECT_EQ(img->source_height(), 200);
  const Image want = vision::ApplyExifOrientation(
      [] {
        Image st(200, 120);
        for (int y = 0; y < 120; ++y)
          for (int x = 0; x < 200; ++x) st.at(x, y)[0] = uint8_t(x), st.at(x, y)[1] = uint8_t(y), st.at(x, y)[2] = 7;
        return st;
      }(),
      6);
  EXPECT_EQ(MaxAbsDiff(*img, want), 0);
  // max_side still applies (area resize of the caller's pixels).
  o.max_side = 100;
  auto small = DecodeImage(bytes, o);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(std::max(small->width(), small->height()), 100);
  EXPECT_EQ(small->source_height(), 200);
  // A failing decoder: libjpeg-turbo's result, as without one.
  o.max_side = 0;
  o.jpeg_pixels = [&](std::span<const uint8_t>, uint8_t*, int64_t) {
    ++calls;
    return Unsupported("not on this backend");
  };
  auto fallback = DecodeImage(bytes, o);
  DecodeOptions plain = NoLimits();
  plain.target_max_side = 60;
  auto ref = DecodeImage(bytes, plain);
  ASSERT_TRUE(fallback.ok() && ref.ok());
  EXPECT_EQ(calls, 3);  // the max_side decode above, then this one
  EXPECT_EQ(fallback->width(), ref->width());
  EXPECT_EQ(MaxAbsDiff(*fallback, *ref), 0);
}

TEST(DecodeJpeg, DctScalingWithRotationKeepsSourceSize) {
  const Image src = BlockPattern(800, 400);
  JpegSpec spec;
  spec.exif_orientation = 6;
  DecodeOptions o = NoLimits();
  o.target_max_side = 200;
  auto img = DecodeImage(EncodeJpegRgb(src, spec), o);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->width(), 100);
  EXPECT_EQ(img->height(), 200);
  EXPECT_EQ(img->source_width(), 400);
  EXPECT_EQ(img->source_height(), 800);
}

TEST(DecodeJpeg, MaxSideDownscales) {
  const Image src = BlockPattern(800, 600);
  DecodeOptions o;
  o.max_side = 256;
  auto img = DecodeImage(EncodeJpegRgb(src), o);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->width(), 256);
  EXPECT_EQ(img->height(), 192);
  EXPECT_EQ(img->source_width(), 800);
  auto ref = vision::ResizeImage(src, 256, 192, vision::ResizeFilter::kArea);
  EXPECT_LT(MeanAbsDiff(*img, *ref), 6.0);
}

// ---- PNG ---------------------------------------------------------------------------------

std::vector<std::vector<uint8_t>> RowsOf(int w, int h, int bytes_per_pixel,
                                         const std::function<void(int x, int y, uint8_t* px)>& f) {
  std::vector<std::vector<uint8_t>> rows(
      h, std::vector<uint8_t>(static_cast<size_t>(w) * bytes_per_pixel));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) f(x, y, &rows[y][static_cast<size_t>(x) * bytes_per_pixel]);
  return rows;
}

TEST(DecodePng, RgbExactAndInterlaced) {
  const Image src = NoiseImage(37, 23);
  for (bool interlaced : {false, true}) {
    PngSpec spec;
    spec.interlaced = interlaced;
    auto rows =
        RowsOf(37, 23, 3, [&](int x, int y, uint8_t* p) { std::memcpy(p, src.at(x, y), 3); });
    auto img = DecodeImage(EncodePngRaw(rows, 37, spec));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ(MaxAbsDiff(*img, src), 0) << "interlaced=" << interlaced;
  }
}

TEST(DecodePng, Sixteen_BitScaledTo8) {
  PngSpec spec;
  spec.bit_depth = 16;
  // Sample values v*257 + small noise -> 8-bit v.
  auto rows = RowsOf(16, 4, 6, [](int x, int y, uint8_t* p) {
    for (int c = 0; c < 3; ++c) {
      const unsigned v = (x * 16 + c * 5 + y) % 256;
      const unsigned s = v * 257;
      p[2 * c] = static_cast<uint8_t>(s >> 8), p[2 * c + 1] = static_cast<uint8_t>(s & 0xFF);
    }
  });
  auto img = DecodeImage(EncodePngRaw(rows, 16, spec));
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(img->at(x, y)[c], (x * 16 + c * 5 + y) % 256);
}

TEST(DecodePng, GrayAllDepths) {
  for (int depth : {1, 2, 4, 8, 16}) {
    PngSpec spec;
    spec.color_type = PNG_COLOR_TYPE_GRAY;
    spec.bit_depth = depth;
    const int w = 16, h = 2;
    const int maxv = depth == 16 ? 65535 : (1 << depth) - 1;
    std::vector<std::vector<uint8_t>> rows(h, std::vector<uint8_t>((w * depth + 7) / 8));
    std::vector<int> vals(w);
    for (int x = 0; x < w; ++x) vals[x] = (x * 7) % (maxv + 1);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const int v = vals[x];
        if (depth == 16) {
          rows[y][2 * x] = static_cast<uint8_t>(v >> 8),
                      rows[y][2 * x + 1] = static_cast<uint8_t>(v & 0xFF);
        } else {
          const int bit = x * depth;
          rows[y][bit / 8] |= static_cast<uint8_t>(v << (8 - depth - bit % 8));
        }
      }
    auto img = DecodeImage(EncodePngRaw(rows, w, spec));
    ASSERT_TRUE(img.ok()) << "depth " << depth << ": " << img.status().ToString();
    for (int x = 0; x < w; ++x) {
      const int expect = static_cast<int>(std::lround(vals[x] * 255.0 / maxv));
      const uint8_t* p = img->at(x, 1);
      EXPECT_NEAR(p[0], expect, 1) << "depth " << depth << " x " << x;
      EXPECT_EQ(p[0], p[1]);
      EXPECT_EQ(p[0], p[2]);
    }
  }
}

TEST(DecodePng, AlphaModes) {
  PngSpec spec;
  spec.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  auto rows = RowsOf(4, 1, 4, [](int x, int, uint8_t* p) {
    p[0] = 200, p[1] = 100, p[2] = 50,
    p[3] = static_cast<uint8_t>(x * 85);  // alpha 0, 85, 170, 255
  });
  const auto bytes = EncodePngRaw(rows, 4, spec);
  DecodeOptions o;
  o.alpha = AlphaMode::kBlendOnBlack;
  auto black = DecodeImage(bytes, o);
  o.alpha = AlphaMode::kBlendOnWhite;
  auto white = DecodeImage(bytes, o);
  o.alpha = AlphaMode::kDrop;
  auto drop = DecodeImage(bytes, o);
  ASSERT_TRUE(black.ok() && white.ok() && drop.ok());
  for (int x = 0; x < 4; ++x) {
    const double a = x * 85 / 255.0;
    EXPECT_NEAR(black->at(x, 0)[0], 200 * a, 0.51);
    EXPECT_NEAR(black->at(x, 0)[2], 50 * a, 0.51);
    EXPECT_NEAR(white->at(x, 0)[1], 100 * a + 255 * (1 - a), 0.51);
    EXPECT_EQ(drop->at(x, 0)[0], 200);
    EXPECT_EQ(drop->at(x, 0)[1], 100);
  }
}

TEST(DecodePng, GrayAlphaAndPaletteWithTransparency) {
  {
    PngSpec spec;
    spec.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
    auto rows = RowsOf(2, 1, 2, [](int x, int, uint8_t* p) { p[0] = 100, p[1] = x ? 255 : 0; });
    auto img = DecodeImage(EncodePngRaw(rows, 2, spec));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ(img->at(0, 0)[0], 0);
    EXPECT_EQ(img->at(1, 0)[0], 100);
    EXPECT_EQ(img->at(1, 0)[2], 100);
  }
  {
    PngSpec spec;
    spec.color_type = PNG_COLOR_TYPE_PALETTE;
    spec.palette = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
    spec.trns_palette = {255, 0};  // index 1 fully transparent, index 2 opaque (implicit)
    auto rows = RowsOf(3, 2, 1, [](int x, int, uint8_t* p) { p[0] = static_cast<uint8_t>(x); });
    auto img = DecodeImage(EncodePngRaw(rows, 3, spec));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ(img->at(0, 1)[0], 255);
    EXPECT_EQ(img->at(1, 1)[1], 0);  // transparent green on black
    EXPECT_EQ(img->at(2, 1)[0], 10);
    EXPECT_EQ(img->at(2, 1)[1], 20);
    EXPECT_EQ(img->at(2, 1)[2], 30);
  }
}

TEST(DecodePng, MaxSideUsesAreaFilterExactly) {
  const Image src = NoiseImage(300, 200);
  auto png = EncodeImage(src, ImageFormat::kPng);
  ASSERT_TRUE(png.ok());
  DecodeOptions o;
  o.max_side = 120;
  auto img = DecodeImage(*png, o);
  ASSERT_TRUE(img.ok());
  ASSERT_EQ(img->width(), 120);
  ASSERT_EQ(img->height(), 80);
  EXPECT_EQ(img->source_width(), 300);
  EXPECT_EQ(img->source_height(), 200);
  auto ref = vision::ResizeImage(src, 120, 80, vision::ResizeFilter::kArea);
  EXPECT_EQ(MaxAbsDiff(*img, *ref), 0);
}

// ---- WebP --------------------------------------------------------------------------------

TEST(DecodeWebp, LosslessLossyAndAlpha) {
  const Image src = NoiseImage(33, 17);
  uint8_t* out = nullptr;
  size_t n = WebPEncodeLosslessRGB(src.data(), 33, 17, static_cast<int>(src.stride()), &out);
  ASSERT_GT(n, 0u);
  std::vector<uint8_t> lossless(out, out + n);
  WebPFree(out);
  auto img = DecodeImage(lossless);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(MaxAbsDiff(*img, src), 0);

  const Image smooth = BlockPattern(64, 64);
  auto lossy = EncodeImage(smooth, ImageFormat::kWebp, 95);
  ASSERT_TRUE(lossy.ok());
  auto limg = DecodeImage(*lossy);
  ASSERT_TRUE(limg.ok()) << limg.status().ToString();
  EXPECT_LT(MeanAbsDiff(*limg, smooth), 4.0);

  std::vector<uint8_t> rgba(8 * 2 * 4);
  for (int i = 0; i < 16; ++i) {
    rgba[4 * i] = 200, rgba[4 * i + 1] = 100, rgba[4 * i + 2] = 40,
             rgba[4 * i + 3] = i < 8 ? 255 : 102;
  }
  n = WebPEncodeLosslessRGBA(rgba.data(), 8, 2, 32, &out);
  ASSERT_GT(n, 0u);
  std::vector<uint8_t> alpha(out, out + n);
  WebPFree(out);
  auto aimg = DecodeImage(alpha);
  ASSERT_TRUE(aimg.ok()) << aimg.status().ToString();
  EXPECT_EQ(aimg->at(3, 0)[0], 200);
  EXPECT_NEAR(aimg->at(3, 1)[0], 80, 1);  // 200 * 0.4 on black
  DecodeOptions drop;
  drop.alpha = AlphaMode::kDrop;
  auto dimg = DecodeImage(alpha, drop);
  ASSERT_TRUE(dimg.ok());
  EXPECT_EQ(dimg->at(3, 1)[0], 200);
}

// ---- limits and bad input ------------------------------------------------------------------

uint32_t Crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

TEST(DecodeLimits, DecompressionBombsRefusedFromHeader) {
  const Image small = BlockPattern(16, 16);
  // PNG: patch IHDR to 50000 x 50000 (2.5 GP) and fix its CRC.
  auto png = *EncodeImage(small, ImageFormat::kPng);
  auto put32 = [](uint8_t* p, uint32_t v) {
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
  };
  put32(&png[16], 50000);
  put32(&png[20], 50000);
  put32(&png[29], Crc32(&png[12], 17));
  // JPEG: patch SOF0 to 60000 x 60000.
  auto jpg = EncodeJpegRgb(small);
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = 60000 >> 8, jpg[i + 6] = 60000 & 0xFF, jpg[i + 7] = 60000 >> 8,
              jpg[i + 8] = 60000 & 0xFF;
      break;
    }
  }
  for (const auto& [bytes, dims] :
       {std::pair{&png, "50000x50000"}, std::pair{&jpg, "60000x60000"}}) {
    auto r = DecodeImage(*bytes, {}, "bomb.img");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
    EXPECT_NE(r.status().message().find("bomb.img"), std::string::npos);
    EXPECT_NE(r.status().message().find(dims), std::string::npos) << r.status().message();
  }
  // A small max_pixels applies to every format.
  DecodeOptions tiny;
  tiny.max_pixels = 100;
  for (ImageFormat f : {ImageFormat::kJpeg, ImageFormat::kPng, ImageFormat::kWebp}) {
    auto bytes = EncodeImage(small, f);
    ASSERT_TRUE(bytes.ok());
    auto r = DecodeImage(*bytes, tiny, "x.img");
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << ImageFormatName(f);
    EXPECT_NE(r.status().message().find("16x16"), std::string::npos) << r.status().message();
  }
}

TEST(DecodeErrors, EmptyUnsupportedAndGarbage) {
  struct Case {
    std::vector<uint8_t> bytes;
    StatusCode code;
    std::string mention;
  };
  std::vector<Case> cases = {
      {{}, StatusCode::kDataLoss, "empty"},
      {{'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0}, StatusCode::kUnsupported, "GIF"},
      {{'B', 'M', 0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0}, StatusCode::kUnsupported, "BMP"},
      {{'I', 'I', 42, 0, 8, 0, 0, 0}, StatusCode::kUnsupported, "TIFF"},
      {{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I',  'F',  0,   1,
        1,    0,    0,    1,    0, 1,    0,   0,   0x12, 0x34, 0x56},
       StatusCode::kDataLoss,
       "JPEG"},
      {{0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
       StatusCode::kDataLoss,
       "PNG"},
      {{'R', 'I', 'F', 'F', 20, 0, 0, 0, 'W', 'E', 'B', 'P',
        'V', 'P', '8', ' ', 1,  2, 3, 4, 5,   6,   7,   8},
       StatusCode::kDataLoss,
       "WebP"},
  };
  std::mt19937 rng(7);
  Case random{std::vector<uint8_t>(1000), StatusCode::kUnsupported, "not a JPEG, PNG or WebP"};
  for (auto& b : random.bytes) b = static_cast<uint8_t>(rng());
  random.bytes[0] = 0x12;
  cases.push_back(random);
  testing::internal::CaptureStderr();
  for (const auto& c : cases) {
    auto r = DecodeImage(c.bytes, {}, "input.bin");
    ASSERT_FALSE(r.ok()) << c.mention;
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find("input.bin"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(c.mention), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(DecodeErrors, TruncatedFilesAreDataLoss) {
  const Image src = BlockPattern(96, 64);
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files = {
      {"baseline.jpg", EncodeJpegRgb(src)},
      {"progressive.jpg", EncodeJpegRgb(src, JpegSpec{.progressive = true})},
      {"a.png", *EncodeImage(src, ImageFormat::kPng)},
      {"a.webp", *EncodeImage(src, ImageFormat::kWebp, 90)},
      {"lossless.webp", *EncodeImage(src, ImageFormat::kWebp, 101)},
  };
  testing::internal::CaptureStderr();
  for (const auto& [name, bytes] : files) {
    ASSERT_TRUE(DecodeImage(bytes).ok()) << name;
    std::vector<uint8_t> cut(bytes.begin(),
                             bytes.begin() + static_cast<long>(bytes.size() * 2 / 3));
    auto r = DecodeImage(cut, {}, name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
    EXPECT_NE(r.status().message().find(name), std::string::npos);
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

// Every prefix length and random byte corruption: never a crash, never stderr output.
TEST(DecodeErrors, FuzzPrefixesAndBitFlipsNeverCrash) {
  const Image src = BlockPattern(48, 40);
  std::vector<std::vector<uint8_t>> files = {
      EncodeJpegRgb(src), EncodeJpegRgb(src, JpegSpec{.progressive = true, .exif_orientation = 6}),
      *EncodeImage(src, ImageFormat::kPng), *EncodeImage(src, ImageFormat::kWebp, 80),
      *EncodeImage(src, ImageFormat::kWebp, 101)};
  std::mt19937 rng(123);
  testing::internal::CaptureStderr();
  int failures = 0, successes = 0;
  for (const auto& bytes : files) {
    for (size_t len = 0; len < bytes.size(); len += 1 + bytes.size() / 150) {
      auto r = DecodeImage(std::span<const uint8_t>(bytes.data(), len));
      r.ok() ? ++successes : ++failures;
    }
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<uint8_t> b = bytes;
      for (int k = 0; k < 4; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      auto r = DecodeImage(b);
      if (r.ok()) {
        ++successes;
        EXPECT_GT(r->width(), 0);
      } else {
        ++failures;
      }
    }
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_GT(failures, 0);
}

TEST(DecodeFile, FileErrorsNameThePath) {
  auto missing = DecodeImageFile("/nonexistent/dir/photo.jpg");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/photo.jpg"), std::string::npos);

  auto dir = DecodeImageFile(fs::temp_directory_path().string());
  EXPECT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find(fs::temp_directory_path().string()), std::string::npos);

  const std::string empty = TempPath("empty.jpg");
  WriteFile(empty, {});
  auto e = DecodeImageFile(empty);
  EXPECT_EQ(e.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(e.status().message().find(empty), std::string::npos);
}

TEST(DecodeFile, FormatFromContentNotExtension) {
  const Image src = NoiseImage(20, 10);
  const std::string path = TempPath("actually_png.jpg");
  WriteFile(path, *EncodeImage(src, ImageFormat::kPng));
  auto img = DecodeImageFile(path);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(MaxAbsDiff(*img, src), 0);
  EXPECT_EQ(SniffImageFormat(*EncodeImage(src, ImageFormat::kWebp)), ImageFormat::kWebp);
  EXPECT_EQ(SniffImageFormat(EncodeJpegRgb(src)), ImageFormat::kJpeg);
}

TEST(DecodeFile, SamplePhotos) {
  const fs::path dir = fs::path(FK_SOURCE_DIR) / "data" / "samples";
  if (!fs::exists(dir / "sample1.jpg"))
    GTEST_SKIP() << "sample photos absent (run the setup script to fetch them)";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".jpg") continue;
    const std::string p = entry.path().string();
    auto full = DecodeImageFile(p, NoLimits());
    ASSERT_TRUE(full.ok()) << full.status().ToString();
    DecodeOptions small = NoLimits();
    small.target_max_side = 256;
    auto fast = DecodeImageFile(p, small);
    ASSERT_TRUE(fast.ok()) << fast.status().ToString();
    EXPECT_GE(std::max(fast->width(), fast->height()), 256) << p;
    EXPECT_LT(std::max(fast->width(), fast->height()), 512) << p;
    EXPECT_EQ(fast->source_width(), full->width());
    EXPECT_EQ(fast->source_height(), full->height());
    auto ref =
        vision::ResizeImage(*full, fast->width(), fast->height(), vision::ResizeFilter::kArea);
    ASSERT_TRUE(ref.ok());
    EXPECT_LT(MeanAbsDiff(*fast, *ref), 6.0) << p;
    ++n;
  }
  EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace fk
