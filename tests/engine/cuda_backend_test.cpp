// CUDA backend tests. Host-side logic (device flag parsing, backend resolution, the memory
// pool with a fake allocator) runs in every build; GPU op tests compare the "cuda" backend with
// the reference backend on odd shapes and GTEST_SKIP with "no CUDA device: <reason>" when no
// GPU is usable (or the build has no CUDA).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <cmath>
#include <thread>

#include "engine/cuda/memory_pool.h"
#include "engine/executor.h"
#include "engine/ref/ref_backend.h"
#include "facekit/device.h"
#include "engine/pixel_transform.h"
#include "engine/warp_sample.h"
#include "facekit/engine.h"
#include "op_cases.h"
#ifdef FK_HAVE_CUDA
#include "engine/cuda/cast.cuh"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/device.h"
#endif

namespace fk {
namespace {

using engine::cuda::EffectivePoolLimit;
using engine::cuda::MemoryPool;
using engine::cuda::PoolBuffer;
using engine::cuda::RawAllocator;

// ---- device flags and backend resolution (no GPU needed) --------------------------------------

TEST(CudaDeviceConfig, ParsesDeviceFlags) {
  auto cpu = ParseDeviceFlag("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_FALSE(cpu->use_cuda);
  auto c = ParseDeviceFlag("cuda");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->use_cuda);
  EXPECT_EQ(c->gpu_index, 0);
  auto c1 = ParseDeviceFlag("cuda:1");
  ASSERT_TRUE(c1.ok());
  EXPECT_TRUE(c1->use_cuda);
  EXPECT_EQ(c1->gpu_index, 1);
  auto g = ParseDeviceFlag("GPU:12");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->gpu_index, 12);
  for (const char* bad : {"", "cuda:", "cuda:x", "cuda1", "tpu", "cuda:-1", "cuda:99999", "cpu:0"}) {
    auto r = ParseDeviceFlag(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
      EXPECT_NE(r.status().message().find("cuda:N"), std::string::npos) << r.status().message();
    }
  }
}

TEST(CudaDeviceConfig, ValidatesFields) {
  DeviceConfig c;
  EXPECT_TRUE(ValidateDeviceConfig(c).ok());
  c.gpu_index = -1;
  EXPECT_EQ(ValidateDeviceConfig(c).code(), StatusCode::kInvalidArgument);
  c = {};
  c.gpu_memory_limit_fraction = 1.5;
  EXPECT_EQ(ValidateDeviceConfig(c).code(), StatusCode::kInvalidArgument);
  c = {};
  c.gpu_memory_limit_bytes = -5;
  EXPECT_EQ(ValidateDeviceConfig(c).code(), StatusCode::kInvalidArgument);
  c = {};
  c.precision = "int8";
  Status s = ValidateDeviceConfig(c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("int8"), std::string::npos);
  for (const char* p : {"auto", "fp32", "tf32", "fp16"}) {
    c.precision = p;
    EXPECT_TRUE(ValidateDeviceConfig(c).ok()) << p;
  }
}

TEST(CudaDeviceConfig, CpuConfigResolvesToCpuBackend) {
  DeviceConfig c;
  auto r = ResolveBackend(c);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r == "cpu" || *r == "ref") << *r;
  EXPECT_NE(engine::GetBackend(*r), nullptr);
}

// Without a usable GPU: an error naming the reason, or the CPU with a warning when allowed.
// With one: "cuda". Either way the process does not crash.
TEST(CudaDeviceConfig, CudaConfigResolvesOrExplains) {
  DeviceConfig c;
  c.use_cuda = true;
  auto r = ResolveBackend(c);
  if (r.ok()) {
    EXPECT_EQ(*r, "cuda");
    EXPECT_TRUE(BuiltWithCuda());
    return;
  }
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_GT(r.status().message().size(), 30u);
  if (!BuiltWithCuda()) {
    EXPECT_NE(r.status().message().find("built without CUDA"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("-DFK_CUDA=ON"), std::string::npos);
  }
  c.allow_cpu_fallback = true;
  std::string warning;
  auto f = ResolveBackend(c, &warning);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(*f == "cpu" || *f == "ref");
  EXPECT_NE(warning.find("running on the CPU"), std::string::npos) << warning;
  // The warning carries the reason from the failed probe (the error minus its
  // "device cuda:0: " context).
  const std::string& msg = r.status().message();
  const std::string reason = msg.substr(msg.find(": ") + 2);
  EXPECT_NE(warning.find(reason), std::string::npos) << warning << "\n vs \n" << reason;
}

TEST(CudaDeviceConfig, DescribeGpuNeverCrashes) {
  auto d = DescribeGpu(0);
  if (d.ok()) {
    EXPECT_NE(d->find("compute capability"), std::string::npos);
  } else {
    EXPECT_EQ(d.status().code(), StatusCode::kUnavailable);
  }
  auto bad = DescribeGpu(4096);
  EXPECT_FALSE(bad.ok());
}

#ifdef FK_HAVE_CUDA
TEST(CudaDeviceConfig, OutOfRangeGpuIndexNamesVisibleDevices) {
  auto r = engine::cuda::ProbeDevice(4096);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  // Either no GPU/driver at all, or the index message; both mention what to check.
  const std::string& m = r.status().message();
  EXPECT_TRUE(m.find("CUDA_VISIBLE_DEVICES") != std::string::npos || m.find("driver") != std::string::npos) << m;
}

TEST(CudaDeviceConfig, HiddenDevicesAreReportedAsSuch) {
  // Done in a child so the runtime of this process keeps its own view of the devices.
  if (!std::filesystem::exists(FK_FACEKIT_BIN)) GTEST_SKIP() << "facekit binary not built: " << FK_FACEKIT_BIN;
  const std::string cmd = std::string("CUDA_VISIBLE_DEVICES=-1 ") + FK_FACEKIT_BIN +
                          " selftest --device cuda --models /nonexistent >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 3) << "selftest must exit 3 (skipped) when no device is visible";
}
#endif

// ---- memory pool with a fake allocator (no GPU needed) -----------------------------------------

class FakeAllocator : public RawAllocator {
 public:
  explicit FakeAllocator(size_t capacity = SIZE_MAX) : capacity_(capacity) {}
  Result<void*> Allocate(size_t bytes) override {
    if (used_ + bytes > capacity_) return ResourceExhausted("fake device full");
    used_ += bytes;
    ++allocs;
    void* p = std::malloc(bytes);
    sizes_[p] = bytes;
    return p;
  }
  void Free(void* p) override {
    used_ -= sizes_.at(p);
    sizes_.erase(p);
    ++frees;
    std::free(p);
  }
  size_t used() const { return used_; }
  int allocs = 0, frees = 0;

 private:
  size_t capacity_;
  size_t used_ = 0;
  std::map<void*, size_t> sizes_;
};

TEST(CudaMemoryPool, SizeClassesBoundWaste) {
  EXPECT_EQ(MemoryPool::SizeClass(0), 256u);
  EXPECT_EQ(MemoryPool::SizeClass(1), 256u);
  EXPECT_EQ(MemoryPool::SizeClass(257), 512u);
  EXPECT_EQ(MemoryPool::SizeClass(4096), 4096u);
  for (size_t b : {4097ul, 5000ul, 12345ul, 1000000ul, 123456789ul}) {
    const size_t c = MemoryPool::SizeClass(b);
    EXPECT_GE(c, b);
    EXPECT_LE(c, b + b / 4 + 256) << b;
    EXPECT_EQ(MemoryPool::SizeClass(c), c) << "classes are fixed points";
  }
}

TEST(CudaMemoryPool, ReusesBuffersAcrossRuns) {
  FakeAllocator raw;
  {
    MemoryPool pool(&raw, 0);
    const std::vector<size_t> run = {1000, 150528, 150528, 9999, 64};
    for (int rep = 0; rep < 5; ++rep) {
      std::vector<PoolBuffer> live;
      for (size_t b : run) {
        auto buf = PoolBuffer::Make(&pool, b);
        ASSERT_TRUE(buf.ok()) << buf.status().ToString();
        ASSERT_NE(buf->get(), nullptr);
        live.push_back(std::move(buf).value());
      }
      std::set<void*> distinct;
      for (auto& l : live) distinct.insert(l.get());
      EXPECT_EQ(distinct.size(), run.size()) << "live buffers must not alias";
    }
    EXPECT_EQ(raw.allocs, static_cast<int>(run.size())) << "only the first run allocates";
    EXPECT_EQ(raw.frees, 0) << "no free per run";
    const auto st = pool.stats();
    EXPECT_EQ(st.bytes_in_use, 0u);
    EXPECT_EQ(st.acquires, 5 * run.size());
    EXPECT_GE(st.bytes_cached, 1000u + 2 * 150528u + 9999u + 64u);
  }
  EXPECT_EQ(raw.used(), 0u) << "the pool frees everything on destruction";
}

TEST(CudaMemoryPool, ResetPeakTrimsTheCacheAndRestartsFromWhatIsInUse) {
  FakeAllocator raw;
  MemoryPool pool(&raw, 0);
  auto keep = PoolBuffer::Make(&pool, 1 << 20);
  ASSERT_TRUE(keep.ok());
  {
    auto big = PoolBuffer::Make(&pool, 8 << 20);  // an earlier model's activations
    ASSERT_TRUE(big.ok());
  }
  EXPECT_GE(pool.stats().peak_reserved, size_t{9} << 20);
  pool.ResetPeak();
  const auto st = pool.stats();
  EXPECT_EQ(st.bytes_cached, 0u) << "cached blocks are freed";
  EXPECT_EQ(st.peak_reserved, st.bytes_in_use);
  EXPECT_EQ(st.bytes_in_use, MemoryPool::SizeClass(1 << 20));
  EXPECT_EQ(raw.used(), MemoryPool::SizeClass(1 << 20));
  auto next = PoolBuffer::Make(&pool, 2 << 20);  // the next model's own peak
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(pool.stats().peak_reserved, MemoryPool::SizeClass(1 << 20) + MemoryPool::SizeClass(2 << 20));
}

TEST(CudaMemoryPool, LimitGivesResourceExhaustedWithNumbers) {
  FakeAllocator raw;
  MemoryPool pool(&raw, 1 << 20);
  auto a = PoolBuffer::Make(&pool, 600 * 1024);
  ASSERT_TRUE(a.ok());
  auto b = PoolBuffer::Make(&pool, 600 * 1024);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kResourceExhausted);
  const std::string& m = b.status().message();
  EXPECT_NE(m.find(std::to_string(600 * 1024)), std::string::npos) << m;
  EXPECT_NE(m.find(std::to_string(1 << 20)), std::string::npos) << m;
  EXPECT_NE(m.find("batch"), std::string::npos) << m;
  EXPECT_LE(pool.stats().bytes_reserved(), size_t{1} << 20);
}

