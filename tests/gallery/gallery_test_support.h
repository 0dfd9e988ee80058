// Test support shared by gallery_test.cpp and postgres_test.cpp: temp dirs,
// random templates, and a REAL local PostgreSQL server started once per test
// binary (PgTestServer), so the same gallery scenarios run on both backends
// (the GalleryBackendTest fixture, parameterised by "sqlite" / "postgres").
//
// The server: initdb into a fresh temp dir (as the `postgres` system user when
// the tests run as root: PostgreSQL refuses to run as root), started with pg_ctl
// on 127.0.0.1 and a free port, plus a unix socket in the temp dir; each test
// gets its own database (CREATE DATABASE). It is stopped and its dir deleted at
// the end of the binary (a gtest Environment, postgres_test.cpp), by the static
// guard's destructor, and — should the test process die — by a watchdog process
// that notices the end of the process. Without PostgreSQL binaries, or where the
// server cannot start, the postgres tests skip with the reason.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "facekit/gallery.h"
#include "gallery/search_index.h"

namespace fk::testing_support {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/fk_gallery_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline const ModelTag kModel{"faceres", "v1"};

inline std::vector<float> RandVec(int dim, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  std::vector<float> v(static_cast<size_t>(dim));
  for (auto& x : v) x = nd(rng);
  return v;
}

// n x dim rows of L2-normalised Gaussian noise (seeded).
inline std::vector<float> RandomUnit(int64_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (auto& x : v) x = nd(rng);
  for (int64_t i = 0; i < n; ++i) gallery::NormalizeL2(v.data() + i * dim, dim);
  return v;
}

inline std::unique_ptr<GalleryDb> OpenDb(const std::string& path, DbOptions o = {}) {
  auto db = GalleryDb::Open(path, o);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

inline std::unique_ptr<Gallery> MakeGallery(GalleryDb* db, const std::string& name, int dim = 32) {
  auto g = db->CreateGallery({name, kModel.model_id, kModel.model_version, dim});
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  auto h = db->OpenGallery(name);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? std::move(h).value() : nullptr;
}

// ------------------------------------------------------------ PostgreSQL ----

class PgTestServer {
 public:
  // The shared server, started on first use; nullptr with `why` set when it
  // cannot be started (the caller skips).
  static PgTestServer* Get(std::string* why) {
    std::lock_guard lock(Mu());
    auto& s = Slot();
    if (!s && StartError().empty()) {
      auto srv = std::unique_ptr<PgTestServer>(new PgTestServer());
      std::string err = srv->Start();
      if (err.empty()) s = std::move(srv);
      else StartError() = err;
    }
    if (!s) *why = StartError();
    return s.get();
  }
  // Stops the server and deletes its dir (idempotent).
  static void Shutdown() {
    std::lock_guard lock(Mu());
    Slot().reset();
  }

  ~PgTestServer() {
    Stop("fast");
    fs::remove_all(dir_);
    if (watchdog_fd_ >= 0) close(watchdog_fd_);  // the watchdog finds nothing left to do
    if (watchdog_pid_ > 0) waitpid(watchdog_pid_, nullptr, 0);
  }

  // A new empty database on the server; its URL over TCP (or the unix socket).
  std::string NewDatabase(bool unix_socket = false) {
    const std::string name = "fk_test_" + std::to_string(++db_counter_);
    if (RunAsServerUser({bin_ + "/createdb", "-h", dir_, "-p", std::to_string(port_), "-U", "facekit", name},
                        dir_ + "/createdb.log") != 0) {
      ADD_FAILURE() << "createdb " << name << " failed: " << Slurp(dir_ + "/createdb.log");
      return "";
    }
    return unix_socket ? "postgresql://facekit@/" + name + "?host=" + dir_ + "&port=" + std::to_string(port_)
                       : "postgresql://facekit@127.0.0.1:" + std::to_string(port_) + "/" + name;
  }
  // Simulates a server crash (SIGQUIT to every server process: no shutdown
  // checkpoint, in-memory state lost) and starts the server again (crash recovery).
  bool CrashAndRestart(std::string* log) {
    Stop("immediate");
    const bool ok = StartServer();
    if (!ok) *log = Slurp(dir_ + "/server.log");
    return ok;
  }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  PgTestServer() = default;

  static std::mutex& Mu() {
    static std::mutex m;
    return m;
  }
  static std::unique_ptr<PgTestServer>& Slot() {
    static std::unique_ptr<PgTestServer> s;
    return s;
  }
  static std::string& StartError() {
    static std::string e;
    return e;
  }

  static std::string Slurp(const std::string& p) {
    std::ifstream f(p);
    std::string s((std::istreambuf_iterator<char>(f)), {});
    return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
  }

  static std::string FindBinDir() {
    if (const char* e = std::getenv("FK_PG_BIN"); e && *e) return e;
    std::vector<std::string> cands;
    if (const char* p = std::getenv("PATH")) {
      std::stringstream ss(p);
      for (std::string d; std::getline(ss, d, ':');) cands.push_back(d);
    }
    std::error_code ec;
    if (fs::exists("/usr/lib/postgresql", ec))
      for (const auto& v : fs::directory_iterator("/usr/lib/postgresql", ec)) cands.push_back(v.path() / "bin");
    for (const auto& d : cands)
      if (access((d + "/initdb").c_str(), X_OK) == 0 && access((d + "/pg_ctl").c_str(), X_OK) == 0 &&
          access((d + "/createdb").c_str(), X_OK) == 0)
        return fs::canonical(d + "/initdb", ec).parent_path().string();
    return "";
  }

  static int FreePort() {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    close(s);
    return port;
  }

  // Runs argv (as the `postgres` user when we are root), output to `log`; exit code.
  int RunAsServerUser(const std::vector<std::string>& argv, const std::string& log) const {
    std::vector<std::string> full;
    if (geteuid() == 0) full = {"runuser", "-u", "postgres", "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    std::vector<char*> args;
    for (auto& a : full) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execvp(args[0], args.data());
      _exit(127);
    }
    if (pid < 0) return -1;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  bool StartServer() {
    // The server's own default is synchronous_commit=off, with the WAL writer
    // asleep for 10 s: a commit is then written only from the WAL buffers in shared
    // memory, which a crash loses. facekit must turn synchronous_commit on for its
    // session (the crash test in postgres_test.cpp relies on this). fsync=off keeps
    // the suite fast: WAL that was written survives a crash of the server process
    // (the page cache outlives it), which is what the tests simulate; power-loss
    // durability is the production server's fsync=on.
    const std::string opts = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) +
                             " -c unix_socket_directories=" + dir_ +
                             " -c synchronous_commit=off -c wal_writer_delay=10000 -c fsync=off"
                             " -c full_page_writes=off -c max_connections=40 -c shared_buffers=16MB";
    return RunAsServerUser({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/server.log", "-w", "-t", "60",
                            "-o", opts, "start"},
                           dir_ + "/pg_ctl.log") == 0;
  }

  void Stop(const char* mode) {
    if (dir_.empty() || !fs::exists(dir_ + "/data/postmaster.pid")) return;
    RunAsServerUser({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", mode, "-w", "-t", "60", "stop"},
                    dir_ + "/pg_ctl_stop.log");
  }

  // A process that waits for the end of this one (EOF on a pipe) and then stops
  // the server and deletes its dir, in case the test binary dies without cleanup.
  void StartWatchdog() {
    int fds[2];
    if (pipe(fds) != 0) return;
    const std::string stop = (geteuid() == 0 ? "runuser -u postgres -- " : "") + bin_ + "/pg_ctl -D '" + dir_ +
                             "/data' -m immediate -w stop >/dev/null 2>&1; rm -rf '" + dir_ + "'";
    const std::string script = "while read _; do :; done; [ -d '" + dir_ + "' ] && { " + stop + "; }; exit 0";
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[0], 0);
      close(fds[0]);
      close(fds[1]);
      const int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        dup2(devnull, 1);
        dup2(devnull, 2);
      }
      setsid();  // not killed with the test's process group
      execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    watchdog_fd_ = fds[1];
    watchdog_pid_ = pid;
  }

  // "" on success, else why the server could not be started.
  std::string Start() {
    bin_ = FindBinDir();
    if (bin_.empty())
      return "PostgreSQL server binaries (initdb, pg_ctl, createdb) not found in PATH or /usr/lib/postgresql/*/bin; "
             "install the Debian package `postgresql` (scripts/install_deps.sh does) or set FK_PG_BIN";
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (uid == 0) {
      const passwd* pw = getpwnam("postgres");
      if (!pw)
        return "the tests run as root and there is no `postgres` user to run the server as (PostgreSQL refuses "
               "root); install the Debian package `postgresql`, or run the tests as a normal user";
      if (access("/usr/sbin/runuser", X_OK) != 0 && access("/sbin/runuser", X_OK) != 0 &&
          access("/usr/bin/runuser", X_OK) != 0)
        return "the tests run as root but `runuser` (util-linux) is missing: cannot start PostgreSQL as `postgres`";
      uid = pw->pw_uid;
      gid = pw->pw_gid;
    }
    char tmpl[] = "/tmp/fk_pg_test_XXXXXX";
    if (!mkdtemp(tmpl)) return "cannot create a temp dir for the PostgreSQL test server";
    dir_ = tmpl;
    if (chown(dir_.c_str(), uid, gid) != 0) return "cannot chown " + dir_ + " to the postgres user";
    StartWatchdog();
    if (RunAsServerUser({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "facekit", "--auth=trust", "--no-sync",
                         "--no-locale", "-E", "UTF8"},
                        dir_ + "/initdb.log") != 0)
      return "initdb failed: " + Slurp(dir_ + "/initdb.log");
    for (int attempt = 0; attempt < 3; ++attempt) {  // a port may be taken between probe and start
      port_ = FreePort();
      if (port_ > 0 && StartServer()) return "";
    }
    return "pg_ctl start failed: " + Slurp(dir_ + "/pg_ctl.log") + Slurp(dir_ + "/server.log");
  }

  std::string bin_, dir_;
  int port_ = 0;
  int db_counter_ = 0;
  int watchdog_fd_ = -1;
  pid_t watchdog_pid_ = -1;
};

// ------------------------------------------------- both backends, one body ----

// Parameter: "sqlite" or "postgres". NewLocation() gives a fresh, empty database.
class GalleryBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (pg()) {
      std::string why;
      server_ = PgTestServer::Get(&why);
      if (!server_) GTEST_SKIP() << "PostgreSQL gallery tests skipped: " << why;
    }
  }
  bool pg() const { return GetParam() == "postgres"; }
  std::string NewLocation() { return pg() ? server_->NewDatabase() : tmp_.File("g" + std::to_string(++n_) + ".db"); }
  // A database that does not exist (opening it must fail, never create it).
  std::string MissingLocation() const {
    return pg() ? "postgresql://facekit@127.0.0.1:" + std::to_string(server_->port()) + "/no_such_db"
                : tmp_.File("missing.db");
  }

  TempDir tmp_;
  PgTestServer* server_ = nullptr;
  int n_ = 0;
};

inline std::string BackendName(const ::testing::TestParamInfo<std::string>& i) { return i.param; }

}  // namespace fk::testing_support
