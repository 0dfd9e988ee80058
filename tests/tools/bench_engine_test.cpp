// `facekit bench engine`: the ONNX / face-api rows, model and format selection, the peers.
// Runs the facekit binary with tiny time boxes into a temporary directory and reads back
// engine-cpu.json / engine-cpu.md.
#include <gtest/gtest.h>

#include "../cli_shell.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using fk::testing::Shell;

std::string ModelsDir() {
  const char* e = std::getenv("FK_MODELS_DIR");
  return e ? e : std::string(FK_SOURCE_DIR) + "/models";
}

class BenchEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(ModelsDir() + "/faceplugin/fr_feature.onnx") ||
        !fs::exists(ModelsDir() + "/face-api/face_landmark_68_model-weights_manifest.json"))
      GTEST_SKIP() << "models missing: run scripts/fetch_models.sh";
    dir_ = fs::temp_directory_path() / ("fk_bench_engine_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  // Runs `facekit bench engine ARGS --out dir_`; returns the written JSON report.
  json Run(const std::string& args, int* rc, std::string* out = nullptr) {
    std::string o = Shell(std::string(FK_FACEKIT_BIN) + " bench engine " + args + " --out '" + dir_.string() + "'", rc);
    if (out) *out = o;
    std::ifstream f(dir_ / "engine-cpu.json");
    if (!f) return json();
    return json::parse(f, nullptr, false);
  }
  std::string Markdown() const {
    std::ifstream f(dir_ / "engine-cpu.md");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  fs::path dir_;
};

TEST_F(BenchEngine, OnnxAndFaceApiRowsWithoutPeers) {
  int rc = 0;
  std::string out;
  json r = Run("--models fr_feature,faceapi-landmark68 --batches 1,2 --threads 1 --time 0.05 "
               "--no-tfjs --no-ort --no-faceapi",
               &rc, &out);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(r.is_object()) << out;
  ASSERT_EQ(r["results"].size(), 4u) << r.dump(1);
  std::set<std::pair<std::string, int>> seen;
  for (const auto& row : r["results"]) {
    const std::string m = row["model"];
    seen.insert({m, row["batch"].get<int>()});
    EXPECT_EQ(row["format"], m == "fr_feature" ? "onnx" : "faceapi");
    EXPECT_EQ(row["threads"], 1);
    ASSERT_TRUE(row.contains("ms_per_input")) << row.dump();
    EXPECT_GT(row["ms_per_input"].get<double>(), 0);
    EXPECT_LE(row["min_ms_per_input"].get<double>(), row["ms_per_input"].get<double>());
    EXPECT_GT(row["gflop_per_input"].get<double>(), 0.01) << m;  // both nets are conv nets
    EXPECT_FALSE(row.contains("peer_ms_per_input")) << "peers were switched off";
  }
  EXPECT_EQ(seen, (std::set<std::pair<std::string, int>>{
                      {"fr_feature", 1}, {"fr_feature", 2}, {"faceapi-landmark68", 1}, {"faceapi-landmark68", 2}}));
  // GFLOP/input does not depend on the batch.
  EXPECT_DOUBLE_EQ(r["results"][0]["gflop_per_input"].get<double>(), r["results"][1]["gflop_per_input"].get<double>());
  EXPECT_EQ(r["peers"]["onnx"]["unavailable"], "skipped (--no-ort)");
  EXPECT_EQ(r["peers"]["faceapi"]["unavailable"], "skipped (--no-faceapi)");
  EXPECT_FALSE(r["peers"].contains("tfjs")) << "no TF.js model was selected";
  const std::string md = Markdown();
  EXPECT_NE(md.find("| fr_feature | onnx |"), std::string::npos) << md;
  EXPECT_NE(md.find("| faceapi-landmark68 | faceapi |"), std::string::npos) << md;
}

TEST_F(BenchEngine, FormatsFilterAndBadArguments) {
  int rc = 0;
  std::string out;
  // --formats keeps only the ONNX model of the list.
  json r = Run("--models fr_eye,faceapi-landmark68 --formats onnx --batches 1 --threads 1 --time 0.05 --no-ort", &rc, &out);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_EQ(r["results"].size(), 1u) << r.dump(1);
  EXPECT_EQ(r["results"][0]["model"], "fr_eye");
  Run("--models no_such_model --threads 1", &rc, &out);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("unknown model 'no_such_model'"), std::string::npos) << out;
  Run("--formats caffe --threads 1", &rc, &out);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("unknown format 'caffe'"), std::string::npos) << out;
  Run("--models faceres --formats onnx --threads 1", &rc, &out);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(out.find("select nothing in common"), std::string::npos) << out;
}

// The ONNX Runtime peer (onnxruntime-node from tests/reference/onnx): skipped when Node or the
// package is not installed (scripts/install_deps.sh installs both).
TEST_F(BenchEngine, OrtPeerMeasuredInTheSameRun) {
  const std::string ref = std::string(FK_SOURCE_DIR) + "/tests/reference/onnx";
  int rc = 0;
  Shell("node --version", &rc);
  if (rc != 0 || !fs::exists(ref + "/node_modules/onnxruntime-node"))
    GTEST_SKIP() << "node or onnxruntime-node missing: run scripts/install_deps.sh";
  std::string out;
  json r = Run("--models fr_age --batches 1,2 --threads 1 --time 0.05", &rc, &out);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(r["peers"]["onnx"].contains("version")) << r["peers"].dump(1) << "\n" << out;
  EXPECT_EQ(r["peers"]["onnx"]["version"], "1.30.0");
  ASSERT_EQ(r["results"].size(), 2u);
  for (const auto& row : r["results"]) {
    ASSERT_TRUE(row.contains("peer_ms_per_input")) << row.dump();
    EXPECT_EQ(row["peer"], "ORT-node");
    EXPECT_EQ(row["peer_threads"], 1);
    EXPECT_GT(row["peer_ms_per_input"].get<double>(), 0);
    EXPECT_NEAR(row["speedup_vs_peer"].get<double>(),
                row["peer_ms_per_input"].get<double>() / row["ms_per_input"].get<double>(), 1e-9);
    // Batch 2 runs ORT on the batch-dynamic rewrite (checked against batch-1 runs in the script).
    EXPECT_EQ(row["peer_mode"], row["batch"] == 1 ? "single" : "batched");
  }
}

}  // namespace
