// fk::Model on every fetched human model: batch 1 and 3 on the ref backend, optimized and
// unoptimized. Skips models that are not fetched (scripts fetch them into $FK_MODELS_DIR).
#include "facekit/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "engine/executor.h"
#include "tfjs_fixture.h"
#include "../test_assets.h"

namespace fk {
namespace {

using testing::ModelsDir;

Tensor Uniform01(Shape s, uint32_t seed) {
  Tensor t(DType::kFloat32, s);
  uint32_t r = seed * 2654435761u + 1;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    r = r * 1664525u + 1013904223u;
    t.data<float>()[i] = static_cast<float>(r >> 8) / static_cast<float>(1u << 24);
  }
  return t;
}

class HumanModel : public ::testing::TestWithParam<const char*> {};

TEST_P(HumanModel, RunsBatch1And3OnRef) {
  const std::string path = ModelsDir() + "/human/" + GetParam() + ".json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not fetched (run the model fetch script)";
  ModelOptions plain;
  plain.backend = "ref";
  plain.optimize = false;
  auto m1 = Model::Load(path, plain);
  ASSERT_TRUE(m1.ok()) << m1.status().ToString();
  ModelOptions opt = plain;
  opt.optimize = true;
  auto m3 = Model::Load(path, opt);
  ASSERT_TRUE(m3.ok()) << m3.status().ToString();
  ASSERT_EQ((*m1)->inputs().size(), 1u);
  EXPECT_EQ((*m1)->backend_name(), "ref");
  const TensorSpec& in = (*m1)->inputs()[0];
  EXPECT_EQ(in.shape[0], -1) << "batch must be dynamic";
  ASSERT_EQ((*m1)->outputs().size(), (*m3)->outputs().size());

  Shape s1 = in.shape, s3 = in.shape;
  s1[0] = 1;
  s3[0] = 3;
  ASSERT_TRUE(s1.is_fully_defined()) << in.shape.ToString();
  Tensor x3 = Uniform01(s3, 7);
  Tensor x1(DType::kFloat32, s1);
  std::copy(x3.data<float>(), x3.data<float>() + x1.num_elements(), x1.data<float>());

  auto o1 = (*m1)->Run({x1});
  ASSERT_TRUE(o1.ok()) << o1.status().ToString();
  auto o3 = (*m3)->Run({x3});
  ASSERT_TRUE(o3.ok()) << o3.status().ToString();
  ASSERT_EQ(o1->size(), (*m1)->outputs().size());
  for (size_t k = 0; k < o1->size(); ++k) {
    const Tensor& a = (*o1)[k];
    const Tensor& b = (*o3)[k];
    const Shape& spec = (*m1)->outputs()[k].shape;
    SCOPED_TRACE((*m1)->outputs()[k].name);
    EXPECT_EQ((*m3)->outputs()[k].name, (*m1)->outputs()[k].name);
    ASSERT_EQ(a.shape().rank(), spec.rank());
    ASSERT_EQ(b.shape().rank(), spec.rank());
    EXPECT_EQ(a.shape()[0], 1);
    EXPECT_EQ(b.shape()[0], 3);
    for (int d = 1; d < spec.rank(); ++d) {
      if (spec[d] >= 0) {
        EXPECT_EQ(a.shape()[d], spec[d]);
      }
      EXPECT_EQ(a.shape()[d], b.shape()[d]);
    }
    double scale = 0;
    for (int64_t i = 0; i < a.num_elements(); ++i) {
      ASSERT_TRUE(std::isfinite(a.data<float>()[i])) << "index " << i;
      scale = std::max(scale, static_cast<double>(std::fabs(a.data<float>()[i])));
    }
    for (int64_t i = 0; i < b.num_elements(); ++i) ASSERT_TRUE(std::isfinite(b.data<float>()[i])) << "index " << i;
    // Example 0 of the optimized batch-3 run equals the unoptimized batch-1 run.
    double err = 0;
    for (int64_t i = 0; i < a.num_elements(); ++i)
      err = std::max(err, static_cast<double>(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
    EXPECT_LE(err, 1e-3 * std::max(scale, 1.0)) << "max |unoptimized b1 - optimized b3[0]|";
  }
}

INSTANTIATE_TEST_SUITE_P(Human, HumanModel,
                         ::testing::Values("blazeface", "blazeface-front", "blazeface-back", "facemesh",
                                           "facemesh-detection-short", "facemesh-detection-full", "iris", "faceres",
                                           "faceres-deep", "mobileface", "mobilefacenet", "liveness", "antispoof",
                                           "emotion", "gender", "age", "gear"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           std::string s = i.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(Model, OnnxIsUnsupportedAndMissingFileIsNotFound) {
  auto m = Model::Load("/tmp/whatever.onnx");
  ASSERT_FALSE(m.ok());
  // ONNX import (issue 3): a missing .onnx is NotFound; builds without libonnx-dev say Unsupported.
#ifdef FK_HAVE_ONNX
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound) << m.status().ToString();
#else
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported) << m.status().ToString();
#endif
  m = Model::Load("/nonexistent/model.json", {.backend = "ref"});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
}

TEST(Model, UnavailableBackendNamesTheAvailableOnes) {
  fk::testing::TfjsFixture f;
  f.Placeholder("x", {-1, 2});
  f.Op("y", "Relu", {"x"});
  const std::string path = f.Write(fk::testing::TempDir("backend"));
  auto m = Model::Load(path, {.backend = "cuda-not-built"});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(m.status().message().find("ref"), std::string::npos) << m.status().message();
}

TEST(Model, SpecsAndRunThroughPublicApi) {
  fk::testing::TfjsFixture f;
  f.Placeholder("x", {1, 2});
  f.Const("c", {2}, {1.f, -3.f});
  f.Op("sum", "AddV2", {"x", "c"});
  f.Op("Identity", "Relu", {"sum"});
  auto m = Model::Load(f.Write(fk::testing::TempDir("api")), {.backend = "ref"});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ((*m)->inputs().size(), 1u);
  EXPECT_EQ((*m)->inputs()[0].name, "x");
  EXPECT_EQ((*m)->inputs()[0].shape, Shape({-1, 2}));
  ASSERT_EQ((*m)->outputs().size(), 1u);
  EXPECT_EQ((*m)->outputs()[0].name, "Identity");
  Tensor x(DType::kFloat32, Shape{2, 2});
  const float v[] = {0.5f, 4.f, -2.f, 1.f};
  std::copy(v, v + 4, x.data<float>());
  auto out = (*m)->Run({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const float expect[] = {1.5f, 1.f, 0.f, 0.f};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ((*out)[0].data<float>()[i], expect[i]);
  auto bad = (*m)->Run({Tensor(DType::kFloat32, Shape{2, 3})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'x'"), std::string::npos);
}

TEST(Model, NodeBackendsSaysWhereEachNodeRuns) {
  fk::testing::TfjsFixture f;
  f.Placeholder("x", {-1, 2});
  f.Const("c", {2}, {1.f, -3.f});
  f.Op("sum", "AddV2", {"x", "c"});
  f.Op("Identity", "Tanh", {"sum"});
  const std::string path = f.Write(fk::testing::TempDir("placement"));
  for (const char* backend : {"ref", "cpu"}) {
    SCOPED_TRACE(backend);
    auto m = Model::Load(path, {.backend = backend});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto nb = (*m)->NodeBackends({Shape{3, 2}});
    ASSERT_TRUE(nb.ok()) << nb.status().ToString();
    ASSERT_FALSE(nb->empty());
    std::set<std::string> ops;
    for (const auto& [op, b] : *nb) {
      ops.insert(op);
      EXPECT_TRUE(b == backend || b == "ref" || b == "plan-time") << op << " on " << b;
    }
    EXPECT_TRUE(ops.count("Tanh")) << "the graph's last op is listed";
    auto bad = (*m)->NodeBackends({});
    EXPECT_FALSE(bad.ok()) << "a wrong number of input shapes is an error";
  }
}

}  // namespace
}  // namespace fk

namespace fk {
namespace {

// ModelOptions::pad_batch: batches of 5, 6, 7, 8 run as one planned batch of 8 (zero samples
// appended, outputs cut back), with the outputs an unpadded model gives; off, each size is
// planned on its own. Floats and 8-bit inputs; FK_PAD_BATCH overrides the option.
TEST(ModelPadBatch, SizesShareOnePlanAndGiveTheUnpaddedOutputs) {
  const std::string path = ModelsDir() + "/human/blazeface-front.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not fetched";
  unsetenv("FK_PAD_BATCH");
  ModelOptions o;
  o.backend = "cpu";
  o.num_threads = 1;  // no batch split across threads: one plan per Run shape
  o.pad_batch = 0;
  auto plain = Model::Load(path, o);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  o.pad_batch = 1;
  auto padded = Model::Load(path, o);
  ASSERT_TRUE(padded.ok()) << padded.status().ToString();
  o.pad_batch = -1;  // auto: off on the CPU
  auto automatic = Model::Load(path, o);
  ASSERT_TRUE(automatic.ok());
  EXPECT_EQ((*automatic)->PaddedBatch(3), 3);
  EXPECT_EQ((*plain)->PaddedBatch(3), 3);
  for (auto [n, want] : {std::pair<int64_t, int64_t>{1, 1}, {3, 4}, {8, 8}, {33, 64}, {64, 64}, {65, 128}, {130, 192}})
    EXPECT_EQ((*padded)->PaddedBatch(n), want) << n;

  Shape s = (*plain)->inputs()[0].shape;
  for (int64_t n : {5, 6, 7, 8}) {
    SCOPED_TRACE("batch " + std::to_string(n));
    s[0] = n;
    const Tensor x = Uniform01(s, static_cast<uint32_t>(n));
    auto a = (*plain)->Run({x});
    auto b = (*padded)->Run({x});
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size());
    for (size_t k = 0; k < a->size(); ++k) {
      ASSERT_EQ((*a)[k].shape(), (*b)[k].shape()) << "output " << k;  // cut back to n rows
      const float* p = (*a)[k].data<float>();
      const float* q = (*b)[k].data<float>();
      float worst = 0.f;
      for (int64_t i = 0; i < (*a)[k].num_elements(); ++i) worst = std::max(worst, std::abs(p[i] - q[i]));
      EXPECT_LE(worst, 1e-4f) << "output " << k;
    }
    // 8-bit inputs take the same path.
    Tensor px(DType::kUInt8, s);
    for (int64_t i = 0; i < px.num_elements(); ++i) px.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + n) & 255);
    PixelNormalization pn;
    pn.scale = {1.f / 127.5f};
    pn.offset = {-1.f};
    auto c = (*plain)->RunPixels({px}, pn);
    auto d = (*padded)->RunPixels({px}, pn);
    ASSERT_TRUE(c.ok() && d.ok());
    ASSERT_EQ((*c)[0].shape(), (*d)[0].shape());
    for (int64_t i = 0; i < (*c)[0].num_elements(); ++i)
      ASSERT_NEAR((*c)[0].data<float>()[i], (*d)[0].data<float>()[i], 1e-4f) << i;
  }
  EXPECT_EQ((*plain)->planned_shapes(), 4u);   // 5, 6, 7, 8
  EXPECT_EQ((*padded)->planned_shapes(), 1u);  // 8

  setenv("FK_PAD_BATCH", "1", 1);
  o.pad_batch = 0;
  auto forced = Model::Load(path, o);
  unsetenv("FK_PAD_BATCH");
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ((*forced)->PaddedBatch(3), 4);
}

}  // namespace
}  // namespace fk
