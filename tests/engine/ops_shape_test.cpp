// Shape inference: TF padding arithmetic, unknown-dim propagation, int32 data folding for
// shape computations, and error messages that name the node.
#include <gtest/gtest.h>

#include "engine/ops/op_util.h"
#include "engine/ops/shape_inference.h"
#include "op_cases.h"

namespace fk {
namespace {

using ops::ValueInfo;
using testing::Ints1D;

ir::Node MakeNode(ir::OpType op, const std::string& name = "n", ir::Attrs attrs = {}) {
  ir::Node n;
  n.name = name;
  n.op = op;
  n.attrs = std::move(attrs);
  n.outputs = {0};
  return n;
}

ValueInfo F(Shape s) { return ValueInfo(DType::kFloat32, std::move(s)); }
ValueInfo Known(const Tensor& t) { return ValueInfo(t.dtype(), t.shape(), &t); }

Result<ValueInfo> Infer1(const ir::Node& n, const std::vector<ValueInfo>& in) {
  std::vector<ValueInfo> out;
  FK_RETURN_IF_ERROR(ops::InferShapes(n, in, &out));
  if (out.size() != 1) return Internal("expected one output");
  return out[0];
}

std::vector<int64_t> Data(const ValueInfo& v) {
  if (!v.data) return {};
  return ops::TensorToInts(*v.data);
}

TEST(ConvOutputSize, SameValidExplicit) {
  int64_t b = -1, a = -1;
  EXPECT_EQ(ops::ConvOutputSize(4, 3, 2, 1, "SAME", 0, 0, &b, &a), 2);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(a, 1);  // the extra pixel goes at the end
  EXPECT_EQ(ops::ConvOutputSize(15, 3, 2, 1, "SAME", 0, 0, &b, &a), 8);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(ops::ConvOutputSize(16, 3, 2, 1, "SAME", 0, 0, &b, &a), 8);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(ops::ConvOutputSize(7, 3, 1, 2, "SAME", 0, 0, &b, &a), 7);  // dilated k = 5
  EXPECT_EQ(b, 2);
  EXPECT_EQ(a, 2);
  EXPECT_EQ(ops::ConvOutputSize(9, 3, 2, 1, "VALID", 0, 0, &b, &a), 4);
  EXPECT_EQ(ops::ConvOutputSize(2, 3, 1, 1, "VALID", 0, 0, &b, &a), 0);
  EXPECT_EQ(ops::ConvOutputSize(7, 3, 2, 1, "EXPLICIT", 1, 2, &b, &a), 4);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(a, 2);
  EXPECT_EQ(ops::ConvOutputSize(-1, 3, 2, 1, "SAME", 0, 0, &b, &a), -1);
}

TEST(InferShapes, ConvUnknownBatchAndOddSizes) {
  ir::Attrs a;
  a.set("strides", std::vector<int64_t>{2, 2});
  a.set("padding", std::string("SAME"));
  auto r = Infer1(MakeNode(ir::OpType::kConv2D, "conv1", a), {F({-1, 15, 17, 3}), F({3, 3, 3, 13})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->shape, (Shape{-1, 8, 9, 13}));
  auto d = Infer1(MakeNode(ir::OpType::kDepthwiseConv2D, "dw", a), {F({1, 7, 9, 5}), F({3, 3, 5, 2})});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->shape, (Shape{1, 4, 5, 10}));
}

TEST(InferShapes, ConvErrorsNameTheNode) {
  auto r = Infer1(MakeNode(ir::OpType::kConv2D, "conv1"), {F({1, 8, 8, 3}), F({3, 3, 4, 8})});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("node 'conv1' (Conv2D): input channels 3 != filter input channels 4"),
            std::string::npos)
      << r.status().message();
  ir::Attrs b;
  b.set("has_bias", int64_t{1});
  auto nb = Infer1(MakeNode(ir::OpType::kConv2D, "c2", b), {F({1, 8, 8, 3}), F({3, 3, 3, 8})});
  EXPECT_FALSE(nb.ok());  // bias input missing
  auto bad_bias = Infer1(MakeNode(ir::OpType::kConv2D, "c3", b), {F({1, 8, 8, 3}), F({3, 3, 3, 8}), F({7})});
  EXPECT_FALSE(bad_bias.ok());
  auto few = Infer1(MakeNode(ir::OpType::kAdd, "add"), {F({1})});
  ASSERT_FALSE(few.ok());
  EXPECT_NE(few.status().message().find("node 'add' (Add)"), std::string::npos);
}

TEST(InferShapes, MatMul) {
  ir::Attrs a;
  a.set("transpose_b", int64_t{1});
  auto r = Infer1(MakeNode(ir::OpType::kMatMul, "fc", a), {F({-1, 128}), F({10, 128})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->shape, (Shape{-1, 10}));
  EXPECT_FALSE(Infer1(MakeNode(ir::OpType::kMatMul, "fc"), {F({2, 3}), F({4, 5})}).ok());
  auto b = Infer1(MakeNode(ir::OpType::kMatMul, "bmm"), {F({3, 2, 4}), F({3, 4, 5})});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->shape, (Shape{3, 2, 5}));
}

TEST(InferShapes, Broadcasting) {
  auto r = Infer1(MakeNode(ir::OpType::kMul), {F({-1, 1, 5}), F({3, 1})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->shape, (Shape{-1, 3, 5}));
  auto bad = Infer1(MakeNode(ir::OpType::kAdd, "a"), {F({2, 3}), F({4})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cannot be broadcast"), std::string::npos);
}

TEST(InferShapes, PoolAndReduce) {
  ir::Attrs p;
  p.set("ksize", std::vector<int64_t>{3, 3});
  p.set("strides", std::vector<int64_t>{2, 2});
  p.set("padding", std::string("VALID"));
  auto r = Infer1(MakeNode(ir::OpType::kMaxPool, "pool", p), {F({1, 15, 17, 8})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->shape, (Shape{1, 7, 8, 8}));

  const Tensor axes = Ints1D({1, -2});
  ir::Attrs k;
  k.set("keep_dims", int64_t{1});
  auto m = Infer1(MakeNode(ir::OpType::kMean, "mean", k), {F({2, 5, 6, 7}), Known(axes)});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->shape, (Shape{2, 1, 1, 7}));
  auto s = Infer1(MakeNode(ir::OpType::kSum, "sum"), {F({2, 5, 6, 7}), Known(axes)});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->shape, (Shape{2, 7}));
  const Tensor bad_axes = Ints1D({4});
  EXPECT_FALSE(Infer1(MakeNode(ir::OpType::kSum, "sum"), {F({2, 5, 6, 7}), Known(bad_axes)}).ok());
  // Unknown axes: rank from the axes count, dims unknown.
  auto u = Infer1(MakeNode(ir::OpType::kSum, "sum"), {F({2, 5, 6, 7}), ValueInfo(DType::kInt32, Shape{2})});
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->shape, (Shape{-1, -1}));
}

TEST(InferShapes, ShapeChainIsEvaluated) {
  // Shape -> StridedSlice(shrink) -> Pack -> Reshape, as TF.js models compute flatten sizes.
  auto sh = Infer1(MakeNode(ir::OpType::kShape, "shape"), {F({3, 4, 5})});
  ASSERT_TRUE(sh.ok());
  EXPECT_EQ(sh->dtype, DType::kInt32);
  EXPECT_EQ(Data(*sh), (std::vector<int64_t>{3, 4, 5}));

  const Tensor b = Ints1D({0}), e = Ints1D({1}), s = Ints1D({1});
  ir::Attrs shrink;
  shrink.set("shrink_axis_mask", int64_t{1});
  auto batch = Infer1(MakeNode(ir::OpType::kStridedSlice, "ss", shrink), {*sh, Known(b), Known(e), Known(s)});
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->shape, (Shape{}));
  EXPECT_EQ(Data(*batch), (std::vector<int64_t>{3}));

  const Tensor minus1 = testing::IntTensor(Shape{}, {-1});
  auto pack = Infer1(MakeNode(ir::OpType::kPack, "pack"), {*batch, Known(minus1)});
  ASSERT_TRUE(pack.ok());
  EXPECT_EQ(pack->shape, (Shape{2}));
  EXPECT_EQ(Data(*pack), (std::vector<int64_t>{3, -1}));

  auto reshape = Infer1(MakeNode(ir::OpType::kReshape, "flatten"), {F({3, 4, 5}), *pack});
  ASSERT_TRUE(reshape.ok()) << reshape.status().ToString();
  EXPECT_EQ(reshape->shape, (Shape{3, 20}));

  // Unknown shape input: -1 dims of the right rank, not an error.
  auto unknown = Infer1(MakeNode(ir::OpType::kReshape, "r"), {F({3, 4, 5}), ValueInfo(DType::kInt32, Shape{3})});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->shape, (Shape{-1, -1, -1}));