TEST(CudaMemoryPool, TrimsCacheOfOtherSizesUnderLimit) {
  FakeAllocator raw;
  MemoryPool pool(&raw, 1 << 20);
  { auto a = PoolBuffer::Make(&pool, 700 * 1024); ASSERT_TRUE(a.ok()); }  // cached after scope
  EXPECT_EQ(pool.stats().bytes_in_use, 0u);
  EXPECT_GT(pool.stats().bytes_cached, 0u);
  auto b = PoolBuffer::Make(&pool, 900 * 1024);  // different class: needs the cache trimmed
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(raw.frees, 1);
  EXPECT_LE(pool.stats().bytes_reserved(), size_t{1} << 20);
}

TEST(CudaMemoryPool, RawFailureTrimsThenReports) {
  FakeAllocator raw(1 << 20);  // the "card" has 1 MiB, no pool limit
  MemoryPool pool(&raw, 0);
  { auto a = PoolBuffer::Make(&pool, 800 * 1024); ASSERT_TRUE(a.ok()); }
  auto b = PoolBuffer::Make(&pool, 500 * 1024);  // fits only after the cached block is freed
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto c = PoolBuffer::Make(&pool, 900 * 1024);  // never fits
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("fake device full"), std::string::npos) << c.status().message();
}

TEST(CudaMemoryPool, SetLimitAndEffectiveLimit) {
  FakeAllocator raw;
  MemoryPool pool(&raw, 0);
  { auto a = PoolBuffer::Make(&pool, 4096); ASSERT_TRUE(a.ok()); }
  pool.set_limit(1024);  // below the cache: trimmed
  EXPECT_EQ(pool.stats().bytes_cached, 0u);
  EXPECT_FALSE(PoolBuffer::Make(&pool, 4096).ok());
  EXPECT_EQ(EffectivePoolLimit(0, 0, 80ll << 30), 0u);
  EXPECT_EQ(EffectivePoolLimit(1000, 0, 80ll << 30), 1000u);
  EXPECT_EQ(EffectivePoolLimit(0, 0.5, 1000), 500u);
  EXPECT_EQ(EffectivePoolLimit(300, 0.5, 1000), 300u);
  EXPECT_EQ(EffectivePoolLimit(800, 0.5, 1000), 500u);
}

// ---- GPU op tests vs the reference backend ----------------------------------------------------

// Skips the test with the reason when no GPU is usable.
#define FK_REQUIRE_GPU()                                                                   \
  do {                                                                                     \
    std::string why_;                                                                      \
    if (!GpuUsable(&why_)) GTEST_SKIP() << "no CUDA device: " << why_;                     \
  } while (0)

bool GpuUsable(std::string* why) {
#ifdef FK_HAVE_CUDA
  auto r = engine::cuda::CheckDeviceUsable(0);
  if (!r.ok()) *why = r.status().message();
  return r.ok();
#else
  *why = "this facekit was built without CUDA (rebuild with -DFK_CUDA=ON)";
  return false;
#endif
}

using testing::CaseInput;
using testing::RandomFloat;

void ExpectMatchesRef(ir::OpType op, const ir::Attrs& attrs, const std::vector<CaseInput>& in,
                      const std::string& label) {
  SCOPED_TRACE(label);
  const engine::Backend* cuda = engine::GetBackend("cuda");
  ASSERT_NE(cuda, nullptr);
  auto want = testing::RunOneNode(engine::RefBackend(), op, attrs, in);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto have = testing::RunOneNode(cuda, op, attrs, in);
  ASSERT_TRUE(have.ok()) << have.status().ToString();
  ASSERT_TRUE(have->supported) << "cuda declined " << label;
  const double tol = 1e-4 * std::max(1.0, testing::MaxAbs(want->outputs[0]));
  EXPECT_LE(testing::MaxAbsDiff(want->outputs[0], have->outputs[0]), tol);
}

