// `facekit eval attributes` on a tiny deepface-13-layout folder of sample-photo links (no
// dependency on ../shared/data): its gender count must be what `facekit detect --attributes`
// says of each photo's largest face against the labels, and bad labels or flags are clear errors.
#include <gtest/gtest.h>

#include "../cli_shell.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using fk::testing::Shell;
using nlohmann::json;

class EvalAttributesCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string src = FK_SOURCE_DIR;
    models_ = std::getenv("FK_MODELS_DIR") ? std::getenv("FK_MODELS_DIR") : src + "/models";
    for (const char* m : {"faceres", "emotion", "antispoof", "liveness", "facemesh"})
      if (!fs::exists(models_ + "/human/" + m + ".json")) GTEST_SKIP() << "models missing: run scripts/fetch_models.sh";
    if (!fs::exists(src + "/data/samples/sample3.jpg")) GTEST_SKIP() << "sample photos missing";
    if (!fs::exists(FK_FACEKIT_BIN)) GTEST_SKIP() << "facekit binary not built: " << FK_FACEKIT_BIN;
    dir_ = fs::temp_directory_path() / ("fk_eval_attributes_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "photos");
    for (int k = 1; k <= 3; ++k)
      fs::create_symlink(src + "/data/samples/sample" + std::to_string(k) + ".jpg",
                         dir_ / "photos" / ("img" + std::to_string(k) + ".jpg"));
    std::ofstream(dir_ / "photos" / "identities.csv") << "file,identity\nimg1.jpg,ann\nimg2.jpg,bea\nimg3.jpg,carl\n";
    // Two labelled female, one male: whatever the model says, one side of the label is checked.
    std::ofstream(dir_ / "labels.csv") << "identity,gender\nann,female\nbea,female\ncarl,male\n";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string Cmd(const std::string& extra, const std::string& peer = "none") const {
    return std::string(FK_FACEKIT_BIN) + " eval attributes --deepface " + (dir_ / "photos").string() + " --models " +
           models_ + " --peer " + peer + " --quiet " + extra;
  }
  std::string models_;
  fs::path dir_;
};

TEST_F(EvalAttributesCli, CountsWhatDetectSaysOfEachLargestFace) {
  int rc = 0;
  const std::string out =
      Shell(Cmd("--labels " + (dir_ / "labels.csv").string() + " --out " + (dir_ / "out").string()), &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("| photos with a face | 100.0% (3/3) |"), std::string::npos) << out;
  std::ifstream f(dir_ / "out" / "attributes.json");
  ASSERT_TRUE(f) << "no attributes.json";
  const json j = json::parse(f);
  const json& r = j["results"]["facekit"];
  EXPECT_EQ(r["photos"], 3);
  EXPECT_EQ(r["faces"], 3);
  EXPECT_EQ(r["female"], 2);
  EXPECT_EQ(r["male"], 1);
  for (const char* k : {"none", "age_gender", "emotion", "liveness", "all"})
    EXPECT_GT(j["results"]["cost"][k]["cpu_ms_per_face"].get<double>(), 0.0) << k;

  // The same photos through `facekit detect`: the gender of each largest face against the labels.
  const char* want[] = {"female", "female", "male"};
  int correct = 0;
  for (int k = 1; k <= 3; ++k) {
    const std::string det = Shell(std::string(FK_FACEKIT_BIN) + " detect " +
                                      (dir_ / "photos" / ("img" + std::to_string(k) + ".jpg")).string() +
                                      " --models " + models_ + " --attributes age_gender --json --quiet",
                                  &rc, /*with_stderr=*/false);
    ASSERT_EQ(rc, 0) << det;
    const json d = json::parse(det);
    const json* best = nullptr;
    double area = -1;
    for (const json& face : d["faces"]) {
      const double a = (face["box"][2].get<double>() - face["box"][0].get<double>()) *
                       (face["box"][3].get<double>() - face["box"][1].get<double>());
      if (a > area) area = a, best = &face;
    }
    ASSERT_NE(best, nullptr);
    correct += (*best)["attributes"]["gender"] == want[k - 1];
  }
  EXPECT_EQ(r["gender_correct"], correct);
}

TEST_F(EvalAttributesCli, BadLabelsAndFlagsAreClearErrors) {
  std::ofstream(dir_ / "short.csv") << "identity,gender\nann,female\nbea,female\n";
  int rc = 0;
  std::string out = Shell(Cmd("--labels " + (dir_ / "short.csv").string()), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("no gender for identity 'carl'"), std::string::npos) << out;
  std::ofstream(dir_ / "odd.csv") << "identity,gender\nann,female\nbea,woman\ncarl,male\n";
  out = Shell(Cmd("--labels " + (dir_ / "odd.csv").string()), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("must be female or male"), std::string::npos) << out;
  out = Shell(Cmd("--labels " + (dir_ / "missing.csv").string()), &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("not found"), std::string::npos) << out;
  out = Shell(Cmd("--labels " + (dir_ / "labels.csv").string(), "tfjs"), &rc);
  EXPECT_EQ(rc, 2) << out;
  out = Shell(std::string(FK_FACEKIT_BIN) + " eval attributes", &rc);
  EXPECT_EQ(rc, 2) << out;
}

}  // namespace
