// facekit bench server — throughput and latency of the processing server under closed-loop
// HTTP load (server/load_client.h), with and without dynamic batching, against a peer
// service in the same run: tests/reference/human/peer_server.mjs (Human on TF.js, one
// request at a time, as the service facekit replaces). Writes server-<device>.md/json.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/commands.h"

#ifdef FK_SERVER_ENABLED
#include <httplib.h>

#include "facekit/device.h"
#include "server/gpu_monitor.h"
#include "server/load_client.h"
#include "server/server.h"
#endif

extern char** environ;

namespace fk::tools {

#ifdef FK_SERVER_ENABLED
Result<server::ServerConfig> ServerConfigFromArgs(const Args& args);  // cmd_serve.cpp

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

void PrintBenchServerUsage() {
  std::fprintf(stderr,
               "usage: facekit bench server [--images DIR] [--max-photos N] [--concurrency 1,8,32]\n"
               "                            [--batching 1,16] [--duration S] [--warmup S] [--tier T]\n"
               "                            [--device cpu|cuda[:N]] [--threads N] [--max-delay-us U]\n"
               "                            [--detect-batching 0,1,32] [--no-peer] [--peer-concurrency 1,4]\n"
               "                            [--out DIR] [--json]\n"
               "Starts facekit's server in this process (auth off, 127.0.0.1, any port) once per --batching\n"
               "value (max photos per pipeline call; 1 = no batching) and --detect-batching value (photos of\n"
               "concurrent requests per detector run; 0 = auto: 32 on a GPU, off on the CPU; 1 = off; default\n"
               "0), drives it with closed-loop clients\n"
               "POSTing the photos (JPEG bytes, round robin) to /v1/faces at each --concurrency, and reports\n"
               "photos/s, faces/s, latency percentiles, the batch sizes formed, CPU use and (with a GPU) GPU\n"
               "utilisation. The peer (Human on TF.js in Node, tests/reference/human/peer_server.mjs) gets the\n"
               "same load unless --no-peer. --out DIR writes server-cpu.md/json (server-gpu.* with a GPU).\n");
}

std::vector<int> IntList(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(std::atoi(item.c_str()));
  return v;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// CPU seconds of a child process from /proc/PID/stat (utime + stime, clock ticks).
double ChildCpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(f, s);
  const size_t rp = s.rfind(')');
  if (rp == std::string::npos) return 0;
  std::stringstream ss(s.substr(rp + 2));
  std::string field;
  double ut = 0, st = 0;
  for (int i = 3; ss >> field; ++i) {
    if (i == 14) ut = std::atof(field.c_str());
    if (i == 15) {
      st = std::atof(field.c_str());
      break;
    }
  }
  return (ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

Result<json> GetStatus(int port) {
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get("/status");
  if (!r || r->status != 200) return Unavailable("GET /status failed");
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return Internal("/status: not JSON");
  return j;
}

// The peer service: node peer_server.mjs --port P --models DIR, ready when it prints
// "listening on P". Killed (SIGTERM) by the destructor.
class Peer {
 public:
  static Result<std::unique_ptr<Peer>> Start(const std::string& models_dir, const std::string& warmup_photo) {
    const std::string dir = HumanPeerDir();
    const std::string script = dir + "/peer_server.mjs";
    if (!fs::exists(script)) return NotFound("peer script not found: " + script);
    if (!fs::exists(dir + "/node_modules/@vladmandic/human"))
      return NotFound("the peer (Human) is not installed: run `npm ci` in " + dir + " (or scripts/install_deps.sh)");
    auto p = std::make_unique<Peer>();
    const std::string log = (fs::temp_directory_path() / ("facekit-peer-" + std::to_string(getpid()) + ".log")).string();
    p->log = log;
    // One thread: TF.js wasm cannot start worker threads in Node (peer_server.mjs refuses more).
    std::vector<std::string> argv_s = {"node", script, "--port", "0", "--models",
                                       fs::absolute(models_dir + "/human").string(), "--threads", "1"};
    if (!warmup_photo.empty()) argv_s.insert(argv_s.end(), {"--warmup", warmup_photo});
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = posix_spawnp(&p->pid, "node", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return Unavailable("cannot start node (is Node.js installed?)");
    // Wait (up to 120 s: model loading on wasm) for the readiness line.
    for (int i = 0; i < 1200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream f(log);
      std::stringstream ss;
      ss << f.rdbuf();
      // "listening on <port>" (the peer picked a free port: --port 0).
      if (const size_t at = ss.str().find("listening on "); at != std::string::npos) {
        p->port = std::atoi(ss.str().c_str() + at + 13);
        if (p->port > 0) return p;
      }
      int status = 0;
      if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
        p->pid = -1;
        return Unavailable("the peer exited during start-up: " + ss.str().substr(0, 2000));
      }
    }
    return Unavailable("the peer did not report 'listening on' within 120 s (log: " + log + ")");
  }
  ~Peer() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
      }
    }
    std::error_code ec;
    if (!log.empty()) fs::remove(log, ec);
  }
  pid_t pid = -1;
  int port = 0;
  std::string log;
};

