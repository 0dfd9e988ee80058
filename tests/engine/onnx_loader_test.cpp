// ONNX import: errors, the NCHW -> NHWC conversion and the dynamic batch, on small models
// built here with the ONNX protobuf classes and checked against naive NCHW arithmetic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/import/onnx_loader.h"
#include "facekit/engine.h"

#ifdef FK_HAVE_ONNX
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#include <onnx/onnx_pb.h>
#endif

namespace fk {
namespace {

namespace fs = std::filesystem;

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / ("fk_onnx_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

TEST(OnnxLoader, MissingFileIsNotFound) {
  auto g = engine::LoadOnnxModel("/nonexistent/model.onnx");
  ASSERT_FALSE(g.ok());
  if (!engine::OnnxSupportCompiled()) {
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(g.status().message().find("apt-get install libonnx-dev"), std::string::npos) << g.status().message();
    return;
  }
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound) << g.status().ToString();
}

#ifdef FK_HAVE_ONNX

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

class OnnxBuilder {
 public:
  OnnxBuilder() {
    model_.set_ir_version(7);
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(13);
  }
  onnx::GraphProto* g() { return model_.mutable_graph(); }
  void Input(const std::string& name, std::vector<int64_t> dims) { ValueInfo(g()->add_input(), name, dims); }
  void Output(const std::string& name) { ValueInfo(g()->add_output(), name, {}); }
  void InitF(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& v, bool raw = true) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    if (raw) t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    else for (float f : v) t->add_float_data(f);
  }
  void InitI64(const std::string& name, const std::vector<int64_t>& v) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (auto x : v) t->add_int64_data(x);
  }
  onnx::NodeProto* Node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
    auto* n = g()->add_node();
    n->set_op_type(op);
    n->set_name(op + std::to_string(g()->node_size()));
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return n;
  }
  static void Ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }
  static void Int(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  std::string Save(const std::string& name) {
    const std::string p = TempPath(name);
    std::ofstream f(p, std::ios::binary);
    model_.SerializeToOstream(&f);
    return p;
  }
  onnx::ModelProto model_;

 private:
  static void ValueInfo(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* sh = tt->mutable_shape();
    for (auto d : dims) sh->add_dim()->set_dim_value(d);
  }
};

TEST(OnnxLoader, GarbageIsDataLoss) {
  const std::string p = TempPath("garbage.onnx");
  std::ofstream(p) << "this is not a protobuf \xff\xff\xff\xff";
  auto g = engine::LoadOnnxModel(p);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kDataLoss) << g.status().ToString();
  fs::remove(p);
}

TEST(OnnxLoader, UnsupportedOpsAreListedInFull) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.Node("Relu", {"x"}, {"a"});
  b.Node("Einsum", {"a"}, {"b"});
  b.Node("Einsum", {"b"}, {"c"});
  b.Node("TopK", {"c"}, {"d"});
  b.Output("d");
  const std::string p = b.Save("unsupported.onnx");
  auto g = engine::LoadOnnxModel(p);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  const std::string& m = g.status().message();
  EXPECT_NE(m.find("Einsum (x2)"), std::string::npos) << m;
  EXPECT_NE(m.find("TopK (x1)"), std::string::npos) << m;
  EXPECT_EQ(m.find("Relu"), std::string::npos) << m;
  fs::remove(p);
}

TEST(OnnxLoader, ExternalDataIsRefused) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  auto* t = b.g()->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = t->add_external_data();
  e->set_key("location");
  e->set_value("weights.bin");
  b.Node("Add", {"x", "w"}, {"y"});
  b.Output("y");
  const std::string p = b.Save("external.onnx");
  auto g = engine::LoadOnnxModel(p);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(g.status().message().find("external data"), std::string::npos) << g.status().message();
  fs::remove(p);
}

