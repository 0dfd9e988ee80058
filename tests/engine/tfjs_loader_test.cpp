#include "engine/import/tfjs_loader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/executor.h"
#include "tfjs_fixture.h"

namespace fk::engine {
namespace {

using fk::testing::TempDir;
using fk::testing::TfjsFixture;
using J = TfjsFixture::json;

// Half bits of a few exactly representable values.
constexpr uint16_t kHalfOne = 0x3C00, kHalfTwo = 0x4000, kHalfMinusHalf = 0xB800, kHalfQuarter = 0x3400;

// input [1,4,4,2] -> _FusedConv2D 1x1 (w: float16 [1,1,2,3], bias: uint8-quantized [3], Relu)
// -> Reshape [1,48] (int32 const with the batch baked in) -> Identity.
TfjsFixture TinyConvModel() {
  TfjsFixture f;
  f.Placeholder("input", {1, 4, 4, 2});
  f.ConstF16("w", {1, 1, 2, 3}, {kHalfOne, kHalfTwo, kHalfMinusHalf, kHalfQuarter, kHalfOne, kHalfOne});
  f.ConstU8("b", {3}, {0, 2, 4}, 0.5f, -1.0f);  // -> {-1, 0, 1}
  f.ConstI32("shape", {2}, {1, 48});
  f.Op("conv", "_FusedConv2D", {"input", "w", "b", "^input"},
       {{"strides", TfjsFixture::Ints({1, 1, 1, 1})},
        {"padding", TfjsFixture::S("VALID")},
        {"data_format", TfjsFixture::S("NHWC")},
        {"dilations", TfjsFixture::Ints({1, 1, 1, 1})},
        {"fused_ops", TfjsFixture::Strs({"BiasAdd", "Relu"})},
        {"num_args", TfjsFixture::I(1)}});
  f.Op("flat", "Reshape", {"conv", "shape"});
  f.Op("Identity", "Identity", {"flat"});
  return f;
}

std::vector<float> Expected(const Tensor& x) {
  // out[c] = relu(x0*w[0][c] + x1*w[1][c] + b[c]), w = [[1,2,-0.5],[0.25,1,1]], b = [-1,0,1]
  const float w[2][3] = {{1, 2, -0.5f}, {0.25f, 1, 1}};
  const float b[3] = {-1, 0, 1};
  std::vector<float> out;
  for (int64_t p = 0; p < x.num_elements() / 2; ++p)
    for (int c = 0; c < 3; ++c) {
      const float v = x.data<float>()[2 * p] * w[0][c] + x.data<float>()[2 * p + 1] * w[1][c] + b[c];
      out.push_back(std::max(v, 0.f));
    }
  return out;
}

Tensor Ramp(Shape s, float scale) {
  Tensor t(DType::kFloat32, s);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = std::sin(0.37f * i) * scale;
  return t;
}

TEST(HalfToFloat, KnownValues) {
  EXPECT_EQ(HalfToFloat(kHalfOne), 1.f);
  EXPECT_EQ(HalfToFloat(kHalfMinusHalf), -0.5f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.f, -24));  // smallest subnormal
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
}

TEST(TfjsLoader, DequantizesAndMapsOps) {
  const std::string path = TinyConvModel().Write(TempDir("tiny"));
  auto g = LoadTfjsGraphModel(path);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  // Weights: float16 and uint8 dequantized, int32 kept.
  auto w = g->FindValue("w");
  ASSERT_TRUE(w.has_value());
  const Tensor& wt = g->value(*w).constant;
  ASSERT_EQ(wt.dtype(), DType::kFloat32);
  EXPECT_EQ(wt.data<float>()[2], -0.5f);
  EXPECT_EQ(wt.data<float>()[3], 0.25f);
  auto b = g->FindValue("b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(g->value(*b).constant.data<float>()[0], -1.f);
  EXPECT_EQ(g->value(*b).constant.data<float>()[2], 1.f);
  // The fused conv became one Conv2D with bias and relu.
  int convs = 0;
  for (const auto& n : g->nodes())
    if (n.op == ir::OpType::kConv2D) {
      ++convs;
      EXPECT_EQ(n.attrs.i("has_bias"), 1);
      EXPECT_EQ(n.activation(), ir::Activation::kRelu);
      EXPECT_EQ(n.attrs.s("padding"), "VALID");
      EXPECT_EQ(n.attrs.ints("strides"), (std::vector<int64_t>{1, 1}));
      EXPECT_EQ(n.inputs.size(), 3u);
    }
  EXPECT_EQ(convs, 1);
  // Output: the unconsumed Identity, named as in the model.
  ASSERT_EQ(g->outputs().size(), 1u);
  EXPECT_EQ(g->value(g->outputs()[0]).name, "Identity");
}

TEST(TfjsLoader, DynamicBatchRewritesInputAndReshape) {
  const std::string path = TinyConvModel().Write(TempDir("dynbatch"));
  auto g = LoadTfjsGraphModel(path);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->value(g->inputs()[0]).shape, Shape({-1, 4, 4, 2}));
  auto s = g->FindValue("shape");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(g->value(*s).constant.data<int32_t>()[0], -1);
  EXPECT_EQ(g->value(*s).constant.data<int32_t>()[1], 48);
  EXPECT_EQ(g->value(g->outputs()[0]).shape, Shape({-1, 48}));

  ExecutorOptions eo;
  eo.backend = "ref";
  auto ex = Executor::Create(std::move(g).value(), eo);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  for (int64_t batch : {1, 3}) {
    Tensor x = Ramp(Shape{batch, 4, 4, 2}, 2.f);
    auto out = (*ex)->Run({x});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ((*out)[0].shape(), Shape({batch, 48}));
    const auto expect = Expected(x);
    for (size_t i = 0; i < expect.size(); ++i) ASSERT_NEAR((*out)[0].data<float>()[i], expect[i], 1e-5) << i;
  }
}

TEST(TfjsLoader, SignatureOutputsAndOutputIndexSuffix) {
  TfjsFixture f;
  f.Placeholder("x", {-1, 3});
  f.Op("a", "Relu", {"x:0"});
  f.Op("b", "Neg", {"a"});
  f.Op("c", "Abs", {"a"});
  f.SignatureOutputs({"c:0", "a"});
  auto g = LoadTfjsGraphModel(f.Write(TempDir("sig")));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->outputs().size(), 2u);
  EXPECT_EQ(g->value(g->outputs()[0]).name, "c");
  EXPECT_EQ(g->value(g->outputs()[1]).name, "a");
  EXPECT_FALSE(g->FindValue("b").has_value()) << "b feeds no output and must be pruned";
}

