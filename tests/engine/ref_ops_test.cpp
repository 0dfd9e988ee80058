// The oracle checked by hand: reference kernels on tiny inputs with expected values worked
// out on paper (TF semantics): SAME padding asymmetry, AvgPool border divisor, StridedSlice
// masks, resize flags, DepthToSpace order, pad modes, fused epilogues.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ref/ref_backend.h"
#include "op_cases.h"

namespace fk {
namespace {

using testing::CaseInput;
using testing::FloatTensor;
using testing::Ints1D;
using testing::IntTensor;

Tensor RunRef(ir::OpType op, const ir::Attrs& attrs, const std::vector<CaseInput>& in) {
  auto r = testing::RunOneNode(engine::RefBackend(), op, attrs, in);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || r->outputs.empty()) return Tensor();
  return r->outputs[0];
}

Tensor Iota(Shape s, float start = 0.f) {
  Tensor t(DType::kFloat32, std::move(s));
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

void ExpectValues(const Tensor& t, const Shape& shape, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_FALSE(t.empty());
  ASSERT_EQ(t.shape(), shape);
  auto got = testing::ToFloats(t);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at flat index " << i;
}

TEST(RefOps, Conv2DSameStride2PadsBottomRight) {
  // 4x4 input 1..16, 3x3 ones filter, stride 2 SAME: out 2x2, total pad 1 -> 0 top/left,
  // 1 bottom/right.
  ir::Attrs a;
  a.set("strides", std::vector<int64_t>{2, 2});
  a.set("padding", std::string("SAME"));
  Tensor w(DType::kFloat32, Shape{3, 3, 1, 1});
  for (int i = 0; i < 9; ++i) w.data<float>()[i] = 1.f;
  Tensor y = RunRef(ir::OpType::kConv2D, a, {{Iota(Shape{1, 4, 4, 1}, 1.f)}, {w, true}});
  ExpectValues(y, Shape{1, 2, 2, 1}, {54, 45, 72, 54});
}

TEST(RefOps, Conv2DExplicitAndDilation) {
  // 1x3x3x1 (1..9), 2x2 filter [1,0;0,1] dilation 2 -> taps (0,0) and (2,2); EXPLICIT pads
  // [1,0,0,1] (top 1, right 1): out h = (3+1-3)/1+1 = 2, w = (3+1-3)+1 = 2.
  ir::Attrs a;
  a.set("dilations", std::vector<int64_t>{2, 2});
  a.set("padding", std::string("EXPLICIT"));
  a.set("explicit_pads", std::vector<int64_t>{1, 0, 0, 1});
  Tensor w = FloatTensor(Shape{2, 2, 1, 1}, {1, 0, 0, 1});
  Tensor y = RunRef(ir::OpType::kConv2D, a, {{Iota(Shape{1, 3, 3, 1}, 1.f)}, {w, true}});
  // out(0,0): taps x(-1,0)=pad, x(1,2)=6 -> 6. out(0,1): x(-1,1)=pad, x(1,3)=pad -> 0.
  // out(1,0): x(0,0)=1 + x(2,2)=9 -> 10. out(1,1): x(0,1)=2 + x(2,3)=pad -> 2.
  ExpectValues(y, Shape{1, 2, 2, 1}, {6, 0, 10, 2});
}

TEST(RefOps, DepthwiseMultiplierChannelOrder) {
  // out channel = c*M + m.
  Tensor x = FloatTensor(Shape{1, 1, 1, 2}, {1, 2});
  Tensor w = FloatTensor(Shape{1, 1, 2, 2}, {10, 20, 30, 40});
  Tensor y = RunRef(ir::OpType::kDepthwiseConv2D, {}, {{x}, {w, true}});
  ExpectValues(y, Shape{1, 1, 1, 4}, {10, 20, 60, 80});
}

TEST(RefOps, ConvBiasThenPrelu) {
  ir::Attrs a;
  a.set("has_bias", int64_t{1});
  a.set("activation", std::string("prelu"));
  Tensor x = FloatTensor(Shape{1, 1, 1, 2}, {1, -2});
  Tensor w = FloatTensor(Shape{1, 1, 2, 2}, {1, 0, 0, 1});
  Tensor b = FloatTensor(Shape{2}, {0.5f, -0.5f});
  Tensor alpha = FloatTensor(Shape{2}, {0.1f, 0.2f});
  Tensor y = RunRef(ir::OpType::kConv2D, a, {{x}, {w, true}, {b, true}, {alpha, true}});
  ExpectValues(y, Shape{1, 1, 1, 2}, {1.5f, -0.5f});
}

TEST(RefOps, FusedActivations) {
  Tensor x = FloatTensor(Shape{1, 4}, {-2, -0.5f, 0.5f, 7});
  Tensor w = FloatTensor(Shape{4, 4}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  auto run = [&](const std::string& act, ir::Attrs a = {}) {
    a.set("activation", act);
    return RunRef(ir::OpType::kMatMul, a, {{x}, {w, true}});
  };
  ExpectValues(run("relu"), Shape{1, 4}, {0, 0, 0.5f, 7});
  ExpectValues(run("relu6"), Shape{1, 4}, {0, 0, 0.5f, 6});
  ir::Attrs c;
  c.set("clip_min", -1.f);
  c.set("clip_max", 1.f);
  ExpectValues(run("clip", c), Shape{1, 4}, {-1, -0.5f, 0.5f, 1});
  ir::Attrs l;
  l.set("leaky_alpha", 0.1f);
  ExpectValues(run("leaky_relu", l), Shape{1, 4}, {-0.2f, -0.05f, 0.5f, 7});
  ExpectValues(run("elu"), Shape{1, 4}, {std::expm1(-2.f), std::expm1(-0.5f), 0.5f, 7});
  ExpectValues(run("sigmoid"), Shape{1, 4},
               {1 / (1 + std::exp(2.f)), 1 / (1 + std::exp(0.5f)), 1 / (1 + std::exp(-0.5f)), 1 / (1 + std::exp(-7.f))});
}

TEST(RefOps, MatMulTransposes) {
  Tensor a = FloatTensor(Shape{2, 2}, {1, 2, 3, 4});
  Tensor b = FloatTensor(Shape{2, 2}, {5, 6, 7, 8});
  ExpectValues(RunRef(ir::OpType::kMatMul, {}, {{a}, {b}}), Shape{2, 2}, {19, 22, 43, 50});
  ir::Attrs tb;
  tb.set("transpose_b", int64_t{1});
  ExpectValues(RunRef(ir::OpType::kMatMul, tb, {{a}, {b}}), Shape{2, 2}, {17, 23, 39, 53});
  ir::Attrs ta;
  ta.set("transpose_a", int64_t{1});
  // a^T = [1,3;2,4] -> a^T b = [26,30;38,44]
  ExpectValues(RunRef(ir::OpType::kMatMul, ta, {{a}, {b}}), Shape{2, 2}, {26, 30, 38, 44});
}

TEST(RefOps, AvgPoolSameDividesByValidCount) {
  // 3x3 (1..9), 2x2 window stride 1 SAME: pad only bottom/right.
  ir::Attrs a;
  a.set("ksize", std::vector<int64_t>{2, 2});
  a.set("strides", std::vector<int64_t>{1, 1});
  a.set("padding", std::string("SAME"));
  Tensor y = RunRef(ir::OpType::kAvgPool, a, {{Iota(Shape{1, 3, 3, 1}, 1.f)}});
  ExpectValues(y, Shape{1, 3, 3, 1}, {3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9});
  Tensor m = RunRef(ir::OpType::kMaxPool, a, {{Iota(Shape{1, 3, 3, 1}, -9.f)}});  // all negative
  ExpectValues(m, Shape{1, 3, 3, 1}, {-5, -4, -4, -2, -1, -1, -2, -1, -1});
}

TEST(RefOps, StridedSliceShrinkAndMasks) {
  const Tensor x = Iota(Shape{2, 3, 4});
  auto ss = [&](std::vector<int32_t> b, std::vector<int32_t> e, std::vector<int32_t> s, ir::Attrs a) {
    return RunRef(ir::OpType::kStridedSlice, a,
                  {{x}, {Ints1D(b), true}, {Ints1D(e), true}, {Ints1D(s), true}});
  };
  ir::Attrs shrink0;
  shrink0.set("shrink_axis_mask", int64_t{1});  // x[0, 1:3]
  ExpectValues(ss({0, 1}, {0, 3}, {1, 1}, shrink0), Shape{2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
  ir::Attrs rev;
  rev.set("end_mask", int64_t{1});  // x[-1::-1]
  {
    Tensor y = ss({-1}, {0}, {-1}, rev);
    std::vector<float> want;
    for (int i = 12; i < 24; ++i) want.push_back(static_cast<float>(i));
    for (int i = 0; i < 12; ++i) want.push_back(static_cast<float>(i));
    ExpectValues(y, Shape{2, 3, 4}, want);
  }
  ir::Attrs ell;
  ell.set("ellipsis_mask", int64_t{1});  // x[..., 1:2]
  ExpectValues(ss({0, 1}, {0, 2}, {1, 1}, ell), Shape{2, 3, 1}, {1, 5, 9, 13, 17, 21});
  ir::Attrs ell_shrink;
  ell_shrink.set("ellipsis_mask", int64_t{1});
  ell_shrink.set("shrink_axis_mask", int64_t{2});  // x[..., 3]
  ExpectValues(ss({0, 3}, {0, 4}, {1, 1}, ell_shrink), Shape{2, 3}, {3, 7, 11, 15, 19, 23});
  ir::Attrs newaxis;
  newaxis.set("new_axis_mask", int64_t{1});
  newaxis.set("begin_mask", int64_t{2});
  newaxis.set("end_mask", int64_t{2});  // x[tf.newaxis, :]
  EXPECT_EQ(ss({0, 0}, {0, 0}, {1, 1}, newaxis).shape(), (Shape{1, 2, 3, 4}));

  const Tensor v = Iota(Shape{10});
  auto ss1 = [&](int32_t b, int32_t e, int32_t s, ir::Attrs a = {}) {
    return RunRef(ir::OpType::kStridedSlice, a, {{v}, {Ints1D({b}), true}, {Ints1D({e}), true}, {Ints1D({s}), true}});
  };
  ExpectValues(ss1(8, -20, -3), Shape{3}, {8, 5, 2});        // end clamped to before 0
  ExpectValues(ss1(2, 100, 2), Shape{4}, {2, 4, 6, 8});      // end clamped to 10
  ExpectValues(ss1(-3, -1, 1), Shape{2}, {7, 8});            // negative begin/end
  ExpectValues(ss1(5, 2, 1), Shape{0}, {});                  // empty
  ir::Attrs sh;
  sh.set("shrink_axis_mask", int64_t{1});
  ExpectValues(ss1(-1, 0, 1, sh), Shape{}, {9});             // x[-1]
  ir::Attrs bm;
  bm.set("begin_mask", int64_t{1});
  ExpectValues(ss1(7, 3, 1, bm), Shape{3}, {0, 1, 2});       // x[:3]
  ExpectValues(ss1(7, 3, -2, bm), Shape{3}, {9, 7, 5});      // x[:3:-2]
}

TEST(RefOps, SliceSizeMinusOne) {
  Tensor y = RunRef(ir::OpType::kSlice, {}, {{Iota(Shape{3, 4})}, {Ints1D({1, 1}), true}, {Ints1D({-1, 2}), true}});
  ExpectValues(y, Shape{2, 2}, {5, 6, 9, 10});
}

Tensor Resize(ir::OpType op, int ac, int hp, int64_t oh, int64_t ow) {
  ir::Attrs a;
  a.set("align_corners", int64_t{ac});
  a.set("half_pixel_centers", int64_t{hp});
  return RunRef(op, a, {{FloatTensor(Shape{1, 2, 2, 1}, {0, 1, 2, 3})}, {Ints1D({static_cast<int32_t>(oh), static_cast<int32_t>(ow)}), true}});
}

TEST(RefOps, ResizeBilinearFlags) {
  ExpectValues(Resize(ir::OpType::kResizeBilinear, 0, 0, 4, 4), Shape{1, 4, 4, 1},
               {0, 0.5f, 1, 1, 1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 2, 2.5f, 3, 3});
  ExpectValues(Resize(ir::OpType::kResizeBilinear, 0, 1, 4, 4), Shape{1, 4, 4, 1},
               {0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3});
  const float t = 1.f / 3.f;
  ExpectValues(Resize(ir::OpType::kResizeBilinear, 1, 0, 4, 4), Shape{1, 4, 4, 1},
               {0, t, 2 * t, 1, 2 * t, 3 * t, 4 * t, 5 * t, 4 * t, 5 * t, 6 * t, 7 * t, 2, 7 * t, 8 * t, 3});
}

TEST(RefOps, ResizeNearestFlags) {
  // 2 -> 3: legacy src rows floor(0, .67, 1.33) = 0,0,1; half-pixel floor(.33, 1, 1.67) =
  // 0,1,1; align_corners round(0, .5, 1) = 0,1,1.
  ExpectValues(Resize(ir::OpType::kResizeNearest, 0, 0, 3, 3), Shape{1, 3, 3, 1}, {0, 0, 1, 0, 0, 1, 2, 2, 3});
  ExpectValues(Resize(ir::OpType::kResizeNearest, 0, 1, 3, 3), Shape{1, 3, 3, 1}, {0, 1, 1, 2, 3, 3, 2, 3, 3});
  ExpectValues(Resize(ir::OpType::kResizeNearest, 1, 0, 3, 3), Shape{1, 3, 3, 1}, {0, 1, 1, 2, 3, 3, 2, 3, 3});
}

TEST(RefOps, DepthToSpaceDcrOrder) {
  ir::Attrs a;
  a.set("block_size", int64_t{2});
  ExpectValues(RunRef(ir::OpType::kDepthToSpace, a, {{Iota(Shape{1, 1, 1, 8})}}), Shape{1, 2, 2, 2},
               {0, 1, 2, 3, 4, 5, 6, 7});
  // Two input rows: each expands to 2 output rows.
  ExpectValues(RunRef(ir::OpType::kDepthToSpace, a, {{Iota(Shape{1, 1, 2, 4})}}), Shape{1, 2, 4, 1},
               {0, 1, 4, 5, 2, 3, 6, 7});
}

TEST(RefOps, PadModes) {
  auto pad = [&](const std::string& mode) {
    ir::Attrs a;
    a.set("mode", mode);
    a.set("constant_value", 9.f);
    return RunRef(ir::OpType::kPad, a, {{FloatTensor(Shape{3}, {1, 2, 3})}, {IntTensor(Shape{1, 2}, {2, 2}), true}});
  };
  ExpectValues(pad("CONSTANT"), Shape{7}, {9, 9, 1, 2, 3, 9, 9});
  ExpectValues(pad("REFLECT"), Shape{7}, {3, 2, 1, 2, 3, 2, 1});
  ExpectValues(pad("SYMMETRIC"), Shape{7}, {2, 1, 1, 2, 3, 3, 2});
}

TEST(RefOps, Reductions) {
  const Tensor x = FloatTensor(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  auto red = [&](ir::OpType op, std::vector<int32_t> axes, bool keep, Tensor in) {
    ir::Attrs a;
    a.set("keep_dims", int64_t{keep ? 1 : 0});
    return RunRef(op, a, {{in}, {Ints1D(axes), true}});
  };
  ExpectValues(red(ir::OpType::kSum, {-1}, true, x), Shape{2, 1}, {6, 15});
  ExpectValues(red(ir::OpType::kMean, {0}, false, x), Shape{3}, {2.5f, 3.5f, 4.5f});
  ExpectValues(red(ir::OpType::kMax, {0, 1}, false, x), Shape{}, {6});
  ExpectValues(red(ir::OpType::kMin, {1}, false, x), Shape{2}, {1, 4});
  ExpectValues(red(ir::OpType::kProd, {0}, false, IntTensor(Shape{3}, {2, 3, 4})), Shape{}, {24});
}

TEST(RefOps, SoftmaxKnownValues) {
  ir::Attrs a;
  a.set("axis", int64_t{0});
  // Softmax over axis 0 of [[0, 1000], [log 3, 1000]]: column 0 -> [.25, .75]; column 1
  // (large equal logits, stable) -> [.5, .5].
  Tensor y = RunRef(ir::OpType::kSoftmax, a, {{FloatTensor(Shape{2, 2}, {0, 1000, std::log(3.f), 1000})}});
  ExpectValues(y, Shape{2, 2}, {0.25f, 0.5f, 0.75f, 0.5f});
}

TEST(RefOps, BinaryBroadcastAndIntDiv) {
  Tensor y = RunRef(ir::OpType::kAdd, {}, {{FloatTensor(Shape{2, 1}, {10, 20})}, {FloatTensor(Shape{3}, {1, 2, 3})}});
  ExpectValues(y, Shape{2, 3}, {11, 12, 13, 21, 22, 23});
  Tensor d = RunRef(ir::OpType::kDiv, {}, {{IntTensor(Shape{2}, {-7, 7})}, {IntTensor(Shape{1}, {2})}});
  ASSERT_EQ(d.dtype(), DType::kInt32);
  ExpectValues(d, Shape{2}, {-3, 3});  // truncation toward zero (documented)
  Tensor sd = RunRef(ir::OpType::kSquaredDifference, {}, {{FloatTensor(Shape{2}, {1, 5})}, {FloatTensor(Shape{}, {3})}});
  ExpectValues(sd, Shape{2}, {4, 4});
  auto bad = testing::RunOneNode(engine::RefBackend(), ir::OpType::kDiv, {},
                                 {{IntTensor(Shape{1}, {1})}, {IntTensor(Shape{1}, {0})}});
  EXPECT_FALSE(bad.ok());
}

TEST(RefOps, CastTruncatesTowardZero) {
  ir::Attrs a;
  a.set("dst_dtype", static_cast<int64_t>(DType::kInt32));
  Tensor y = RunRef(ir::OpType::kCast, a, {{FloatTensor(Shape{3}, {-1.7f, 2.9f, 0.2f})}});
  ASSERT_EQ(y.dtype(), DType::kInt32);
  ExpectValues(y, Shape{3}, {-1, 2, 0});
}

TEST(RefOps, DataMovement) {
  const Tensor x = Iota(Shape{2, 3});
  ir::Attrs g;
  g.set("axis", int64_t{1});
  ExpectValues(RunRef(ir::OpType::kGather, g, {{x}, {Ints1D({2, 0}), true}}), Shape{2, 2}, {2, 0, 5, 3});
  ExpectValues(RunRef(ir::OpType::kTile, {}, {{x}, {Ints1D({1, 2}), true}}), Shape{2, 6},
               {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  ir::Attrs t;
  t.set("perm", std::vector<int64_t>{1, 0});
  ExpectValues(RunRef(ir::OpType::kTranspose, t, {{x}}), Shape{3, 2}, {0, 3, 1, 4, 2, 5});
  ir::Attrs c;
  c.set("axis", int64_t{-1});
  ExpectValues(RunRef(ir::OpType::kConcat, c, {{x}, {Iota(Shape{2, 1}, 10)}}), Shape{2, 4}, {0, 1, 2, 10, 3, 4, 5, 11});
  ir::Attrs p;
  p.set("axis", int64_t{1});
  ExpectValues(RunRef(ir::OpType::kPack, p, {{FloatTensor(Shape{2}, {1, 2})}, {FloatTensor(Shape{2}, {3, 4})}}),
               Shape{2, 2}, {1, 3, 2, 4});
}

TEST(RefOps, BatchNormAndPrelu) {
  ir::Attrs a;
  a.set("epsilon", 0.f);
  Tensor y = RunRef(ir::OpType::kBatchNorm, a,
                    {{FloatTensor(Shape{1, 2}, {3, 3})}, {FloatTensor(Shape{2}, {2, 1})}, {FloatTensor(Shape{2}, {1, 0})},
                     {FloatTensor(Shape{2}, {1, 1})}, {FloatTensor(Shape{2}, {4, 1})}});
  ExpectValues(y, Shape{1, 2}, {3, 2});  // (3-1)*2/2+1, (3-1)*1/1+0
  Tensor p = RunRef(ir::OpType::kPrelu, {}, {{FloatTensor(Shape{2, 2}, {-1, -1, 2, -4})}, {FloatTensor(Shape{2}, {0.5f, 0.25f})}});
  ExpectValues(p, Shape{2, 2}, {-0.5f, -0.25f, 2, -1});
}

}  // namespace
}  // namespace fk
