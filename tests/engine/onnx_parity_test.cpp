// Model-level parity: facekit's ONNX import (ref and cpu backends) vs ONNX Runtime
// (onnxruntime-web 1.30.0, wasm, 1 thread) on the faceplugin models.
//
// Goldens come from tests/reference/onnx/make_onnx_goldens.mjs (ctest fixture
// `onnx_goldens`, tests/onnx.cmake) in ${build}/onnx_goldens, or $FK_ONNX_GOLDENS. They are
// NCHW (the ONNX layout): inputs are transposed to NHWC before facekit runs them, and 4-D
// outputs are transposed back. Tolerance: max |diff| <= 1e-4 * max |ref| per output, or for
// embeddings (fr_feature) cosine >= 0.99999 per row. Batch 8 goldens are 8 single-example
// ORT runs: they check that the importer made the batch dynamic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "engine/backend.h"
#include "engine/import/onnx_loader.h"
#include "facekit/engine.h"

namespace fk {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kModelNames[] = {"fr_feature", "fr_detect", "fr_landmark", "fr_liveness", "fr_age",
                                   "fr_gender",  "fr_pose",   "fr_eye",      "fr_expression"};

std::string GoldensDir() {
  if (const char* e = std::getenv("FK_ONNX_GOLDENS"); e && *e) return e;
  return std::string(FK_BINARY_DIR) + "/onnx_goldens";
}

std::string ModelsDir() {
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) return std::string(e) + "/faceplugin";
  return std::string(FK_SOURCE_DIR) + "/models/faceplugin";
}

const json& Manifest(std::string* error) {
  static std::once_flag once;
  static json manifest;
  static std::string why;
  std::call_once(once, [] {
    const std::string path = GoldensDir() + "/manifest.json";
    std::ifstream f(path);
    if (!f) {
      why = "ONNX Runtime goldens missing (" + path + "); install tests/reference/onnx (npm ci there) and run ctest " +
            "(fixture onnx_goldens), or node tests/reference/onnx/make_onnx_goldens.mjs --models DIR --out DIR";
      return;
    }
    try {
      f >> manifest;
    } catch (const std::exception& e) {
      why = path + ": " + e.what();
      manifest = json();
    }
  });
  *error = why;
  return manifest;
}

// NCHW <-> NHWC for 4-D tensors.
Tensor Permute4(const Tensor& in, const int perm[4]) {
  const Shape& s = in.shape();
  Shape o({s[perm[0]], s[perm[1]], s[perm[2]], s[perm[3]]});
  Tensor out(DType::kFloat32, o);
  int64_t istr[4] = {s[1] * s[2] * s[3], s[2] * s[3], s[3], 1};
  const float* src = in.data<float>();
  float* dst = out.data<float>();
  int64_t i = 0;
  for (int64_t a = 0; a < o[0]; ++a)
    for (int64_t b = 0; b < o[1]; ++b)
      for (int64_t c = 0; c < o[2]; ++c)
        for (int64_t d = 0; d < o[3]; ++d)
          dst[i++] = src[a * istr[perm[0]] + b * istr[perm[1]] + c * istr[perm[2]] + d * istr[perm[3]]];
  return out;
}
constexpr int kToNhwc[4] = {0, 2, 3, 1};
constexpr int kToNchw[4] = {0, 3, 1, 2};

struct Comparison {
  bool ok = false;
  std::string detail;
};

Comparison CompareMaxAbsRel(const Tensor& got, const Tensor& want, double rel) {
  double max_ref = 0, max_diff = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want.data<float>()[i])));
    const double d = std::fabs(static_cast<double>(got.data<float>()[i]) - want.data<float>()[i]);
    if (!(d <= max_diff)) {  // also catches NaN
      max_diff = std::isnan(d) ? INFINITY : d;
      at = i;
    }
  }
  std::ostringstream s;
  s.precision(6);
  s << "max |diff| " << max_diff << " at " << at << " (facekit " << got.data<float>()[at] << ", ort "
    << want.data<float>()[at] << "), max |ref| " << max_ref << ", bound " << rel * std::max(max_ref, 1e-12);
  return {max_diff <= rel * std::max(max_ref, 1e-12), s.str()};
}

