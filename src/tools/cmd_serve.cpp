// facekit serve — the processing server (src/server/server.h, docs/server.md).
//
//   facekit serve --config server.json
//   facekit serve --auth none --port 8080 --tier fast [--device cuda:0]
//   facekit serve --new-key alice          # prints a key and the line for the keys file
//
// Runs until SIGINT/SIGTERM, then drains: running jobs finish, queued ones get 503.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tools/commands.h"

#ifdef FK_SERVER_ENABLED
#include <pthread.h>

#include <nlohmann/json.hpp>

#include "facekit/device.h"
#include "server/api_keys.h"
#include "server/server.h"
#endif

namespace fk::tools {

#ifdef FK_SERVER_ENABLED
namespace {

void PrintServeUsage() {
  std::fprintf(stderr,
               "usage: facekit serve [--config server.json] [--host H] [--port P] [--auth required|none]\n"
               "                     [--keys KEYS.json] [--tier fast|balanced|accurate] [--device cpu|cuda[:N]]\n"
               "                     [--models DIR] [--threads N] [--max-batch N] [--max-delay-us U] [--workers N]\n"
               "                     [--max-concurrent N] [--max-per-user N] [--max-queue N] [--gallery-db PATH]\n"
               "                     [--precision auto|fp16|tf32|fp32] [--gpu-memory-limit BYTES|PCT%%] [--cpu-fallback]\n"
               "                     [--attributes age_gender,emotion,liveness|all] [--detect-batch N] [--detect-workers N]\n"
               "       facekit serve --new-key USER     print a new API key and its keys-file entry\n"
               "--detect-batch N: photos of concurrent requests per detector run (0 = auto: 32 on a GPU, off on\n"
               "the CPU; 1 = off); --detect-workers N: threads that run those batches (default 2); --workers N:\n"
               "pipeline batch workers (0 = auto: 2 on a GPU). Endpoints, config file and limits: docs/server.md.\n");
}

int IntOr(const Args& args, const std::string& flag, int def, bool* bad) {
  const std::string v = FlagValue(args, flag);
  if (v.empty()) return def;
  try {
    size_t pos = 0;
    const int x = std::stoi(v, &pos);
    if (pos != v.size()) throw 1;
    return x;
  } catch (...) {
    std::fprintf(stderr, "facekit serve: %s needs an integer, got '%s'\n", flag.c_str(), v.c_str());
    *bad = true;
    return def;
  }
}

}  // namespace

// The server config from --config and the command-line overrides (also used by bench server).
Result<server::ServerConfig> ServerConfigFromArgs(const Args& args) {
  server::ServerConfig c;
  if (auto p = FlagValue(args, "--config"); !p.empty()) {
    FK_ASSIGN_OR_RETURN(c, server::ServerConfig::FromFile(p));
  }
  bool bad = false;
  c.host = FlagValue(args, "--host", c.host);
  c.port = IntOr(args, "--port", c.port, &bad);
  c.auth = FlagValue(args, "--auth", c.auth);
  c.api_keys_file = FlagValue(args, "--keys", c.api_keys_file);
  c.gallery_db = FlagValue(args, "--gallery-db", c.gallery_db);
  c.limits.max_concurrent = IntOr(args, "--max-concurrent", c.limits.max_concurrent, &bad);
  c.limits.max_per_user = IntOr(args, "--max-per-user", c.limits.max_per_user, &bad);
  c.limits.max_queue = IntOr(args, "--max-queue", c.limits.max_queue, &bad);
  c.batching.max_batch = IntOr(args, "--max-batch", c.batching.max_batch, &bad);
  c.batching.max_delay = std::chrono::microseconds(IntOr(args, "--max-delay-us", static_cast<int>(c.batching.max_delay.count()), &bad));
  c.batching.workers = IntOr(args, "--workers", c.batching.workers, &bad);
  if (auto t = FlagValue(args, "--tier"); !t.empty()) {
    if (t == "fast") c.face.tier = Tier::kFast;
    else if (t == "balanced") c.face.tier = Tier::kBalanced;
    else if (t == "accurate") c.face.tier = Tier::kAccurate;
    else return InvalidArgument("--tier '" + t + "' is not one of fast, balanced, accurate");
  }
  if (auto v = FlagValue(args, "--device"); !v.empty()) {
    FK_ASSIGN_OR_RETURN(DeviceConfig d, ParseDeviceFlag(v));
    c.face.use_cuda = d.use_cuda;
    c.face.gpu_index = d.gpu_index;
  }
  if (auto v = FlagValue(args, "--precision"); !v.empty()) c.face.precision = v;
  // --gpu-memory-limit 8000000000 (bytes) or 80% (of the card).
  if (auto v = FlagValue(args, "--gpu-memory-limit"); !v.empty()) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (end && *end == '%' && end[1] == '\0' && x > 0 && x <= 100) c.face.gpu_memory_limit_fraction = x / 100.0;
    else if (end && *end == '\0' && x >= 0) c.face.gpu_memory_limit_bytes = static_cast<int64_t>(x);
    else return InvalidArgument("--gpu-memory-limit needs bytes (e.g. 8000000000) or a percentage (e.g. 80%), got '" + v + "'");
  }
  if (HasFlag(args, "--cpu-fallback")) c.face.allow_cpu_fallback = true;
  c.face.num_threads = IntOr(args, "--threads", c.face.num_threads, &bad);
  c.face.detect_batching.max_batch = IntOr(args, "--detect-batch", c.face.detect_batching.max_batch, &bad);
  c.face.detect_batching.workers = IntOr(args, "--detect-workers", c.face.detect_batching.workers, &bad);
  c.face.models_dir = FlagValue(args, "--models", c.face.models_dir.empty() ? ModelsDir() : c.face.models_dir);
  if (HasFlag(args, "--no-small-faces")) c.face.detector.small_faces = false;
  if (auto v = FlagValue(args, "--attributes"); !v.empty()) {
    FK_ASSIGN_OR_RETURN(c.face.attributes, AttributeConfig::Parse(v));
  }
  if (bad) return InvalidArgument("bad command-line value (see above)");
  FK_RETURN_IF_ERROR(c.Validate());
  return c;
}

