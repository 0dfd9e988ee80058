// `facekit eval lfw` with an LFW View 2 pairs file ("folds n" header, then per fold n
// same-identity and n different-identity pairs): fold parsing, per-fold accuracy with the
// threshold chosen on the other folds, and malformed files. A tiny LFW-layout folder of
// sample-photo links stands in for LFW (no dependency on ../shared/data).
#include <gtest/gtest.h>

#include "../cli_shell.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

using fk::testing::Shell;

class EvalLfwView2 : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string src = FK_SOURCE_DIR;
    models_ = std::getenv("FK_MODELS_DIR") ? std::getenv("FK_MODELS_DIR") : src + "/models";
    if (!fs::exists(models_ + "/human/mobileface.json") || !fs::exists(src + "/data/samples/sample6.jpg"))
      GTEST_SKIP() << "models or sample photos missing: run scripts/fetch_models.sh";
    if (!fs::exists(FK_FACEKIT_BIN)) GTEST_SKIP() << "facekit binary not built: " << FK_FACEKIT_BIN;
    dir_ = fs::temp_directory_path() / ("fk_eval_view2_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    // Person Pk has photos Pk_0001 and Pk_0002, both the same sample photo (a same-identity
    // pair scores ~1); different persons link different photos.
    for (int k = 1; k <= 4; ++k) {
      const std::string name = "P" + std::to_string(k);
      fs::create_directories(dir_ / "images" / name);
      for (const char* idx : {"0001", "0002"})
        fs::create_symlink(src + "/data/samples/sample" + std::to_string(k + 2) + ".jpg",
                           dir_ / "images" / name / (name + "_" + idx + ".jpg"));
    }
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string Eval(const std::string& pairs_text, int* rc, bool with_stderr) {
    std::ofstream(dir_ / "pairs.txt") << pairs_text;
    return Shell(std::string(FK_FACEKIT_BIN) + " eval lfw --images " + (dir_ / "images").string() + " --pairs " +
                     (dir_ / "pairs.txt").string() + " --tier fast --threads 1 --max-side 640 --models " + models_ +
                     " --calibration none",
                 rc, with_stderr);
  }
  std::string models_;
  fs::path dir_;
};

TEST_F(EvalLfwView2, ReportsEveryFoldWithThresholdsFromTheOtherFolds) {
  // 3 folds of 1 same + 1 different pair.
  int rc = 0;
  const std::string out = Eval("3 1\nP1 1 2\nP1 1 P2 1\nP2 1 2\nP3 1 P4 2\nP3 1 2\nP4 1 P1 2\n", &rc, false);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1u) << out;
  const auto& r = j[0];
  EXPECT_EQ(r["tier"], "fast");
  ASSERT_TRUE(r.contains("fold_accuracy")) << r.dump();
  ASSERT_EQ(r["fold_accuracy"].size(), 3u);
  // Same pairs are one photo twice (cosine ~1), different pairs different people: every
  // fold's threshold, learnt on the other two folds, separates its own two pairs.
  for (const auto& a : r["fold_accuracy"]) EXPECT_DOUBLE_EQ(a.get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["accuracy"].get<double>(), 1.0);
}

TEST_F(EvalLfwView2, MalformedFoldsAreDataLossNamingTheProblem) {
  int rc = 0;
  // Header says 2 folds of 1+1 pairs, file lists 3 pairs.
  std::string out = Eval("2 1\nP1 1 2\nP1 1 P2 1\nP2 1 2\n", &rc, true);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("2 folds of 2 pairs, but it lists 3"), std::string::npos) << out;
  // Right count, but fold 1 holds two same-identity pairs.
  out = Eval("2 1\nP1 1 2\nP2 1 2\nP1 1 P2 1\nP3 1 P4 1\n", &rc, true);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("fold 1 has 2 same-identity pairs"), std::string::npos) << out;
}

}  // namespace

// `facekit eval speed` on two sample photos, no peer: both timings per tier (ProcessFile with
// decoding, Process on the decoded pixels the peer would get), the same faces either way, and
// the md/json written with the decoded-pixels column.
TEST(EvalSpeedCli, ReportsEndToEndAndDecodedPixelTimes) {
  const std::string src = FK_SOURCE_DIR;
  const std::string models = std::getenv("FK_MODELS_DIR") ? std::getenv("FK_MODELS_DIR") : src + "/models";
  if (!fs::exists(models + "/human/mobileface.json") || !fs::exists(src + "/data/samples/sample1.jpg"))
    GTEST_SKIP() << "models or sample photos missing: run scripts/fetch_models.sh";
  if (!fs::exists(FK_FACEKIT_BIN)) GTEST_SKIP() << "facekit binary not built: " << FK_FACEKIT_BIN;
  const fs::path out = fs::temp_directory_path() / ("fk_eval_speed_" + std::to_string(::getpid()));
  fs::remove_all(out);
  int rc = -1;
  const std::string stdout_text =
      Shell(std::string(FK_FACEKIT_BIN) + " eval speed " + src + "/data/samples/sample1.jpg " + src +
                "/data/samples/sample2.jpg --tier fast --threads 1 --repeat 1 --peer none --calibration none --models " +
                models + " --out " + out.string(),
            &rc, /*with_stderr=*/false);
  ASSERT_EQ(rc, 0) << stdout_text;
  const auto j = nlohmann::json::parse(stdout_text, nullptr, false);
  ASSERT_TRUE(j.is_array() && j.size() == 1) << stdout_text;
  const auto& r = j[0];
  EXPECT_EQ(r["photos"].get<int>(), 2);
  EXPECT_GE(r["faces"].get<int>(), 5);  // 3 + 3 people (FindsEveryFaceInTheGroupPhotos)
  ASSERT_TRUE(r.contains("from_pixels"));
  EXPECT_EQ(r["from_pixels"]["photos"].get<int>(), 2);
  EXPECT_EQ(r["from_pixels"]["faces"].get<int>(), r["faces"].get<int>());
  EXPECT_GT(r["from_pixels"]["ms_per_photo"].get<double>(), 0.0);
  EXPECT_GT(r["ms_per_photo"].get<double>(), 0.0);
  std::ifstream md(out / "pipeline-cpu.md");
  const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("ms/photo from decoded pixels"), std::string::npos) << text;
  EXPECT_TRUE(fs::exists(out / "pipeline-cpu.json"));
  fs::remove_all(out);
  // An unknown tier is refused (it used to run the accurate tier), naming the accepted ones.
  const std::string bad = Shell(std::string(FK_FACEKIT_BIN) + " eval speed " + src +
                                    "/data/samples/sample1.jpg --tier fast,bogus --peer none --models " + models,
                                &rc, /*with_stderr=*/true);
  EXPECT_EQ(rc, 2) << bad;
  EXPECT_NE(bad.find("'bogus' is not one of fast, balanced, accurate"), std::string::npos) << bad;
}