// x [N,2,5,5] -> Conv(3 out, 3x3, stride 1, pads 1) + bias -> PRelu -> depthwise Conv
// (group 3, mult 2, 3x3, stride 2, pads 0,0,1,1) -> Flatten -> Gemm(transB) -> [N,4]
// Reshape shape constant [1,-1] (batch baked in) on the way: checks the dynamic batch.
struct SmallNet {
  std::vector<float> w1 = Random(3 * 2 * 3 * 3, 1), b1 = Random(3, 2), slope = Random(3, 3);
  std::vector<float> w2 = Random(6 * 1 * 3 * 3, 4), b2 = Random(6, 5);
  int64_t oh2 = 0, ow2 = 0, feat = 0;
  std::vector<float> wf, bf = Random(4, 7);
  SmallNet() {
    oh2 = (5 + 0 + 1 - 3) / 2 + 1;  // pads top 0, bottom 1
    ow2 = (5 + 0 + 1 - 3) / 2 + 1;
    feat = 6 * oh2 * ow2;
    wf = Random(static_cast<size_t>(4 * feat), 6);
  }
  std::string Save() {
    OnnxBuilder b;
    b.Input("x", {1, 2, 5, 5});
    b.InitF("w1", {3, 2, 3, 3}, w1);
    b.InitF("b1", {3}, b1, /*raw=*/false);
    b.InitF("slope", {3, 1, 1}, slope);
    b.InitF("w2", {6, 1, 3, 3}, w2);
    b.InitF("b2", {6}, b2);
    b.InitF("wf", {4, feat}, wf);
    b.InitF("bf", {4}, bf);
    b.InitI64("shape", {1, -1});
    auto* c1 = b.Node("Conv", {"x", "w1", "b1"}, {"c1"});
    OnnxBuilder::Ints(c1, "pads", {1, 1, 1, 1});
    OnnxBuilder::Ints(c1, "kernel_shape", {3, 3});
    b.Node("PRelu", {"c1", "slope"}, {"p1"});
    auto* c2 = b.Node("Conv", {"p1", "w2", "b2"}, {"c2"});
    OnnxBuilder::Int(c2, "group", 3);
    OnnxBuilder::Ints(c2, "strides", {2, 2});
    OnnxBuilder::Ints(c2, "pads", {0, 0, 1, 1});
    b.Node("Reshape", {"c2", "shape"}, {"flat"});
    auto* gm = b.Node("Gemm", {"flat", "wf", "bf"}, {"y"});
    OnnxBuilder::Int(gm, "transB", 1);
    b.Output("y");
    b.Output("c2");
    return b.Save("small.onnx");
  }
  // Naive NCHW reference for one example; returns y [4] and c2 [6,oh2,ow2].
  void Reference(const float* x, std::vector<float>* y, std::vector<float>* c2) const {
    std::vector<float> c1(3 * 25);
    for (int o = 0; o < 3; ++o)
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 5; ++j) {
          double acc = b1[o];
          for (int c = 0; c < 2; ++c)
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int yy = i - 1 + ky, xx = j - 1 + kx;
                if (yy < 0 || yy >= 5 || xx < 0 || xx >= 5) continue;
                acc += x[(c * 5 + yy) * 5 + xx] * w1[((o * 2 + c) * 3 + ky) * 3 + kx];
              }
          const float v = static_cast<float>(acc);
          c1[(o * 5 + i) * 5 + j] = v < 0 ? v * slope[o] : v;
        }
    c2->assign(static_cast<size_t>(feat), 0.f);
    for (int o = 0; o < 6; ++o) {
      const int c = o / 2;  // group = 3 input channels, 2 outputs each
      for (int i = 0; i < oh2; ++i)
        for (int j = 0; j < ow2; ++j) {
          double acc = b2[o];
          for (int ky = 0; ky < 3; ++ky)
            for (int kx = 0; kx < 3; ++kx) {
              const int yy = i * 2 + ky, xx = j * 2 + kx;
              if (yy >= 5 || xx >= 5) continue;
              acc += c1[(c * 5 + yy) * 5 + xx] * w2[(o * 3 + ky) * 3 + kx];
            }
          (*c2)[(o * oh2 + i) * ow2 + j] = static_cast<float>(acc);
        }
    }
    y->assign(4, 0.f);
    for (int k = 0; k < 4; ++k) {
      double acc = bf[k];
      for (int64_t f = 0; f < feat; ++f) acc += (*c2)[f] * wf[k * feat + f];
      (*y)[k] = static_cast<float>(acc);
    }
  }
};

