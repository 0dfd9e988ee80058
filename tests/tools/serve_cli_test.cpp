// `facekit serve` as a user runs it: key generation, refusing to start without keys, a real
// start on a free port answering /healthz, and a clean drain on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#if __has_include(<httplib.h>)
#include <httplib.h>
#define FK_TEST_HAVE_HTTPLIB 1
#endif

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "../cli_shell.h"

namespace fk {
namespace {

std::string Bin() { return FK_FACEKIT_BIN; }

TEST(ServeCli, NewKeyPrintsAKeyAndItsDigestLine) {
  int rc = 0;
  const std::string out = testing::Shell(Bin() + " serve --new-key alice", &rc, /*with_stderr=*/false);
  ASSERT_EQ(rc, 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("([0-9a-f]{64})\n"))) << out;
  EXPECT_NE(out.find("\"user\":\"alice\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"key_sha256\""), std::string::npos) << out;
  EXPECT_EQ(out.find("\"key_sha256\":\"" + m[1].str() + "\""), std::string::npos);  // digest, not the key
}

TEST(ServeCli, RefusesToStartWithoutKeysUnlessAuthIsOff) {
  int rc = 0;
  const std::string out = testing::Shell(Bin() + " serve --port 0", &rc);
  if (out.find("built without the processing server") != std::string::npos) GTEST_SKIP() << out;
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("api_keys_file"), std::string::npos) << out;
  const std::string bad = testing::Shell(Bin() + " serve --auth none --max-batch 0", &rc);
  EXPECT_EQ(rc, 2) << bad;
  EXPECT_NE(bad.find("max_batch"), std::string::npos) << bad;
}

#ifdef FK_TEST_HAVE_HTTPLIB
TEST(ServeCli, ServesAndDrainsOnSigterm) {
  const char* models = std::getenv("FK_MODELS_DIR");
  const std::string mdir = models && *models ? models : std::string(FK_SOURCE_DIR) + "/models";
  if (!std::filesystem::exists(mdir + "/human/mobileface.json")) GTEST_SKIP() << "models missing";
  const std::string log = (std::filesystem::temp_directory_path() / ("serve_cli_" + std::to_string(getpid()) + ".log")).string();
  int rc = 0;
  // Background server on a free port; its pid and port come from the log.
  testing::Shell("(" + Bin() + " serve --auth none --port 0 --models " + mdir + " > " + log + " 2>&1 & echo $! > " +
                     log + ".pid)",
                 &rc);
  int port = 0;
  std::string text;
  for (int i = 0; i < 300 && port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream f(log);
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
    std::smatch m;
    if (std::regex_search(text, m, std::regex("listening on http://127\\.0\\.0\\.1:([0-9]+)"))) port = std::stoi(m[1]);
  }
  std::ifstream pf(log + ".pid");
  int pid = 0;
  pf >> pid;
  ASSERT_GT(port, 0) << text;
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ASSERT_GT(pid, 0);
  kill(pid, SIGTERM);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gone = kill(pid, 0) != 0;
  }
  EXPECT_TRUE(gone) << "facekit serve did not exit after SIGTERM";
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_NE(ss.str().find("stopped"), std::string::npos) << ss.str();
  std::filesystem::remove(log);
  std::filesystem::remove(log + ".pid");
}
#endif

}  // namespace
}  // namespace fk
