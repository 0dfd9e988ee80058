#include "engine/optimizer/optimizer.h"

#include <gtest/gtest.h>

#include "engine/executor.h"
#include "graph_builder.h"

namespace fk::engine {
namespace {

using fk::testing::ConvAttrs;
using fk::testing::GraphBuilder;
using fk::testing::MaxAbsDiff;
using fk::testing::RandomInput;
using ir::OpType;

int CountOp(const ir::Graph& g, OpType op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node.op == op;
  return n;
}

std::vector<Tensor> RunRef(ir::Graph g, const std::vector<Tensor>& in) {
  ExecutorOptions o;
  o.backend = "ref";
  auto ex = Executor::Create(std::move(g), o);
  EXPECT_TRUE(ex.ok()) << ex.status().ToString();
  if (!ex.ok()) return {};
  auto r = (*ex)->Run(in);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::vector<Tensor>{};
}

// Optimizes a copy of `g` and checks it computes the same outputs on the ref backend.
ir::Graph OptimizeAndCompare(const ir::Graph& g, const std::vector<Tensor>& in, OptimizeStats* stats,
                             float tol = 1e-4f) {
  ir::Graph opt = g;
  Status s = Optimize(&opt, OptimizeOptions{}, stats);
  EXPECT_TRUE(s.ok()) << s.ToString();
  auto a = RunRef(g, in);
  auto b = RunRef(opt, in);
  EXPECT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    EXPECT_EQ(a[k].shape(), b[k].shape());
    if (a[k].shape() == b[k].shape()) {
      EXPECT_LE(MaxAbsDiff(a[k], b[k]), tol) << "output " << k;
    }
  }
  return opt;
}

TEST(Optimizer, FoldsBiasBatchNormMulAndClip) {
  // conv -> Mul(per-channel) -> Add(per-channel) -> Relu -> Minimum(6): mobilenet-style BN + relu6
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 6, 6, 3});
  auto conv = b.Op(OpType::kConv2D, "conv", {x, b.ConstRandom("w", Shape{3, 3, 3, 4}, 0.5f)}, ConvAttrs());
  auto mul = b.Op(OpType::kMul, "bn_mul", {conv, b.ConstRandom("scale", Shape{4}, 0.5f, 1.f)});
  auto add = b.Op(OpType::kAdd, "bn_add", {b.ConstRandom("shift", Shape{1, 1, 1, 4}, 0.5f), mul});
  auto relu = b.Op(OpType::kRelu, "relu", {add});
  auto mn = b.Op(OpType::kMinimum, "min6", {relu, b.Const("six", Shape{}, {6.f})});
  b.Output(mn);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{2, 6, 6, 3})}, &st);
  ASSERT_EQ(opt.nodes().size(), 1u) << opt.ToString();
  EXPECT_EQ(opt.nodes()[0].activation(), ir::Activation::kRelu6);
  EXPECT_EQ(opt.nodes()[0].attrs.i("has_bias"), 1);
  EXPECT_EQ(opt.value(opt.outputs()[0]).name, "min6");
  EXPECT_EQ(st.batchnorms_folded, 1);
  EXPECT_EQ(st.biases_folded, 1);
  EXPECT_EQ(st.activations_fused, 2);
}

TEST(Optimizer, FoldsBatchNormNodeIntoDepthwiseAndClipPattern) {
  // depthwise -> BatchNorm -> Maximum(Minimum(x, 3), -1): a clip(-1, 3)
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 5, 5, 4});
  auto dw = b.Op(OpType::kDepthwiseConv2D, "dw", {x, b.ConstRandom("w", Shape{3, 3, 4, 2}, 0.7f)}, ConvAttrs());
  ir::Attrs bn;
  bn.set("epsilon", 0.001f);
  auto y = b.Op(OpType::kBatchNorm, "bn",
                {dw, b.ConstRandom("g", Shape{8}, 0.3f, 1.f), b.ConstRandom("beta", Shape{8}, 0.5f),
                 b.ConstRandom("mean", Shape{8}, 0.2f), b.ConstRandom("var", Shape{8}, 0.2f, 0.5f)},
                bn);
  auto mn = b.Op(OpType::kMinimum, "mn", {y, b.Const("three", Shape{}, {3.f})});
  auto mx = b.Op(OpType::kMaximum, "mx", {b.Const("m1", Shape{}, {-1.f}), mn});
  b.Output(mx);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{1, 5, 5, 4}, 3)}, &st);
  ASSERT_EQ(opt.nodes().size(), 1u) << opt.ToString();
  EXPECT_EQ(opt.nodes()[0].activation(), ir::Activation::kClip);
  EXPECT_FLOAT_EQ(opt.nodes()[0].attrs.f("clip_min"), -1.f);
  EXPECT_FLOAT_EQ(opt.nodes()[0].attrs.f("clip_max"), 3.f);
}