  // Shape of a partially known shape has no data.
  auto partial = Infer1(MakeNode(ir::OpType::kShape, "shape"), {F({-1, 4})});
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->data, nullptr);

  // Cast + Mul on known int data folds too.
  ir::Attrs c;
  c.set("dst_dtype", static_cast<int64_t>(DType::kFloat32));
  auto cast = Infer1(MakeNode(ir::OpType::kCast, "cast", c), {*sh});
  ASSERT_TRUE(cast.ok());
  ASSERT_NE(cast->data, nullptr);
  EXPECT_EQ(cast->data->dtype(), DType::kFloat32);
  const Tensor two = testing::IntTensor(Shape{}, {2});
  auto mul = Infer1(MakeNode(ir::OpType::kMul, "mul"), {*sh, Known(two)});
  ASSERT_TRUE(mul.ok());
  EXPECT_EQ(Data(*mul), (std::vector<int64_t>{6, 8, 10}));
}

TEST(InferShapes, ValueInfoCopiesKeepComputedData) {
  auto sh = Infer1(MakeNode(ir::OpType::kShape, "shape"), {F({7, 9})});
  ASSERT_TRUE(sh.ok());
  std::vector<ValueInfo> v;
  for (int i = 0; i < 10; ++i) v.push_back(*sh);  // reallocations move the elements
  for (const ValueInfo& x : v) {
    ASSERT_EQ(x.data, &x.computed);
    EXPECT_EQ(Data(x), (std::vector<int64_t>{7, 9}));
  }
}