TEST(TfjsLoader, UnsupportedOpsAreListedInFull) {
  TfjsFixture f;
  f.Placeholder("x", {-1, 8, 8, 3});
  f.Op("u1", "FancyOp", {"x"});
  f.Op("u2", "FancyOp", {"u1"});
  f.Op("u3", "OtherOp", {"u2"});
  f.Op("p", "MaxPool", {"u3"},
       {{"ksize", TfjsFixture::Ints({1, 2, 2, 1})},
        {"strides", TfjsFixture::Ints({1, 2, 2, 1})},
        {"padding", TfjsFixture::S("VALID")},
        {"data_format", TfjsFixture::S("NCHW")}});
  auto g = LoadTfjsGraphModel(f.Write(TempDir("unsup")));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  const std::string& m = g.status().message();
  EXPECT_NE(m.find("FancyOp: 2 nodes"), std::string::npos) << m;
  EXPECT_NE(m.find("OtherOp: 1 node"), std::string::npos) << m;
  EXPECT_NE(m.find("data_format=NCHW"), std::string::npos) << m;
}

TEST(TfjsLoader, UnsupportedFusedOpsAndAttributes) {
  TfjsFixture f;
  f.Placeholder("x", {-1, 8, 8, 3});
  f.Const("w", {1, 1, 3, 2}, {1, 2, 3, 4, 5, 6});
  f.Const("b", {2}, {0, 0});
  f.Op("c", "_FusedConv2D", {"x", "w", "b"},
       {{"strides", TfjsFixture::Ints({1, 1, 1, 1})},
        {"padding", TfjsFixture::S("SAME")},
        {"fused_ops", TfjsFixture::Strs({"BiasAdd", "Swish"})},
        {"num_args", TfjsFixture::I(1)}});
  f.Op("p", "MaxPool", {"c"},
       {{"ksize", TfjsFixture::Ints({2, 2, 2, 1})},
        {"strides", TfjsFixture::Ints({1, 2, 2, 1})},
        {"padding", TfjsFixture::S("VALID")}});
  auto g = LoadTfjsGraphModel(f.Write(TempDir("unsup2")));
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("fused_ops=[BiasAdd,Swish]"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("ksize=[2,2,2,1]"), std::string::npos) << g.status().message();
}