TEST(Optimizer, FusesPreluSigmoidAndMatMulBias) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 4, 4, 2});
  auto conv = b.Op(OpType::kConv2D, "conv", {x, b.ConstRandom("w", Shape{1, 1, 2, 3})}, ConvAttrs());
  auto pr = b.Op(OpType::kPrelu, "prelu", {conv, b.ConstRandom("alpha", Shape{1, 1, 3}, 0.2f)});
  auto flat = b.Op(OpType::kReshape, "flat", {pr, b.ConstI32("shape", Shape{2}, {-1, 48})});
  auto mm = b.Op(OpType::kMatMul, "mm", {flat, b.ConstRandom("wm", Shape{48, 5}, 0.2f)});
  auto bias = b.Op(OpType::kAdd, "bias", {mm, b.ConstRandom("bm", Shape{5})});
  auto sig = b.Op(OpType::kSigmoid, "sig", {bias});
  b.Output(sig);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{3, 4, 4, 2})}, &st);
  EXPECT_EQ(CountOp(opt, OpType::kPrelu), 0);
  EXPECT_EQ(CountOp(opt, OpType::kSigmoid), 0);
  EXPECT_EQ(CountOp(opt, OpType::kAdd), 0);
  EXPECT_EQ(opt.nodes().size(), 3u) << opt.ToString();
}

TEST(Optimizer, DoesNotFuseValuesWithSeveralConsumersOrGraphOutputs) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 4, 4, 2});
  auto conv = b.Op(OpType::kConv2D, "conv", {x, b.ConstRandom("w", Shape{1, 1, 2, 2})}, ConvAttrs());
  auto r = b.Op(OpType::kRelu, "relu", {conv});
  auto n = b.Op(OpType::kNeg, "neg", {conv});  // second consumer of conv
  auto conv2 = b.Op(OpType::kConv2D, "conv2", {r, b.ConstRandom("w2", Shape{1, 1, 2, 2})}, ConvAttrs());
  auto r2 = b.Op(OpType::kRelu, "relu2", {conv2});
  b.Output(n);
  b.Output(conv2);  // conv2 is an output: relu2 must not be fused into it
  b.Output(r2);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{1, 4, 4, 2})}, &st);
  EXPECT_EQ(CountOp(opt, OpType::kRelu), 2);
  EXPECT_EQ(st.activations_fused, 0);
}

TEST(Optimizer, FoldsSpatialZeroPadIntoConv) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 6, 6, 2});
  ir::Attrs pa;
  pa.set("mode", std::string("CONSTANT"));
  pa.set("constant_value", 0.f);
  auto p = b.Op(OpType::kPad, "pad", {x, b.ConstI32("pads", Shape{4, 2}, {0, 0, 1, 2, 2, 1, 0, 0})}, pa);
  auto conv = b.Op(OpType::kConv2D, "conv", {p, b.ConstRandom("w", Shape{3, 3, 2, 3})}, ConvAttrs("VALID", {2, 2}));
  // A channel pad (blazeface style) must stay.
  auto p2 = b.Op(OpType::kPad, "chpad", {conv, b.ConstI32("pads2", Shape{4, 2}, {0, 0, 0, 0, 0, 0, 0, 2})}, pa);
  b.Output(p2);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{2, 6, 6, 2})}, &st);
  EXPECT_EQ(st.pads_folded, 1);
  EXPECT_EQ(CountOp(opt, OpType::kPad), 1);
  for (const auto& n : opt.nodes())
    if (n.op == OpType::kConv2D) {
      EXPECT_EQ(n.attrs.s("padding"), "EXPLICIT");
      EXPECT_EQ(n.attrs.ints("explicit_pads"), (std::vector<int64_t>{1, 2, 2, 1}));
    }
}

TEST(Optimizer, FoldsConstantsAndRemovesIdentities) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 3});
  auto c1 = b.Const("c1", Shape{3}, {1, 2, 3});
  auto c2 = b.Const("c2", Shape{3}, {4, 5, 6});
  auto s = b.Op(OpType::kMul, "const_mul", {c1, c2});  // all-constant: folded
  auto id = b.Op(OpType::kIdentity, "id", {x});
  auto y = b.Op(OpType::kAdd, "y", {id, s});
  auto out = b.Op(OpType::kIdentity, "Identity", {y});
  b.Output(out);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{2, 3})}, &st);
  EXPECT_EQ(st.constants_folded, 1);
  EXPECT_EQ(st.identities_removed, 2);
  ASSERT_EQ(opt.nodes().size(), 1u) << opt.ToString();
  EXPECT_EQ(opt.value(opt.outputs()[0]).name, "Identity");  // the user-visible name is kept
  auto folded = opt.FindValue("const_mul");
  ASSERT_TRUE(folded.has_value());
  ASSERT_TRUE(opt.value(*folded).is_constant());
  EXPECT_FLOAT_EQ(opt.value(*folded).constant.data<float>()[2], 18.f);
}

