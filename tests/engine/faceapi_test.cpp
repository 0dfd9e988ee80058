// face-api weights-only networks: the weights-manifest reader and GraphBuilder (synthetic
// fixtures), loading the published manifests, and parity with face-api itself.
//
// Parity goldens come from tests/reference/faceapi/make_faceapi_goldens.mjs (@vladmandic/face-api
// 1.7.15 on tfjs-backend-wasm 4.22.0; ctest fixture `faceapi_goldens`, tests/faceapi.cmake) in
// ${build}/faceapi_goldens, or $FK_FACEAPI_GOLDENS. Tolerances (issue 3): descriptors cosine
// >= 0.99999 per chip, landmarks within 0.01 px in the 112 x 112 chip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/npy.h"
#include "engine/backend.h"
#include "engine/executor.h"
#include "engine/import/faceapi_nets.h"
#include "engine/import/graph_builder.h"
#include "facekit/engine.h"

namespace fk {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string FaceApiDir() {
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) return std::string(e) + "/face-api";
  return std::string(FK_SOURCE_DIR) + "/models/face-api";
}
const std::string kRecognition = "face_recognition_model-weights_manifest.json";
const std::string kLandmarks = "face_landmark_68_model-weights_manifest.json";

// A temporary directory holding a synthetic manifest + shard.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("fk_faceapi_" + std::to_string(reinterpret_cast<uintptr_t>(this)) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& data) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }

 private:
  fs::path path_;
};

std::string Floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

// w: float32 [2]; q: uint8 [3] scale 0.5 min -1; conv: float32 [1,1,2,1].
json TinyManifest() {
  return json::parse(R"([{"paths": ["tiny.bin"], "weights": [
    {"name": "w", "shape": [2], "dtype": "float32"},
    {"name": "q", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
    {"name": "conv", "shape": [1, 1, 2, 1], "dtype": "float32"}]}])");
}
std::string TinyShard() {
  return Floats({1.5f, -2.f}) + std::string("\x00\x02\xff", 3) + Floats({2.f, 3.f});
}

TEST(FaceApiManifest, ReadsFloatAndUint8InManifestOrder) {
  TempDir d;
  d.Write("tiny.bin", TinyShard());
  const std::string m = d.Write("tiny-weights_manifest.json", TinyManifest().dump());
  auto w = engine::ReadWeightsManifest(m);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ(w->size(), 3u);
  EXPECT_EQ((*w)[0].name, "w");
  EXPECT_EQ((*w)[1].name, "q");
  EXPECT_EQ((*w)[2].name, "conv");
  EXPECT_FLOAT_EQ((*w)[0].tensor.data<float>()[0], 1.5f);
  EXPECT_FLOAT_EQ((*w)[0].tensor.data<float>()[1], -2.f);
  EXPECT_FLOAT_EQ((*w)[1].tensor.data<float>()[0], -1.f);    // 0 * 0.5 - 1
  EXPECT_FLOAT_EQ((*w)[1].tensor.data<float>()[1], 0.f);     // 2 * 0.5 - 1
  EXPECT_FLOAT_EQ((*w)[1].tensor.data<float>()[2], 126.5f);  // 255 * 0.5 - 1
  EXPECT_EQ((*w)[2].tensor.shape().dims(), (std::vector<int64_t>{1, 1, 2, 1}));
}

TEST(FaceApiManifest, RefusesTruncatedOrMissingShards) {
  TempDir d;
  const std::string m = d.Write("tiny-weights_manifest.json", TinyManifest().dump());
  auto missing = engine::ReadWeightsManifest(m);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("tiny.bin"), std::string::npos);

  d.Write("tiny.bin", TinyShard().substr(0, 10));
  auto truncated = engine::ReadWeightsManifest(m);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kDataLoss);

  d.Write("tiny.bin", TinyShard() + "xx");
  auto extra = engine::ReadWeightsManifest(m);
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.status().code(), StatusCode::kDataLoss);

  EXPECT_EQ(engine::ReadWeightsManifest(d.Write("bad.json", "{not json")).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(engine::ReadWeightsManifest(d.Write("nope.json", "")).status().code(),
            StatusCode::kDataLoss);
}