ir::Attrs ConvAttrs(int stride, const std::string& padding, const std::string& act, bool bias) {
  ir::Attrs a;
  a.set("strides", std::vector<int64_t>{stride, stride});
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("padding", padding);
  a.set("activation", act);
  a.set("clip_min", -0.5f);
  a.set("clip_max", 0.75f);
  a.set("has_bias", int64_t{bias ? 1 : 0});
  return a;
}

TEST(CudaOps, Conv2DOddShapesAndActivations) {
  FK_REQUIRE_GPU();
  uint32_t seed = 1;
  for (int stride : {1, 2})
    for (const char* pad : {"SAME", "VALID"})
      for (const char* act : {"none", "relu6", "clip", "sigmoid", "prelu"}) {
        std::vector<CaseInput> in = {{RandomFloat(Shape{2, 13, 11, 7}, seed++)},
                                     {RandomFloat(Shape{3, 3, 7, 13}, seed++), true},
                                     {RandomFloat(Shape{13}, seed++), true}};
        if (std::string(act) == "prelu") in.push_back({RandomFloat(Shape{13}, seed++, 0.f, 0.5f), true});
        ExpectMatchesRef(ir::OpType::kConv2D, ConvAttrs(stride, pad, act, true), in,
                         std::string("conv s") + std::to_string(stride) + " " + pad + " " + act);
      }
}

TEST(CudaOps, DepthwiseWithMultiplier) {
  FK_REQUIRE_GPU();
  for (int stride : {1, 2})
    for (int mult : {1, 2}) {
      std::vector<CaseInput> in = {{RandomFloat(Shape{1, 17, 15, 5}, 10 + stride)},
                                   {RandomFloat(Shape{5, 5, 5, mult}, 20 + mult), true},
                                   {RandomFloat(Shape{5 * mult}, 30), true}};
      ExpectMatchesRef(ir::OpType::kDepthwiseConv2D, ConvAttrs(stride, "SAME", "relu", true), in,
                       "depthwise s" + std::to_string(stride) + " m" + std::to_string(mult));
    }
}

// The vectorised depthwise kernel (the default; FK_CUDA_DW=scalar, read at plan, is the other),
// 4 floats per thread.
TEST(CudaOps, VectorisedDepthwiseMatchesTheReference) {
  FK_REQUIRE_GPU();
  unsetenv("FK_CUDA_DW");
  for (int stride : {1, 2})
    for (int64_t c : {8, 12}) {
      std::vector<CaseInput> in = {{RandomFloat(Shape{2, 15, 13, c}, 50 + stride)},
                                   {RandomFloat(Shape{3, 3, c, 1}, 60 + c), true},
                                   {RandomFloat(Shape{c}, 70), true},
                                   {RandomFloat(Shape{c}, 80, 0.f, 0.5f), true}};  // prelu alpha
      ExpectMatchesRef(ir::OpType::kDepthwiseConv2D, ConvAttrs(stride, "SAME", "prelu", true), in,
                       "vec depthwise s" + std::to_string(stride) + " c" + std::to_string(c));
    }
  unsetenv("FK_CUDA_DW");
}

TEST(CudaOps, MatMulTransposesAndBias) {
  FK_REQUIRE_GPU();
  for (int tb : {0, 1}) {
    ir::Attrs a;
    a.set("transpose_b", int64_t{tb});
    a.set("has_bias", int64_t{1});
    a.set("activation", std::string("relu"));
    std::vector<CaseInput> in = {{RandomFloat(Shape{3, 127}, 40)},
                                 {RandomFloat(tb ? Shape{13, 127} : Shape{127, 13}, 41), true},
                                 {RandomFloat(Shape{13}, 42), true}};
    ExpectMatchesRef(ir::OpType::kMatMul, a, in, "matmul tb" + std::to_string(tb));
  }
}

TEST(CudaOps, PoolingSoftmaxBinary) {
  FK_REQUIRE_GPU();
  for (auto op : {ir::OpType::kMaxPool, ir::OpType::kAvgPool}) {
    ir::Attrs a;
    a.set("ksize", std::vector<int64_t>{3, 3});
    a.set("strides", std::vector<int64_t>{2, 2});
    a.set("padding", std::string("SAME"));
    ExpectMatchesRef(op, a, {{RandomFloat(Shape{2, 9, 8, 13}, 50)}}, ir::OpTypeName(op));
  }
  ir::Attrs sm;
  sm.set("axis", int64_t{-1});
  ExpectMatchesRef(ir::OpType::kSoftmax, sm, {{RandomFloat(Shape{3, 5, 127}, 60, -8.f, 8.f)}}, "softmax");
  for (auto op : {ir::OpType::kAdd, ir::OpType::kMul, ir::OpType::kSub, ir::OpType::kMaximum})
    ExpectMatchesRef(op, {}, {{RandomFloat(Shape{2, 7, 1, 13}, 70)}, {RandomFloat(Shape{5, 1}, 71)}},
                     std::string("broadcast ") + ir::OpTypeName(op));
}

#ifdef FK_HAVE_CUDA
TEST(CudaOps, PoolReusesMemoryAcrossRuns) {
  FK_REQUIRE_GPU();
  std::vector<CaseInput> in = {{RandomFloat(Shape{1, 33, 31, 8}, 80)},
                               {RandomFloat(Shape{3, 3, 8, 16}, 81), true}};
  auto first = testing::RunOneNode(engine::GetBackend("cuda"), ir::OpType::kConv2D,
                                   ConvAttrs(1, "SAME", "none", false), in);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const size_t allocs = engine::CudaPoolStats(0).raw_allocations;
  for (int i = 0; i < 3; ++i) {
    auto again = testing::RunOneNode(engine::GetBackend("cuda"), ir::OpType::kConv2D,
                                     ConvAttrs(1, "SAME", "none", false), in);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(testing::MaxAbsDiff(first->outputs[0], again->outputs[0]), 0.0);
  }
  // Plan uploads the weights again (new kernel each time, same classes): no growth of the
  // raw allocation count beyond the first run's classes.
  EXPECT_EQ(engine::CudaPoolStats(0).raw_allocations, allocs);
}

// fp16 (half storage, fp32 accumulation) vs the reference: max error within 1e-2 of the output's
// magnitude (half keeps 11 significant bits) and cosine >= 0.999. Single-node graphs run
// staged, so this also covers CudaKernel::Run's float<->half conversions.
double Cosine(const Tensor& a, const Tensor& b);  // defined below