TEST(OnnxLoader, SmallNetMatchesNaiveNchwInNhwcWithDynamicBatch) {
  SmallNet net;
  const std::string p = net.Save();
  engine::OnnxImportInfo info;
  auto g = engine::LoadOnnxModel(p, &info);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(info.input_was_nchw.size(), 1u);
  EXPECT_TRUE(info.input_was_nchw[0]);
  EXPECT_EQ(info.reshapes_made_dynamic, 1);
  int depthwise = 0;
  for (const auto& n : g->nodes()) depthwise += n.op == ir::OpType::kDepthwiseConv2D;
  EXPECT_EQ(depthwise, 1);

  for (const char* backend : {"ref", "cpu"}) {
    auto m = Model::Load(p, {.backend = backend, .num_threads = 1});
    if (!m.ok() && m.status().code() == StatusCode::kUnavailable) continue;
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_EQ((*m)->inputs().size(), 1u);
    EXPECT_EQ((*m)->inputs()[0].shape, Shape({-1, 5, 5, 2}));  // NHWC, dynamic batch
    const int n = 3;
    std::vector<float> nchw = Random(static_cast<size_t>(n * 2 * 25), 9);
    Tensor x(DType::kFloat32, Shape({n, 5, 5, 2}));
    for (int b = 0; b < n; ++b)
      for (int c = 0; c < 2; ++c)
        for (int i = 0; i < 25; ++i) x.data<float>()[(b * 25 + i) * 2 + c] = nchw[(b * 2 + c) * 25 + i];
    auto out = (*m)->Run({x});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->size(), 2u);
    EXPECT_EQ((*m)->outputs()[0].name, "y");
    const Tensor& y = (*out)[0];
    const Tensor& c2 = (*out)[1];
    ASSERT_EQ(y.shape(), Shape({n, 4}));
    ASSERT_EQ(c2.shape(), Shape({n, net.oh2, net.ow2, 6}));  // 4-D outputs come out NHWC
    for (int b = 0; b < n; ++b) {
      std::vector<float> ry, rc2;
      net.Reference(nchw.data() + b * 50, &ry, &rc2);
      for (int k = 0; k < 4; ++k) EXPECT_NEAR(y.data<float>()[b * 4 + k], ry[k], 1e-4) << backend << " b" << b << " y" << k;
      for (int o = 0; o < 6; ++o)
        for (int i = 0; i < net.oh2 * net.ow2; ++i)
          EXPECT_NEAR(c2.data<float>()[(b * net.oh2 * net.ow2 + i) * 6 + o], rc2[o * net.oh2 * net.ow2 + i], 1e-4)
              << backend << " c2 b" << b << " o" << o << " i" << i;
    }
  }
  fs::remove(p);
}