TEST(FaceApiBuilder, BuildsAndRunsASmallNet) {
  TempDir d;
  d.Write("tiny.bin", TinyShard());
  auto w =
      engine::ReadWeightsManifest(d.Write("tiny-weights_manifest.json", TinyManifest().dump()));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  engine::GraphBuilder b("tiny", std::move(*w));
  // y = mean_HW(relu(conv1x1(x, conv) - 1) * 1.5); "w" and "q" are bound but unused by the
  // graph (Finish() requires every manifest weight to be bound).
  const auto x = b.Input("x", Shape{-1, 2, 2, 2});
  const auto conv =
      b.Conv2D("conv", x, b.Weight("conv", Shape{1, 1, 2, 1}), ir::kNoValue, 1, "SAME");
  b.Weight("q");
  b.Weight("w");
  const auto minus1 = b.ConstantFloats("minus1", Shape{1}, {-1.f});
  const auto y = b.Mul("scale", b.Relu("relu", b.Add("add", conv, minus1)),
                       b.ConstantFloats("k", Shape{}, {1.5f}));
  const auto out = b.Mean("mean", y, {1, 2});
  auto g = b.Finish({out});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto ex = engine::Executor::Create(std::move(*g), {.backend = "ref"});
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  Tensor in(DType::kFloat32, Shape{1, 2, 2, 2});
  const float v[8] = {1, 0, 0, 1, 1, 1, -1, 0};  // conv = 2a + 3b: 2, 3, 5, -2
  std::memcpy(in.raw(), v, sizeof(v));
  auto r = (*ex)->Run({in});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)[0].num_elements(), 1);
  // relu(2-1, 3-1, 5-1, -2-1) = 1, 2, 4, 0; * 1.5 -> mean 2.625
  EXPECT_NEAR((*r)[0].data<float>()[0], 2.625f, 1e-6f);
}

TEST(FaceApiBuilder, ReportsMissingMismatchedAndUnusedWeights) {
  TempDir d;
  d.Write("tiny.bin", TinyShard());
  const std::string m = d.Write("tiny-weights_manifest.json", TinyManifest().dump());
  {
    engine::GraphBuilder b("tiny", *engine::ReadWeightsManifest(m));
    const auto x = b.Input("x", Shape{-1, 2});
    b.Weight("w");
    b.Weight("q");
    b.Weight("conv");
    const auto y = b.Add("add", x, b.Weight("nope"));
    auto g = b.Finish({y});
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("'nope'"), std::string::npos) << g.status().message();
  }
  {
    engine::GraphBuilder b("tiny", *engine::ReadWeightsManifest(m));
    const auto x = b.Input("x", Shape{-1, 2});
    b.Weight("w", Shape{3});
    b.Weight("q");
    b.Weight("conv");
    auto g = b.Finish({b.Relu("r", x)});
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("'w' has shape [2]"), std::string::npos)
        << g.status().message();
  }
  {
    engine::GraphBuilder b("tiny", *engine::ReadWeightsManifest(m));
    const auto x = b.Input("x", Shape{-1, 2});
    b.Weight("w");
    auto g = b.Finish({b.Relu("r", x)});
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("q, conv"), std::string::npos) << g.status().message();
  }
}

TEST(FaceApiNets, LoadWithDeclaredShapes) {
  for (const auto& [file, size, out] :
       {std::tuple{kRecognition, 150, 128}, std::tuple{kLandmarks, 112, 136}}) {
    const std::string path = FaceApiDir() + "/" + file;
    if (!fs::exists(path))
      GTEST_SKIP() << "model not fetched: " << path << " (run scripts/fetch_models.sh)";
    auto model = Model::Load(path, {.backend = "ref"});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ASSERT_EQ((*model)->inputs().size(), 1u);
    EXPECT_EQ((*model)->inputs()[0].shape.dims(), (std::vector<int64_t>{-1, size, size, 3}));
    ASSERT_EQ((*model)->outputs().size(), 1u);
    const auto& od = (*model)->outputs()[0].shape.dims();
    ASSERT_EQ(od.size(), 2u);
    EXPECT_EQ(od[1], out);
  }
}

