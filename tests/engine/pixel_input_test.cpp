// Model::RunPixels / Executor::RunPixels on the host backends (ref, cpu): uint8 pixels made float
// with engine/pixel_transform.h's arithmetic, and the errors a caller can act on. The GPU path
// (normalised on the device) is CudaModelLoad.RunPixelsOnTheGpuEqualsRunOnHostNormalisedFloats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "engine/executor.h"
#include "engine/pixel_transform.h"
#include "engine/warp_sample.h"
#include "facekit/engine.h"
#include "graph_builder.h"
#include "../test_assets.h"

namespace fk {
namespace {

using engine::Executor;
using engine::ExecutorOptions;
using ir::OpType;

Tensor Bytes(Shape s, uint32_t seed) {
  Tensor t(DType::kUInt8, s);
  uint32_t r = seed * 2654435761u + 7;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    r = r * 1664525u + 1013904223u;
    t.data<uint8_t>()[i] = static_cast<uint8_t>(r >> 24);
  }
  t.data<uint8_t>()[0] = 0;  // both ends of the range
  t.data<uint8_t>()[1] = 255;
  return t;
}

// y = x * 1: the output is the normalised input itself.
std::unique_ptr<Executor> PassThrough(const std::string& backend, Shape in, DType dt = DType::kFloat32) {
  testing::GraphBuilder b;
  auto x = b.Input("x", std::move(in), dt);
  auto one = b.Const("one", Shape{1}, {1.f});
  b.Output(b.Op(OpType::kMul, "y", {x, one}));
  ExecutorOptions o;
  o.backend = backend;
  o.num_threads = 1;
  auto ex = Executor::Create(std::move(b.g), o);
  EXPECT_TRUE(ex.ok()) << ex.status().ToString();
  return ex.ok() ? std::move(ex).value() : nullptr;
}

// The documented arithmetic, written out independently: float(pixel[src]) * scale[c] + offset[c].
float Expected(const Tensor& px, int64_t i, int channels, const std::vector<float>& scale,
               const std::vector<float>& offset, bool reverse) {
  const int c = static_cast<int>(i % channels);
  const int s = reverse ? channels - 1 - c : c;
  const float v = static_cast<float>(px.data<uint8_t>()[i - c + s]);
  volatile float m = v * (scale.size() == 1 ? scale[0] : scale[static_cast<size_t>(c)]);  // no FMA
  return m + (offset.size() == 1 ? offset[0] : offset[static_cast<size_t>(c)]);
}

TEST(PixelInput, HostBackendsApplyScaleOffsetAndChannelOrder) {
  for (const char* backend : {"ref", "cpu"}) {
    for (bool reverse : {false, true}) {
      for (int ch : {1, 3, 4}) {
        SCOPED_TRACE(std::string(backend) + (reverse ? " reversed" : "") + " C=" + std::to_string(ch));
        auto ex = PassThrough(backend, Shape{-1, 4, 5, ch});
        ASSERT_TRUE(ex);
        const Tensor px = Bytes(Shape{2, 4, 5, ch}, static_cast<uint32_t>(ch));
        std::vector<float> scale, offset;
        for (int c = 0; c < ch; ++c) {
          scale.push_back(2.f / 255.f + 0.01f * static_cast<float>(c));
          offset.push_back(-1.f + 0.25f * static_cast<float>(c));
        }
        auto y = ex->RunPixels({px}, scale, offset, reverse);
        ASSERT_TRUE(y.ok()) << y.status().ToString();
        ASSERT_EQ(y->size(), 1u);
        const Tensor& out = (*y)[0];
        ASSERT_EQ(out.dtype(), DType::kFloat32);
        ASSERT_EQ(out.shape(), px.shape());
        for (int64_t i = 0; i < out.num_elements(); ++i) {
          const float e = Expected(px, i, ch, scale, offset, reverse);
          ASSERT_NEAR(out.data<float>()[i], e, 1e-6f * (1.f + std::fabs(e))) << "element " << i;
        }
        // One scale / offset for every channel.
        auto y1 = ex->RunPixels({px}, {1.f / 255.f}, {0.5f}, reverse);
        ASSERT_TRUE(y1.ok()) << y1.status().ToString();
        for (int64_t i = 0; i < out.num_elements(); ++i)
          ASSERT_NEAR((*y1)[0].data<float>()[i], Expected(px, i, ch, {1.f / 255.f}, {0.5f}, reverse), 1e-6f);
      }
    }
  }
}

TEST(PixelInput, SharedArithmeticAgreesElementWiseAndWhole) {
  engine::PixelTransform t;
  t.channels = 3;
  t.reverse = true;
  for (int c = 0; c < 3; ++c) t.scale[c] = 1.f / 128.f * static_cast<float>(c + 1), t.offset[c] = -0.5f * static_cast<float>(c);
  const Tensor px = Bytes(Shape{1, 3, 7, 3}, 5);
  std::vector<float> whole(static_cast<size_t>(px.num_elements()));
  engine::PixelsToFloat(px.data<uint8_t>(), whole.data(), px.num_elements(), t);
  for (int64_t i = 0; i < px.num_elements(); ++i)  // the GPU kernel's per-element form
    EXPECT_EQ(whole[static_cast<size_t>(i)], engine::PixelAt(px.data<uint8_t>(), t, i)) << i;
}

TEST(PixelInput, RefusesWhatItCannotNormaliseWithActionableMessages) {
  auto ex = PassThrough("ref", Shape{-1, 4, 5, 3});
  ASSERT_TRUE(ex);
  const Tensor px = Bytes(Shape{1, 4, 5, 3}, 1);
  auto expect_error = [&](const Result<std::vector<Tensor>>& r, const std::string& needle) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  Tensor floats(DType::kFloat32, Shape{1, 4, 5, 3});
  expect_error(ex->RunPixels({floats}, {1.f}, {0.f}, false), "uint8");
  expect_error(ex->RunPixels({Bytes(Shape{1, 4, 6, 3}, 1)}, {1.f}, {0.f}, false), "dimension 2");
  expect_error(ex->RunPixels({Bytes(Shape{1, 4, 5}, 1)}, {1.f}, {0.f}, false), "shape");
  expect_error(ex->RunPixels({px, px}, {1.f}, {0.f}, false), "1 input(s)");
  expect_error(ex->RunPixels({px}, {1.f, 2.f}, {0.f}, false), "scale has 2 values");
  expect_error(ex->RunPixels({px}, {1.f}, {0.f, 1.f, 2.f, 3.f}, false), "offset has 4 values");
  expect_error(ex->RunPixels({px}, {std::numeric_limits<float>::infinity()}, {0.f}, false), "finite");
  expect_error(ex->RunPixels({px}, {1.f}, {std::nanf("")}, false), "finite");
  expect_error(ex->RunPixels({px}, {1e37f}, {0.f}, false), "overflows");

  auto five = PassThrough("ref", Shape{-1, 2, 2, 5});
  ASSERT_TRUE(five);
  expect_error(five->RunPixels({Bytes(Shape{1, 2, 2, 5}, 1)}, {1.f}, {0.f}, false), "1 to 4");
  auto ints = PassThrough("ref", Shape{-1, 2, 2, 3}, DType::kInt32);
  ASSERT_TRUE(ints);
  expect_error(ints->RunPixels({Bytes(Shape{1, 2, 2, 3}, 1)}, {1.f}, {0.f}, false), "use Run");
  auto flat = PassThrough("ref", Shape{-1, 12});
  ASSERT_TRUE(flat);
  expect_error(flat->RunPixels({Bytes(Shape{1, 12}, 1)}, {1.f}, {0.f}, false), "NHWC");
}

// A real model through the public API, batch-split CPU path included: the same outputs as Run
// on floats normalised by the same arithmetic.
TEST(PixelInput, ModelRunPixelsEqualsRunOnNormalisedFloats) {
  const std::string path = testing::ModelsDir() + "/human/blazeface.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not fetched (run the model fetch script)";
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    ModelOptions o;
    o.backend = "cpu";
    o.num_threads = threads;
    auto m = Model::Load(path, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    Shape s = (*m)->inputs()[0].shape;
    s[0] = 3;
    const Tensor px = Bytes(s, 11);
    PixelNormalization norm;
    norm.scale = {2.f / 255.f};
    norm.offset = {-1.f};
    norm.reverse_channels = true;
    engine::PixelTransform t;
    t.channels = static_cast<int>(s[3]);
    t.reverse = true;
    for (int c = 0; c < t.channels; ++c) t.scale[c] = 2.f / 255.f, t.offset[c] = -1.f;
    Tensor x(DType::kFloat32, s);
    engine::PixelsToFloat(px.data<uint8_t>(), x.data<float>(), x.num_elements(), t);
    auto want = (*m)->Run({x});
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    auto have = (*m)->RunPixels({px}, norm);
    ASSERT_TRUE(have.ok()) << have.status().ToString();
    ASSERT_EQ(have->size(), want->size());
    for (size_t o2 = 0; o2 < want->size(); ++o2) {
      ASSERT_EQ((*have)[o2].shape(), (*want)[o2].shape());
      for (int64_t i = 0; i < (*want)[o2].num_elements(); ++i)
        ASSERT_EQ((*have)[o2].data<float>()[i], (*want)[o2].data<float>()[i]) << "output " << o2 << " element " << i;
    }
  }
}

// Model::RunWarps on the host: the crops cut by engine/warp_sample.h (checked against
// vision::WarpAffine bit for bit in WarpAffine.SharedSamplerOfRunWarpsEqualsItBitForBit), then
// RunPixels: outputs equal RunPixels of the same crops cut beforehand, bit for bit. Two photos
// (one with a row stride wider than its pixels), a box-prefiltered crop, a mirrored crop, a crop
// past the border; batch padding (pad_batch 1: 3 crops run as 4) cuts the outputs back to 3.
struct WarpPhotos {
  std::vector<uint8_t> a, b;
  std::vector<PixelImage> images;
  WarpPhotos() {
    a.resize(90 * 70 * 3);
    b.resize(64 * (50 * 3 + 9));  // stride 159 > 150
    uint32_t r = 17;
    for (auto* v : {&a, &b})
      for (auto& x : *v) x = static_cast<uint8_t>((r = r * 1664525u + 1013904223u) >> 24);
    images = {{a.data(), 90, 70, 270}, {b.data(), 50, 64, 159}};
  }
};

std::vector<CropWarp> SomeCrops(int size) {
  std::vector<CropWarp> c(3);
  // 0: photo 0 shrunk 3x through a box-2 prefilter of the region [10, 80) x [5, 65).
  c[0].image = 0;
  c[0].box = 2;
  c[0].x0 = 10, c[0].y0 = 5, c[0].x1 = 80, c[0].y1 = 65;
  const double s0 = 60.0 / 2 / size;
  const double i0[6] = {s0, 0.1, 0.5, -0.1, s0, 1.0};
  for (int k = 0; k < 6; ++k) c[0].inv[k] = i0[k];
  // 1: photo 1 rotated and enlarged, mirrored.
  c[1].image = 1;
  const double i1[6] = {0.6, -0.3, 10.0, 0.3, 0.6, 4.0};
  for (int k = 0; k < 6; ++k) c[1].inv[k] = i1[k];
  c[1].mirror = true;
  // 2: photo 0, half of it past the right border (grey border).
  c[2].image = 0;
  const double i2[6] = {1.5, 0, 60.0, 0, 1.5, 20.0};
  for (int k = 0; k < 6; ++k) c[2].inv[k] = i2[k];
  c[2].border = 128.f;
  return c;
}

TEST(PixelInput, ModelRunWarpsEqualsRunPixelsOfTheHostCrops) {
  const std::string path = testing::ModelsDir() + "/human/blazeface.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not fetched (run the model fetch script)";
  WarpPhotos photos;
  for (int pad : {0, 1}) {
    SCOPED_TRACE("pad_batch " + std::to_string(pad));
    ModelOptions o;
    o.backend = "cpu";
    o.num_threads = 1;
    o.pad_batch = pad;
    auto m = Model::Load(path, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const int size = static_cast<int>((*m)->inputs()[0].shape[1]);
    const std::vector<CropWarp> crops = SomeCrops(size);
    // The crops cut beforehand with the shared arithmetic.
    Tensor px(DType::kUInt8, Shape{3, size, size, 3});
    std::vector<uint8_t> scratch(64 * 64 * 3);
    for (int k = 0; k < 3; ++k) {
      const CropWarp& c = crops[static_cast<size_t>(k)];
      engine::WarpDesc d;
      d.image = c.image;
      for (int t = 0; t < 6; ++t) d.inv[t] = c.inv[t];
      d.box = c.box, d.x0 = c.x0, d.y0 = c.y0, d.x1 = c.x1, d.y1 = c.y1, d.mirror = c.mirror, d.border = c.border;
      const PixelImage& im = photos.images[static_cast<size_t>(c.image)];
      engine::WarpToBytesHost({im.data, im.width, im.height, im.stride}, d, size, size,
                              px.data<uint8_t>() + int64_t{k} * size * size * 3, scratch.data());
    }
    PixelNormalization norm;
    norm.scale = {2.f / 255.f};
    norm.offset = {-1.f};
    auto want = (*m)->RunPixels({px}, norm);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    Tensor bytes;
    auto have = (*m)->RunWarps(photos.images, crops, size, size, norm, &bytes);
    ASSERT_TRUE(have.ok()) << have.status().ToString();
    ASSERT_EQ(have->size(), want->size());
    // The 8-bit crops come back as they were cut (the padded batch's blank crops cut off).
    ASSERT_EQ(bytes.dtype(), DType::kUInt8);
    ASSERT_EQ(bytes.shape(), px.shape());
    EXPECT_EQ(std::memcmp(bytes.raw(), px.raw(), px.nbytes()), 0);
    for (size_t o2 = 0; o2 < want->size(); ++o2) {
      ASSERT_EQ((*have)[o2].shape(), (*want)[o2].shape());
      EXPECT_EQ((*have)[o2].shape()[0], 3);
      for (int64_t i = 0; i < (*want)[o2].num_elements(); ++i)
        ASSERT_EQ((*have)[o2].data<float>()[i], (*want)[o2].data<float>()[i]) << "output " << o2 << " element " << i;
    }
    // The crops are not all alike (the test would pass on a constant input otherwise).
    EXPECT_NE(std::memcmp(px.data<uint8_t>(), px.data<uint8_t>() + size * size * 3, size * size * 3), 0);
  }
}

TEST(PixelInput, RunWarpsRefusesBadPhotosAndCropsWithActionableMessages) {
  auto ex = PassThrough("cpu", Shape{-1, 8, 8, 3});
  ASSERT_TRUE(ex);
  WarpPhotos photos;
  std::vector<engine::WarpSource> src;
  for (const PixelImage& im : photos.images) src.push_back({im.data, im.width, im.height, im.stride});
  auto expect_error = [&](const Result<std::vector<Tensor>>& r, const std::string& needle) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  engine::WarpDesc good;
  const std::vector<engine::WarpDesc> one = {good};
  auto ok = ex->RunWarps(src, one, 8, 8, {1.f}, {0.f}, false);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  // The identity crop of photo 0 is its top-left 8x8 pixels.
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 24; ++x)
      ASSERT_EQ((*ok)[0].data<float>()[y * 24 + x], static_cast<float>(photos.a[static_cast<size_t>(y * 270 + x)]));
  expect_error(ex->RunWarps(src, {}, 8, 8, {1.f}, {0.f}, false), "no crops");
  expect_error(ex->RunWarps(src, one, 8, 9, {1.f}, {0.f}, false), "do not fit");
  engine::WarpDesc bad = good;
  bad.image = 2;
  expect_error(ex->RunWarps(src, std::vector<engine::WarpDesc>{bad}, 8, 8, {1.f}, {0.f}, false), "names image 2 of 2");
  bad = good;
  bad.inv[2] = std::numeric_limits<double>::quiet_NaN();
  expect_error(ex->RunWarps(src, std::vector<engine::WarpDesc>{bad}, 8, 8, {1.f}, {0.f}, false), "not finite");
  bad = good;
  bad.box = 2, bad.x0 = 0, bad.y0 = 0, bad.x1 = 91, bad.y1 = 10;
  expect_error(ex->RunWarps(src, std::vector<engine::WarpDesc>{bad}, 8, 8, {1.f}, {0.f}, false), "outside its 90x70");
  bad.box = 65;
  expect_error(ex->RunWarps(src, std::vector<engine::WarpDesc>{bad}, 8, 8, {1.f}, {0.f}, false), "1..64");
  std::vector<engine::WarpSource> narrow = src;
  narrow[1].stride = 100;
  expect_error(ex->RunWarps(narrow, one, 8, 8, {1.f}, {0.f}, false), "stride");
  expect_error(ex->RunWarps(src, one, 8, 8, {1.f, 2.f}, {0.f}, false), "scale has 2 values");
  auto four = PassThrough("cpu", Shape{-1, 8, 8, 4});
  ASSERT_TRUE(four);
  expect_error(four->RunWarps(src, one, 8, 8, {1.f}, {0.f}, false), "[N, H, W, 3]");
}

}  // namespace
}  // namespace fk
