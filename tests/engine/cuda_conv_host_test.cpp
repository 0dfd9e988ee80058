// The CUDA convolution's host-side logic, without a GPU: the geometry conv.cpp plans from a node
// (engine/cuda/conv_geometry.h) and the direct kernel's per-output arithmetic
// (engine/cuda/conv_direct_impl.h, the code the kernel runs) against the reference backend.
// The first H100 run found conv.cpp planning every filter > 1x1 with a 1x1 window; these tests
// fail on that bug in CI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/cuda/conv_direct_impl.h"
#include "engine/cuda/conv_geometry.h"
#include "engine/ref/ref_backend.h"
#include "op_cases.h"

namespace fk {
namespace {

using engine::cuda::ConvGeometry;
using engine::cuda::DirectConvAt;
using engine::cuda::MakeConvGeometry;
using testing::CaseInput;
using testing::RandomFloat;

struct ConvCase {
  bool depthwise;
  int64_t h, w, c, kh, kw, m_or_k;  // m_or_k: output channels (dense) or multiplier (depthwise)
  int stride, dilation;
  std::string padding;              // SAME | VALID | EXPLICIT
  std::vector<int64_t> pads;        // EXPLICIT: top, bottom, left, right
};

std::string Label(const ConvCase& c) {
  return std::string(c.depthwise ? "depthwise" : "conv") + " " + std::to_string(c.h) + "x" + std::to_string(c.w) +
         "x" + std::to_string(c.c) + " k" + std::to_string(c.kh) + "x" + std::to_string(c.kw) + " s" +
         std::to_string(c.stride) + " d" + std::to_string(c.dilation) + " " + c.padding;
}

// Runs the case on the ref backend and through MakeConvGeometry + DirectConvAt (+ bias).
void Check(const ConvCase& cc, uint32_t seed) {
  SCOPED_TRACE(Label(cc));
  ir::Attrs a;
  a.set("strides", std::vector<int64_t>{cc.stride, cc.stride});
  a.set("dilations", std::vector<int64_t>{cc.dilation, cc.dilation});
  a.set("padding", cc.padding);
  if (cc.padding == "EXPLICIT") a.set("explicit_pads", cc.pads);
  a.set("has_bias", int64_t{1});
  const int64_t k = cc.depthwise ? cc.c * cc.m_or_k : cc.m_or_k;
  std::vector<CaseInput> in = {{RandomFloat(Shape{2, cc.h, cc.w, cc.c}, seed)},
                               {RandomFloat(Shape{cc.kh, cc.kw, cc.c, cc.m_or_k}, seed + 1), true},
                               {RandomFloat(Shape{k}, seed + 2), true}};
  const ir::OpType op = cc.depthwise ? ir::OpType::kDepthwiseConv2D : ir::OpType::kConv2D;
  auto want = testing::RunOneNode(engine::RefBackend(), op, a, in);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  const Tensor& y = want->outputs[0];

  ir::Graph g = testing::MakeOneNodeGraph(op, a, in);
  auto geo = MakeConvGeometry(g.nodes()[0], in[0].value.shape(), in[1].value.shape(), y.shape());
  ASSERT_TRUE(geo.ok()) << geo.status().ToString();
  EXPECT_EQ(geo->d.kh, cc.kh);
  EXPECT_EQ(geo->d.k, k);
  const float* x = in[0].value.data<float>();
  const float* w = in[1].value.data<float>();
  const float* bias = in[2].value.data<float>();
  EXPECT_TRUE(engine::cuda::Use32BitIndex(geo->d));
  auto load = [](float v) { return v; };
  double max_diff = 0, max_diff32 = 0;
  for (long long i = 0; i < y.num_elements(); ++i) {
    long long ch = -1;
    const float acc = cc.depthwise ? DirectConvAt<true>(x, w, geo->d, i, load, &ch)
                                   : DirectConvAt<false>(x, w, geo->d, i, load, &ch);
    ASSERT_EQ(ch, i % k);
    max_diff = std::max(max_diff, static_cast<double>(std::abs(acc + bias[ch] - y.data<float>()[i])));
    int ch32 = -1;  // the 32-bit index path the kernel takes for every realistic shape
    const int i32 = static_cast<int>(i);
    const float acc32 = cc.depthwise ? DirectConvAt<true>(x, w, geo->d, i32, load, &ch32)
                                     : DirectConvAt<false>(x, w, geo->d, i32, load, &ch32);
    ASSERT_EQ(ch32, ch);
    max_diff32 = std::max(max_diff32, static_cast<double>(std::abs(acc32 - acc)));
  }
  EXPECT_LE(max_diff, 1e-4);
  EXPECT_EQ(max_diff32, 0.0) << "int and 64-bit indexing compute the same sums";
}

TEST(CudaConvHost, GeometryAndDirectArithmeticMatchTheReference) {
  uint32_t seed = 1;
  for (bool dw : {false, true})
    for (int64_t kk : {1, 3, 5})
      for (int stride : {1, 2})
        for (const char* pad : {"SAME", "VALID"}) {
          Check({dw, 13, 11, 6, kk, kk, dw ? 1 : 7, stride, 1, pad, {}}, seed);
          seed += 3;
        }
  // What the models have besides: asymmetric SAME (even size, stride 2), folded explicit pads,
  // channel multipliers, dilation, non-square filters.
  Check({true, 16, 16, 4, 3, 3, 1, 2, 1, "SAME", {}}, 100);
  Check({false, 16, 16, 3, 3, 3, 8, 2, 1, "SAME", {}}, 103);
  Check({true, 12, 10, 5, 3, 3, 1, 1, 1, "EXPLICIT", {1, 1, 1, 1}}, 106);
  Check({false, 12, 10, 3, 3, 3, 4, 2, 1, "EXPLICIT", {0, 1, 0, 1}}, 109);
  Check({true, 9, 9, 3, 3, 3, 2, 1, 1, "SAME", {}}, 112);
  Check({true, 15, 14, 2, 3, 3, 1, 1, 2, "SAME", {}}, 115);
  Check({false, 15, 14, 2, 3, 3, 3, 1, 2, "VALID", {}}, 118);
  Check({false, 10, 12, 3, 1, 5, 4, 1, 1, "SAME", {}}, 121);
}

// The vectorised depthwise arithmetic (FK_CUDA_DW=vec): V channels per work item, same sums.
template <int V>
void CheckVec(int64_t h, int64_t w, int64_t c, int64_t kk, int stride, const char* padding, uint32_t seed) {
  SCOPED_TRACE("vec" + std::to_string(V) + " " + std::to_string(h) + "x" + std::to_string(w) + "x" +
               std::to_string(c) + " k" + std::to_string(kk) + " s" + std::to_string(stride) + " " + padding);
  ir::Attrs a;
  a.set("strides", std::vector<int64_t>{stride, stride});
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("padding", std::string(padding));
  std::vector<CaseInput> in = {{RandomFloat(Shape{2, h, w, c}, seed)}, {RandomFloat(Shape{kk, kk, c, 1}, seed + 1), true}};
  auto want = testing::RunOneNode(engine::RefBackend(), ir::OpType::kDepthwiseConv2D, a, in);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  const Tensor& y = want->outputs[0];
  ir::Graph g = testing::MakeOneNodeGraph(ir::OpType::kDepthwiseConv2D, a, in);
  auto geo = MakeConvGeometry(g.nodes()[0], in[0].value.shape(), in[1].value.shape(), y.shape());
  ASSERT_TRUE(geo.ok()) << geo.status().ToString();
  ASSERT_EQ(c % V, 0);
  auto load = [](float v) { return v; };
  std::vector<int> seen(static_cast<size_t>(y.num_elements()), 0);
  double max_diff = 0;
  const int work = static_cast<int>(y.num_elements() / V);
  for (int j = 0; j < work; ++j) {
    float acc[V];
    int k0 = -1, o = -1;
    engine::cuda::DepthwiseVecAt<V>(in[0].value.data<float>(), in[1].value.data<float>(), geo->d, j, load, acc, &k0,
                                    &o);
    ASSERT_EQ(o % c, k0);
    for (int v = 0; v < V; ++v) {
      ++seen[static_cast<size_t>(o + v)];
      max_diff = std::max(max_diff, static_cast<double>(std::abs(acc[v] - y.data<float>()[o + v])));
    }
  }
  EXPECT_LE(max_diff, 1e-4);
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], 1) << "output " << i << " written once";
}

