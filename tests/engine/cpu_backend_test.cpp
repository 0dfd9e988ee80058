// Tests of the oneDNN CPU backend (engine/cpu/): each op against a straightforward
// computation written here (double accumulation), odd shapes (channels 13 and 127,
// batch 3, asymmetric SAME padding), thread-safety and Supports() rejections.
#ifdef FK_HAVE_DNNL

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/cpu/prelu_inplace.h"
#include "engine/ir/graph.h"
#include "engine/ops/shape_inference.h"

namespace fk::engine {
namespace {

using ir::OpType;
using ir::ValueId;

Tensor Random(Shape s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kFloat32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Tensor Ints(std::vector<int32_t> v) {
  Tensor t(DType::kInt32, Shape{static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

// A one-node graph: inputs are graph inputs (runtime tensors) or constants.
struct OneNode {
  ir::Graph g;
  ir::Node node;
  std::vector<Tensor> runtime;  // per node input: the tensor passed to Run

  OneNode(OpType op, std::string name = "n") {
    node.op = op;
    node.name = std::move(name);
  }
  ValueId Input(const Tensor& t) {
    ir::Value v;
    v.name = "in" + std::to_string(node.inputs.size());
    v.dtype = t.dtype();
    v.shape = t.shape();
    ValueId id = g.AddValue(v);
    g.inputs().push_back(id);
    node.inputs.push_back(id);
    runtime.push_back(t);
    return id;
  }
  ValueId Const(const Tensor& t) {
    ValueId id = g.AddConstant("c" + std::to_string(node.inputs.size()), t);
    node.inputs.push_back(id);
    runtime.push_back(t);
    return id;
  }
  // Infers the output shape, adds the node. Call once, after the inputs.
  void Finish() {
    std::vector<ops::ValueInfo> in;
    for (ValueId id : node.inputs) {
      const ir::Value& v = g.value(id);
      in.emplace_back(v.dtype, v.shape, v.is_constant() ? &v.constant : nullptr);
    }
    std::vector<ops::ValueInfo> out;
    Status st = ops::InferShapes(node, in, &out);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ir::Value ov;
    ov.name = "out";
    ov.dtype = out[0].dtype;
    ov.shape = out[0].shape;
    ValueId id = g.AddValue(ov);
    node.outputs = {id};
    g.AddNode(node);
    g.outputs().push_back(id);
  }
  const ir::Node& added() const { return g.nodes().back(); }
  Shape out_shape() const { return g.value(added().outputs[0]).shape; }

  Result<std::unique_ptr<Kernel>> Plan(const Backend* b, int threads = 1) const {
    std::vector<TensorInfo> in, out;
    for (ValueId id : added().inputs) in.push_back({g.value(id).dtype, g.value(id).shape});
    out.push_back({DType::kFloat32, out_shape()});
    PlanOptions o;
    o.num_threads = threads;
    return b->Plan(g, added(), in, out, o);
  }
  Result<Tensor> RunOn(const Backend* b, int threads = 1) const {
    FK_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, Plan(b, threads));
    return RunKernel(*k, runtime);
  }
  Result<Tensor> RunKernel(const Kernel& k, const std::vector<Tensor>& inputs) const {
    std::vector<Tensor> outs{Tensor(DType::kFloat32, out_shape())};
    // Fill with NaN so an unwritten element fails the comparison.
    for (int64_t i = 0; i < outs[0].num_elements(); ++i) outs[0].data<float>()[i] = NAN;
    std::vector<char> ws(k.workspace_bytes() + 1);
    FK_RETURN_IF_ERROR(k.Run(inputs, outs, ws.data()));
    return outs[0];
  }
};

void ExpectNear(const Tensor& got, const Tensor& want, float atol = 1e-4f, float rtol = 1e-4f) {
  ASSERT_EQ(got.shape(), want.shape());
  int bad = 0;
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    const float g = got.data<float>()[i], w = want.data<float>()[i];
    if (!(std::fabs(g - w) <= atol + rtol * std::fabs(w))) {
      if (++bad <= 5) ADD_FAILURE() << "element " << i << ": got " << g << ", want " << w;
    }
  }
  EXPECT_EQ(bad, 0) << "of " << got.num_elements() << " elements";
}

const Backend* Cpu() { return CpuBackend(); }

// ---- straightforward references ---------------------------------------------------

double Act(double v, ir::Activation a, double alpha, double cmin, double cmax, double leak) {
  switch (a) {
    case ir::Activation::kNone: return v;
    case ir::Activation::kRelu: return std::max(v, 0.0);
    case ir::Activation::kRelu6: return std::min(std::max(v, 0.0), 6.0);
    case ir::Activation::kPrelu: return v > 0 ? v : alpha * v;
    case ir::Activation::kClip: return std::min(std::max(v, cmin), cmax);
    case ir::Activation::kSigmoid: return 1.0 / (1.0 + std::exp(-v));
    case ir::Activation::kTanh: return std::tanh(v);
    case ir::Activation::kLeakyRelu: return v > 0 ? v : leak * v;
    case ir::Activation::kElu: return v > 0 ? v : std::expm1(v);
  }
  return v;
}

struct ConvSpec {
  bool depthwise = false;
  int64_t n = 1, h = 9, w = 9, c = 13, kh = 3, kw = 3, cout_or_mult = 8;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  std::string padding = "SAME";
  std::vector<int64_t> pads;  // EXPLICIT [t,b,l,r]
  bool bias = true;
  std::string act = "";
  float clip_min = -0.5f, clip_max = 0.5f, leak = 0.1f;
};

// Builds the node and a direct NHWC reference result.
void CheckConv(const ConvSpec& s) {
  SCOPED_TRACE(std::string(s.depthwise ? "depthwise" : "conv") + " pad=" + s.padding + " act=" + s.act);
  OneNode t(s.depthwise ? OpType::kDepthwiseConv2D : OpType::kConv2D);
  const int64_t cout = s.depthwise ? s.c * s.cout_or_mult : s.cout_or_mult;
  Tensor x = Random({s.n, s.h, s.w, s.c}, 1);
  Tensor w = Random({s.kh, s.kw, s.c, s.cout_or_mult}, 2);
  Tensor b = Random({cout}, 3);
  Tensor alpha = Random({cout}, 4, 0.f, 0.5f);
  t.Input(x);
  t.Const(w);
  if (s.bias) t.Const(b);
  const ir::Activation act = *ir::ActivationFromName(s.act);
  if (act == ir::Activation::kPrelu) t.Const(alpha);
  t.node.attrs.set("strides", std::vector<int64_t>{s.sh, s.sw});
  t.node.attrs.set("dilations", std::vector<int64_t>{s.dh, s.dw});
  t.node.attrs.set("padding", s.padding);
  if (!s.pads.empty()) t.node.attrs.set("explicit_pads", s.pads);
  t.node.attrs.set("has_bias", int64_t{s.bias ? 1 : 0});
  if (!s.act.empty()) t.node.attrs.set("activation", s.act);
  t.node.attrs.set("clip_min", s.clip_min);
  t.node.attrs.set("clip_max", s.clip_max);
  t.node.attrs.set("leaky_alpha", s.leak);
  t.Finish();
  ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));

  int64_t pt, pb, pl, pr;
  const int64_t oh = ops::ConvOutputSize(s.h, s.kh, s.sh, s.dh, s.padding, s.pads.empty() ? 0 : s.pads[0],
                                         s.pads.empty() ? 0 : s.pads[1], &pt, &pb);
  const int64_t ow = ops::ConvOutputSize(s.w, s.kw, s.sw, s.dw, s.padding, s.pads.empty() ? 0 : s.pads[2],
                                         s.pads.empty() ? 0 : s.pads[3], &pl, &pr);
  ASSERT_EQ(t.out_shape(), (Shape{s.n, oh, ow, cout}));
  Tensor want(DType::kFloat32, Shape{s.n, oh, ow, cout});
  const float* X = x.data<float>();
  const float* W = w.data<float>();
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t xo = 0; xo < ow; ++xo)
        for (int64_t co = 0; co < cout; ++co) {
          double acc = s.bias ? b.data<float>()[co] : 0.0;
          for (int64_t i = 0; i < s.kh; ++i)
            for (int64_t j = 0; j < s.kw; ++j) {
              const int64_t iy = y * s.sh - pt + i * s.dh, ix = xo * s.sw - pl + j * s.dw;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              const float* px = X + ((n * s.h + iy) * s.w + ix) * s.c;
              if (s.depthwise) {
                const int64_t ci = co / s.cout_or_mult, m = co % s.cout_or_mult;
                acc += double(px[ci]) * W[((i * s.kw + j) * s.c + ci) * s.cout_or_mult + m];
              } else {
                for (int64_t ci = 0; ci < s.c; ++ci)
                  acc += double(px[ci]) * W[((i * s.kw + j) * s.c + ci) * cout + co];
              }
            }
          want.data<float>()[((n * oh + y) * ow + xo) * cout + co] = static_cast<float>(
              Act(acc, act, alpha.data<float>()[co], s.clip_min, s.clip_max, s.leak));
        }
  auto got = t.RunOn(Cpu());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectNear(*got, want);
  // Same result with 2 threads (oneDNN may split the work differently).
  auto got2 = t.RunOn(Cpu(), 2);
  ASSERT_TRUE(got2.ok()) << got2.status().ToString();
  ExpectNear(*got2, want);
}

TEST(CpuBackend, Conv2DSameStride2AsymmetricPaddingRelu6) {
  ConvSpec s;
  s.n = 3, s.h = 8, s.w = 11, s.c = 13, s.cout_or_mult = 127, s.sh = 2, s.sw = 2, s.act = "relu6";
  CheckConv(s);
}

TEST(CpuBackend, Conv2DValidDilatedPrelu) {
  ConvSpec s;
  s.h = 12, s.w = 10, s.c = 127, s.cout_or_mult = 13, s.dh = 2, s.dw = 3, s.padding = "VALID";
  s.bias = false, s.act = "prelu";
  CheckConv(s);
}

TEST(CpuBackend, Conv2DExplicitPaddingAndActivations) {
  for (const char* act : {"", "relu", "leaky_relu", "clip", "sigmoid", "tanh", "elu"}) {
    ConvSpec s;
    s.n = 2, s.h = 7, s.w = 6, s.c = 5, s.cout_or_mult = 16, s.kh = 3, s.kw = 2, s.sh = 2, s.sw = 1;
    s.padding = "EXPLICIT", s.pads = {1, 2, 0, 3}, s.act = act;
    CheckConv(s);
  }
}

TEST(CpuBackend, Conv2DPointwiseAndStemLike) {
  ConvSpec pw;  // 1x1 pointwise, the bulk of MobileNet FLOPs
  pw.n = 2, pw.h = 14, pw.w = 14, pw.c = 64, pw.cout_or_mult = 128, pw.kh = pw.kw = 1, pw.act = "relu";
  CheckConv(pw);
  ConvSpec stem;  // 3-channel stem, stride 2
  stem.h = stem.w = 33, stem.c = 3, stem.cout_or_mult = 32, stem.sh = stem.sw = 2, stem.act = "prelu";
  CheckConv(stem);
}

TEST(CpuBackend, DepthwiseSameStride2Channels127) {
  ConvSpec s;
  s.depthwise = true, s.n = 3, s.h = 9, s.w = 8, s.c = 127, s.cout_or_mult = 1, s.sh = 2, s.sw = 2;
  s.act = "relu";
  CheckConv(s);
}

TEST(CpuBackend, DepthwisePreluMobilefaceLikeTwoThreads) {
  // 32 channels, multiplier 1, prelu: the split conv + in-place PReLU path of mobileface's
  // depthwise blocks; large enough (2x40x40x32) that the PReLU pass uses both threads.
  ConvSpec s;
  s.depthwise = true, s.n = 2, s.h = s.w = 40, s.c = 32, s.cout_or_mult = 1, s.act = "prelu";
  CheckConv(s);
}

TEST(CpuBackend, PreluInPlaceMatchesRefExpressionBitwise) {
  // Every channel count class of the AVX-512 loop (tail only, exact vectors, vectors + tail,
  // wide) with per-channel and scalar alpha, 1 and 2 threads, against ref's expression.
  for (int64_t c : {1, 5, 16, 32, 45, 512}) {
    for (bool scalar : {false, true}) {
      for (int threads : {1, 2}) {
        SCOPED_TRACE("channels " + std::to_string(c) + (scalar ? " scalar" : " per-channel") +
                     " threads " + std::to_string(threads));
        const int64_t rows = 70000 / c + 3;  // > 2 x 32768 elements: the threaded split runs
        Tensor x = Random({rows, c}, 7);
        Tensor alpha = Random({scalar ? 1 : c}, 8, -0.5f, 1.5f);
        Tensor y = x.Clone();
        cpu::PreluChannelLastInPlace(y.data<float>(), rows, c, alpha.data<float>(), scalar, threads);
        int64_t bad = 0;
        for (int64_t i = 0; i < rows * c; ++i) {
          const float v = x.data<float>()[i];
          const float a = alpha.data<float>()[scalar ? 0 : i % c];
          const float want = v < 0.f ? a * v : v;
          bad += std::memcmp(&want, y.data<float>() + i, sizeof(float)) != 0;
        }
        EXPECT_EQ(bad, 0) << "of " << rows * c;
      }
    }
  }
}

TEST(CpuBackend, DepthwiseMultiplier2Prelu) {
  ConvSpec s;
  s.depthwise = true, s.n = 3, s.h = 6, s.w = 7, s.c = 13, s.cout_or_mult = 2, s.act = "prelu";
  CheckConv(s);
  s.padding = "VALID", s.dh = s.dw = 2, s.bias = false, s.act = "relu6";
  s.h = s.w = 11;
  CheckConv(s);
}

TEST(CpuBackend, DepthwiseExplicitAndKernel5) {
  ConvSpec s;
  s.depthwise = true, s.h = 10, s.w = 9, s.c = 32, s.cout_or_mult = 1, s.kh = s.kw = 5;
  s.padding = "EXPLICIT", s.pads = {2, 1, 0, 2}, s.act = "relu6";
  CheckConv(s);
}

// ---- MatMul ---------------------------------------------------------------------

void CheckMatMul(int64_t m, int64_t k, int64_t n, bool ta, bool tb, bool bias, const std::string& act,
                 bool const_b) {
  SCOPED_TRACE("matmul ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " act=" + act +
               " const_b=" + std::to_string(const_b));
  OneNode t(OpType::kMatMul);
  Tensor a = Random(ta ? Shape{k, m} : Shape{m, k}, 10);
  Tensor b = Random(tb ? Shape{n, k} : Shape{k, n}, 11);
  Tensor bv = Random({n}, 12);
  Tensor alpha = Random({n}, 13, 0.f, 0.5f);
  t.Input(a);
  if (const_b) t.Const(b); else t.Input(b);
  if (bias) t.Const(bv);
  const ir::Activation ac = *ir::ActivationFromName(act);
  if (ac == ir::Activation::kPrelu) t.Const(alpha);
  t.node.attrs.set("transpose_a", int64_t{ta});
  t.node.attrs.set("transpose_b", int64_t{tb});
  t.node.attrs.set("has_bias", int64_t{bias});
  if (!act.empty()) t.node.attrs.set("activation", act);
  t.Finish();
  ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
  Tensor want(DType::kFloat32, Shape{m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? bv.data<float>()[j] : 0.0;
      for (int64_t p = 0; p < k; ++p)
        acc += double(a.data<float>()[ta ? p * m + i : i * k + p]) *
               b.data<float>()[tb ? j * k + p : p * n + j];
      want.data<float>()[i * n + j] = static_cast<float>(Act(acc, ac, alpha.data<float>()[j], 0, 0, 0));
    }
  auto got = t.RunOn(Cpu());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectNear(*got, want);
}

TEST(CpuBackend, MatMulTransposesBiasActivations) {
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) CheckMatMul(3, 127, 13, ta, tb, true, "relu", true);
  CheckMatMul(1, 1024, 128, false, false, true, "", true);   // embedding head
  CheckMatMul(5, 13, 7, false, true, false, "prelu", true);
  CheckMatMul(4, 9, 6, true, false, true, "sigmoid", false);  // runtime B
}

// ---- Pooling ---------------------------------------------------------------------

void CheckPool(OpType op, int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s,
               const std::string& padding) {
  SCOPED_TRACE(std::string(ir::OpTypeName(op)) + " " + padding);
  OneNode t(op);
  Tensor x = Random({n, h, w, c}, 20);
  t.Input(x);
  t.node.attrs.set("ksize", std::vector<int64_t>{k, k});
  t.node.attrs.set("strides", std::vector<int64_t>{s, s});
  t.node.attrs.set("padding", padding);
  t.Finish();
  ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
  int64_t pt, pb, pl, pr;
  const int64_t oh = ops::ConvOutputSize(h, k, s, 1, padding, 0, 0, &pt, &pb);
  const int64_t ow = ops::ConvOutputSize(w, k, s, 1, padding, 0, 0, &pl, &pr);
  Tensor want(DType::kFloat32, Shape{n, oh, ow, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t xo = 0; xo < ow; ++xo)
        for (int64_t ch = 0; ch < c; ++ch) {
          double acc = op == OpType::kMaxPool ? -INFINITY : 0.0;
          int cnt = 0;
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
              const int64_t iy = y * s - pt + i, ix = xo * s - pl + j;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const double v = x.data<float>()[((b * h + iy) * w + ix) * c + ch];
              acc = op == OpType::kMaxPool ? std::max(acc, v) : acc + v;
              ++cnt;
            }
          want.data<float>()[((b * oh + y) * ow + xo) * c + ch] =
              static_cast<float>(op == OpType::kMaxPool ? acc : acc / cnt);
        }
  auto got = t.RunOn(Cpu());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectNear(*got, want);
}

TEST(CpuBackend, PoolingSameExcludesPaddingValid) {
  for (OpType op : {OpType::kMaxPool, OpType::kAvgPool}) {
    CheckPool(op, 3, 9, 8, 13, 3, 2, "SAME");
    CheckPool(op, 2, 8, 8, 127, 2, 2, "VALID");
    CheckPool(op, 1, 7, 5, 5, 3, 1, "SAME");
  }
}

// ---- Softmax, binary, unary, reduce, concat ---------------------------------------

TEST(CpuBackend, SoftmaxLastAndMiddleAxis) {
  for (int64_t axis : {-1, 1}) {
    OneNode t(OpType::kSoftmax);
    Tensor x = Random({3, 7, 13}, 30, -5.f, 5.f);
    t.Input(x);
    t.node.attrs.set("axis", axis);
    t.Finish();
    ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
    Tensor want(DType::kFloat32, x.shape());
    const int64_t A = 3, B = 7, C = 13;
    for (int64_t a = 0; a < A; ++a)
      for (int64_t o = 0; o < (axis == 1 ? C : B); ++o) {
        const int64_t len = axis == 1 ? B : C;
        auto at = [&](int64_t i) { return axis == 1 ? (a * B + i) * C + o : (a * B + o) * C + i; };
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < len; ++i) mx = std::max(mx, double(x.data<float>()[at(i)]));
        for (int64_t i = 0; i < len; ++i) sum += std::exp(x.data<float>()[at(i)] - mx);
        for (int64_t i = 0; i < len; ++i)
          want.data<float>()[at(i)] = static_cast<float>(std::exp(x.data<float>()[at(i)] - mx) / sum);
      }
    auto got = t.RunOn(Cpu());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectNear(*got, want, 1e-6f, 1e-4f);
  }
}