Comparison CompareCosineRows(const Tensor& got, const Tensor& want, double min_cos) {
  const int64_t rows = want.shape()[0], cols = want.num_elements() / rows;
  double worst = 2;
  int64_t worst_row = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0, ga = 0, wa = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const double g = got.data<float>()[r * cols + c], w = want.data<float>()[r * cols + c];
      dot += g * w;
      ga += g * g;
      wa += w * w;
    }
    const double cs = dot / std::sqrt(ga * wa);
    if (!(cs >= worst)) {
      worst = std::isnan(cs) ? -2 : cs;
      worst_row = r;
    }
  }
  std::ostringstream s;
  s.precision(10);
  s << "min cosine " << worst << " at row " << worst_row << " (required >= " << min_cos << ")";
  return {worst >= min_cos, s.str()};
}

using Param = std::tuple<std::string, std::string, int>;  // model, backend, batch

class OnnxParityTest : public ::testing::TestWithParam<Param> {};

TEST_P(OnnxParityTest, MatchesOnnxRuntime) {
  const auto& [name, backend, batch] = GetParam();
  if (!engine::OnnxSupportCompiled()) GTEST_SKIP() << "built without libonnx-dev/libprotobuf-dev (no ONNX import)";
  const std::string model_path = ModelsDir() + "/" + name + ".onnx";
  if (!fs::exists(model_path)) GTEST_SKIP() << "model not fetched: " << model_path << " (run scripts/fetch_models.sh)";
  if (!engine::GetBackend(backend)) GTEST_SKIP() << "backend '" << backend << "' is not compiled into this build";
  std::string err;
  const json& manifest = Manifest(&err);
  if (manifest.is_null()) GTEST_SKIP() << err;

  auto model = Model::Load(model_path, {.backend = backend, .num_threads = 1});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const Model& m = **model;
  ASSERT_EQ(m.inputs().size(), 1u);

  int cases = 0;
  for (const json& cs : manifest["cases"]) {
    if (cs.value("model", "") != name || cs.value("batch", 0) != batch) continue;
    ++cases;
    auto input = LoadNpy(GoldensDir() + "/" + cs["input"].get<std::string>());
    ASSERT_TRUE(input.ok()) << input.status().ToString();
    ASSERT_EQ(input->shape().rank(), 4);
    ASSERT_EQ(input->shape()[0], batch);
    auto out = m.Run({Permute4(*input, kToNhwc)});
    ASSERT_TRUE(out.ok()) << "Run failed: " << out.status().ToString();
    ASSERT_EQ(out->size(), cs["outputs"].size()) << "output count differs from ONNX Runtime's";
    for (size_t k = 0; k < out->size(); ++k) {
      const std::string oname = cs["output_names"][k].get<std::string>();
      EXPECT_EQ(m.outputs()[k].name, oname) << "output " << k;
      auto want = LoadNpy(GoldensDir() + "/" + cs["outputs"][k].get<std::string>());
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      Tensor got = (*out)[k];
      if (got.shape().rank() == 4) got = Permute4(got, kToNchw);
      ASSERT_EQ(got.shape(), want->shape()) << "output '" << oname << "'";
      const bool embedding = cs.value("embedding", false);
      Comparison c = embedding ? CompareCosineRows(got, *want, 0.99999) : CompareMaxAbsRel(got, *want, 1e-4);
      EXPECT_TRUE(c.ok) << name << "/" << backend << "/b" << batch << " output '" << oname << "': " << c.detail;
      if (std::getenv("FK_PARITY_VERBOSE"))
        std::printf("  %s/%s/b%d %s: %s\n", name.c_str(), backend.c_str(), batch, oname.c_str(), c.detail.c_str());
    }
  }
  if (cases == 0) GTEST_SKIP() << "no batch-" << batch << " goldens for " << name << " (regenerate the goldens)";
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param) + "_b" + std::to_string(std::get<2>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Faceplugin, OnnxParityTest,
                         ::testing::Combine(::testing::ValuesIn(kModelNames),
                                            ::testing::Values(std::string("ref"), std::string("cpu")),
                                            ::testing::Values(1, 8)),
                         ParamName);

}  // namespace
}  // namespace fk
