// The per-node profiler ($FK_PROFILE, engine/profiler.h): accumulation, the report, and the
// executor wiring (on with the variable, absent without it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "engine/executor.h"
#include "engine/profiler.h"
#include "graph_builder.h"

namespace fk::engine {
namespace {

using fk::testing::ConvAttrs;
using fk::testing::GraphBuilder;
using ir::OpType;

// x[N,6,6,3] -> conv 3x3 -> relu -> softmax(last axis) -> out
ir::Graph SmallGraph() {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 6, 6, 3});
  auto w = b.ConstRandom("w", Shape{3, 3, 3, 4}, 0.3f);
  auto c = b.Op(OpType::kConv2D, "the_conv", {x, w}, ConvAttrs());
  auto r = b.Op(OpType::kRelu, "the_relu", {c});
  auto s = b.Op(OpType::kSoftmax, "the_softmax", {r});
  b.Output(s);
  return std::move(b.g);
}

// Sets or clears $FK_PROFILE for one scope.
class ProfileEnv {
 public:
  explicit ProfileEnv(const char* value) {
    if (const char* old = std::getenv("FK_PROFILE")) saved_ = old, had_ = true;
    if (value) setenv("FK_PROFILE", value, 1);
    else unsetenv("FK_PROFILE");
  }
  ~ProfileEnv() {
    if (had_) setenv("FK_PROFILE", saved_.c_str(), 1);
    else unsetenv("FK_PROFILE");
  }

 private:
  std::string saved_;
  bool had_ = false;
};

TEST(Profiler, AccumulatesSortsAndResets) {
  ir::Graph g = SmallGraph();
  Profiler p;
  EXPECT_EQ(p.Report(g), "");
  const Shape s{1, 6, 6, 4};
  for (int run = 0; run < 3; ++run) {
    Profiler::RunTimes t;
    t.Add(0, "cpu", &s, 0.002);  // the conv: 2 ms per run
    t.Add(1, "ref", &s, 0.001);  // the relu: 1 ms
    p.Merge(t, 0.004);
  }
  EXPECT_EQ(p.runs(), 3);
  const std::string r = p.Report(g);
  EXPECT_NE(r.find("3 run(s), 4.000 ms per run"), std::string::npos) << r;
  EXPECT_NE(r.find("input(s) x[?,6,6,3], 3 nodes"), std::string::npos) << "names the graph:\n" << r;
  const size_t conv = r.find("the_conv"), relu = r.find("the_relu");
  ASSERT_NE(conv, std::string::npos) << r;
  ASSERT_NE(relu, std::string::npos) << r;
  EXPECT_LT(conv, relu) << "sorted by total time, largest first:\n" << r;
  EXPECT_EQ(r.find("the_softmax"), std::string::npos) << "nodes that never ran are not listed:\n" << r;
  EXPECT_NE(r.find("[1,6,6,4]"), std::string::npos) << r;
  EXPECT_NE(r.find("6.000"), std::string::npos) << "conv total 6 ms:\n" << r;
  EXPECT_NE(r.find("50.00"), std::string::npos) << "conv = 50% of the runs' wall time:\n" << r;
  EXPECT_NE(r.find("Relu [ref]"), std::string::npos) << "per-op summary names the backend:\n" << r;
  p.Reset();
  EXPECT_EQ(p.runs(), 0);
  EXPECT_EQ(p.Report(g), "");
}

TEST(Profiler, ExecutorProfilesOnlyWithTheVariable) {
  Tensor x(DType::kFloat32, Shape{2, 6, 6, 3});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) * 0.1f;
  ExecutorOptions o;
  o.backend = "ref";
  o.num_threads = 1;
  {
    ProfileEnv env(nullptr);
    auto ex = Executor::Create(SmallGraph(), o);
    ASSERT_TRUE(ex.ok()) << ex.status().ToString();
    ASSERT_TRUE((*ex)->Run({x}).ok());
    EXPECT_EQ((*ex)->ProfileReport(), "");
  }
  {
    ProfileEnv env("0");
    auto ex = Executor::Create(SmallGraph(), o);
    ASSERT_TRUE(ex.ok());
    ASSERT_TRUE((*ex)->Run({x}).ok());
    EXPECT_EQ((*ex)->ProfileReport(), "");
  }
  ProfileEnv env("1");
  auto ex = Executor::Create(SmallGraph(), o);
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  auto plain = (*ex)->Run({x});
  ASSERT_TRUE(plain.ok());
  (*ex)->ResetProfile();  // drop the warm-up run
  for (int i = 0; i < 2; ++i) {
    auto r = (*ex)->Run({x});
    ASSERT_TRUE(r.ok());
    // Profiling does not change results.
    ASSERT_EQ(r->size(), 1u);
    for (int64_t k = 0; k < (*r)[0].num_elements(); ++k)
      ASSERT_EQ((*r)[0].data<float>()[k], (*plain)[0].data<float>()[k]);
  }
  const std::string rep = (*ex)->ProfileReport();
  EXPECT_NE(rep.find("2 run(s)"), std::string::npos) << rep;
  for (const char* name : {"the_conv", "the_relu", "the_softmax"}) EXPECT_NE(rep.find(name), std::string::npos) << rep;
  EXPECT_NE(rep.find("[2,6,6,4]"), std::string::npos) << rep;
}

}  // namespace
}  // namespace fk::engine
