// Crash safety: a child process enrolls and acknowledges each commit on a pipe;
// the parent kill -9's it right after an acknowledgement; every acknowledged
// enrollment must be in the reopened database, which must pass integrity_check.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "facekit/gallery.h"

namespace fk {
namespace {

const ModelTag kModel{"faceres", "v1"};

[[noreturn]] void ChildEnroll(const std::string& path, int fd) {
  auto db = GalleryDb::Open(path);
  if (!db.ok()) _exit(3);
  auto g = (*db)->OpenGallery("crash");
  if (!g.ok()) _exit(4);
  std::mt19937 rng(getpid());
  std::normal_distribution<float> nd;
  for (int i = 0;; ++i) {
    std::vector<TemplateInput> t(3);
    for (auto& x : t) {
      x.vector.resize(128);
      for (auto& v : x.vector) v = nd(rng);
    }
    if (!(*g)->Enroll("s" + std::to_string(i), kModel, t).ok()) _exit(5);
    // The acknowledgement: written only after Enroll returned OK (committed).
    const std::string ack = std::to_string(i) + "\n";
    if (write(fd, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) _exit(6);
  }
}

TEST(CrashSafetyTest, AcknowledgedEnrollmentsSurviveKill9) {
  char tmpl[] = "/tmp/fk_crash_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/g.db";
  {
    auto db = GalleryDb::Open(path);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->CreateGallery({"crash", kModel.model_id, kModel.model_version, 128}).ok());
  }
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      ChildEnroll(path, fds[1]);
    }
    close(fds[1]);
    // Read acknowledgements; kill right after the (10 + 7*round)-th new one.
    const int kill_after = 10 + 7 * round;
    int acked = -1, seen = 0;
    std::string buf;
    char c;
    while (seen < kill_after && read(fds[0], &c, 1) == 1) {
      if (c == '\n') {
        acked = std::stoi(buf);
        buf.clear();
        ++seen;
      } else {
        buf += c;
      }
    }
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(st)) << "child exited early with status " << WEXITSTATUS(st);
    ASSERT_EQ(seen, kill_after);

    auto db = GalleryDb::Open(path);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    EXPECT_TRUE((*db)->IntegrityCheck().ok());
    auto g = (*db)->OpenGallery("crash");
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    for (int i = 0; i <= acked; ++i) {
      auto s = (*g)->GetSubject("s" + std::to_string(i));
      ASSERT_TRUE(s.ok()) << "acknowledged enrollment s" << i << " lost in round " << round;
      EXPECT_EQ(s->num_templates, 3) << "partial enrollment s" << i;
    }
    // Anything past the last acknowledgement is whole or absent (never partial).
    auto subjects = (*g)->ListSubjects();
    ASSERT_TRUE(subjects.ok());
    for (const auto& s : *subjects) EXPECT_EQ(s.num_templates, 3) << s.external_id;
    // Start the next round from a clean slate of subjects.
    for (const auto& s : *subjects) ASSERT_TRUE((*g)->DeleteSubject(s.external_id).ok());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fk
