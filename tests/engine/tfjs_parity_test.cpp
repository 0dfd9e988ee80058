// Model-level parity with TensorFlow.js: facekit (backends "ref" and "cpu") must
// reproduce the TF.js wasm outputs written by tests/reference/make_goldens.mjs.
//
// Goldens: $FK_TFJS_GOLDENS, else <build dir>/tfjs_goldens (ctest generates them first
// through the `tfjs_goldens` fixture, see tests/CMakeLists.txt). Models: $FK_MODELS_DIR/human.
//
// Criteria, per output and per case:
//   max_abs_rel: max |facekit - tfjs| <= 1e-4 * max |tfjs|
//   cosine     : cosine(facekit row, tfjs row) >= 0.99999 for every batch row (embeddings)
// Every case of the manifest at the test's batch runs in ONE facekit Run (batch 8 too,
// also for models whose TF.js graph is fixed to batch 1).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "engine/backend.h"
#include "facekit/engine.h"

namespace fk {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string> kModelNames = {
    "blazeface", "blazeface-front", "blazeface-back", "facemesh", "facemesh-detection-short",
    "facemesh-detection-full", "iris", "faceres", "faceres-deep", "mobileface", "mobilefacenet",
    "liveness", "antispoof", "emotion", "gender", "age", "gear"};

std::string GoldensDir() {
  if (const char* e = std::getenv("FK_TFJS_GOLDENS"); e && *e) return e;
  return std::string(FK_BINARY_DIR) + "/tfjs_goldens";
}

std::string ModelsDir() {
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) return std::string(e) + "/human";
  return std::string(FK_SOURCE_DIR) + "/models/human";
}

// The manifest, parsed once. Null json when missing or unreadable (`error` says why).
const json& Manifest(std::string* error) {
  static std::once_flag once;
  static json manifest;
  static std::string err;
  std::call_once(once, [] {
    const std::string path = GoldensDir() + "/manifest.json";
    std::ifstream f(path);
    if (!f) {
      err = "no TF.js goldens at " + path +
            " (run `ctest -R tfjs_goldens` or `node tests/reference/make_goldens.mjs --out " + GoldensDir() +
            "`; needs `npm ci` in tests/reference)";
      return;
    }
    manifest = json::parse(f, nullptr, /*allow_exceptions=*/false);
    if (manifest.is_discarded()) {
      err = path + " is not valid JSON; regenerate the goldens";
      manifest = json();
    }
  });
  *error = err;
  return manifest;
}

const json* FindModel(const json& manifest, const std::string& name) {
  if (!manifest.contains("models")) return nullptr;
  for (const json& m : manifest["models"])
    if (m.value("name", "") == name) return &m;
  return nullptr;
}

// Loaded models, shared by the batch-1 and batch-8 tests of one (model, backend).
Result<std::shared_ptr<Model>> GetModel(const std::string& name, const std::string& backend) {
  static std::mutex mu;
  static std::map<std::pair<std::string, std::string>, std::shared_ptr<Model>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(name, backend);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  ModelOptions opts;
  opts.backend = backend;
  FK_ASSIGN_OR_RETURN(std::unique_ptr<Model> m, Model::Load(ModelsDir() + "/" + name + ".json", opts));
  std::shared_ptr<Model> sm(std::move(m));
  cache[key] = sm;
  return sm;
}

struct Comparison {
  bool ok = true;
  std::string detail;
};

Comparison CompareMaxAbsRel(const Tensor& got, const Tensor& want, double rel_tol) {
  Comparison c;
  const float* g = got.data<float>();
  const float* w = want.data<float>();
  const int64_t n = want.num_elements();
  double max_ref = 0, max_diff = 0;
  int64_t worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(w[i])));
    const double d = std::fabs(static_cast<double>(g[i]) - static_cast<double>(w[i]));
    if (!(d <= max_diff)) {  // also catches NaN
      max_diff = std::isnan(d) ? INFINITY : d;
      worst = i;
    }
  }
  const double tol = rel_tol * max_ref;
  std::ostringstream s;
  s << "max|diff| " << max_diff << " (tolerance " << tol << " = " << rel_tol << " * max|ref| " << max_ref
    << "), worst at flat index " << worst << ": facekit " << g[worst] << " vs tfjs " << w[worst];
  c.ok = max_diff <= tol;
  c.detail = s.str();
  return c;
}

Comparison CompareCosineRows(const Tensor& got, const Tensor& want, double min_cos) {
  Comparison c;
  const int64_t rows = want.shape()[0];
  const int64_t cols = rows > 0 ? want.num_elements() / rows : 0;
  double worst = 2;
  int64_t worst_row = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = got.data<float>() + r * cols;
    const float* w = want.data<float>() + r * cols;
    double gw = 0, gg = 0, ww = 0;
    for (int64_t i = 0; i < cols; ++i) {
      gw += static_cast<double>(g[i]) * w[i];
      gg += static_cast<double>(g[i]) * g[i];
      ww += static_cast<double>(w[i]) * w[i];
    }
    double cos = (gg > 0 && ww > 0) ? gw / std::sqrt(gg * ww) : (gg == ww ? 1.0 : 0.0);
    if (std::isnan(cos)) cos = -2;
    if (cos < worst) {
      worst = cos;
      worst_row = r;
    }
  }
  std::ostringstream s;
  s.precision(10);
  s << "min cosine " << worst << " (1 - cos = " << 1 - worst << ") at row " << worst_row << " (required >= " << min_cos
    << ")";
  c.ok = worst >= min_cos;
  c.detail = s.str();
  return c;
}