TEST(CudaConvHost, VectorisedDepthwiseMatchesTheReference) {
  CheckVec<4>(13, 11, 8, 3, 1, "SAME", 200);
  CheckVec<4>(16, 16, 12, 3, 2, "SAME", 203);
  CheckVec<8>(14, 9, 16, 5, 2, "VALID", 206);
  CheckVec<8>(7, 7, 64, 7, 1, "VALID", 209);  // fr_feature's global depthwise (GDC)
  engine::cuda::DirectConvDesc d;
  d.multiplier = 1;
  d.k = 12;
  setenv("FK_CUDA_DW", "scalar", 1);
  EXPECT_EQ(engine::cuda::DepthwiseVecWidth(d, true), 1) << "FK_CUDA_DW=scalar turns it off";
  unsetenv("FK_CUDA_DW");
  EXPECT_EQ(engine::cuda::DepthwiseVecWidth(d, true), 4) << "the default; 12 halves: 8-byte loads";
  EXPECT_EQ(engine::cuda::DepthwiseVecWidth(d, false), 4);
  d.k = 16;
  EXPECT_EQ(engine::cuda::DepthwiseVecWidth(d, true), 8);
  d.k = 6;
  EXPECT_EQ(engine::cuda::DepthwiseVecWidth(d, false), 1) << "channels not a multiple of 4";
  d.k = 16;
  d.multiplier = 2;
  EXPECT_EQ(engine::cuda::DepthwiseVecWidth(d, true), 1) << "multiplier 1 only";
  unsetenv("FK_CUDA_DW");
}