struct Row {
  std::string system;  // "facekit" / "peer"
  int max_batch = 0;   // facekit: batching setting
  int detect_batch = 0;  // facekit: --detect-batching setting (0 auto)
  int detect_resolved = 1;  // the detector batching in effect (1 = off)
  double detect_mean_batch = 0;
  int concurrency = 0;
  server::LoadResult load;
  double mean_batch = 0;
  double cpu_util = 0;  // CPU seconds / wall seconds (1.0 = one core busy)
  double gpu_util = -1;
  // facekit: the engine's steps over the run (GET /status "steps"), wall / CPU ms per photo
  // summed over threads, and the batch workers' busy share (busy seconds / workers / wall).
  std::vector<std::string> step_names;
  std::vector<double> step_wall_ms, step_cpu_ms;
  double workers_busy = -1;
};

std::string Fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof(b), f, v);
  return b;
}

}  // namespace

int BenchServer(const Args& args) {
  if (HasFlag(args, "--help") || HasFlag(args, "-h")) {
    PrintBenchServerUsage();
    return 0;
  }
  const std::string images = FlagValue(args, "--images", std::string(FK_SOURCE_DIR) + "/data/samples");
  const int max_photos = std::atoi(FlagValue(args, "--max-photos", "64").c_str());
  const std::vector<int> conc = IntList(FlagValue(args, "--concurrency", "1,8,32"));
  const std::vector<int> batching = IntList(FlagValue(args, "--batching", "1,16"));
  const std::vector<int> detect_batching = IntList(FlagValue(args, "--detect-batching", "0"));
  const std::vector<int> peer_conc = IntList(FlagValue(args, "--peer-concurrency", "1,4"));
  const double duration = std::atof(FlagValue(args, "--duration", "10").c_str());
  const double warmup = std::atof(FlagValue(args, "--warmup", "2").c_str());
  if (conc.empty() || batching.empty() || detect_batching.empty() || duration <= 0 || warmup < 0) {
    PrintBenchServerUsage();
    return 2;
  }
  const std::string load_before = LoadAverage();
  // Photos: the JPEG bytes, as a client would send them.
  std::vector<std::vector<uint8_t>> bodies;
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(images, ec)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg")) names.push_back(e.path().string());
  }
  std::sort(names.begin(), names.end());
  if (static_cast<int>(names.size()) > max_photos) names.resize(static_cast<size_t>(max_photos));
  for (const auto& n : names) {
    std::ifstream f(n, std::ios::binary);
    bodies.emplace_back((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  if (bodies.empty()) {
    std::fprintf(stderr, "facekit bench server: no JPEG photos under '%s'\n", images.c_str());
    return 1;
  }
  std::vector<Row> rows;
  std::string engine_desc, device_desc = "cpu";
  bool gpu = false;
  auto gpu_mon = server::GpuMonitor::Create();
  const int max_conc = *std::max_element(conc.begin(), conc.end());
  for (int mb : batching)
  for (int dmb : detect_batching) {
    Args a = args;
    a.insert(a.end(), {"--auth", "none", "--port", "0", "--max-batch", std::to_string(mb), "--max-concurrent",
                       std::to_string(std::max(64, max_conc)), "--max-per-user", std::to_string(std::max(64, max_conc)),
                       "--detect-batch", std::to_string(dmb)});
    auto cfg = ServerConfigFromArgs(a);
    if (!cfg.ok()) {
      std::fprintf(stderr, "facekit bench server: %s\n", cfg.status().ToString().c_str());
      return 2;
    }
    cfg->gallery_db.clear();
    gpu = cfg->face.use_cuda;
    auto srv = server::Server::Create(*cfg);
    if (!srv.ok()) {
      std::fprintf(stderr, "facekit bench server: %s\n", srv.status().ToString().c_str());
      return 1;
    }
    if (Status st = (*srv)->Start(); !st.ok()) {
      std::fprintf(stderr, "facekit bench server: %s\n", st.ToString().c_str());
      return 1;
    }
    engine_desc = (*srv)->Describe();
    if (gpu) device_desc = "cuda:" + std::to_string(cfg->face.gpu_index);
    for (int c : conc) {
      server::LoadOptions lo;
      lo.port = (*srv)->port();
      lo.bodies = bodies;
      lo.concurrency = c;
      lo.duration_s = duration;
      lo.warmup_s = warmup;
      auto before = GetStatus(lo.port);
      if (gpu) gpu_mon->StartSampling(std::chrono::milliseconds(100), 100000);
      const double cpu0 = CpuSeconds();
      const auto t0 = std::chrono::steady_clock::now();
      auto r = server::RunLoad(lo);
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu1 = CpuSeconds();
      if (gpu) gpu_mon->StopSampling();
      auto after = GetStatus(lo.port);
      if (!r.ok()) {
        std::fprintf(stderr, "facekit bench server: %s\n", r.status().ToString().c_str());
        return 1;
      }
      Row row;
      row.system = "facekit";
      row.max_batch = mb;
      row.detect_batch = dmb;
      row.concurrency = c;
      row.load = *r;
      row.cpu_util = (cpu1 - cpu0) / wall;  // includes the load client's threads (same process)
      if (before.ok() && after.ok()) {
        const double db = (*after)["batching"]["batches"].get<double>() - (*before)["batching"]["batches"].get<double>();
        const double dp = (*after)["batching"]["photos"].get<double>() - (*before)["batching"]["photos"].get<double>();
        row.mean_batch = db > 0 ? dp / db : 0;
        const double photos_done = (*after)["requests"]["photos"].get<double>() - (*before)["requests"]["photos"].get<double>();
        if (after->contains("steps") && before->contains("steps") && photos_done > 0)
          for (const auto& [name, v] : (*after)["steps"].items()) {
            const json& b0 = (*before)["steps"][name];
            row.step_names.push_back(name);
            row.step_wall_ms.push_back(1e3 * (v["wall_s"].get<double>() - b0["wall_s"].get<double>()) / photos_done);
            row.step_cpu_ms.push_back(1e3 * (v["cpu_s"].get<double>() - b0["cpu_s"].get<double>()) / photos_done);
          }
        const int workers = (*after)["batching"]["workers"].get<int>();
        if (workers > 0)
          row.workers_busy = ((*after)["batching"]["busy_s"].get<double>() - (*before)["batching"]["busy_s"].get<double>()) /
                             (workers * wall);
        const json& d0 = (*before)["batching"]["detect"];
        const json& d1 = (*after)["batching"]["detect"];
        if (d1.value("enabled", false)) {
          row.detect_resolved = d1["max_batch"].get<int>();
          const double ddb = d1["batches"].get<double>() - d0["batches"].get<double>();
          const double ddp = d1["photos"].get<double>() - d0["photos"].get<double>();
          row.detect_mean_batch = ddb > 0 ? ddp / ddb : 0;
        }
      }
      if (gpu)
        for (const auto& w : gpu_mon->WindowSummary())
          if (w.index == cfg->face.gpu_index) row.gpu_util = w.mean_util_pct;
      std::fprintf(stderr, "  facekit batch<=%-3d detect<=%-3d conc %-3d  %8.1f photos/s %8.1f faces/s  p50 %7.1f ms  p99 %7.1f ms  batch %.1f detect %.1f%s\n",
                   mb, row.detect_resolved, c, r->requests_per_s, r->faces_per_s, r->p50_ms, r->p99_ms, row.mean_batch,
                   row.detect_mean_batch,
                   r->errors ? ("  ERRORS " + std::to_string(r->errors) + ": " + r->first_error.substr(0, 200)).c_str() : "");
      rows.push_back(row);
    }
    (*srv)->Stop(5000);
  }
  std::string peer_note;
  if (!HasFlag(args, "--no-peer") && !peer_conc.empty()) {
    const std::string models = FlagValue(args, "--models", ModelsDir());
    auto peer = Peer::Start(models, names.front());
    if (!peer.ok()) {
      peer_note = peer.status().ToString();
      std::fprintf(stderr, "facekit bench server: peer skipped: %s\n", peer_note.c_str());
    } else {
      for (int c : peer_conc) {
        server::LoadOptions lo;
        lo.port = (*peer)->port;
        lo.bodies = bodies;
        lo.concurrency = c;
        lo.duration_s = duration;
        lo.warmup_s = std::max(warmup, 5.0);  // TF.js wasm compiles its kernels on first use
        lo.timeout_s = 300;
        const double pc0 = ChildCpuSeconds((*peer)->pid), mc0 = CpuSeconds();
        const auto t0 = std::chrono::steady_clock::now();
        auto r = server::RunLoad(lo);
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double pc1 = ChildCpuSeconds((*peer)->pid), mc1 = CpuSeconds();
        if (!r.ok()) {
          peer_note = r.status().ToString();
          break;
        }
        Row row;
        row.system = "peer";
        row.concurrency = c;
        row.load = *r;
        row.cpu_util = ((pc1 - pc0) + (mc1 - mc0)) / wall;  // peer process + load client
        std::fprintf(stderr, "  peer (Human)      conc %-3d  %8.1f photos/s %8.1f faces/s  p50 %7.1f ms  p99 %7.1f ms\n",
                     c, r->requests_per_s, r->faces_per_s, r->p50_ms, r->p99_ms);
        rows.push_back(row);
      }
    }
  }
  // Best of each system (faces/s) and their ratio.
  double best_fk = 0, best_peer = 0;
  for (const Row& r : rows) (r.system == "facekit" ? best_fk : best_peer) = std::max(r.system == "facekit" ? best_fk : best_peer, r.load.faces_per_s);

  json report;
  report["machine"] = {{"cpu", CpuModel()}, {"cores", std::thread::hardware_concurrency()}, {"load_average_before", load_before},
                       {"load_average_after", LoadAverage()}};
  report["device"] = device_desc;
  report["server"] = engine_desc;
  report["photos"] = {{"dir", images}, {"count", bodies.size()}};
  report["duration_s"] = duration;
  report["warmup_s"] = warmup;
  report["gpu"] = server::GpuReportToJson(gpu_mon->Sample());
  json jr = json::array();
  for (const Row& r : rows) {
    json j = server::LoadResultToJson(r.load);
    j["system"] = r.system;
    j["concurrency"] = r.concurrency;
    if (r.system == "facekit") {
      j["max_batch"] = r.max_batch;
      j["mean_batch"] = r.mean_batch;
      j["detect_batch"] = r.detect_batch;
      j["detect_max_batch"] = r.detect_resolved;
      j["detect_mean_batch"] = r.detect_mean_batch;
      json steps = json::object();
      for (size_t k = 0; k < r.step_names.size(); ++k)
        steps[r.step_names[k]] = {{"wall_ms_per_photo", r.step_wall_ms[k]}, {"cpu_ms_per_photo", r.step_cpu_ms[k]}};
      j["steps"] = steps;
      if (r.workers_busy >= 0) j["workers_busy"] = r.workers_busy;
    }
    j["cpu_util"] = r.cpu_util;
    if (r.gpu_util >= 0) j["gpu_util_pct"] = r.gpu_util;
    jr.push_back(j);
  }
  report["rows"] = jr;
  report["best_faces_per_s"] = {{"facekit", best_fk}, {"peer", best_peer}};
  if (best_peer > 0) report["ratio"] = best_fk / best_peer;
  if (!peer_note.empty()) report["peer_note"] = peer_note;

  std::ostringstream md;
  md << "# Processing server: " << (gpu ? "GPU" : "CPU") << "\n\n"
     << "Command: `facekit bench server";
  for (const auto& a : args) md << " " << a;
  md << "`\n\n"
     << "- Machine: " << CpuModel() << ", " << std::thread::hardware_concurrency() << " cores (load average before: "
     << load_before << "; after, with this run's own load: " << report["machine"]["load_average_after"].get<std::string>()
     << ")"
     << (gpu ? ", GPU: " + (report["gpu"].contains("gpus") && !report["gpu"]["gpus"].empty()
                                   ? report["gpu"]["gpus"][0]["name"].get<std::string>()
                                   : std::string("?"))
             : std::string())
     << "\n- facekit: `facekit serve` in this process (" << engine_desc << ")\n"
     << "- Load: closed loop, N clients with one keep-alive connection each, POST /v1/faces with the JPEG bytes of "
     << bodies.size() << " photos from `" << images << "` round robin; " << duration << " s measured after " << warmup
     << " s warm-up (peer: >= 5 s).\n"
     << (HasFlag(args, "--no-peer")
             ? std::string("- Peer: not run (--no-peer).\n\n")
             : std::string("- Peer: `tests/reference/human/peer_server.mjs` — Human (TF.js wasm) behind a Node HTTP "
                           "server, one request at a time, same models family, same load client.\n\n"))
     << "| system | max batch | detect batch | clients | photos/s | faces/s | p50 ms | p90 ms | p99 ms | mean batch | mean detect batch | CPU (cores) | faces per CPU-s |"
     << (gpu ? " GPU util % |" : "") << " errors |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" << (gpu ? "---:|" : "") << "---:|\n";
  for (const Row& r : rows) {
    const bool fk = r.system == "facekit";
    md << "| " << r.system << " | " << (fk ? std::to_string(r.max_batch) : "-") << " | "
       << (!fk ? "-" : r.detect_resolved > 1 ? std::to_string(r.detect_resolved) : std::string("off")) << " | "
       << r.concurrency << " | " << Fmt("%.1f", r.load.requests_per_s) << " | " << Fmt("%.1f", r.load.faces_per_s)
       << " | " << Fmt("%.1f", r.load.p50_ms) << " | " << Fmt("%.1f", r.load.p90_ms) << " | "
       << Fmt("%.1f", r.load.p99_ms) << " | " << (fk ? Fmt("%.2f", r.mean_batch) : "-") << " | "
       << (fk && r.detect_resolved > 1 ? Fmt("%.2f", r.detect_mean_batch) : "-") << " | "
       << Fmt("%.2f", r.cpu_util) << " | " << (r.cpu_util > 0 ? Fmt("%.1f", r.load.faces_per_s / r.cpu_util) : "-")
       << " |" << (gpu ? " " + (r.gpu_util >= 0 ? Fmt("%.0f", r.gpu_util) : "-") + " |" : "")
       << " " << r.load.errors + r.load.rejected_429 << " |\n";
  }
  md << "\nBest faces/s: facekit " << Fmt("%.1f", best_fk) << ", peer "
     << (best_peer > 0 ? Fmt("%.1f", best_peer) : std::string("not run")) << "";
  if (best_peer > 0) md << " — **" << Fmt("%.1f", best_fk / best_peer) << "x**";
  md << ".\n";
  if (!peer_note.empty()) md << "\nPeer note: " << peer_note << "\n";
  md << "\nCPU (cores): CPU seconds per wall second of the process running the server and the load client "
        "(for the peer: the Node process + the load client).\n";
  // Where facekit's time went (GET /status "steps" before and after each row).
  std::vector<std::string> step_names;
  for (const Row& r : rows)
    if (r.system == "facekit" && !r.step_names.empty()) step_names = r.step_names;
  if (!step_names.empty()) {
    md << "\nWhere the time goes (facekit rows; GET /status `steps`): ms per photo by engine step, wall / "
          "calling-thread CPU, summed over threads (wall includes waiting for the GPU). The request threads decode and "
          "run detect_*; the batch workers run mesh_*, embed_*, attributes_* and quality. Workers busy: batch workers' "
          "busy time / (workers x wall).\n\n| max batch | clients | workers busy";
    for (const auto& n : step_names) md << " | " << n;
    md << " |\n|---:|---:|---:";
    for (size_t k = 0; k < step_names.size(); ++k) md << "|---:";
    md << "|\n";
    for (const Row& r : rows) {
      if (r.system != "facekit" || r.step_names != step_names) continue;
      md << "| " << r.max_batch << " | " << r.concurrency << " | "
         << (r.workers_busy >= 0 ? Fmt("%.0f%%", 100 * r.workers_busy) : std::string("-"));
      for (size_t k = 0; k < step_names.size(); ++k)
        md << " | " << Fmt("%.2f", r.step_wall_ms[k]) << " / " << Fmt("%.2f", r.step_cpu_ms[k]);
      md << " |\n";
    }
  }
  std::printf("%s", md.str().c_str());
  if (auto out = FlagValue(args, "--out"); !out.empty()) {
    fs::create_directories(out, ec);
    const std::string base = out + (gpu ? "/server-gpu" : "/server-cpu");
    std::ofstream(base + ".md") << md.str();
    std::ofstream(base + ".json") << report.dump(2) << "\n";
    std::fprintf(stderr, "wrote %s.md and %s.json\n", base.c_str(), base.c_str());
  }
  if (HasFlag(args, "--json")) std::printf("%s\n", report.dump(2).c_str());
  return 0;
}

#else

int BenchServer(const Args&) {
  std::fprintf(stderr, "facekit bench server: this facekit was built without the processing server "
                       "(install libcpp-httplib-dev and re-run cmake)\n");
  return 1;
}

#endif

}  // namespace fk::tools