TEST(Optimizer, FusesMaxMinMulPreluPatternIntoConv) {
  // mobileface (MXNet) PReLU: Add(Maximum(0, x), Mul(alpha, Minimum(0, x))), operands in the
  // export's order for the first block and swapped for the second.
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 5, 5, 3});
  auto conv = b.Op(OpType::kConv2D, "conv", {x, b.ConstRandom("w", Shape{3, 3, 3, 4})}, ConvAttrs());
  auto mx = b.Op(OpType::kMaximum, "max", {b.Const("z0", Shape{}, {0.f}), conv});
  auto mn = b.Op(OpType::kMinimum, "min", {b.Const("z1", Shape{}, {0.f}), conv});
  auto mul = b.Op(OpType::kMul, "mul", {b.ConstRandom("gamma", Shape{4}, 0.5f), mn});
  auto add = b.Op(OpType::kAdd, "add", {mx, mul});
  auto dw = b.Op(OpType::kDepthwiseConv2D, "dw", {add, b.ConstRandom("w2", Shape{3, 3, 4, 1})}, ConvAttrs());
  auto mn2 = b.Op(OpType::kMinimum, "min2", {dw, b.Const("z2", Shape{}, {0.f})});
  auto mx2 = b.Op(OpType::kMaximum, "max2", {dw, b.Const("z3", Shape{}, {0.f})});
  auto mul2 = b.Op(OpType::kMul, "mul2", {mn2, b.ConstRandom("gamma2", Shape{1, 1, 1, 4}, 0.5f)});
  auto add2 = b.Op(OpType::kAdd, "add2", {mul2, mx2});
  b.Output(add2);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{2, 5, 5, 3})}, &st, 1e-5f);
  EXPECT_EQ(st.prelu_patterns_fused, 2);
  ASSERT_EQ(opt.nodes().size(), 2u) << opt.ToString();
  EXPECT_EQ(opt.nodes()[0].activation(), ir::Activation::kPrelu);
  EXPECT_EQ(opt.nodes()[1].activation(), ir::Activation::kPrelu);
  EXPECT_EQ(opt.value(opt.outputs()[0]).name, "add2");
}

TEST(Optimizer, PreluPatternNeedsZeroAndSoleUses) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 4, 4, 2});
  // Not a PReLU: Maximum against 1 instead of 0.
  auto mx = b.Op(OpType::kMaximum, "max", {x, b.Const("one", Shape{}, {1.f})});
  auto mn = b.Op(OpType::kMinimum, "min", {x, b.Const("z", Shape{}, {0.f})});
  auto mul = b.Op(OpType::kMul, "mul", {b.ConstRandom("gamma", Shape{2}, 0.5f), mn});
  auto add = b.Op(OpType::kAdd, "add", {mx, mul});
  // A real PReLU pattern on a graph input (no producer to fuse into: stays a Prelu node) ...
  auto mx2 = b.Op(OpType::kMaximum, "max2", {x, b.Const("z2", Shape{}, {0.f})});
  auto mn2 = b.Op(OpType::kMinimum, "min2", {x, b.Const("z3", Shape{}, {0.f})});
  auto mul2 = b.Op(OpType::kMul, "mul2", {b.ConstRandom("gamma2", Shape{2}, 0.5f), mn2});
  auto add2 = b.Op(OpType::kAdd, "add2", {mx2, mul2});
  // ... and one whose Minimum is also a graph output (must stay unfused).
  auto mx3 = b.Op(OpType::kMaximum, "max3", {x, b.Const("z4", Shape{}, {0.f})});
  auto mn3 = b.Op(OpType::kMinimum, "min3", {x, b.Const("z5", Shape{}, {0.f})});
  auto mul3 = b.Op(OpType::kMul, "mul3", {b.ConstRandom("gamma3", Shape{2}, 0.5f), mn3});
  auto add3 = b.Op(OpType::kAdd, "add3", {mx3, mul3});
  b.Output(add);
  b.Output(add2);
  b.Output(add3);
  b.Output(mn3);
  OptimizeStats st;
  auto opt = OptimizeAndCompare(b.g, {RandomInput(Shape{2, 4, 4, 2})}, &st, 1e-6f);
  EXPECT_EQ(st.prelu_patterns_fused, 1);
  EXPECT_EQ(CountOp(opt, OpType::kPrelu), 1);
  EXPECT_EQ(CountOp(opt, OpType::kMaximum), 2);
  EXPECT_EQ(CountOp(opt, OpType::kMinimum), 2);
}