TEST(CudaConvHost, ThirtyTwoBitIndexOnlyWhereItCannotOverflow) {
  engine::cuda::DirectConvDesc d;
  d.n = 512; d.h = d.w = 112; d.c = 64; d.oh = d.ow = 56; d.k = 64; d.kh = d.kw = 3; d.multiplier = 1;
  EXPECT_TRUE(engine::cuda::Use32BitIndex(d)) << "a batch of 512 faces";
  d.n = 8192;  // input 1.64G elements (< 2^31) but output 1.64G > 2^30: the grid-stride step could overflow
  d.h = d.w = 56;
  EXPECT_FALSE(engine::cuda::Use32BitIndex(d));
  d.n = 1; d.h = d.w = 1 << 16; d.c = 1;  // input 2^32 elements
  d.oh = d.ow = 8; d.k = 1;
  EXPECT_FALSE(engine::cuda::Use32BitIndex(d));
}

TEST(CudaConvHost, GeometryRefusesAnOutputShapeThatDisagrees) {
  ir::Attrs a;
  a.set("strides", std::vector<int64_t>{1, 1});
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("padding", std::string("VALID"));
  std::vector<CaseInput> in = {{RandomFloat(Shape{1, 8, 8, 2}, 1)}, {RandomFloat(Shape{3, 3, 2, 4}, 2), true}};
  ir::Graph g = testing::MakeOneNodeGraph(ir::OpType::kConv2D, a, in);
  auto ok = MakeConvGeometry(g.nodes()[0], Shape{1, 8, 8, 2}, Shape{3, 3, 2, 4}, Shape{1, 6, 6, 4});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->d.oh, 6);
  auto bad = MakeConvGeometry(g.nodes()[0], Shape{1, 8, 8, 2}, Shape{3, 3, 2, 4}, Shape{1, 8, 8, 4});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("planned output"), std::string::npos) << bad.status().message();
  auto chans = MakeConvGeometry(g.nodes()[0], Shape{1, 8, 8, 3}, Shape{3, 3, 2, 4}, Shape{1, 6, 6, 4});
  EXPECT_FALSE(chans.ok());
}

}  // namespace
}  // namespace fk