TEST(TfjsLoader, TruncatedShardIsDataLossNamingWeightAndFile) {
  const std::string dir = TempDir("trunc");
  const std::string path = TinyConvModel().Write(dir);
  std::filesystem::resize_file(dir + "/model.bin", 10);
  auto g = LoadTfjsGraphModel(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(g.status().message().find("model.bin"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("weight '"), std::string::npos) << g.status().message();
}

TEST(TfjsLoader, ExtraBytesAreDataLoss) {
  const std::string dir = TempDir("extra");
  const std::string path = TinyConvModel().Write(dir);
  std::ofstream(dir + "/model.bin", std::ios::app | std::ios::binary) << "xxxx";
  auto g = LoadTfjsGraphModel(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss);
}

TEST(TfjsLoader, MissingShardIsNotFound) {
  const std::string dir = TempDir("noshard");
  const std::string path = TinyConvModel().Write(dir);
  std::filesystem::remove(dir + "/model.bin");
  auto g = LoadTfjsGraphModel(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
  EXPECT_NE(g.status().message().find("model.bin"), std::string::npos);
}

TEST(TfjsLoader, CorruptJsonIsDataLoss) {
  const std::string dir = TempDir("corrupt");
  const std::string path = TinyConvModel().Write(dir);
  std::string text;
  {
    std::ifstream f(path);
    text.assign(std::istreambuf_iterator<char>(f), {});
  }
  std::ofstream(path) << text.substr(0, text.size() / 2);
  auto g = LoadTfjsGraphModel(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(g.status().message().find(path), std::string::npos);
  // Valid JSON, wrong structure.
  std::ofstream(path) << R"({"format":"graph-model","modelTopology":{"node":[{"name":1}]},"weightsManifest":[]})";
  g = LoadTfjsGraphModel(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss);
}

TEST(TfjsLoader, MissingModelIsNotFound) {
  auto g = LoadTfjsGraphModel("/nonexistent/model.json");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
}

TEST(TfjsLoader, ShapeSizeMismatchIsDataLoss) {
  // Manifest says [4] floats but only 2 are in the shard (and nothing else follows).
  const std::string dir = TempDir("mismatch");
  TfjsFixture f;
  f.Placeholder("x", {-1, 2});
  f.Const("c", {2}, {1, 2});
  f.Op("y", "Add", {"x", "c"});
  const std::string path = f.Write(dir);
  J root;
  {
    std::ifstream in(path);
    root = J::parse(in);
  }
  root["weightsManifest"][0]["weights"][0]["shape"] = {4};
  std::ofstream(path) << root.dump();
  auto g = LoadTfjsGraphModel(path);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(g.status().message().find("'c'"), std::string::npos) << g.status().message();
}

}  // namespace
}  // namespace fk::engine