#ifdef FK_HAVE_DNNL
// The nodes the optimizer leaves behind in blazeface / facemesh (channel Pad for residuals,
// spatial Pad before a SAME conv it cannot fold into, Reshape/Squeeze/ExpandDims heads) run
// on the cpu backend and match ref.
TEST(Optimizer, LeftoverPadAndReshapeRunOnCpuLikeRef) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 6, 7, 5});
  ir::Attrs pa;
  pa.set("mode", std::string("CONSTANT"));
  pa.set("constant_value", 0.f);
  auto conv = b.Op(OpType::kConv2D, "conv", {x, b.ConstRandom("w", Shape{3, 3, 5, 3})}, ConvAttrs("SAME"));
  auto chpad = b.Op(OpType::kPad, "chpad", {conv, b.ConstI32("p1", Shape{4, 2}, {0, 0, 0, 0, 0, 0, 0, 2})}, pa);
  auto res = b.Op(OpType::kAdd, "res", {chpad, x});
  ir::Attrs pv = pa;
  pv.set("constant_value", -1.5f);
  auto sp = b.Op(OpType::kPad, "sppad", {res, b.ConstI32("p2", Shape{4, 2}, {0, 1, 2, 0, 1, 3, 1, 0})}, pv);
  auto pool = b.Op(OpType::kMaxPool, "pool", {sp}, [] {
    ir::Attrs a;
    a.set("ksize", std::vector<int64_t>{2, 2});
    a.set("strides", std::vector<int64_t>{2, 2});
    a.set("padding", std::string("VALID"));
    return a;
  }());
  auto flat = b.Op(OpType::kReshape, "flat", {pool, b.ConstI32("shape", Shape{3}, {-1, 4, 6})});
  auto ex = b.Op(OpType::kExpandDims, "ex", {flat, b.ConstI32("axis", Shape{}, {1})});
  ir::Attrs sq;
  sq.set("axes", std::vector<int64_t>{1});
  auto out = b.Op(OpType::kSqueeze, "sq", {ex}, sq);
  b.Output(out);
  ir::Graph opt = b.g;
  ASSERT_TRUE(Optimize(&opt).ok());
  EXPECT_EQ(CountOp(opt, OpType::kPad), 2);
  const std::vector<Tensor> in{RandomInput(Shape{2, 6, 7, 5}, 5)};
  auto ref = RunRef(opt, in);
  ExecutorOptions o;
  o.backend = "cpu";
  o.num_threads = 1;
  auto exec = Executor::Create(opt, o);
  ASSERT_TRUE(exec.ok()) << exec.status().ToString();
  const auto assigned = (*exec)->StaticAssignment();
  ASSERT_EQ(assigned.size(), opt.nodes().size());
  for (size_t i = 0; i < assigned.size(); ++i) {
    const OpType op = opt.nodes()[i].op;
    if (op == OpType::kPad || op == OpType::kReshape || op == OpType::kExpandDims || op == OpType::kSqueeze) {
      EXPECT_EQ(assigned[i], "cpu") << opt.nodes()[i].name;
    }
  }
  auto cpu = (*exec)->Run(in);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  ASSERT_EQ(ref.size(), 1u);
  ASSERT_EQ((*cpu)[0].shape(), ref[0].shape());
  EXPECT_LE(MaxAbsDiff((*cpu)[0], ref[0]), 1e-5f);
}
#endif  // FK_HAVE_DNNL

TEST(Optimizer, OptionsDisableRewrites) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 4, 4, 2});
  auto conv = b.Op(OpType::kConv2D, "conv", {x, b.ConstRandom("w", Shape{1, 1, 2, 2})}, ConvAttrs());
  b.Output(b.Op(OpType::kRelu, "relu", {conv}));
  ir::Graph g = b.g;
  ASSERT_TRUE(Optimize(&g, OptimizeOptions::None()).ok());
  EXPECT_EQ(g.nodes().size(), 2u);
  OptimizeOptions o;
  o.fuse_activations = false;
  ASSERT_TRUE(Optimize(&g, o).ok());
  EXPECT_EQ(g.nodes().size(), 2u);
  ASSERT_TRUE(Optimize(&g).ok());
  EXPECT_EQ(g.nodes().size(), 1u);
}

}  // namespace
}  // namespace fk::engine
