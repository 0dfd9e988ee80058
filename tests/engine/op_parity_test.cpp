// Op parity harness (like ggml's test-backend-ops): one table of op cases, each run on every
// backend in AvailableBackends() other than "ref" and compared with "ref":
//   max |backend - ref| <= 1e-4 * max(1, max |ref|).
// Unsupported nodes (Supports() == false) are skipped and counted. With only "ref" compiled
// in, zero comparisons run (the summary says so) and the reference itself is still run on
// every case.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ref/ref_backend.h"
#include "op_cases.h"

namespace fk {
namespace {

using testing::CaseInput;
using testing::Ints1D;
using testing::IntTensor;
using testing::RandomFloat;
using testing::RandomInt;
using OT = ir::OpType;

struct OpCase {
  std::string name;
  OT op;
  ir::Attrs attrs;
  std::vector<CaseInput> inputs;
};

std::string ShapeStr(const Shape& s) { return s.ToString(); }

class CaseBuilder {
 public:
  std::vector<OpCase> cases;
  uint32_t seed = 1;

  Tensor Rand(Shape s, float lo = -1.f, float hi = 1.f) { return RandomFloat(std::move(s), seed++, lo, hi); }
  void Add(std::string name, OT op, ir::Attrs attrs, std::vector<CaseInput> in) {
    cases.push_back({std::string(ir::OpTypeName(op)) + "/" + name, op, std::move(attrs), std::move(in)});
  }
};

struct ConvSpec {
  int64_t n, h, w, c, kh, kw, co;  // co = multiplier for depthwise
  int64_t stride, dilation;
  const char* padding;
  std::vector<int64_t> pads;  // EXPLICIT
  const char* act;
  bool bias;
};

void AddConvCases(CaseBuilder& b, bool depthwise, const std::vector<ConvSpec>& specs) {
  for (const ConvSpec& s : specs) {
    ir::Attrs a;
    a.set("strides", std::vector<int64_t>{s.stride, s.stride});
    a.set("dilations", std::vector<int64_t>{s.dilation, s.dilation});
    a.set("padding", std::string(s.padding));
    if (!s.pads.empty()) a.set("explicit_pads", s.pads);
    a.set("activation", std::string(s.act));
    a.set("clip_min", -0.5f);
    a.set("clip_max", 0.75f);
    a.set("leaky_alpha", 0.15f);
    a.set("has_bias", int64_t{s.bias ? 1 : 0});
    const int64_t cout = depthwise ? s.c * s.co : s.co;
    std::vector<CaseInput> in = {{b.Rand(Shape{s.n, s.h, s.w, s.c})}, {b.Rand(Shape{s.kh, s.kw, s.c, s.co}), true}};
    if (s.bias) in.push_back({b.Rand(Shape{cout}), true});
    if (std::string(s.act) == "prelu") in.push_back({b.Rand(Shape{cout}, 0.f, 0.5f), true});
    char name[160];
    std::snprintf(name, sizeof name, "n%lld_%lldx%lld_c%lld_k%lldx%lld_o%lld_s%lld_d%lld_%s_%s%s",
                  static_cast<long long>(s.n), static_cast<long long>(s.h), static_cast<long long>(s.w),
                  static_cast<long long>(s.c), static_cast<long long>(s.kh), static_cast<long long>(s.kw),
                  static_cast<long long>(s.co), static_cast<long long>(s.stride), static_cast<long long>(s.dilation),
                  s.padding, s.act, s.bias ? "_bias" : "");
    b.Add(name, depthwise ? OT::kDepthwiseConv2D : OT::kConv2D, a, std::move(in));
  }
}

std::vector<OpCase> AllCases() {
  CaseBuilder b;
  const std::vector<int64_t> ex = {1, 2, 0, 1};
  AddConvCases(b, false,
               {
                   {1, 7, 9, 3, 3, 3, 8, 1, 1, "SAME", {}, "none", true},
                   {1, 7, 9, 3, 3, 3, 8, 2, 1, "SAME", {}, "relu", true},
                   {3, 15, 17, 13, 3, 3, 13, 2, 1, "SAME", {}, "relu6", true},
                   {1, 15, 17, 1, 5, 5, 4, 2, 1, "VALID", {}, "none", false},
                   {1, 16, 16, 127, 1, 1, 5, 1, 1, "VALID", {}, "prelu", true},
                   {1, 15, 17, 4, 3, 3, 6, 1, 2, "SAME", {}, "leaky_relu", true},
                   {1, 7, 9, 3, 3, 3, 8, 2, 1, "EXPLICIT", ex, "clip", true},
                   {2, 8, 8, 16, 3, 3, 32, 2, 1, "SAME", {}, "sigmoid", true},
                   {1, 9, 7, 8, 3, 3, 8, 1, 1, "SAME", {}, "tanh", true},
                   {1, 9, 7, 8, 3, 3, 8, 1, 1, "SAME", {}, "elu", true},
                   {1, 12, 12, 3, 7, 7, 16, 2, 1, "SAME", {}, "none", true},  // pad 2 top / 3 bottom
                   {3, 7, 9, 13, 2, 2, 7, 2, 1, "SAME", {}, "relu", false},
                   {1, 15, 17, 127, 3, 3, 3, 2, 1, "VALID", {}, "none", true},
               });
  AddConvCases(b, true,
               {
                   {1, 15, 17, 13, 3, 3, 1, 1, 1, "SAME", {}, "relu", true},
                   {1, 15, 17, 13, 3, 3, 2, 2, 1, "SAME", {}, "none", true},
                   {1, 16, 16, 127, 3, 3, 1, 2, 1, "SAME", {}, "relu6", true},
                   {1, 7, 9, 3, 3, 3, 2, 1, 1, "VALID", {}, "prelu", true},
                   {1, 15, 17, 8, 3, 3, 1, 1, 2, "SAME", {}, "none", true},
                   {1, 7, 9, 32, 3, 3, 1, 2, 1, "EXPLICIT", ex, "clip", true},
                   {3, 7, 9, 1, 5, 5, 1, 2, 1, "SAME", {}, "leaky_relu", false},
                   {1, 9, 7, 16, 5, 5, 1, 1, 1, "SAME", {}, "elu", true},
                   {1, 8, 8, 24, 3, 3, 1, 1, 1, "SAME", {}, "sigmoid", true},
                   {1, 8, 8, 24, 3, 3, 1, 1, 1, "SAME", {}, "tanh", true},
               });

  // MatMul.
  struct MM {
    Shape a, b;
    int ta, tb;
    const char* act;
    bool bias;
  };
  for (const MM& m : std::vector<MM>{{{1, 128}, {128, 10}, 0, 0, "relu", true},
                                     {{3, 13}, {13, 127}, 0, 0, "none", true},
                                     {{13, 3}, {13, 127}, 1, 0, "none", false},
                                     {{3, 13}, {127, 13}, 0, 1, "prelu", true},
                                     {{7, 64}, {64, 1}, 0, 0, "sigmoid", true},
                                     {{2, 3, 13}, {2, 13, 5}, 0, 0, "none", false},
                                     {{2, 3, 13}, {13, 5}, 0, 0, "tanh", true}}) {
    ir::Attrs a;
    a.set("transpose_a", int64_t{m.ta});
    a.set("transpose_b", int64_t{m.tb});
    a.set("has_bias", int64_t{m.bias ? 1 : 0});
    a.set("activation", std::string(m.act));
    const int64_t n = m.tb ? m.b[m.b.rank() - 2] : m.b[m.b.rank() - 1];
    std::vector<CaseInput> in = {{b.Rand(m.a)}, {b.Rand(m.b), true}};
    if (m.bias) in.push_back({b.Rand(Shape{n}), true});
    if (std::string(m.act) == "prelu") in.push_back({b.Rand(Shape{n}, 0.f, 0.5f), true});
    b.Add(ShapeStr(m.a) + "x" + ShapeStr(m.b) + "_ta" + std::to_string(m.ta) + "_tb" + std::to_string(m.tb) + "_" +
              m.act,
          OT::kMatMul, a, std::move(in));
  }

  // Binary, with broadcasting.
  const std::vector<std::pair<Shape, Shape>> bshapes = {
      {{2, 3, 4}, {2, 3, 4}}, {{3, 7, 9, 13}, {13}}, {{1, 7, 1, 5}, {3, 1, 9, 1}}, {{5}, {}}, {{1, 15, 17, 127}, {1, 1, 1, 127}}};
  for (OT op : {OT::kAdd, OT::kSub, OT::kMul, OT::kDiv, OT::kMaximum, OT::kMinimum, OT::kPow, OT::kSquaredDifference}) {
    for (const auto& [sa, sb] : bshapes) {
      const bool pos = op == OT::kPow || op == OT::kDiv;
      b.Add(ShapeStr(sa) + "_" + ShapeStr(sb), op, {},
            {{b.Rand(sa, pos ? 0.5f : -2.f, 2.f)}, {b.Rand(sb, pos ? 0.5f : -2.f, 2.f)}});
    }
  }
  for (OT op : {OT::kAdd, OT::kSub, OT::kMul, OT::kDiv, OT::kMaximum, OT::kMinimum}) {
    b.Add("int32_" + ShapeStr({3, 5}) + "_" + ShapeStr({5}), op, {},
          {{RandomInt(Shape{3, 5}, b.seed++, -50, 50)}, {RandomInt(Shape{5}, b.seed++, 1, 7)}});
  }
  b.Add("3x[2,7,9,13]", OT::kAddN, {},
        {{b.Rand(Shape{2, 7, 9, 13})}, {b.Rand(Shape{2, 7, 9, 13})}, {b.Rand(Shape{2, 7, 9, 13})}});

  // Unary.
  for (OT op : {OT::kAbs, OT::kNeg, OT::kSquare, OT::kSqrt, OT::kRsqrt, OT::kExp, OT::kLog, OT::kRelu, OT::kRelu6,
                OT::kSigmoid, OT::kTanh, OT::kElu, OT::kLeakyRelu, OT::kClip, OT::kFloor, OT::kReciprocal}) {
    const bool pos = op == OT::kSqrt || op == OT::kRsqrt || op == OT::kLog || op == OT::kReciprocal;
    ir::Attrs a;
    if (op == OT::kLeakyRelu) a.set("alpha", 0.1f);
    if (op == OT::kElu) a.set("alpha", 1.f);
    if (op == OT::kClip) {
      a.set("clip_min", -0.5f);
      a.set("clip_max", 1.5f);
    }
    b.Add("[3,7,9,13]", op, a, {{b.Rand(Shape{3, 7, 9, 13}, pos ? 0.1f : -8.f, pos ? 4.f : 8.f)}});
  }
  b.Add("[1,7,9,13]_alpha[13]", OT::kPrelu, {}, {{b.Rand(Shape{1, 7, 9, 13})}, {b.Rand(Shape{13}, 0.f, 0.5f), true}});
  b.Add("[2,3,5]_alpha[1,1,5]", OT::kPrelu, {}, {{b.Rand(Shape{2, 3, 5})}, {b.Rand(Shape{1, 1, 5}, 0.f, 0.5f), true}});

  // Softmax.
  // ({N,4420,2} and short last axes: the CPU backend's short-axis path.)
  for (const auto& [s, axis] : std::vector<std::pair<Shape, int64_t>>{
           {{3, 10}, -1}, {{2, 5, 7}, 1}, {{1, 1000}, -1}, {{4, 3}, 0}, {{2, 4420, 2}, -1}, {{3, 5, 7}, 2},
           {{6, 16}, -1}, {{5, 1}, -1}}) {
    ir::Attrs a;
    a.set("axis", axis);
    b.Add(ShapeStr(s) + "_axis" + std::to_string(axis), OT::kSoftmax, a, {{b.Rand(s, -6.f, 6.f)}});
  }

  // Pooling.
  for (OT op : {OT::kMaxPool, OT::kAvgPool})
    for (int64_t k : {2, 3})
      for (int64_t st : {1, 2})
        for (const char* pad : {"SAME", "VALID"})
          for (const Shape& s : {Shape{1, 15, 17, 13}, Shape{3, 7, 9, 3}}) {
            ir::Attrs a;
            a.set("ksize", std::vector<int64_t>{k, k});
            a.set("strides", std::vector<int64_t>{st, st});
            a.set("padding", std::string(pad));
            b.Add(ShapeStr(s) + "_k" + std::to_string(k) + "_s" + std::to_string(st) + "_" + pad, op, a, {{b.Rand(s)}});
          }

  // Reductions.
  for (OT op : {OT::kMean, OT::kSum, OT::kMax, OT::kMin, OT::kProd})
    for (const std::vector<int32_t>& axes : std::vector<std::vector<int32_t>>{{1, 2}, {-1}, {0}, {0, 1, 2, 3}})
      for (int keep : {0, 1}) {
        ir::Attrs a;
        a.set("keep_dims", int64_t{keep});
        std::string an;
        for (int32_t x : axes) an += std::to_string(x) + ",";
        b.Add("[2,7,9,13]_axes" + an + "_keep" + std::to_string(keep), op, a,
              {{op == OT::kProd ? b.Rand(Shape{2, 7, 9, 13}, 0.9f, 1.1f) : b.Rand(Shape{2, 7, 9, 13})},
               {Ints1D(axes), true}});
      }

  // Pad.
  for (const char* mode : {"CONSTANT", "REFLECT", "SYMMETRIC"}) {
    ir::Attrs a;
    a.set("mode", std::string(mode));
    a.set("constant_value", 0.5f);
    b.Add(std::string("[1,7,9,3]_") + mode, OT::kPad, a,
          {{b.Rand(Shape{1, 7, 9, 3})}, {IntTensor(Shape{4, 2}, {0, 0, 1, 2, 2, 1, 0, 0}), true}});
  }

  // Resize.
  for (OT op : {OT::kResizeBilinear, OT::kResizeNearest})
    for (const auto& [ac, hp] : std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {0, 1}})
      for (const auto& [oh, ow] : std::vector<std::pair<int32_t, int32_t>>{{14, 18}, {4, 5}, {7, 9}}) {
        ir::Attrs a;
        a.set("align_corners", int64_t{ac});
        a.set("half_pixel_centers", int64_t{hp});
        b.Add("[2,7,9,3]_to" + std::to_string(oh) + "x" + std::to_string(ow) + "_ac" + std::to_string(ac) + "_hp" +
                  std::to_string(hp),
              op, a, {{b.Rand(Shape{2, 7, 9, 3})}, {Ints1D({oh, ow}), true}});
      }

