#include "engine/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

#include "graph_builder.h"

namespace fk::engine {
namespace {

using fk::testing::ConvAttrs;
using fk::testing::GraphBuilder;
using fk::testing::RandomInput;
using ir::OpType;

// No two slots whose lifetimes overlap may overlap in memory, and all fit in the arena.
void ExpectNoOverlap(const MemoryPlan& p) {
  for (size_t i = 0; i < p.slots.size(); ++i) {
    const auto& a = p.slots[i];
    EXPECT_LE(a.offset + a.bytes, p.arena_bytes);
    EXPECT_EQ(a.offset % 64, 0u);
    for (size_t j = i + 1; j < p.slots.size(); ++j) {
      const auto& b = p.slots[j];
      const bool live_together = a.first <= b.last && b.first <= a.last;
      const bool mem_overlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      EXPECT_FALSE(live_together && mem_overlap)
          << "values " << a.value << " [" << a.first << "," << a.last << "] and " << b.value << " [" << b.first << ","
          << b.last << "] share memory";
    }
  }
}

TEST(PlanMemory, ChainReusesMemory) {
  std::vector<ArenaSlot> slots;
  for (int i = 0; i < 10; ++i) slots.push_back({i, 0, 1000u + 100u * static_cast<size_t>(i % 3), i, i + 1});
  const MemoryPlan p = PlanMemory(slots);
  ExpectNoOverlap(p);
  EXPECT_LT(p.arena_bytes, p.naive_bytes);
  // Never below the peak of simultaneously live bytes; with at most two values live at a
  // time, greedy placement needs far less than the naive sum.
  size_t peak = 0;
  for (int step = 0; step <= 10; ++step) {
    size_t live = 0;
    for (const auto& s : p.slots)
      if (s.first <= step && step <= s.last) live += s.bytes;
    peak = std::max(peak, live);
  }
  EXPECT_GE(p.arena_bytes, peak);
  EXPECT_LE(p.arena_bytes, p.naive_bytes / 3);
}

TEST(PlanMemory, RandomLifetimesNeverOverlap) {
  std::vector<ArenaSlot> slots;
  uint32_t r = 12345;
  for (int i = 0; i < 200; ++i) {
    r = r * 1103515245u + 12345u;
    const int first = static_cast<int>(r % 100);
    r = r * 1103515245u + 12345u;
    const int len = static_cast<int>(r % 20);
    r = r * 1103515245u + 12345u;
    slots.push_back({i, 0, 1 + r % 5000, first, first + len});
  }
  const MemoryPlan p = PlanMemory(slots);
  ExpectNoOverlap(p);
  EXPECT_LE(p.arena_bytes, p.naive_bytes);
}

// x[N,8,8,3] -> conv 3x3 -> relu -> conv 1x1 -> relu -> maxpool -> out
ir::Graph ChainGraph() {
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 8, 8, 3});
  auto w1 = b.ConstRandom("w1", Shape{3, 3, 3, 8}, 0.3f);
  auto c1 = b.Op(OpType::kConv2D, "c1", {x, w1}, ConvAttrs());
  auto r1 = b.Op(OpType::kRelu, "r1", {c1});
  auto w2 = b.ConstRandom("w2", Shape{1, 1, 8, 8}, 0.3f);
  auto c2 = b.Op(OpType::kConv2D, "c2", {r1, w2}, ConvAttrs());
  auto r2 = b.Op(OpType::kRelu, "r2", {c2});
  auto w3 = b.ConstRandom("w3", Shape{1, 1, 8, 8}, 0.3f);
  auto c3 = b.Op(OpType::kConv2D, "c3", {r2, w3}, ConvAttrs());
  ir::Attrs pa;
  pa.set("ksize", std::vector<int64_t>{2, 2});
  pa.set("strides", std::vector<int64_t>{2, 2});
  pa.set("padding", std::string("VALID"));
  auto p = b.Op(OpType::kMaxPool, "pool", {c3}, pa);
  b.Output(p);
  return std::move(b.g);
}

