// End-to-end: `facekit enroll` / `identify` from photos through the face pipeline.
#include <gtest/gtest.h>

#include "../cli_shell.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

using fk::testing::Shell;

TEST(EnrollFromImages, IdentifyFindsTheEnrolledPerson) {
  const std::string src = FK_SOURCE_DIR;
  const std::string models = std::getenv("FK_MODELS_DIR") ? std::getenv("FK_MODELS_DIR") : src + "/models";
  const std::string a = src + "/data/samples/sample3.jpg", b = src + "/data/samples/sample5.jpg";
  if (!fs::exists(models + "/human/mobileface.json") || !fs::exists(a) || !fs::exists(b))
    GTEST_SKIP() << "models or sample photos missing: run scripts/fetch_models.sh";
  const fs::path dir = fs::temp_directory_path() / ("fk_enroll_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string fk = std::string(FK_FACEKIT_BIN) + " ";
  const std::string db = " --db " + (dir / "g.db").string();
  int rc = 0;
  std::string out = Shell(fk + "gallery create people --model mobileface --model-version 1 --dim 256" + db, &rc);
  ASSERT_EQ(rc, 0) << out;
  out = Shell(fk + "enroll --gallery people --subject alice " + a + db + " --threads 1", &rc);
  ASSERT_EQ(rc, 0) << out;
  out = Shell(fk + "enroll --gallery people --subject bob " + b + db + " --threads 1", &rc);
  ASSERT_EQ(rc, 0) << out;
  out = Shell(fk + "identify --gallery people --top 2 --json " + a + db + " --threads 1", &rc);
  ASSERT_EQ(rc, 0) << out;
  // The same photo must come back as alice with a near-1 score, ahead of bob.
  const size_t alice = out.find("\"alice\""), bob = out.find("\"bob\"");
  ASSERT_NE(alice, std::string::npos) << out;
  ASSERT_NE(bob, std::string::npos) << out;
  EXPECT_LT(alice, bob) << out;
  const size_t sc = out.find("\"score\":", alice);
  ASSERT_NE(sc, std::string::npos) << out;
  EXPECT_GT(std::atof(out.c_str() + sc + 8), 0.99) << out;
  // A photo without the face pipeline's model in the gallery's model id is refused clearly.
  out = Shell(fk + "gallery create other --model nosuchmodel --model-version 1 --dim 8" + db, &rc);
  ASSERT_EQ(rc, 0) << out;
  out = Shell(fk + "enroll --gallery other --subject x " + a + db, &rc);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("nosuchmodel"), std::string::npos) << out;
  fs::remove_all(dir);
}

}  // namespace