  // DepthToSpace.
  for (const auto& [s, bs] : std::vector<std::pair<Shape, int64_t>>{{{1, 7, 9, 12}, 2}, {{2, 3, 5, 27}, 3}}) {
    ir::Attrs a;
    a.set("block_size", bs);
    b.Add(ShapeStr(s) + "_b" + std::to_string(bs), OT::kDepthToSpace, a, {{b.Rand(s)}});
  }

  // BatchNorm.
  {
    ir::Attrs a;
    a.set("epsilon", 0.001f);
    b.Add("[1,7,9,13]", OT::kBatchNorm, a,
          {{b.Rand(Shape{1, 7, 9, 13})}, {b.Rand(Shape{13}), true}, {b.Rand(Shape{13}), true},
           {b.Rand(Shape{13}), true}, {b.Rand(Shape{13}, 0.1f, 2.f), true}});
  }

  // Shape and data-movement ops.
  {
    const Shape s{1, 7, 9, 13};
    b.Add("to[-1,13]", OT::kReshape, {}, {{b.Rand(s)}, {Ints1D({-1, 13}), true}});
    ir::Attrs t;
    t.set("perm", std::vector<int64_t>{0, 3, 1, 2});
    b.Add("nhwc_to_nchw", OT::kTranspose, t, {{b.Rand(s)}});
    ir::Attrs t5;  // channel shuffle (ShuffleNet, fr_pose): [N,H,W,2,C/2] -> [N,H,W,C/2,2]
    t5.set("perm", std::vector<int64_t>{0, 1, 2, 4, 3});
    b.Add("channel_shuffle", OT::kTranspose, t5, {{b.Rand(Shape{2, 5, 3, 2, 7})}});
    ir::Attrs t3;
    t3.set("perm", std::vector<int64_t>{2, 0, 1});
    b.Add("[4,1,6]_201", OT::kTranspose, t3, {{b.Rand(Shape{4, 1, 6})}});
    b.Add("int32_reverse", OT::kTranspose, {}, {{RandomInt(Shape{3, 4, 5}, 9, -9, 9)}});
    ir::Attrs c;
    c.set("axis", int64_t{-1});
    b.Add("channels", OT::kConcat, c, {{b.Rand(s)}, {b.Rand(Shape{1, 7, 9, 3})}, {b.Rand(Shape{1, 7, 9, 1})}});
    ir::Attrs c1;
    c1.set("axis", int64_t{1});
    b.Add("rows", OT::kConcat, c1, {{b.Rand(Shape{2, 3, 5})}, {b.Rand(Shape{2, 4, 5})}});
    // Short chunks (the box decoding of fr_detect: [N,4420,2] pairs into [N,4420,4]).
    ir::Attrs c2;
    c2.set("axis", int64_t{2});
    b.Add("pairs", OT::kConcat, c2, {{b.Rand(Shape{2, 53, 2})}, {b.Rand(Shape{2, 53, 2})}});
    b.Add("1+3+0+5", OT::kConcat, c2,
          {{b.Rand(Shape{3, 4, 1})}, {b.Rand(Shape{3, 4, 3})}, {b.Rand(Shape{3, 4, 0})}, {b.Rand(Shape{3, 4, 5})}});
    ir::Attrs c0;
    c0.set("axis", int64_t{0});
    b.Add("batch", OT::kConcat, c0, {{b.Rand(Shape{1, 3, 4})}, {b.Rand(Shape{2, 3, 4})}});
    b.Add("int32_channels", OT::kConcat, c, {{RandomInt(Shape{2, 3, 5}, 5, -9, 9)}, {RandomInt(Shape{2, 3, 2}, 6, -9, 9)}});
    for (const auto& [bg, en] : std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>>{
             {{0, 0, 0}, {0, 0, 2}}, {{0, 0, 2}, {0, 0, 4}}, {{0, 0, 1}, {0, 0, 2}}, {{0, 3, 1}, {0, 40, 4}}}) {
      ir::Attrs sm;
      sm.set("begin_mask", int64_t{3});
      sm.set("end_mask", int64_t{3});
      if (bg[1] != 0) {
        sm.set("begin_mask", int64_t{1});
        sm.set("end_mask", int64_t{1});
      }
      b.Add("[2,53,4][..," + std::to_string(bg[2]) + ":" + std::to_string(en[2]) + "]_rows" + std::to_string(bg[1]),
            OT::kStridedSlice, sm, {{b.Rand(Shape{2, 53, 4})}, {Ints1D(bg), true}, {Ints1D(en), true}, {Ints1D({1, 1, 1}), true}});
    }
    ir::Attrs sl;
    sl.set("begin_mask", int64_t{0});
    b.Add("[1,7,9,13]_last_stride2", OT::kStridedSlice, sl,
          {{b.Rand(s)}, {Ints1D({0, 0, 0, 1}), true}, {Ints1D({1, 7, 9, 13}), true}, {Ints1D({1, 1, 1, 2}), true}});
    ir::Attrs sk;
    sk.set("shrink_axis_mask", int64_t{8});
    b.Add("[1,7,9,13]_shrink_last", OT::kStridedSlice, sk,
          {{b.Rand(s)}, {Ints1D({0, 0, 0, 4}), true}, {Ints1D({1, 7, 9, 5}), true}, {Ints1D({1, 1, 1, 1}), true}});
    ir::Attrs ss;
    ss.set("begin_mask", int64_t{1});
    ss.set("end_mask", int64_t{9});
    b.Add("[:,1:6:2,-2::-3,:]", OT::kStridedSlice, ss,
          {{b.Rand(s)}, {Ints1D({0, 1, -2, 0}), true}, {Ints1D({0, 6, 0, 0}), true}, {Ints1D({1, 2, -3, 1}), true}});
    b.Add("begin[0,2,3,1]_size[-1,3,-1,5]", OT::kSlice, {},
          {{b.Rand(s)}, {Ints1D({0, 2, 3, 1}), true}, {Ints1D({-1, 3, -1, 5}), true}});
    ir::Attrs g;
    g.set("axis", int64_t{3});
    b.Add("axis3", OT::kGather, g, {{b.Rand(s)}, {Ints1D({12, 0, 5, 5}), true}});
    b.Add("[1,7,9,13]x[2,1,1,2]", OT::kTile, {}, {{b.Rand(s)}, {Ints1D({2, 1, 1, 2}), true}});
    ir::Attrs p;
    p.set("axis", int64_t{1});
    b.Add("axis1", OT::kPack, p, {{b.Rand(Shape{3, 5})}, {b.Rand(Shape{3, 5})}});
    ir::Attrs cast;
    cast.set("dst_dtype", static_cast<int64_t>(DType::kInt32));
    b.Add("float_to_int32", OT::kCast, cast, {{b.Rand(Shape{3, 17}, -100.f, 100.f)}});
    ir::Attrs sq;
    sq.set("axes", std::vector<int64_t>{0});
    b.Add("axis0", OT::kSqueeze, sq, {{b.Rand(s)}});
    b.Add("axis-1", OT::kExpandDims, {}, {{b.Rand(s)}, {IntTensor(Shape{}, {-1}), true}});
    b.Add("copy", OT::kIdentity, {}, {{b.Rand(s)}});
    b.Add("rank4", OT::kShape, {}, {{b.Rand(s)}});
  }
  return b.cases;
}

// The reference backend runs every case and produces finite values (the oracle itself works).
TEST(OpParity, ReferenceRunsEveryCase) {
  const auto cases = AllCases();
  ASSERT_GT(cases.size(), 150u);
  std::vector<bool> op_seen(static_cast<size_t>(ir::OpType::kCount), false);
  for (const OpCase& c : cases) {
    SCOPED_TRACE(c.name);
    op_seen[static_cast<size_t>(c.op)] = true;
    auto r = testing::RunOneNode(engine::RefBackend(), c.op, c.attrs, c.inputs);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->supported);
    ASSERT_EQ(r->outputs.size(), 1u);
    if (r->outputs[0].dtype() == DType::kFloat32) {
      for (float v : testing::ToFloats(r->outputs[0])) ASSERT_TRUE(std::isfinite(v));
    }
  }
  for (size_t i = 0; i < op_seen.size(); ++i)
    EXPECT_TRUE(op_seen[i]) << "no parity case for op " << ir::OpTypeName(static_cast<ir::OpType>(i));
}