TEST(FaceApiNets, RefusesOtherFaceApiManifests) {
  TempDir d;
  d.Write("tiny.bin", TinyShard());
  const std::string m =
      d.Write("tiny_face_detector_model-weights_manifest.json", TinyManifest().dump());
  auto g = engine::LoadFaceApiModel(m);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  // A recognition manifest with the wrong weights is refused with the missing weight named.
  const std::string r =
      d.Write("face_recognition_model-weights_manifest.json", TinyManifest().dump());
  auto g2 = engine::LoadFaceApiModel(r);
  ASSERT_FALSE(g2.ok());
  EXPECT_NE(g2.status().message().find("conv32_down"), std::string::npos) << g2.status().message();
}

// ---- parity with face-api ----

std::string GoldensDir() {
  if (const char* e = std::getenv("FK_FACEAPI_GOLDENS"); e && *e) return e;
  return std::string(FK_BINARY_DIR) + "/faceapi_goldens";
}

class FaceApiParity : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(FaceApiParity, MatchesFaceApi) {
  const auto& [name, backend] = GetParam();
  const std::string model_path = FaceApiDir() + "/" + name + "-weights_manifest.json";
  if (!fs::exists(model_path))
    GTEST_SKIP() << "model not fetched: " << model_path << " (run scripts/fetch_models.sh)";
  if (!engine::GetBackend(backend))
    GTEST_SKIP() << "backend '" << backend << "' is not compiled into this build";
  const std::string gdir = GoldensDir();
  if (!fs::exists(gdir + "/" + name + "_output.npy"))
    GTEST_SKIP()
        << "face-api goldens missing in " << gdir
        << "; run 'npm ci' in tests/reference/faceapi and ctest "
        << "(fixture faceapi_goldens), or node tests/reference/faceapi/make_faceapi_goldens.mjs "
        << "--models DIR --out DIR";
  auto input = LoadNpy(gdir + "/" + name + "_input.npy");
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  auto want = LoadNpy(gdir + "/" + name + "_output.npy");
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto model = Model::Load(model_path, {.backend = backend, .num_threads = 1});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  // The whole batch in one run (face-api ran one chip per call).
  auto out = (*model)->Run({*input});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& got = (*out)[0];
  ASSERT_EQ(got.shape().dims(), want->shape().dims());
  const int64_t n = want->shape().dims()[0], k = want->shape().dims()[1];
  const float* g = got.data<float>();
  const float* w = want->data<float>();
  const bool landmarks = name == "face_landmark_68_model";
  double worst_px = 0, worst_cos = 1;
  for (int64_t i = 0; i < n; ++i) {
    if (landmarks) {
      const double size = static_cast<double>(input->shape().dims()[1]);
      double worst = 0;
      for (int64_t j = 0; j < k; ++j)
        worst = std::max(worst, std::abs(g[i * k + j] * size - w[i * k + j]));
      worst_px = std::max(worst_px, worst);
      EXPECT_LE(worst, 0.01) << name << " chip " << i << ": max landmark difference " << worst
                             << " px";
    } else {
      double dot = 0, ng = 0, nw = 0;
      for (int64_t j = 0; j < k; ++j) {
        dot += static_cast<double>(g[i * k + j]) * w[i * k + j];
        ng += static_cast<double>(g[i * k + j]) * g[i * k + j];
        nw += static_cast<double>(w[i * k + j]) * w[i * k + j];
      }
      const double cosine = dot / std::sqrt(ng * nw);
      worst_cos = std::min(worst_cos, cosine);
      EXPECT_GE(cosine, 0.99999) << name << " chip " << i;
      EXPECT_NEAR(std::sqrt(ng), std::sqrt(nw), 1e-3 * std::sqrt(nw))
          << name << " chip " << i << ": norm";
    }
  }
  if (landmarks)
    std::printf("  %s on %s: max landmark diff %.2e px over %lld chips\n", name.c_str(),
                backend.c_str(), worst_px, static_cast<long long>(n));
  else
    std::printf("  %s on %s: min cosine 1 - %.2e over %lld chips\n", name.c_str(), backend.c_str(),
                1 - worst_cos, static_cast<long long>(n));
}

INSTANTIATE_TEST_SUITE_P(
    Nets, FaceApiParity,
    ::testing::Combine(::testing::Values("face_recognition_model", "face_landmark_68_model"),
                       ::testing::Values("ref", "cpu")),
    [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

}  // namespace
}  // namespace fk