// Transpose / Concat / Softmax / Slice axes on an NCHW tensor; ops that see NCHW memory
// (Shape, Reshape) must see the ONNX order.
TEST(OnnxLoader, AxisOpsKeepNchwSemantics) {
  OnnxBuilder b;
  b.Input("x", {1, 3, 2, 4});
  b.InitI64("starts", {1});
  b.InitI64("ends", {3});
  b.InitI64("axes", {3});
  b.InitI64("shape", {1, -1});
  b.Node("Relu", {"x"}, {"r"});                      // NHWC inside
  auto* cc = b.Node("Concat", {"r", "x"}, {"cat"});  // [1,6,2,4]
  OnnxBuilder::Int(cc, "axis", 1);
  auto* sm = b.Node("Softmax", {"cat"}, {"sm"});
  OnnxBuilder::Int(sm, "axis", 1);
  b.Node("Slice", {"sm", "starts", "ends", "axes"}, {"sl"});  // [1,6,2,2]
  b.Node("Reshape", {"sl", "shape"}, {"y"});                   // NCHW order: [1,24]
  b.Node("Shape", {"sl"}, {"shp"});
  b.Output("y");
  b.Output("shp");
  const std::string p = b.Save("axes.onnx");
  auto m = Model::Load(p, {.backend = "ref"});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::vector<float> nchw = Random(24, 11);
  Tensor x(DType::kFloat32, Shape({1, 2, 4, 3}));
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 8; ++i) x.data<float>()[i * 3 + c] = nchw[c * 8 + i];
  auto out = (*m)->Run({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), Shape({1, 24}));
  // Naive: cat[c'] = relu(x[c]) for c' < 3 else x[c'-3]; softmax over c'; slice w 1..2.
  for (int c = 0; c < 6; ++c)
    for (int h = 0; h < 2; ++h)
      for (int w = 1; w < 3; ++w) {
        double den = 0;
        auto cat = [&](int cc2) {
          const float v = nchw[(cc2 % 3) * 8 + h * 4 + w];
          return cc2 < 3 ? std::max(v, 0.f) : v;
        };
        for (int k = 0; k < 6; ++k) den += std::exp(cat(k));
        const double want = std::exp(cat(c)) / den;
        EXPECT_NEAR(y.data<float>()[(c * 2 + h) * 2 + (w - 1)], want, 1e-5) << c << "," << h << "," << w;
      }
  const Tensor& shp = (*out)[1];
  ASSERT_EQ(shp.num_elements(), 4);
  EXPECT_EQ(shp.data<int32_t>()[0], 1);
  EXPECT_EQ(shp.data<int32_t>()[1], 6);  // NCHW order, not NHWC
  EXPECT_EQ(shp.data<int32_t>()[2], 2);
  EXPECT_EQ(shp.data<int32_t>()[3], 2);
  fs::remove(p);
}

// ShuffleNet channel shuffle: Reshape [N,C,H,W] -> [N,g,C/g,H,W], Transpose [0,2,1,3,4],
// Reshape back. Runs as one NHWC transpose, with the batch dynamic.
TEST(OnnxLoader, ChannelShuffleIsOneTranspose) {
  OnnxBuilder b;
  b.Input("x", {1, 6, 2, 3});
  b.InitI64("s5", {1, 2, 3, 2, 3});
  b.InitI64("s4", {1, -1, 2, 3});
  b.Node("Relu", {"x"}, {"r"});
  b.Node("Reshape", {"r", "s5"}, {"r5"});
  auto* tr = b.Node("Transpose", {"r5"}, {"t5"});
  OnnxBuilder::Ints(tr, "perm", {0, 2, 1, 3, 4});
  b.Node("Reshape", {"t5", "s4"}, {"y"});
  b.Output("y");
  const std::string p = b.Save("shuffle.onnx");
  auto g = engine::LoadOnnxModel(p);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  int transposes = 0;
  for (const auto& n : g->nodes()) transposes += n.op == ir::OpType::kTranspose;
  EXPECT_EQ(transposes, 1);
  auto m = Model::Load(p, {.backend = "ref"});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const int n = 2;
  std::vector<float> nchw = Random(n * 36, 12);
  Tensor x(DType::kFloat32, Shape({n, 2, 3, 6}));
  for (int bb = 0; bb < n; ++bb)
    for (int c = 0; c < 6; ++c)
      for (int i = 0; i < 6; ++i) x.data<float>()[(bb * 6 + i) * 6 + c] = nchw[(bb * 6 + c) * 6 + i];
  auto out = (*m)->Run({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), Shape({n, 2, 3, 6}));  // NHWC
  for (int bb = 0; bb < n; ++bb)
    for (int gi = 0; gi < 2; ++gi)
      for (int ci = 0; ci < 3; ++ci) {
        const int in_c = gi * 3 + ci, out_c = ci * 2 + gi;  // shuffled channel order
        for (int i = 0; i < 6; ++i)
          EXPECT_FLOAT_EQ(y.data<float>()[(bb * 6 + i) * 6 + out_c], std::max(nchw[(bb * 6 + in_c) * 6 + i], 0.f))
              << bb << "," << in_c << "," << i;
      }
  fs::remove(p);
}