double BinRef(OpType op, double a, double b) {
  switch (op) {
    case OpType::kAdd: return a + b;
    case OpType::kSub: return a - b;
    case OpType::kMul: return a * b;
    case OpType::kDiv: return a / b;
    case OpType::kMaximum: return std::max(a, b);
    case OpType::kMinimum: return std::min(a, b);
    default: return (a - b) * (a - b);
  }
}

TEST(CpuBackend, BinaryBroadcasting) {
  struct Case {
    OpType op;
    Shape a, b;
  };
  const std::vector<Case> cases = {
      {OpType::kAdd, {3, 5, 7, 13}, {3, 5, 7, 13}},
      {OpType::kAdd, {3, 5, 7, 13}, {13}},           // per-channel bias
      {OpType::kMul, {1, 1, 1, 13}, {3, 5, 7, 13}},  // swapped (commutative)
      {OpType::kSub, {}, {3, 4, 127}},               // scalar - tensor: strided loop
      {OpType::kDiv, {3, 4, 127}, {3, 1, 127}},
      {OpType::kMaximum, {2, 3}, {}},
      {OpType::kMinimum, {3, 1}, {1, 4}},  // both broadcast: loop
      {OpType::kSquaredDifference, {2, 6, 6, 13}, {2, 1, 1, 13}},
      // Axis coalescing in binary.cpp (merged runs of equally-broadcast axes, size-1 axes
      // dropped; used when that gives 1-D): scalar over a 3-channel NHWC input (the face
      // models' input normalisation), same shapes with size-1 axes, an all-ones output;
      // and shapes that coalesce to 2-D/3-D, which keep the channel-last descriptors.
      {OpType::kAdd, {4, 1, 6, 9}, {4, 1, 6, 9}},
      {OpType::kSub, {3, 17, 19, 3}, {}},
      {OpType::kMul, {3, 17, 19, 3}, {1}},
      {OpType::kMul, {1, 1, 1, 3}, {3, 17, 19, 3}},
      {OpType::kAdd, {2, 3, 4, 5}, {2, 1, 1, 5}},
      {OpType::kDiv, {2, 3, 4, 5}, {1, 3, 4, 1}},
      {OpType::kAdd, {2, 1, 4, 5}, {2, 1, 1, 1}},
      {OpType::kSub, {4, 6, 1, 9}, {4, 1, 1, 9}},
      {OpType::kMaximum, {1, 1, 1, 1}, {1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(ir::OpTypeName(c.op)) + " " + c.a.ToString() + " " + c.b.ToString());
    OneNode t(c.op);
    Tensor a = Random(c.a, 40), b = Random(c.b, 41, 0.5f, 2.f);
    t.Input(a);
    t.Const(b);
    t.Finish();
    ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
    const Shape out = t.out_shape();
    Tensor want(DType::kFloat32, out);
    const int r = out.rank();
    std::vector<int64_t> idx(static_cast<size_t>(r));
    for (int64_t i = 0; i < out.num_elements(); ++i) {
      int64_t rem = i;
      for (int d = r - 1; d >= 0; --d) {
        idx[static_cast<size_t>(d)] = rem % out[d];
        rem /= out[d];
      }
      auto off = [&](const Shape& s) {
        int64_t o = 0;
        for (int d = 0; d < s.rank(); ++d) {
          const int64_t od = idx[static_cast<size_t>(d + r - s.rank())];
          o = o * s[d] + (s[d] == 1 ? 0 : od);
        }
        return o;
      };
      want.data<float>()[i] =
          static_cast<float>(BinRef(c.op, a.data<float>()[off(c.a)], b.data<float>()[off(c.b)]));
    }
    auto got = t.RunOn(Cpu());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectNear(*got, want, 1e-6f, 1e-6f);
  }
}

TEST(CpuBackend, UnaryOps) {
  struct Case {
    OpType op;
    std::function<double(double)> f;
  };
  const std::vector<Case> cases = {
      {OpType::kRelu, [](double v) { return std::max(v, 0.0); }},
      {OpType::kRelu6, [](double v) { return std::min(std::max(v, 0.0), 6.0); }},
      {OpType::kSigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {OpType::kTanh, [](double v) { return std::tanh(v); }},
      {OpType::kElu, [](double v) { return v > 0 ? v : std::expm1(v); }},
      {OpType::kLeakyRelu, [](double v) { return v > 0 ? v : 0.3 * v; }},
      {OpType::kClip, [](double v) { return std::min(std::max(v, -1.0), 2.0); }},
      {OpType::kAbs, [](double v) { return std::fabs(v); }},
      {OpType::kNeg, [](double v) { return -v; }},
      {OpType::kSquare, [](double v) { return v * v; }},
      {OpType::kExp, [](double v) { return std::exp(v); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(ir::OpTypeName(c.op));
    OneNode t(c.op);
    Tensor x = Random({3, 5, 7, 13}, 50, -8.f, 8.f);
    t.Input(x);
    if (c.op == OpType::kLeakyRelu) t.node.attrs.set("alpha", 0.3f);
    if (c.op == OpType::kClip) {
      t.node.attrs.set("clip_min", -1.f);
      t.node.attrs.set("clip_max", 2.f);
    }
    t.Finish();
    ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
    Tensor want(DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i)
      want.data<float>()[i] = static_cast<float>(c.f(x.data<float>()[i]));
    auto got = t.RunOn(Cpu());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectNear(*got, want, 1e-6f, 1e-5f);
  }
  for (OpType op : {OpType::kSqrt}) {  // positive inputs
    OneNode t(op);
    Tensor x = Random({2, 127}, 51, 0.01f, 10.f);
    t.Input(x);
    t.Finish();
    Tensor want(DType::kFloat32, x.shape());
    for (int64_t i = 0; i < x.num_elements(); ++i)
      want.data<float>()[i] = std::sqrt(x.data<float>()[i]);
    auto got = t.RunOn(Cpu());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectNear(*got, want, 1e-6f, 1e-5f);
  }
}

TEST(CpuBackend, PreluOpPerChannel) {
  OneNode t(OpType::kPrelu);
  Tensor x = Random({3, 4, 5, 13}, 60), al = Random({13}, 61);
  t.Input(x);
  t.Const(al);
  t.Finish();
  ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
  Tensor want(DType::kFloat32, x.shape());
  for (int64_t i = 0; i < x.num_elements(); ++i) {
    const float v = x.data<float>()[i];
    want.data<float>()[i] = v > 0 ? v : al.data<float>()[i % 13] * v;
  }
  auto got = t.RunOn(Cpu());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectNear(*got, want, 1e-7f, 1e-6f);
}

TEST(CpuBackend, Reductions) {
  struct Case {
    OpType op;
    std::vector<int32_t> axes;
    bool keep;
  };
  const std::vector<Case> cases = {
      {OpType::kMean, {1, 2}, false},  // global average pool path
      {OpType::kMax, {1, 2}, true},
      {OpType::kSum, {3}, true},
      {OpType::kMax, {0, 2}, false},
      {OpType::kMin, {-1}, false},
      {OpType::kMean, {0, 1, 2, 3}, false},
  };
  const Shape xs{3, 5, 7, 13};
  Tensor x = Random(xs, 70);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(ir::OpTypeName(c.op)) + " axes " + std::to_string(c.axes.size()));
    OneNode t(c.op);
    t.Input(x);
    t.Const(Ints(c.axes));
    t.node.attrs.set("keep_dims", int64_t{c.keep});
    t.Finish();
    ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
    std::vector<bool> red(4, false);
    for (int32_t a : c.axes) red[static_cast<size_t>((a + 4) % 4)] = true;
    std::vector<int64_t> rd = xs.dims();
    for (int d = 0; d < 4; ++d)
      if (red[static_cast<size_t>(d)]) rd[static_cast<size_t>(d)] = 1;
    std::vector<double> acc(static_cast<size_t>(Shape(rd).num_elements()),
                            c.op == OpType::kMax ? -INFINITY : c.op == OpType::kMin ? INFINITY : 0.0);
    int64_t count = 1;
    for (int d = 0; d < 4; ++d)
      if (red[static_cast<size_t>(d)]) count *= xs[d];
    for (int64_t i = 0; i < xs.num_elements(); ++i) {
      int64_t rem = i, o = 0, mul = 1;
      for (int d = 3; d >= 0; --d) {
        const int64_t id = rem % xs[d];
        rem /= xs[d];
        o += (red[static_cast<size_t>(d)] ? 0 : id) * mul;
        mul *= rd[static_cast<size_t>(d)];
      }
      const double v = x.data<float>()[i];
      double& a = acc[static_cast<size_t>(o)];
      a = c.op == OpType::kMax ? std::max(a, v) : c.op == OpType::kMin ? std::min(a, v) : a + v;
    }
    Tensor want(DType::kFloat32, t.out_shape());
    ASSERT_EQ(want.num_elements(), static_cast<int64_t>(acc.size()));
    for (size_t i = 0; i < acc.size(); ++i)
      want.data<float>()[i] = static_cast<float>(c.op == OpType::kMean ? acc[i] / count : acc[i]);
    auto got = t.RunOn(Cpu());
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ExpectNear(*got, want, 1e-5f, 1e-5f);
  }
}

TEST(CpuBackend, ConcatChannels) {
  OneNode t(OpType::kConcat);
  Tensor a = Random({3, 4, 5, 13}, 80), b = Random({3, 4, 5, 7}, 81);
  t.Input(a);
  t.Const(b);
  t.node.attrs.set("axis", int64_t{-1});
  t.Finish();
  ASSERT_TRUE(Cpu()->Supports(t.g, t.added()));
  Tensor want(DType::kFloat32, Shape{3, 4, 5, 20});
  for (int64_t p = 0; p < 60; ++p)
    for (int64_t ch = 0; ch < 20; ++ch)
      want.data<float>()[p * 20 + ch] = ch < 13 ? a.data<float>()[p * 13 + ch] : b.data<float>()[p * 7 + ch - 13];
  auto got = t.RunOn(Cpu());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectNear(*got, want, 0.f, 0.f);
}

// ---- Contracts -------------------------------------------------------------------------

TEST(CpuBackend, KernelIsThreadSafe) {
  // One depthwise + one pointwise kernel, each shared by 4 threads on different buffers.
  for (OpType op : {OpType::kDepthwiseConv2D, OpType::kConv2D}) {
    OneNode t(op);
    Tensor x = Random({2, 17, 17, 32}, 90);
    t.Input(x);
    t.Const(Random(op == OpType::kConv2D ? Shape{1, 1, 32, 64} : Shape{3, 3, 32, 1}, 91));
    t.Const(Random({op == OpType::kConv2D ? 64 : 32}, 92));
    t.node.attrs.set("strides", std::vector<int64_t>{1, 1});
    t.node.attrs.set("padding", std::string("SAME"));
    t.node.attrs.set("has_bias", int64_t{1});
    t.node.attrs.set("activation", std::string("relu6"));
    t.Finish();
    auto kernel = t.Plan(Cpu(), 1);
    ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
    const Kernel& k = **kernel;
    constexpr int kThreads = 4;
    std::vector<std::vector<Tensor>> inputs(kThreads);
    std::vector<Tensor> expected(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      inputs[static_cast<size_t>(i)] = t.runtime;
      inputs[static_cast<size_t>(i)][0] = Random(x.shape(), 100 + static_cast<uint32_t>(i));
      auto r = t.RunKernel(k, inputs[static_cast<size_t>(i)]);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      expected[static_cast<size_t>(i)] = *r;
    }
    std::vector<int> mismatches(kThreads, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([&, i] {
        for (int rep = 0; rep < 20; ++rep) {
          auto r = t.RunKernel(k, inputs[static_cast<size_t>(i)]);
          if (!r.ok() || std::memcmp(r->raw(), expected[static_cast<size_t>(i)].raw(), r->nbytes()) != 0)
            ++mismatches[static_cast<size_t>(i)];
        }
      });
    for (auto& th : threads) th.join();
    for (int i = 0; i < kThreads; ++i) EXPECT_EQ(mismatches[static_cast<size_t>(i)], 0) << "thread " << i;
  }
}

TEST(CpuBackend, SupportsRejectsWhatItCannotDoExactly) {
  {  // Unknown fused activation name.
    OneNode t(OpType::kConv2D);
    t.Input(Random({1, 5, 5, 3}, 1));
    t.Const(Random({3, 3, 3, 4}, 2));
    t.node.attrs.set("padding", std::string("SAME"));
    t.Finish();
    EXPECT_TRUE(Cpu()->Supports(t.g, t.added()));
    ir::Node n = t.added();
    n.attrs.set("activation", std::string("swish"));
    EXPECT_FALSE(Cpu()->Supports(t.g, n));
    n = t.added();
    n.attrs.set("strides", std::vector<int64_t>{1, 2, 3});  // malformed
    EXPECT_FALSE(Cpu()->Supports(t.g, n));
  }
  {  // Runtime (non-constant) conv weights.
    OneNode t(OpType::kConv2D);
    t.Input(Random({1, 5, 5, 3}, 1));
    t.Input(Random({3, 3, 3, 4}, 2));
    t.node.attrs.set("padding", std::string("VALID"));
    t.Finish();
    EXPECT_FALSE(Cpu()->Supports(t.g, t.added()));
  }
  {  // Prelu alpha of the wrong size (3 values for 4 output channels).
    OneNode t(OpType::kConv2D);
    t.Input(Random({1, 5, 5, 3}, 1));
    t.Const(Random({1, 1, 3, 4}, 2));
    t.Const(Random({4}, 3));
    t.node.attrs.set("activation", std::string("prelu"));
    t.Finish();
    EXPECT_TRUE(Cpu()->Supports(t.g, t.added()));
    ir::Node n = t.added();
    n.inputs.back() = t.g.AddConstant("bad_alpha", Random({3}, 4));
    EXPECT_FALSE(Cpu()->Supports(t.g, n));
  }
  {  // Clip without bounds; Floor (no exact oneDNN eltwise).
    OneNode c(OpType::kClip);
    c.Input(Random({4}, 1));
    c.Finish();
    EXPECT_FALSE(Cpu()->Supports(c.g, c.added()));
    for (OpType op : {OpType::kFloor, OpType::kLog}) {
      OneNode f(op);
      f.Input(Random({4}, 1, 0.5f, 2.f));
      f.Finish();
      EXPECT_FALSE(Cpu()->Supports(f.g, f.added()));
    }
  }
  {  // Integer Add.
    OneNode t(OpType::kAdd);
    t.Input(Ints({1, 2, 3}));
    t.Input(Ints({4, 5, 6}));
    t.Finish();
    EXPECT_FALSE(Cpu()->Supports(t.g, t.added()));
  }
}

TEST(CpuBackend, PlanRejectsMismatchedOutputShape) {
  OneNode t(OpType::kConv2D);
  t.Input(Random({1, 6, 6, 3}, 1));
  t.Const(Random({3, 3, 3, 4}, 2));
  t.node.attrs.set("padding", std::string("SAME"));
  t.Finish();
  std::vector<TensorInfo> in{{DType::kFloat32, Shape{1, 6, 6, 3}}, {DType::kFloat32, Shape{3, 3, 3, 4}}};
  std::vector<TensorInfo> out{{DType::kFloat32, Shape{1, 5, 6, 4}}};
  auto k = Cpu()->Plan(t.g, t.added(), in, out, PlanOptions{});
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find(t.added().name), std::string::npos) << k.status().ToString();
}

}  // namespace
}  // namespace fk::engine

#endif  // FK_HAVE_DNNL
