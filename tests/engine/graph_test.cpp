#include "engine/ir/graph.h"

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace fk::ir {
namespace {

using fk::testing::GraphBuilder;

TEST(OpNames, RoundTripEveryOp) {
  for (int i = 0; i < static_cast<int>(OpType::kCount); ++i) {
    const auto op = static_cast<OpType>(i);
    auto back = OpTypeFromName(OpTypeName(op));
    ASSERT_TRUE(back.has_value()) << OpTypeName(op);
    EXPECT_EQ(*back, op);
  }
  EXPECT_STREQ(OpTypeName(OpType::kConv2D), "Conv2D");
  EXPECT_FALSE(OpTypeFromName("NoSuchOp").has_value());
}

TEST(ActivationNames, RoundTrip) {
  for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kRelu6, Activation::kPrelu, Activation::kClip,
                       Activation::kSigmoid, Activation::kTanh, Activation::kLeakyRelu, Activation::kElu}) {
    auto back = ActivationFromName(ActivationName(a));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, a);
  }
  EXPECT_EQ(ActivationFromName(""), Activation::kNone);
  EXPECT_FALSE(ActivationFromName("swish").has_value());
  Node n;
  EXPECT_EQ(n.activation(), Activation::kNone);
  n.attrs.set("activation", std::string("relu6"));
  EXPECT_EQ(n.activation(), Activation::kRelu6);
}

TEST(Attrs, TypedGettersAndDefaults) {
  Attrs a;
  a.set("i", int64_t{7});
  a.set("f", 2.5f);
  a.set("s", std::string("SAME"));
  a.set("v", std::vector<int64_t>{1, 2});
  a.set("fv", std::vector<float>{0.5f});
  EXPECT_EQ(a.i("i"), 7);
  EXPECT_EQ(a.i("missing", -3), -3);
  EXPECT_FLOAT_EQ(a.f("f"), 2.5f);
  EXPECT_FLOAT_EQ(a.f("i"), 7.f);  // ints read as floats
  EXPECT_EQ(a.s("s"), "SAME");
  EXPECT_EQ(a.s("i", "def"), "def");  // wrong type gives the default
  EXPECT_EQ(a.ints("v"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(a.ints("none", {9}), (std::vector<int64_t>{9}));
  EXPECT_EQ(a.floats("fv"), (std::vector<float>{0.5f}));
  a.erase("i");
  EXPECT_FALSE(a.has("i"));
}

TEST(Graph, CompactPrunesAndSortsTopologically) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{1, 4});
  auto c = b.Const("c", Shape{4}, {1, 2, 3, 4});
  auto unused_c = b.Const("unused", Shape{1}, {0});
  auto a = b.Op(OpType::kAdd, "a", {x, c});
  b.Op(OpType::kNeg, "dead", {a});  // feeds no output
  auto r = b.Op(OpType::kRelu, "r", {a});
  b.Output(r);
  // Put the nodes out of order: r before a.
  std::swap(b.g.nodes()[0], b.g.nodes()[2]);
  EXPECT_FALSE(b.g.Validate().ok());
  ASSERT_TRUE(b.g.Compact().ok());
  ASSERT_TRUE(b.g.Validate().ok()) << b.g.Validate().ToString();
  ASSERT_EQ(b.g.nodes().size(), 2u);
  EXPECT_EQ(b.g.nodes()[0].name, "a");
  EXPECT_EQ(b.g.nodes()[1].name, "r");
  EXPECT_FALSE(b.g.FindValue("unused").has_value());
  EXPECT_FALSE(b.g.FindValue("dead").has_value());
  EXPECT_TRUE(b.g.FindValue("c").has_value());
  EXPECT_EQ(b.g.value(b.g.outputs()[0]).name, "r");
  EXPECT_EQ(b.g.value(b.g.outputs()[0]).producer, 1);
  (void)unused_c;
}

TEST(Graph, UseCountsCountNodesAndOutputs) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{2});
  auto a = b.Op(OpType::kAdd, "a", {x, x});
  auto r = b.Op(OpType::kRelu, "r", {a});
  b.Output(a);
  b.Output(r);
  auto u = b.g.UseCounts();
  EXPECT_EQ(u[static_cast<size_t>(x)], 2);
  EXPECT_EQ(u[static_cast<size_t>(a)], 2);
  EXPECT_EQ(u[static_cast<size_t>(r)], 1);
}

TEST(Graph, ValidateReportsProblems) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{2});
  auto a = b.Op(OpType::kRelu, "a", {x});
  b.Output(a);
  EXPECT_TRUE(b.g.Validate().ok());
  b.g.nodes()[0].inputs[0] = 99;
  EXPECT_FALSE(b.g.Validate().ok());
  b.g.nodes()[0].inputs[0] = x;
  b.Op(OpType::kRelu, "a", {x});  // duplicate name
  auto s = b.g.Validate();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("duplicate"), std::string::npos);
}

TEST(Graph, ToStringNamesNodes) {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 2});
  b.Output(b.Op(OpType::kRelu, "my_relu", {x}));
  const std::string s = b.g.ToString();
  EXPECT_NE(s.find("Relu 'my_relu'"), std::string::npos) << s;
  EXPECT_NE(s.find("[?,2]"), std::string::npos) << s;
}

}  // namespace
}  // namespace fk::ir