// Resize (opset 13, scales input) nearest and linear/half_pixel on an NCHW tensor, vs naive.
TEST(OnnxLoader, ResizeMatchesNaive) {
  for (const std::string mode : {"nearest", "linear"}) {
    OnnxBuilder b;
    b.Input("x", {1, 2, 3, 4});
    b.InitF("scales", {4}, {1.f, 1.f, 2.f, 2.f});
    auto* r = b.Node("Resize", {"x", "", "scales"}, {"y"});
    auto* a = r->add_attribute();
    a->set_name("mode");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(mode);
    b.Output("y");
    const std::string p = b.Save("resize_" + mode + ".onnx");
    auto m = Model::Load(p, {.backend = "ref"});
    ASSERT_TRUE(m.ok()) << mode << ": " << m.status().ToString();
    std::vector<float> nchw = Random(24, 13);
    Tensor x(DType::kFloat32, Shape({1, 3, 4, 2}));
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 12; ++i) x.data<float>()[i * 2 + c] = nchw[c * 12 + i];
    auto out = (*m)->Run({x});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), Shape({1, 6, 8, 2}));
    auto at = [&](int c, int yy, int xx) { return nchw[(c * 3 + yy) * 4 + xx]; };
    for (int c = 0; c < 2; ++c)
      for (int oy = 0; oy < 6; ++oy)
        for (int ox = 0; ox < 8; ++ox) {
          float want;
          if (mode == "nearest") {
            want = at(c, oy / 2, ox / 2);
          } else {  // half_pixel: src = (dst + 0.5) / scale - 0.5, clamped
            const float sy = std::clamp((oy + 0.5f) / 2.f - 0.5f, 0.f, 2.f), sx = std::clamp((ox + 0.5f) / 2.f - 0.5f, 0.f, 3.f);
            const int y0 = static_cast<int>(sy), x0 = static_cast<int>(sx);
            const int y1 = std::min(y0 + 1, 2), x1 = std::min(x0 + 1, 3);
            const float fy = sy - y0, fx = sx - x0;
            want = (1 - fy) * ((1 - fx) * at(c, y0, x0) + fx * at(c, y0, x1)) + fy * ((1 - fx) * at(c, y1, x0) + fx * at(c, y1, x1));
          }
          EXPECT_NEAR(y.data<float>()[(oy * 8 + ox) * 2 + c], want, 1e-5) << mode << " c" << c << " " << oy << "," << ox;
        }
    fs::remove(p);
  }
}

TEST(OnnxLoader, GroupedConvIsRefusedClearly) {
  OnnxBuilder b;
  b.Input("x", {1, 4, 5, 5});
  b.InitF("w", {4, 2, 3, 3}, Random(72, 1));
  auto* c = b.Node("Conv", {"x", "w"}, {"y"});
  OnnxBuilder::Int(c, "group", 2);
  b.Output("y");
  const std::string p = b.Save("grouped.onnx");
  auto g = engine::LoadOnnxModel(p);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(g.status().message().find("group=2"), std::string::npos) << g.status().message();
  fs::remove(p);
}

TEST(OnnxLoader, FaceFeatureModelImports) {
  const char* dir = std::getenv("FK_MODELS_DIR");
  const std::string p = std::string(dir ? dir : FK_SOURCE_DIR "/models") + "/faceplugin/fr_feature.onnx";
  if (!fs::exists(p)) GTEST_SKIP() << "model not fetched: " << p << " (run scripts/fetch_models.sh)";
  engine::OnnxImportInfo info;
  auto g = engine::LoadOnnxModel(p, &info);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->inputs().size(), 1u);
  EXPECT_EQ(g->value(g->inputs()[0]).shape, Shape({-1, 112, 112, 3}));
  ASSERT_EQ(g->outputs().size(), 1u);
  EXPECT_EQ(g->value(g->outputs()[0]).shape, Shape({-1, 512}));
  for (const auto& n : g->nodes()) EXPECT_NE(n.op, ir::OpType::kTranspose) << n.name;  // no layout shuffles needed
}

#endif  // FK_HAVE_ONNX

}  // namespace
}  // namespace fk