void ExpectFp16MatchesRef(ir::OpType op, const ir::Attrs& attrs, const std::vector<CaseInput>& in,
                          const std::string& label) {
  SCOPED_TRACE(label + " (fp16)");
  auto b = engine::CudaBackendFor({0, "fp16"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  auto want = testing::RunOneNode(engine::RefBackend(), op, attrs, in);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto have = testing::RunOneNode(*b, op, attrs, in);
  ASSERT_TRUE(have.ok()) << have.status().ToString();
  ASSERT_TRUE(have->supported) << "cuda fp16 declined " << label;
  const double tol = 1e-2 * std::max(1.0, testing::MaxAbs(want->outputs[0]));
  EXPECT_LE(testing::MaxAbsDiff(want->outputs[0], have->outputs[0]), tol);
  EXPECT_GE(Cosine(want->outputs[0], have->outputs[0]), 0.999);
}

TEST(CudaFp16, OpsMatchTheReference) {
  FK_REQUIRE_GPU();
  uint32_t seed = 500;
  for (int stride : {1, 2})
    for (const char* act : {"none", "relu6", "prelu"}) {
      // 16 -> 24 channels (tensor-core friendly) and 7 -> 13 (not a multiple of 8).
      for (int64_t cin : {7, 16}) {
        const int64_t cout = cin == 7 ? 13 : 24;
        std::vector<CaseInput> in = {{RandomFloat(Shape{2, 13, 11, cin}, seed++)},
                                     {RandomFloat(Shape{3, 3, cin, cout}, seed++), true},
                                     {RandomFloat(Shape{cout}, seed++), true}};
        if (std::string(act) == "prelu") in.push_back({RandomFloat(Shape{cout}, seed++, 0.f, 0.5f), true});
        ExpectFp16MatchesRef(ir::OpType::kConv2D, ConvAttrs(stride, "SAME", act, true), in,
                             "conv s" + std::to_string(stride) + " c" + std::to_string(cin) + " " + act);
      }
    }
  ExpectFp16MatchesRef(ir::OpType::kDepthwiseConv2D, ConvAttrs(2, "SAME", "relu", true),
                       {{RandomFloat(Shape{1, 17, 15, 5}, seed++)},
                        {RandomFloat(Shape{5, 5, 5, 2}, seed++), true},
                        {RandomFloat(Shape{10}, seed++), true}},
                       "depthwise s2 m2");
  for (int tb : {0, 1}) {
    ir::Attrs a;
    a.set("transpose_b", int64_t{tb});
    a.set("has_bias", int64_t{1});
    a.set("activation", std::string("none"));
    ExpectFp16MatchesRef(ir::OpType::kMatMul, a,
                         {{RandomFloat(Shape{3, 128}, seed++)},
                          {RandomFloat(tb ? Shape{24, 128} : Shape{128, 24}, seed++), true},
                          {RandomFloat(Shape{24}, seed++), true}},
                         "matmul tb" + std::to_string(tb));
  }
  for (auto op : {ir::OpType::kMaxPool, ir::OpType::kAvgPool}) {
    ir::Attrs a;
    a.set("ksize", std::vector<int64_t>{3, 3});
    a.set("strides", std::vector<int64_t>{2, 2});
    a.set("padding", std::string("SAME"));
    ExpectFp16MatchesRef(op, a, {{RandomFloat(Shape{2, 9, 8, 13}, seed++)}}, ir::OpTypeName(op));
  }
  ir::Attrs sm;
  sm.set("axis", int64_t{-1});
  ExpectFp16MatchesRef(ir::OpType::kSoftmax, sm, {{RandomFloat(Shape{3, 5, 127}, seed++, -8.f, 8.f)}}, "softmax");
  for (auto op : {ir::OpType::kAdd, ir::OpType::kMul, ir::OpType::kMaximum})
    ExpectFp16MatchesRef(op, {}, {{RandomFloat(Shape{2, 7, 1, 13}, seed++)}, {RandomFloat(Shape{5, 1}, seed++)}},
                         std::string("broadcast ") + ir::OpTypeName(op));
  ExpectFp16MatchesRef(ir::OpType::kRelu6, {}, {{RandomFloat(Shape{3, 1001}, seed++, -8.f, 8.f)}}, "relu6");
  ir::Attrs cat;
  cat.set("axis", int64_t{-1});
  ExpectFp16MatchesRef(ir::OpType::kConcat, cat,
                       {{RandomFloat(Shape{2, 3, 5}, seed++)}, {RandomFloat(Shape{2, 3, 7}, seed++), true}},
                       "concat with a constant");
}
#endif

// ---- Model::Load with backend "cuda" (runs everywhere; the no-GPU branches run on CI) ----------

std::string SmallModel() {
  std::string dir = "models";
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) dir = e;
  return dir + "/human/blazeface.json";
}

#define FK_REQUIRE_MODEL(path)                                                            \
  do {                                                                                    \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "model not fetched: " << (path); \
  } while (0)

Tensor SeededImage(const TensorSpec& spec, int seed) {
  Shape s = spec.shape;
  for (int d = 0; d < s.rank(); ++d)
    if (s[d] < 0) s[d] = d == 0 ? 1 : 64;
  Tensor t(DType::kFloat32, s);
  for (int64_t i = 0; i < t.num_elements(); ++i)
    t.data<float>()[i] = 0.5f + 0.5f * std::sin(0.37f * static_cast<float>(i) + static_cast<float>(seed));
  return t;
}

// Output k of a GPU run against the reference run on the same input bits: max |difference| <=
// 1e-5 x max(1, max |reference|) (run-to-run noise of the GPU kernels).
void ExpectSameUpToNoise(const Tensor& want, const Tensor& have, size_t k, int run) {
  ASSERT_EQ(want.shape(), have.shape()) << "output " << k << " run " << run;
  EXPECT_LE(testing::MaxAbsDiff(want, have), 1e-5 * std::max(1.0, testing::MaxAbs(want)))
      << "output " << k << " run " << run;
}

double Cosine(const Tensor& a, const Tensor& b) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa == 0 && bb == 0 ? 1.0 : ab / std::sqrt(aa * bb + 1e-30);
}

TEST(CudaModelLoad, FailsWithTheReasonOrFallsBackWhenAllowed) {
  const std::string path = SmallModel();
  FK_REQUIRE_MODEL(path);
  ModelOptions o;
  o.backend = "cuda";
  auto m = Model::Load(path, o);
  std::string why;
  if (GpuUsable(&why)) {
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ((*m)->backend_name(), "cuda");
    EXPECT_TRUE((*m)->device_warning().empty());
    return;
  }
  why = DescribeGpu(0).status().message();  // the probe's reason, as the engine words it
  // No usable GPU: Unavailable with the probe's reason (no driver / no device / built without
  // CUDA ...), never a silent CPU run.
  ASSERT_FALSE(m.ok()) << "backend cuda loaded without a usable GPU";
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << m.status().ToString();
  EXPECT_NE(m.status().message().find(why), std::string::npos) << m.status().message() << "\nvs\n" << why;
  if (!BuiltWithCuda()) {
    EXPECT_NE(m.status().message().find("built without CUDA"), std::string::npos);
  }

  o.device.allow_cpu_fallback = true;
  auto f = Model::Load(path, o);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE((*f)->backend_name() == "cpu" || (*f)->backend_name() == "ref") << (*f)->backend_name();
  EXPECT_NE((*f)->device_warning().find("running on the CPU"), std::string::npos) << (*f)->device_warning();
  EXPECT_NE((*f)->device_warning().find(why), std::string::npos) << (*f)->device_warning();
  EXPECT_EQ((*f)->precision(), "fp32");  // the CPU backends run fp32 whatever was asked
  EXPECT_TRUE((*f)->precision_note().empty());
  // And it really runs: same result as a model loaded on that CPU backend directly.
  ModelOptions c;
  c.backend = (*f)->backend_name();
  auto cpu = Model::Load(path, c);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> in{SeededImage((*f)->inputs()[0], 3)};
  auto a = (*f)->Run(in);
  auto b = (*cpu)->Run(in);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ(testing::MaxAbsDiff((*a)[i], (*b)[i]), 0.0);
}