using Param = std::tuple<std::string, std::string, int>;  // model, backend, batch

class TfjsParityTest : public ::testing::TestWithParam<Param> {};

TEST_P(TfjsParityTest, MatchesTfjsWasm) {
  const auto& [name, backend, batch] = GetParam();
  std::string err;
  const json& manifest = Manifest(&err);
  if (manifest.is_null()) GTEST_SKIP() << err;
  const std::string model_path = ModelsDir() + "/" + name + ".json";
  if (!fs::exists(model_path)) GTEST_SKIP() << "model not fetched: " << model_path << " (run scripts/fetch_models.sh)";
  if (!engine::GetBackend(backend)) GTEST_SKIP() << "backend '" << backend << "' is not compiled into this build";
  const json* entry = FindModel(manifest, name);
  if (!entry) GTEST_SKIP() << "no goldens for " << name << " in " << GoldensDir() << "/manifest.json (regenerate)";

  const double rel_tol = manifest["tolerance"].value("max_abs_rel", 1e-4);
  const double min_cos = manifest["tolerance"].value("cosine", 0.99999);

  auto model = GetModel(name, backend);
  ASSERT_TRUE(model.ok()) << name << " on " << backend << ": " << model.status().ToString();
  const Model& m = **model;
  ASSERT_EQ(m.inputs().size(), 1u) << name;

  int cases = 0;
  for (const json& cs : (*entry)["cases"]) {
    if (cs.value("batch", 0) != batch) continue;
    ++cases;
    const std::string case_name = cs.value("name", "?");
    SCOPED_TRACE(name + " / " + backend + " / " + case_name);
    auto input = LoadNpy(GoldensDir() + "/" + cs["input"].get<std::string>());
    ASSERT_TRUE(input.ok()) << input.status().ToString();
    ASSERT_EQ(input->shape()[0], batch);

    auto out = m.Run({*input});
    ASSERT_TRUE(out.ok()) << "Run failed: " << out.status().ToString();

    const json& outs = (*entry)["outputs"];
    ASSERT_EQ(outs.size(), cs["outputs"].size());
    for (size_t k = 0; k < outs.size(); ++k) {
      const std::string oname = outs[k].value("name", "");
      const std::string okey = outs[k].value("key", "");
      int idx = -1;
      std::string available;
      for (size_t j = 0; j < m.outputs().size(); ++j) {
        const std::string& fn = m.outputs()[j].name;
        available += (available.empty() ? "" : ", ") + fn;
        if (fn == oname || fn == okey || fn == oname + ":0" || fn == okey + ":0") idx = static_cast<int>(j);
      }
      ASSERT_GE(idx, 0) << "TF.js output '" << oname << "' is not an output of the facekit model (facekit outputs: "
                        << available << ")";
      auto want = LoadNpy(GoldensDir() + "/" + cs["outputs"][k].get<std::string>());
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      const Tensor& got = (*out)[static_cast<size_t>(idx)];
      ASSERT_EQ(got.dtype(), DType::kFloat32) << oname;
      ASSERT_EQ(got.shape(), want->shape()) << "output '" << oname << "': facekit " << got.shape().ToString()
                                            << " vs tfjs " << want->shape().ToString();
      const std::string kind = outs[k].value("compare", "max_abs_rel");
      Comparison c = kind == "cosine" ? CompareCosineRows(got, *want, min_cos) : CompareMaxAbsRel(got, *want, rel_tol);
      EXPECT_TRUE(c.ok) << "output '" << oname << "' (" << kind << "): " << c.detail;
      if (c.ok && std::getenv("FK_PARITY_VERBOSE"))
        std::printf("  %s/%s/%s %s (%s): %s\n", name.c_str(), backend.c_str(), case_name.c_str(), oname.c_str(),
                    kind.c_str(), c.detail.c_str());
    }
  }
  EXPECT_GT(cases, 0) << "manifest has no batch-" << batch << " case for " << name;
}

std::string ParamName(const ::testing::TestParamInfo<Param>& info) {
  std::string s = std::get<0>(info.param) + "_" + std::get<1>(info.param) + "_b" + std::to_string(std::get<2>(info.param));
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Models, TfjsParityTest,
                         ::testing::Combine(::testing::ValuesIn(kModelNames), ::testing::Values(std::string("ref"), std::string("cpu")),
                                            ::testing::Values(1, 8)),
                         ParamName);

}  // namespace
}  // namespace fk