std::unique_ptr<Executor> MakeRef(ir::Graph g, int threads = 1) {
  ExecutorOptions o;
  o.backend = "ref";
  o.num_threads = threads;
  auto ex = Executor::Create(std::move(g), o);
  EXPECT_TRUE(ex.ok()) << ex.status().ToString();
  return ex.ok() ? std::move(ex).value() : nullptr;
}

TEST(Executor, PlansArenaSmallerThanNaive) {
  auto ex = MakeRef(ChainGraph());
  ASSERT_TRUE(ex);
  auto s = ex->Summarize({Shape{2, 8, 8, 3}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GT(s->memory.naive_bytes, 0u);
  EXPECT_LT(s->memory.arena_bytes, s->memory.naive_bytes);
  ExpectNoOverlap(s->memory);
  for (const auto& b : s->node_backend) EXPECT_EQ(b, "ref");
}

TEST(Executor, RunMatchesRunAllAndBatchesAreIndependent) {
  auto ex = MakeRef(ChainGraph());
  ASSERT_TRUE(ex);
  Tensor x3 = RandomInput(Shape{3, 8, 8, 3});
  auto out3 = ex->Run({x3});
  ASSERT_TRUE(out3.ok()) << out3.status().ToString();
  ASSERT_EQ((*out3)[0].shape(), Shape({3, 4, 4, 8}));
  auto all = ex->RunAll({x3});
  ASSERT_TRUE(all.ok());
  const Tensor& o = (*all)[static_cast<size_t>(ex->graph().outputs()[0])];
  EXPECT_EQ(fk::testing::MaxAbsDiff(o, (*out3)[0]), 0.f);
  // Example 1 of the batch equals a batch-1 run of that example.
  Tensor x1(DType::kFloat32, Shape{1, 8, 8, 3});
  std::copy(x3.data<float>() + 192, x3.data<float>() + 384, x1.data<float>());
  auto out1 = ex->Run({x1});
  ASSERT_TRUE(out1.ok());
  for (int64_t i = 0; i < 128; ++i) ASSERT_FLOAT_EQ((*out1)[0].data<float>()[i], (*out3)[0].data<float>()[128 + i]);
}

TEST(Executor, RejectsBadInputs) {
  auto ex = MakeRef(ChainGraph());
  ASSERT_TRUE(ex);
  auto r = ex->Run({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = ex->Run({Tensor(DType::kInt32, Shape{1, 8, 8, 3})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'x'"), std::string::npos);
  EXPECT_NE(r.status().message().find("float32"), std::string::npos);
  r = ex->Run({Tensor(DType::kFloat32, Shape{1, 8, 8, 4})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("[1,8,8,4]"), std::string::npos) << r.status().message();
  r = ex->Run({Tensor(DType::kFloat32, Shape{8, 8, 3})});
  ASSERT_FALSE(r.ok());
  Tensor nan = RandomInput(Shape{1, 8, 8, 3});
  nan.data<float>()[17] = std::numeric_limits<float>::quiet_NaN();
  r = ex->Run({nan});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("index 17"), std::string::npos) << r.status().message();
  Tensor inf = RandomInput(Shape{1, 8, 8, 3});
  inf.data<float>()[3] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(ex->Run({inf}).ok());
}

TEST(Executor, UnknownBackendNamesAvailableOnes) {
  ExecutorOptions o;
  o.backend = "tpu";
  auto ex = Executor::Create(ChainGraph(), o);
  ASSERT_FALSE(ex.ok());
  EXPECT_EQ(ex.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(ex.status().message().find("ref"), std::string::npos);
}

// The CPU backend's batch split (Executor::RunSplitBatch): with 2 threads a batch runs as
// single-threaded sub-batches (here 3 + 2 rows); the result must equal the unsplit run and the
// reference backend, and a graph whose output does not keep the batch as its leading dimension
// (a Sum over the batch) must not be split (a split would return two partial sums).
TEST(Executor, BatchSplitMatchesUnsplitRunAndSkipsBatchReductions) {
  auto make = [](ir::Graph g, const std::string& backend, int threads, bool split) -> std::unique_ptr<Executor> {
    ExecutorOptions o;
    o.backend = backend;
    o.num_threads = threads;
    o.split_batch = split;
    auto ex = Executor::Create(std::move(g), o);
    if (!ex.ok()) return nullptr;
    return std::move(ex).value();
  };
  auto split = make(ChainGraph(), "cpu", 2, true);
  if (!split) GTEST_SKIP() << "cpu backend not built";
  auto whole = make(ChainGraph(), "cpu", 2, false);
  auto ref = MakeRef(ChainGraph());
  ASSERT_TRUE(whole && ref);
  Tensor x5 = RandomInput(Shape{5, 8, 8, 3});
  auto a = split->Run({x5});
  auto b = whole->Run({x5});
  auto r = ref->Run({x5});
  ASSERT_TRUE(a.ok() && b.ok() && r.ok()) << a.status().ToString();
  ASSERT_EQ((*a)[0].shape(), Shape({5, 4, 4, 8}));
  EXPECT_LE(fk::testing::MaxAbsDiff((*a)[0], (*b)[0]), 1e-5f);
  EXPECT_LE(fk::testing::MaxAbsDiff((*a)[0], (*r)[0]), 1e-4f);
  // Batch 1 and a repeated run (cached plans) still agree.
  auto a2 = split->Run({x5});
  ASSERT_TRUE(a2.ok());
  EXPECT_EQ(fk::testing::MaxAbsDiff((*a)[0], (*a2)[0]), 0.f);
  // Uneven chunks (13 = 7 + 6: two plan shapes) and two chunks per thread (32 = 4 x 8).
  for (int64_t n : {13, 32}) {
    Tensor xn = RandomInput(Shape{n, 8, 8, 3}, static_cast<int>(n));
    auto an = split->Run({xn});
    auto rn = ref->Run({xn});
    ASSERT_TRUE(an.ok() && rn.ok()) << an.status().ToString();
    ASSERT_EQ((*an)[0].shape(), Shape({n, 4, 4, 8}));
    EXPECT_LE(fk::testing::MaxAbsDiff((*an)[0], (*rn)[0]), 1e-4f) << "batch " << n;
  }
  Tensor x1 = RandomInput(Shape{1, 8, 8, 3});
  auto s1 = split->Run({x1});
  auto r1 = ref->Run({x1});
  ASSERT_TRUE(s1.ok() && r1.ok());
  EXPECT_LE(fk::testing::MaxAbsDiff((*s1)[0], (*r1)[0]), 1e-4f);

  // out[4] = sum over the batch of x[N, 4]: not splittable.
  auto sum_graph = [] {
    GraphBuilder b;
    auto x = b.Input("x", Shape{-1, 4});
    auto axes = b.ConstI32("axes", Shape{1}, {0});
    ir::Attrs at;
    at.set("keep_dims", int64_t{0});
    auto s = b.Op(OpType::kSum, "sum", {x, axes}, at);
    b.Output(s);
    return std::move(b.g);
  };
  auto sum_split = make(sum_graph(), "cpu", 2, true);
  ASSERT_TRUE(sum_split);
  Tensor x(DType::kFloat32, Shape{6, 4});
  for (int64_t i = 0; i < 24; ++i) x.data<float>()[i] = static_cast<float>(i);
  auto s = sum_split->Run({x});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ((*s)[0].shape(), Shape({4}));
  for (int c = 0; c < 4; ++c) EXPECT_FLOAT_EQ((*s)[0].data<float>()[c], 60.f + 6.f * c);  // sum_r (4r + c)
}

TEST(Executor, SplitChunks) {
  EXPECT_EQ(SplitChunks(1, 2), 1);
  EXPECT_EQ(SplitChunks(8, 1), 1);   // one thread: no split
  EXPECT_EQ(SplitChunks(2, 2), 2);   // one row per thread
  EXPECT_EQ(SplitChunks(5, 2), 2);   // 3 + 2
  EXPECT_EQ(SplitChunks(8, 2), 2);   // 4 + 4
  EXPECT_EQ(SplitChunks(16, 2), 4);  // two chunks per thread, 4 rows
  EXPECT_EQ(SplitChunks(32, 2), 4);  // 8 rows
  EXPECT_EQ(SplitChunks(40, 2), 6);  // 7,7,7,7,6,6
  EXPECT_EQ(SplitChunks(3, 4), 3);
  for (int t = 2; t <= 8; ++t)
    for (int64_t n = 2; n <= 300; ++n) {
      const int64_t c = SplitChunks(n, t);
      ASSERT_GE(c, std::min<int64_t>(n, t)) << "n " << n << " t " << t;
      ASSERT_LE(c, n);
      if (n >= t) {
        EXPECT_EQ(c % t, 0) << "same chunk count per thread: n " << n << " t " << t;
      }
      EXPECT_LE((n + c - 1) / c, 8) << "n " << n << " t " << t;
      if (n >= 4 * t) {
        EXPECT_GE(n / c, 4) << "n " << n << " t " << t;
      }
    }
}

// Concurrent callers of one splitting executor: one holds the worker pool, the others run
// their chunks themselves; every result must equal the single-caller result bit for bit
// (same single-threaded kernels whichever thread runs a chunk).
TEST(Executor, ConcurrentSplitRunsAgree) {
  ExecutorOptions o;
  o.backend = "cpu";
  o.num_threads = 2;
  o.split_batch = true;
  auto ex = Executor::Create(ChainGraph(), o);
  if (!ex.ok()) GTEST_SKIP() << "cpu backend not built";
  std::vector<Tensor> inputs, expected;
  for (int t = 0; t < 4; ++t) {
    inputs.push_back(RandomInput(Shape{5 + 4 * t, 8, 8, 3}, 100 + t));
    auto r = (*ex)->Run({inputs.back()});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    expected.push_back((*r)[0]);
  }
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int iter = 0; iter < 20; ++iter) {
        auto r = (*ex)->Run({inputs[static_cast<size_t>(t)]});
        if (!r.ok() || fk::testing::MaxAbsDiff((*r)[0], expected[static_cast<size_t>(t)]) != 0.f)
          ++failures[static_cast<size_t>(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[static_cast<size_t>(t)], 0) << "thread " << t;
}

TEST(Executor, ConcurrentRunsMatchSingleThreaded) {
  auto ex = MakeRef(ChainGraph(), 1);
  ASSERT_TRUE(ex);
  std::vector<Tensor> inputs, expected;
  for (int t = 0; t < 4; ++t) {
    inputs.push_back(RandomInput(Shape{1 + t % 2, 8, 8, 3}, t));
    auto r = ex->Run({inputs.back()});
    ASSERT_TRUE(r.ok());
    expected.push_back((*r)[0]);
  }
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int iter = 0; iter < 20; ++iter) {
        auto r = ex->Run({inputs[static_cast<size_t>(t)]});
        if (!r.ok() || fk::testing::MaxAbsDiff((*r)[0], expected[static_cast<size_t>(t)]) != 0.f)
          ++failures[static_cast<size_t>(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[static_cast<size_t>(t)], 0) << "thread " << t;
}

TEST(Executor, ShapeSubgraphEvaluatedAtPlanTime) {
  // y = Reshape(x, Pack(StridedSlice(Shape(x), [0], [1], [1], shrink=1), -1)) : [N, 8*8*3]
  GraphBuilder b;
  auto x = b.Input("x", Shape{-1, 8, 8, 3});
  auto sh = b.Op(OpType::kShape, "shape", {x});
  ir::Attrs ss;
  ss.set("shrink_axis_mask", int64_t{1});
  auto n = b.Op(OpType::kStridedSlice, "batch",
                {sh, b.ConstI32("b0", Shape{1}, {0}), b.ConstI32("b1", Shape{1}, {1}), b.ConstI32("b2", Shape{1}, {1})}, ss);
  ir::Attrs pk;
  pk.set("axis", int64_t{0});
  auto packed = b.Op(OpType::kPack, "pack", {n, b.ConstI32("m1", Shape{}, {-1})}, pk);
  auto y = b.Op(OpType::kReshape, "y", {x, packed});
  b.Output(y);
  auto ex = MakeRef(std::move(b.g));
  ASSERT_TRUE(ex);
  auto out = ex->Run({RandomInput(Shape{5, 8, 8, 3})});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].shape(), Shape({5, 192}));
  auto s = ex->Summarize({Shape{5, 8, 8, 3}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->node_backend[0], "plan-time");
}

}  // namespace
}  // namespace fk::engine