// Every node of the models the pipeline uses runs on the GPU. A node the CUDA backend refuses
// runs on the host with correct results, so only placement catches it (the first H100 run: every
// convolution with a filter > 1x1 was refused and the selftest still passed on values).
TEST(CudaModelLoad, EveryNodeOfThePipelineModelsRunsOnTheGpu) {
  std::string why;
  if (!GpuUsable(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  std::string dir = "models";
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) dir = e;
  int checked = 0;
  for (const char* rel : {"human/blazeface.json", "human/blazeface-back.json", "human/mobileface.json",
                          "human/facemesh.json", "human/faceres.json", "faceplugin/fr_feature.onnx",
                          "faceplugin/fr_detect.onnx"}) {
    const std::string path = dir + "/" + rel;
    if (!std::filesystem::exists(path)) continue;
    SCOPED_TRACE(path);
    ModelOptions o;
    o.backend = "cuda";
    auto m = Model::Load(path, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    std::vector<Shape> shapes;
    for (const TensorSpec& s : (*m)->inputs()) {
      std::vector<int64_t> d = s.shape.dims();
      for (size_t i = 0; i < d.size(); ++i)
        if (d[i] < 0) d[i] = i == 0 ? 2 : 64;
      shapes.emplace_back(d);
    }
    auto nb = (*m)->NodeBackends(shapes);
    ASSERT_TRUE(nb.ok()) << nb.status().ToString();
    int on_gpu = 0, run_time = 0;
    std::string off;
    for (const auto& [op, b] : *nb) {
      if (b == "plan-time") continue;
      ++run_time;
      if (b == "cuda") ++on_gpu;
      else off += " " + op + "@" + b;
    }
    EXPECT_GT(run_time, 0);
    EXPECT_EQ(on_gpu, run_time) << "nodes off the GPU:" << off;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "models not fetched under " << dir;
}

TEST(CudaModelLoad, DeviceUseCudaIsTheSameAsBackendCuda) {
  const std::string path = SmallModel();
  FK_REQUIRE_MODEL(path);
  ModelOptions o;  // backend "cpu" but device.use_cuda: the device setting wins
  o.device.use_cuda = true;
  auto m = Model::Load(path, o);
  std::string why;
  if (GpuUsable(&why)) {
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ((*m)->backend_name(), "cuda");
  } else {
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kUnavailable);
  }
}

TEST(CudaModelLoad, RejectsBadDeviceSettingsBeforeProbing) {
  const std::string path = SmallModel();
  FK_REQUIRE_MODEL(path);
  ModelOptions o;
  o.backend = "cuda";
  o.cuda_run = "turbo";
  auto m = Model::Load(path, o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status().ToString();
  EXPECT_NE(m.status().message().find("staged, resident or graph"), std::string::npos) << m.status().message();
  o.cuda_run = "";
  o.device.precision = "fp8";
  m = Model::Load(path, o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status().ToString();
  EXPECT_NE(m.status().message().find("fp32, tf32, fp16"), std::string::npos) << m.status().message();
  o.device.precision = "fp32";
  o.device.gpu_memory_limit_fraction = 1.5;
  m = Model::Load(path, o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status().ToString();
}

TEST(CudaModelLoad, CudaBackendLookupExplainsWhatIsMissing) {
  auto b = engine::GetCudaBackend(0, "fp32", 0, 0);
  std::string why;
  if (GpuUsable(&why)) {
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_STREQ((*b)->name(), "cuda");
    auto t = engine::GetCudaBackend(0, "auto", 1 << 30, 0.5);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    return;
  }
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
  if (!BuiltWithCuda()) {
    EXPECT_NE(b.status().message().find("built without CUDA"), std::string::npos);
  }
}

#ifdef FK_HAVE_CUDA
TEST(CudaModelLoad, Fp16BackendExistsAndBadSettingsAreRefused) {
  auto b = engine::CudaBackendFor({0, "fp16"});
  ASSERT_TRUE(b.ok()) << b.status().ToString();  // no probe: the object exists without a GPU
  EXPECT_STREQ((*b)->name(), "cuda");
  auto again = engine::CudaBackendFor({0, "fp16"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *b);  // cached per (GPU, precision)
  EXPECT_NE(*b, engine::CudaBackend());
  EXPECT_FALSE(engine::CudaBackendFor({0, "int4"}).ok());
  EXPECT_FALSE(engine::CudaBackendFor({-1, "fp32"}).ok());
}

// ---- fp16 host logic (no GPU needed) ----------------------------------------------------------

TEST(CudaFp16, HostHalfConversionRoundsToNearestEven) {
  using engine::cuda::FloatToHalfBits;
  using engine::cuda::HalfBitsToFloat;
  EXPECT_EQ(FloatToHalfBits(0.f), 0x0000);
  EXPECT_EQ(FloatToHalfBits(-0.f), 0x8000);
  EXPECT_EQ(FloatToHalfBits(1.f), 0x3C00);
  EXPECT_EQ(FloatToHalfBits(-2.f), 0xC000);
  EXPECT_EQ(FloatToHalfBits(65504.f), 0x7BFF);            // largest finite half
  EXPECT_EQ(FloatToHalfBits(65520.f), 0x7C00);            // rounds up to +inf
  EXPECT_EQ(FloatToHalfBits(1.f + 1.f / 2048), 0x3C00);   // tie: to even (down)
  EXPECT_EQ(FloatToHalfBits(1.f + 3.f / 2048), 0x3C02);   // tie: to even (up)
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.f, -26)), 0x0000);  // underflows to zero
  for (float v : {0.f, 1.f, -0.333251953125f, 1024.f, 65504.f, std::ldexp(1.f, -24)})
    EXPECT_EQ(HalfBitsToFloat(FloatToHalfBits(v)), v) << v;
  EXPECT_TRUE(std::isinf(HalfBitsToFloat(0x7C00)));
  EXPECT_TRUE(std::isnan(HalfBitsToFloat(FloatToHalfBits(NAN))));
}

// x -> Conv a -> Relu r -> Square q -> Sum s -> Rsqrt n -> Mul(r, n) m -> Conv b -> Exp e
//   -> Transpose t (host) -> Sigmoid y;  b -> Relu z;  x -> Add(x, 1) p (a graph input alone
// does not make a node fp32).
TEST(CudaFp16, StoragePolicyKeepsRangeSensitiveRegionsInFp32) {
  ir::Graph g;
  auto value = [&](const std::string& name) {
    ir::Value v;
    v.name = name;
    v.shape = Shape{1, 4, 4, 2};
    return g.AddValue(std::move(v));
  };
  std::map<std::string, size_t> id;
  auto node = [&](ir::OpType op, const std::string& name, std::vector<ir::ValueId> in) {
    ir::ValueId o = value(name);
    ir::Node n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = {o};
    id[name] = g.nodes().size();
    g.AddNode(std::move(n));
    return o;
  };
  ir::ValueId x = value("x");
  g.inputs().push_back(x);
  ir::ValueId w = g.AddConstant("w", RandomFloat(Shape{1, 1, 2, 2}, 1));
  ir::ValueId one = g.AddConstant("one", RandomFloat(Shape{1}, 2));
  ir::ValueId axes = g.AddConstant("axes", Tensor(DType::kInt32, Shape{1}));
  ir::ValueId a = node(ir::OpType::kConv2D, "a", {x, w});
  ir::ValueId r = node(ir::OpType::kRelu, "r", {a});
  ir::ValueId q = node(ir::OpType::kSquare, "q", {r});
  ir::ValueId sm = node(ir::OpType::kSum, "s", {q, axes});
  ir::ValueId n = node(ir::OpType::kRsqrt, "n", {sm});
  ir::ValueId m = node(ir::OpType::kMul, "m", {r, n});
  ir::ValueId b = node(ir::OpType::kConv2D, "b", {m, w});
  ir::ValueId e = node(ir::OpType::kExp, "e", {b});
  ir::ValueId t = node(ir::OpType::kTranspose, "t", {e});
  ir::ValueId y = node(ir::OpType::kSigmoid, "y", {t});
  ir::ValueId z = node(ir::OpType::kRelu, "z", {b});
  ir::ValueId p = node(ir::OpType::kAdd, "p", {x, one});
  g.outputs() = {y, z, p};
  const std::vector<bool> fp32 = engine::Fp32NodesInFp16Graph(
      g, [](const ir::Node& nd) { return nd.op != ir::OpType::kTranspose; });
  ASSERT_EQ(fp32.size(), g.nodes().size());
  const std::map<std::string, bool> want = {{"a", false}, {"r", false}, {"q", true},  {"s", true},
                                            {"n", true},  {"m", true},  {"b", false}, {"e", true},
                                            {"t", true},  {"y", true},  {"z", false}, {"p", false}};
  for (const auto& [name, is_fp32] : want) EXPECT_EQ(fp32[id.at(name)], is_fp32) << "node " << name;
}
#endif

// ---- whole-graph device runs (GPU) -------------------------------------------------------------

// x[N,9,11,5] -> Conv2D 3x3 s2 SAME (+bias, relu) -> c;  c -> Transpose(0,2,1,3) -> t (runs on
// ref: a host round trip inside a device-resident run) -> Sigmoid -> y.  Outputs: y, c.
// With `host_step` false the Transpose is left out (every node on the GPU: CUDA graph mode).
ir::Graph RunnerGraph(bool host_step) {
  ir::Graph g;
  auto value = [&](const std::string& name, Shape s) {
    ir::Value v;
    v.name = name;
    v.shape = std::move(s);
    return g.AddValue(std::move(v));
  };
  auto constant = [&](const std::string& name, Shape s, int seed) {
    return g.AddConstant(name, RandomFloat(s, seed));
  };
  auto node = [&](ir::OpType op, const std::string& name, std::vector<ir::ValueId> in, ir::Attrs a) {
    ir::ValueId o = value(name, Shape{});
    ir::Node n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(in);
    n.outputs = {o};
    n.attrs = std::move(a);
    g.AddNode(std::move(n));
    return o;
  };
  ir::ValueId x = value("x", Shape{-1, 9, 11, 5});
  g.inputs().push_back(x);
  ir::ValueId w = constant("w", Shape{3, 3, 5, 6}, 901);
  ir::ValueId b = constant("b", Shape{6}, 902);
  ir::ValueId c = node(ir::OpType::kConv2D, "conv", {x, w, b}, ConvAttrs(2, "SAME", "relu", true));
  ir::ValueId t = c;
  if (host_step) {
    ir::Attrs a;
    a.set("perm", std::vector<int64_t>{0, 2, 1, 3});
    t = node(ir::OpType::kTranspose, "transpose", {c}, a);
  }
  ir::ValueId y = node(ir::OpType::kSigmoid, "sigmoid", {t}, {});
  g.outputs().push_back(y);
  g.outputs().push_back(c);
  return g;
}

Result<std::unique_ptr<engine::Executor>> RunnerExecutor(bool host_step, const std::string& backend,
                                                         const std::string& run) {
  engine::ExecutorOptions eo;
  eo.backend = backend;
  eo.device_run = run;
  eo.num_threads = 1;
  return engine::Executor::Create(RunnerGraph(host_step), eo);
}

TEST(CudaGraphRunner, EveryRunModeMatchesTheReference) {
  FK_REQUIRE_GPU();
  for (bool host_step : {true, false})
    for (const char* mode : {"staged", "resident", "graph"}) {
      SCOPED_TRACE(std::string(mode) + (host_step ? " with a host step" : " all on the GPU"));
      auto ref = RunnerExecutor(host_step, "ref", "staged");
      auto dev = RunnerExecutor(host_step, "cuda", mode);
      ASSERT_TRUE(ref.ok() && dev.ok()) << (ref.ok() ? dev.status() : ref.status()).ToString();
      // Several runs with different inputs: graph mode warms up + captures on the first and
      // replays afterwards, so runs 2.. check that a replay reads the new inputs.
      for (int run = 0; run < 4; ++run) {
        const int64_t batch = run == 3 ? 3 : 2;  // a new batch size plans (and captures) again
        std::vector<Tensor> in{RandomFloat(Shape{batch, 9, 11, 5}, 100 + run)};
        auto want = (*ref)->Run(in);
        auto have = (*dev)->Run(in);
        ASSERT_TRUE(want.ok()) << want.status().ToString();
        ASSERT_TRUE(have.ok()) << have.status().ToString();
        ASSERT_EQ(have->size(), 2u);
        for (size_t o = 0; o < 2; ++o) {
          ASSERT_EQ((*have)[o].shape().dims(), (*want)[o].shape().dims());
          EXPECT_LE(testing::MaxAbsDiff((*want)[o], (*have)[o]), 1e-4) << "run " << run << " output " << o;
        }
      }
    }
}

#ifdef FK_HAVE_CUDA
// The runner with the fp16 backend: graph input cast to half, Conv in half, the host step
// (Transpose) between float copies, Sigmoid in fp32 after it, output c cast to float.
TEST(CudaGraphRunner, Fp16EveryRunModeMatchesTheReference) {
  FK_REQUIRE_GPU();
  auto fp16 = engine::CudaBackendFor({0, "fp16"});
  ASSERT_TRUE(fp16.ok());
  for (bool host_step : {true, false})
    for (const char* mode : {"staged", "resident", "graph"}) {
      SCOPED_TRACE(std::string(mode) + (host_step ? " with a host step" : " all on the GPU"));
      auto ref = RunnerExecutor(host_step, "ref", "staged");
      engine::ExecutorOptions eo;
      eo.backend = "cuda";
      eo.backend_object = *fp16;
      eo.device_run = mode;
      eo.num_threads = 1;
      auto dev = engine::Executor::Create(RunnerGraph(host_step), eo);
      ASSERT_TRUE(ref.ok() && dev.ok()) << (ref.ok() ? dev.status() : ref.status()).ToString();
      for (int run = 0; run < 3; ++run) {
        std::vector<Tensor> in{RandomFloat(Shape{2, 9, 11, 5}, 300 + run)};
        auto want = (*ref)->Run(in);
        auto have = (*dev)->Run(in);
        ASSERT_TRUE(want.ok()) << want.status().ToString();
        ASSERT_TRUE(have.ok()) << have.status().ToString();
        ASSERT_EQ(have->size(), 2u);
        for (size_t o = 0; o < 2; ++o) {
          ASSERT_EQ((*have)[o].shape().dims(), (*want)[o].shape().dims());
          const double tol = 1e-2 * std::max(1.0, testing::MaxAbs((*want)[o]));
          EXPECT_LE(testing::MaxAbsDiff((*want)[o], (*have)[o]), tol) << "run " << run << " output " << o;
          EXPECT_GE(Cosine((*want)[o], (*have)[o]), 0.999) << "run " << run << " output " << o;
        }
      }
    }
}
#endif

TEST(CudaGraphRunner, ConcurrentRunsOnOneModel) {
  FK_REQUIRE_GPU();
  // "graph4": FK_CUDA_GRAPHS=4, up to four captured instances replaying side by side.
  for (std::string mode : {"resident", "graph", "graph4"}) {
    SCOPED_TRACE(mode);
    if (mode == "graph4") {
      setenv("FK_CUDA_GRAPHS", "4", 1);
      mode = "graph";
    }
    auto dev = RunnerExecutor(false, "cuda", mode);
    auto ref2 = RunnerExecutor(false, "ref", "staged");
    ASSERT_TRUE(dev.ok() && ref2.ok());
    std::vector<std::vector<Tensor>> ins(4), wants(4);
    for (int t = 0; t < 4; ++t) {
      ins[t] = {RandomFloat(Shape{2, 9, 11, 5}, 200 + t)};
      auto w = (*ref2)->Run(ins[t]);
      ASSERT_TRUE(w.ok());
      wants[t] = *w;
    }
    std::vector<float> worst(4, 0.f);
    std::vector<std::string> errors(4);
    std::vector<std::thread> th;
    for (int t = 0; t < 4; ++t)
      th.emplace_back([&, t] {
        for (int k = 0; k < 10; ++k) {
          auto h = (*dev)->Run(ins[t]);
          if (!h.ok()) {
            errors[t] = h.status().ToString();
            return;
          }
          for (size_t o = 0; o < h->size(); ++o)
            worst[t] = std::max<float>(worst[t], testing::MaxAbsDiff(wants[t][o], (*h)[o]));
        }
      });
    for (auto& x : th) x.join();
    for (int t = 0; t < 4; ++t) {
      EXPECT_TRUE(errors[t].empty()) << errors[t];
      EXPECT_LE(worst[t], 1e-4) << "thread " << t;
    }
  }
  unsetenv("FK_CUDA_GRAPHS");
}

TEST(CudaGraphRunner, RealModelRunModesAgree) {
  FK_REQUIRE_GPU();
  const std::string path = SmallModel();
  FK_REQUIRE_MODEL(path);
  ModelOptions c;
  c.backend = "cpu";
  auto cpu = Model::Load(path, c);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  std::vector<Tensor> in{SeededImage((*cpu)->inputs()[0], 5)};
  auto want = (*cpu)->Run(in);
  ASSERT_TRUE(want.ok());
  for (const char* mode : {"staged", "resident", "graph"}) {
    SCOPED_TRACE(mode);
    ModelOptions o;
    o.backend = "cuda";
    o.device.precision = "fp32";
    o.cuda_run = mode;
    auto m = Model::Load(path, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    for (int run = 0; run < 3; ++run) {
      auto have = (*m)->Run(in);
      ASSERT_TRUE(have.ok()) << have.status().ToString();
      ASSERT_EQ(have->size(), want->size());
      for (size_t i = 0; i < have->size(); ++i) EXPECT_GE(Cosine((*want)[i], (*have)[i]), 0.99999);
    }
  }
}

// fp16 on a real model, every run mode, and precision auto: says what it chose and why.
// Model::RunPixels on a cuda model: the bytes go to the GPU and a kernel normalises them
// (engine/cuda/pixels.cu, the arithmetic of engine/pixel_transform.h without FMA), so the
// outputs equal Run on the same floats normalised on the host, in every run mode and precision
// (graph mode: the warm-up/capture run, then replays).
TEST(CudaModelLoad, RunPixelsOnTheGpuEqualsRunOnHostNormalisedFloats) {
  FK_REQUIRE_GPU();
  const std::string path = SmallModel();
  FK_REQUIRE_MODEL(path);
  for (const char* precision : {"fp32", "fp16"}) {
    for (const char* mode : {"staged", "resident", "graph"}) {
      SCOPED_TRACE(std::string(precision) + " " + mode);
      ModelOptions o;
      o.backend = "cuda";
      o.device.precision = precision;
      o.cuda_run = mode;
      auto m = Model::Load(path, o);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      Shape s = (*m)->inputs()[0].shape;
      s[0] = 2;
      Tensor px(DType::kUInt8, s);
      for (int64_t i = 0; i < px.num_elements(); ++i)
        px.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + (i >> 7) * 11) & 0xff);
      PixelNormalization norm;
      norm.scale = {2.f / 255.f, 1.f / 127.5f, 1.f / 128.f};
      norm.offset = {-1.f, -1.f, -0.99609375f};
      norm.reverse_channels = true;
      engine::PixelTransform t;
      t.channels = 3;
      t.reverse = true;
      for (int c = 0; c < 3; ++c) t.scale[c] = norm.scale[static_cast<size_t>(c)], t.offset[c] = norm.offset[static_cast<size_t>(c)];
      Tensor x(DType::kFloat32, s);
      engine::PixelsToFloat(px.data<uint8_t>(), x.data<float>(), x.num_elements(), t);
      auto want = (*m)->Run({x});
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      for (int run = 0; run < 3; ++run) {
        auto have = (*m)->RunPixels({px}, norm);
        ASSERT_TRUE(have.ok()) << have.status().ToString();
        ASSERT_EQ(have->size(), want->size());
        // Same input bits, same kernels: equal up to run-to-run noise of the GPU kernels.
        for (size_t k = 0; k < want->size(); ++k) ExpectSameUpToNoise((*want)[k], (*have)[k], k, run);
      }
    }
  }
}

// Model::RunWarps on the GPU (photos uploaded once, box averages and warps as kernels,
// engine/cuda/warp.cu) cuts the crops the host cuts (engine/warp_sample.h, itself equal to
// vision::WarpAffine bit for bit): its outputs equal RunPixels of the host's crops on the same
// GPU model, in every run mode. 37 crops of two photos (a row stride wider than the pixels, box
// prefilters 2..5, mirrored crops, crops past the border); batch padding runs them as 64.
TEST(CudaModelLoad, RunWarpsOnTheGpuCutsTheHostsCrops) {
  FK_REQUIRE_GPU();
  const std::string path = SmallModel();
  FK_REQUIRE_MODEL(path);
  std::vector<uint8_t> a(640 * 480 * 3), b(300 * (200 * 3 + 12));
  uint32_t r = 3;
  for (auto* v : {&a, &b})
    for (auto& x : *v) x = static_cast<uint8_t>((r = r * 1664525u + 1013904223u) >> 24);
  const std::vector<PixelImage> images = {{a.data(), 640, 480, 640 * 3}, {b.data(), 200, 300, 200 * 3 + 12}};
  for (const char* mode : {"staged", "resident", "graph"}) {
    SCOPED_TRACE(mode);
    ModelOptions o;
    o.backend = "cuda";
    o.device.precision = "fp32";
    o.cuda_run = mode;
    auto m = Model::Load(path, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const int size = static_cast<int>((*m)->inputs()[0].shape[1]);
    std::vector<CropWarp> crops;
    for (int k = 0; k < 37; ++k) {
      CropWarp c;
      c.image = k % 2;
      const PixelImage& im = images[static_cast<size_t>(c.image)];
      const double s = 0.4 + 0.3 * (k % 7);  // source pixels per chip pixel
      const double ang = 0.05 * (k % 5 - 2);
      const double cx = im.width * (0.1 + 0.09 * (k % 11)), cy = im.height * (0.2 + 0.07 * (k % 9));
      const double i6[6] = {s * std::cos(ang), -s * std::sin(ang), cx, s * std::sin(ang), s * std::cos(ang), cy};
      for (int t = 0; t < 6; ++t) c.inv[t] = i6[t];
      if (s >= 2.0) {  // a box prefilter over a region around the crop
        c.box = static_cast<int>(s);
        c.x0 = std::max(0, static_cast<int>(cx) - 10), c.y0 = std::max(0, static_cast<int>(cy) - 10);
        c.x1 = std::min(im.width, static_cast<int>(cx + s * size) + 10);
        c.y1 = std::min(im.height, static_cast<int>(cy + s * size) + 10);
        for (int t = 0; t < 6; ++t) c.inv[t] /= c.box;
        c.inv[2] = (cx - c.x0) / c.box, c.inv[5] = (cy - c.y0) / c.box;
      }
      c.mirror = k % 3 == 0;
      c.border = k % 4 == 0 ? 99.f : 0.f;
      crops.push_back(c);
    }
    Tensor px(DType::kUInt8, Shape{37, size, size, 3});
    std::vector<uint8_t> scratch(640 * 480 * 3);
    for (size_t k = 0; k < crops.size(); ++k) {
      const CropWarp& c = crops[k];
      engine::WarpDesc d;
      d.image = c.image;
      for (int t = 0; t < 6; ++t) d.inv[t] = c.inv[t];
      d.box = c.box, d.x0 = c.x0, d.y0 = c.y0, d.x1 = c.x1, d.y1 = c.y1, d.mirror = c.mirror, d.border = c.border;
      const PixelImage& im = images[static_cast<size_t>(c.image)];
      engine::WarpToBytesHost({im.data, im.width, im.height, im.stride}, d, size, size,
                              px.data<uint8_t>() + static_cast<int64_t>(k) * size * size * 3, scratch.data());
    }
    PixelNormalization norm;
    norm.scale = {2.f / 255.f};
    norm.offset = {-1.f};
    auto want = (*m)->RunPixels({px}, norm);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    for (int run = 0; run < 3; ++run) {
      Tensor bytes;  // runs 1, 2: the 8-bit crops downloaded too, byte for byte the host's
      auto have = (*m)->RunWarps(images, crops, size, size, norm, run > 0 ? &bytes : nullptr);
      ASSERT_TRUE(have.ok()) << have.status().ToString();
      if (run > 0) {
        ASSERT_EQ(bytes.shape(), px.shape());
        int64_t differ = 0;
        for (int64_t i = 0; i < px.num_elements(); ++i) differ += bytes.data<uint8_t>()[i] != px.data<uint8_t>()[i];
        EXPECT_EQ(differ, 0) << "bytes of the downloaded crops differ from the host's, run " << run;
      }
      ASSERT_EQ(have->size(), want->size());
      for (size_t k = 0; k < want->size(); ++k) ExpectSameUpToNoise((*want)[k], (*have)[k], k, run);
    }
    // A few crops cover little of their photos: the runner uploads only each crop's footprint
    // (WarpFootprint) and the bytes are still the host's.
    const std::vector<CropWarp> few = {crops[0], crops[1], crops[3], crops[4]};  // crops[3] mirrored
    Tensor few_bytes;
    auto have = (*m)->RunWarps(images, few, size, size, norm, &few_bytes);
    ASSERT_TRUE(have.ok()) << have.status().ToString();
    ASSERT_EQ(few_bytes.shape(), Shape({4, size, size, 3}));
    const int64_t per = int64_t{size} * size * 3;
    const int rows[4] = {0, 1, 3, 4};
    for (int q = 0; q < 4; ++q)
      EXPECT_EQ(std::memcmp(few_bytes.data<uint8_t>() + q * per, px.data<uint8_t>() + rows[q] * per, per), 0)
          << "crop " << rows[q] << " cut from its uploaded footprint differs from the host's";
  }
}

TEST(CudaModelLoad, Fp16AndAutoOnARealModel) {
  FK_REQUIRE_GPU();
  const std::string path = SmallModel();
  FK_REQUIRE_MODEL(path);
  ModelOptions c;
  c.backend = "cpu";
  auto cpu = Model::Load(path, c);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_EQ((*cpu)->precision(), "fp32");
  EXPECT_TRUE((*cpu)->precision_note().empty());
  std::vector<Tensor> in{SeededImage((*cpu)->inputs()[0], 7)};
  auto want = (*cpu)->Run(in);
  ASSERT_TRUE(want.ok());
  for (const char* mode : {"staged", "resident", "graph"}) {
    SCOPED_TRACE(mode);
    ModelOptions o;
    o.backend = "cuda";
    o.device.precision = "fp16";
    o.cuda_run = mode;
    auto m = Model::Load(path, o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ((*m)->precision(), "fp16");
    for (int run = 0; run < 2; ++run) {
      auto have = (*m)->Run(in);
      ASSERT_TRUE(have.ok()) << have.status().ToString();
      ASSERT_EQ(have->size(), want->size());
      for (size_t i = 0; i < have->size(); ++i) EXPECT_GE(Cosine((*want)[i], (*have)[i]), 0.999) << "output " << i;
    }
  }
  ModelOptions a;
  a.backend = "cuda";
  a.device.precision = "auto";
  auto m = Model::Load(path, a);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const std::string p = (*m)->precision();
  EXPECT_TRUE(p == "fp16" || p == "tf32" || p == "fp32") << p;
  auto cc = engine::CudaComputeCapability(0);
  ASSERT_TRUE(cc.ok());
  if (*cc >= 70) {
    EXPECT_NE((*m)->precision_note().find("auto: " + p), std::string::npos) << (*m)->precision_note();
  } else {
    EXPECT_NE(p, "fp16");
  }
}

}  // namespace
}  // namespace fk