TEST(OpParity, EveryBackendMatchesReference) {
  const auto cases = AllCases();
  int backends_compared = 0;
  for (const std::string& name : engine::AvailableBackends()) {
    if (name == "ref") continue;
    const engine::Backend* be = engine::GetBackend(name);
    ASSERT_NE(be, nullptr) << name;
    ++backends_compared;
    int run = 0, skipped = 0, failed = 0;
    std::string skipped_ops;
    for (const OpCase& c : cases) {
      SCOPED_TRACE(name + " " + c.name);
      auto ref = testing::RunOneNode(engine::RefBackend(), c.op, c.attrs, c.inputs);
      ASSERT_TRUE(ref.ok()) << ref.status().ToString();
      auto got = testing::RunOneNode(be, c.op, c.attrs, c.inputs);
      if (!got.ok()) {
        ADD_FAILURE() << name << " failed on " << c.name << ": " << got.status().ToString();
        ++failed;
        continue;
      }
      if (!got->supported) {
        ++skipped;
        if (skipped_ops.find(ir::OpTypeName(c.op)) == std::string::npos)
          skipped_ops += std::string(skipped_ops.empty() ? "" : ",") + ir::OpTypeName(c.op);
        continue;
      }
      ++run;
      const Tensor& want = ref->outputs[0];
      const Tensor& have = got->outputs[0];
      const double tol = 1e-4 * std::max(1.0, testing::MaxAbs(want));
      const double diff = testing::MaxAbsDiff(want, have);
      if (!(diff <= tol)) {
        ++failed;
        ADD_FAILURE() << name << " vs ref on " << c.name << ": max |diff| " << diff << " > " << tol << " (shapes "
                      << want.shape().ToString() << " / " << have.shape().ToString() << ")";
      }
    }
    std::printf("[op parity] backend %-5s: %d cases compared, %d skipped (unsupported: %s), %d failed, of %zu\n",
                name.c_str(), run, skipped, skipped_ops.empty() ? "none" : skipped_ops.c_str(), failed, cases.size());
  }
  if (backends_compared == 0)
    std::printf("[op parity] only the 'ref' backend is compiled in: 0 comparisons run (%zu cases available)\n",
                cases.size());
}

}  // namespace
}  // namespace fk