TEST(InferShapes, ReshapeRules) {
  const Tensor s1 = Ints1D({-1, 6});
  auto r = Infer1(MakeNode(ir::OpType::kReshape, "r"), {F({2, 3, 4}), Known(s1)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->shape, (Shape{4, 6}));
  const Tensor s2 = Ints1D({-1, 5});
  EXPECT_FALSE(Infer1(MakeNode(ir::OpType::kReshape, "r"), {F({2, 3, 4}), Known(s2)}).ok());
  const Tensor s3 = Ints1D({-1, -1});
  EXPECT_FALSE(Infer1(MakeNode(ir::OpType::kReshape, "r"), {F({2, 3, 4}), Known(s3)}).ok());
  auto dyn = Infer1(MakeNode(ir::OpType::kReshape, "r"), {F({-1, 3, 4}), Known(s1)});
  ASSERT_TRUE(dyn.ok());
  EXPECT_EQ(dyn->shape, (Shape{-1, 6}));
  const Tensor s4 = Ints1D({0, -1});
  ir::Attrs z;
  z.set("onnx_zero_copy", int64_t{1});
  auto onnx = Infer1(MakeNode(ir::OpType::kReshape, "r", z), {F({2, 3, 4}), Known(s4)});
  ASSERT_TRUE(onnx.ok());
  EXPECT_EQ(onnx->shape, (Shape{2, 12}));
}

TEST(InferShapes, ShapeOps) {
  ir::Attrs sq;
  auto a = Infer1(MakeNode(ir::OpType::kSqueeze, "sq", sq), {F({1, 3, 1, 2})});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->shape, (Shape{3, 2}));
  sq.set("axes", std::vector<int64_t>{-2});
  auto b = Infer1(MakeNode(ir::OpType::kSqueeze, "sq", sq), {F({1, 3, 1, 2})});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->shape, (Shape{1, 3, 2}));
  const Tensor ax = testing::IntTensor(Shape{}, {-1});
  auto e = Infer1(MakeNode(ir::OpType::kExpandDims, "ed"), {F({3, 2}), Known(ax)});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->shape, (Shape{3, 2, 1}));
  ir::Attrs c;
  c.set("axis", int64_t{-1});
  auto cc = Infer1(MakeNode(ir::OpType::kConcat, "cat", c), {F({-1, 2, 3}), F({4, 2, 5})});
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->shape, (Shape{4, 2, 8}));
  EXPECT_FALSE(Infer1(MakeNode(ir::OpType::kConcat, "cat", c), {F({1, 2, 3}), F({1, 3, 5})}).ok());
  ir::Attrs t;
  t.set("perm", std::vector<int64_t>{0, 3, 1, 2});
  auto tt = Infer1(MakeNode(ir::OpType::kTranspose, "t", t), {F({1, 2, 3, 4})});
  ASSERT_TRUE(tt.ok());
  EXPECT_EQ(tt->shape, (Shape{1, 4, 2, 3}));
  ir::Attrs g;
  g.set("axis", int64_t{1});
  auto gg = Infer1(MakeNode(ir::OpType::kGather, "g", g), {F({2, 9, 4}), ValueInfo(DType::kInt32, Shape{3, 5})});
  ASSERT_TRUE(gg.ok());
  EXPECT_EQ(gg->shape, (Shape{2, 3, 5, 4}));
  const Tensor sz = Ints1D({32, 48});
  auto rs = Infer1(MakeNode(ir::OpType::kResizeBilinear, "rs"), {F({-1, 16, 16, 3}), Known(sz)});
  ASSERT_TRUE(rs.ok());
  EXPECT_EQ(rs->shape, (Shape{-1, 32, 48, 3}));
  ir::Attrs d;
  d.set("block_size", int64_t{2});
  auto dd = Infer1(MakeNode(ir::OpType::kDepthToSpace, "d2s", d), {F({1, 3, 5, 12})});
  ASSERT_TRUE(dd.ok());
  EXPECT_EQ(dd->shape, (Shape{1, 6, 10, 3}));
  const Tensor pads = testing::IntTensor(Shape{2, 2}, {1, 2, 0, 3});
  auto pp = Infer1(MakeNode(ir::OpType::kPad, "pad"), {F({4, 5}), Known(pads)});
  ASSERT_TRUE(pp.ok());
  EXPECT_EQ(pp->shape, (Shape{7, 8}));
}