int CmdServe(const Args& args) {
  if (HasFlag(args, "--help") || HasFlag(args, "-h")) {
    PrintServeUsage();
    return 0;
  }
  if (auto user = FlagValue(args, "--new-key"); !user.empty() || HasFlag(args, "--new-key")) {
    if (user.empty()) {
      std::fprintf(stderr, "facekit serve: --new-key needs a user name\n");
      return 2;
    }
    const std::string key = server::ApiKeys::NewKey();
    std::printf("key (give it to %s; it is not stored anywhere): %s\n", user.c_str(), key.c_str());
    std::printf("keys-file entry: %s\n",
                nlohmann::json({{"user", user}, {"key_sha256", server::ApiKeys::Sha256Hex(key)}}).dump().c_str());
    return 0;
  }
  auto cfg = ServerConfigFromArgs(args);
  if (!cfg.ok()) {
    std::fprintf(stderr, "facekit serve: %s\n", cfg.status().ToString().c_str());
    return 2;
  }
  // Block SIGINT/SIGTERM in every thread (the server's threads inherit the mask); the main
  // thread waits for them with sigwait and stops the server gracefully.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::fprintf(stderr, "facekit serve: loading models...\n");
  auto srv = server::Server::Create(*cfg);
  if (!srv.ok()) {
    std::fprintf(stderr, "facekit serve: %s\n", srv.status().ToString().c_str());
    return 1;
  }
  if (Status st = (*srv)->Start(); !st.ok()) {
    std::fprintf(stderr, "facekit serve: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("facekit serve: listening on %s\n", (*srv)->Describe().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  std::fprintf(stderr, "facekit serve: %s received, draining (running jobs finish, queued ones get 503)...\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*srv)->Stop();
  std::fprintf(stderr, "facekit serve: stopped\n");
  return 0;
}

#else

int CmdServe(const Args&) {
  std::fprintf(stderr,
               "facekit serve: this facekit was built without the processing server (install libcpp-httplib-dev "
               "and re-run cmake; scripts/install_deps.sh does)\n");
  return 1;
}

#endif

}  // namespace fk::tools