TEST(InferShapes, StridedSliceUnknownBeginKeepsRank) {
  ir::Attrs a;
  a.set("shrink_axis_mask", int64_t{1});
  ValueInfo b(DType::kInt32, Shape{2}), e(DType::kInt32, Shape{2}), s(DType::kInt32, Shape{2});
  auto r = Infer1(MakeNode(ir::OpType::kStridedSlice, "ss", a), {F({4, 5, 6}), b, e, s});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->shape.rank(), 2);  // dim 0 shrunk, dim 2 untouched by the implicit ellipsis
  EXPECT_EQ(r->shape[1], 6);
}

TEST(InferShapes, EveryOpHasAnEntry) {
  // Each op either infers or fails with a message naming the node — never crashes — on
  // a generic float input list.
  for (int i = 0; i < static_cast<int>(ir::OpType::kCount); ++i) {
    const auto op = static_cast<ir::OpType>(i);
    ir::Node n = MakeNode(op, std::string("node_") + ir::OpTypeName(op));
    std::vector<ValueInfo> out;
    Status st = ops::InferShapes(n, {F({1, 4, 4, 4}), F({1, 1, 4, 4})}, &out);
    if (!st.ok()) {
      EXPECT_NE(st.message().find("node 'node_" + std::string(ir::OpTypeName(op))), std::string::npos)
          << st.message();
    }
  }
}

}  // namespace
}  // namespace fk
