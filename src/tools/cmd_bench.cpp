// facekit bench — benchmarks, one sub-command per subject:
//
//   facekit bench engine [--models a,b] [--batches 1,8,32] [--threads 1,2] [--time S]
//                        [--quick] [--no-tfjs] [--out DIR] [--json]
//   facekit bench search ...   (src/tools/bench_search.cpp)
//
// `bench engine` measures, per model x batch x threads: facekit ms per input (median of
// repeated runs after one warm-up, each cell time-boxed), GFLOP per input (2 x MACs of
// Conv2D / DepthwiseConv2D / MatMul, counted on the optimised graph), GFLOP/s achieved and
// % of this CPU's fp32 peak (measured in the same run by an FMA micro-kernel), and the
// TF.js wasm peer (tests/reference/bench_tfjs.mjs, 1 thread, SIMD) on the same input
// shapes with the speed ratio. It prints a table and writes engine-cpu.md and
// engine-cpu.json (default: <source>/docs/benchmarks).
#include <immintrin.h>
#include <sys/utsname.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/executor.h"
#include "facekit/engine.h"
#include "tools/bench_engine.h"
#include "tools/commands.h"

namespace fk::tools {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The face models and the value range each expects (mirrors tests/reference/models.mjs).
struct BenchModel {
  const char* name;
  float lo, hi;
  bool recognizer;
};
const BenchModel kBenchModels[] = {
    {"blazeface", -1, 1, false},       {"blazeface-front", -1, 1, false},
    {"blazeface-back", -1, 1, false},  {"facemesh", 0, 1, false},
    {"facemesh-detection-short", -1, 1, false}, {"facemesh-detection-full", -1, 1, false},
    {"iris", 0, 1, false},             {"faceres", 0, 255, true},
    {"faceres-deep", 0, 255, true},    {"mobileface", 0, 255, true},
    {"mobilefacenet", 0, 1, true},     {"liveness", 0, 1, false},
    {"antispoof", 0, 1, false},        {"emotion", -1, 1, false},
    {"gender", -1, 1, false},          {"age", 0, 255, false},
    {"gear", 0, 1, false},
};
const char* const kQuickModels[] = {"faceres", "mobilefacenet", "blazeface"};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

Result<std::vector<int>> ParseInts(const std::string& s, const char* flag) {
  std::vector<int> v;
  for (const auto& p : Split(s, ',')) {
    char* end = nullptr;
    long x = std::strtol(p.c_str(), &end, 10);
    if (!end || *end || x <= 0 || x > 4096) return InvalidArgument(std::string(flag) + ": '" + p + "' is not a positive integer");
    v.push_back(static_cast<int>(x));
  }
  if (v.empty()) return InvalidArgument(std::string(flag) + ": empty list");
  return v;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto c = line.find(':');
      if (c != std::string::npos) return line.substr(c + 2);
    }
  return "unknown";
}

std::string CpuFlagsOfInterest() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("flags", 0) == 0) {
      std::string out;
      for (const char* fl : {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "amx_tile"}) {
        std::string pat = std::string(" ") + fl;
        size_t p = line.find(pat);
        if (p != std::string::npos && (p + pat.size() == line.size() || line[p + pat.size()] == ' '))
          out.append(out.empty() ? "" : " ").append(fl);
      }
      return out;
    }
  return "";
}

// "/proc/loadavg" first three fields: other work on the machine skews timings.
std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  if (!(f >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

// ---- fp32 peak: independent FMA chains -------------------------------------------------

__attribute__((target("avx512f"))) float FmaChainsAvx512(int64_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 b = _mm512_set1_ps(0.999999f);
  const __m512 c = _mm512_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], b, c);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float buf[16];
  _mm512_store_ps(buf, s);
  float r = 0;
  for (float x : buf) r += x;
  return r;
}
constexpr double kFlopsPerIterAvx512 = 16.0 * 16 * 2;

__attribute__((target("avx2,fma"))) float FmaChainsAvx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 b = _mm256_set1_ps(0.999999f);
  const __m256 c = _mm256_set1_ps(1e-6f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], b, c);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float buf[8];
  _mm256_storeu_ps(buf, s);
  float r = 0;
  for (float x : buf) r += x;
  return r;
}
constexpr double kFlopsPerIterAvx2 = 12.0 * 8 * 2;

float FmaChainsScalar(int64_t iters) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * static_cast<float>(i);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 8; ++i) acc[i] = std::fma(acc[i], 0.999999f, 1e-6f);
  float r = 0;
  for (float x : acc) r += x;
  return r;
}
constexpr double kFlopsPerIterScalar = 8.0 * 2;

}  // namespace

PeakFlops MeasurePeakGflops(int threads, double seconds) {
  __builtin_cpu_init();
  float (*fn)(int64_t) = FmaChainsScalar;
  double per_iter = kFlopsPerIterScalar;
  PeakFlops r;
  r.isa = "scalar";
  if (__builtin_cpu_supports("avx512f")) {
    fn = FmaChainsAvx512, per_iter = kFlopsPerIterAvx512, r.isa = "avx512f";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    fn = FmaChainsAvx2, per_iter = kFlopsPerIterAvx2, r.isa = "avx2+fma";
  }
  // Calibrate on one thread, then run `threads` copies for about `seconds`.
  std::atomic<float> sink{0};
  int64_t iters = 1 << 16;
  for (;;) {
    auto t0 = Clock::now();
    sink = sink + fn(iters);
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > 0.05 || iters > (int64_t{1} << 40)) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * seconds / dt));
      break;
    }
    iters *= 4;
  }
  // Each thread's rate is taken over its own CPU time (CLOCK_THREAD_CPUTIME_ID), so a
  // thread that is descheduled by other work on the machine does not lower the peak:
  // peak = sum over threads of flops / thread CPU seconds (one core per thread assumed).
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<std::thread> pool;
    std::vector<double> rate(static_cast<size_t>(threads), 0.0);
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        ready++;
        while (!go) std::this_thread::yield();
        timespec c0{}, c1{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        float v = fn(iters / 3);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        sink = sink + v;
        double dt = static_cast<double>(c1.tv_sec - c0.tv_sec) + 1e-9 * static_cast<double>(c1.tv_nsec - c0.tv_nsec);
        rate[static_cast<size_t>(t)] = dt > 0 ? static_cast<double>(iters / 3) * per_iter / dt / 1e9 : 0;
      });
    while (ready < threads) std::this_thread::yield();
    go = true;
    for (auto& th : pool) th.join();
    double total = 0;
    for (double r : rate) total += r;
    best = std::max(best, total);
  }
  if (sink == 12345.f) std::fprintf(stderr, " ");  // keep the result alive
  r.gflops = best;
  return r;
}

Result<ModelCost> CountModelCost(const std::string& model_path, const std::vector<Shape>& input_shapes) {
  engine::LoadOptions lo;
  lo.exec.backend = "ref";
  lo.exec.num_threads = 1;
  FK_ASSIGN_OR_RETURN(std::unique_ptr<engine::Executor> ex, engine::LoadExecutor(model_path, lo));
  FK_ASSIGN_OR_RETURN(engine::PlanSummary plan, ex->Summarize(input_shapes));
  const ir::Graph& g = ex->graph();
  auto shape_of = [&](ir::ValueId v) -> Shape {
    if (v >= 0 && static_cast<size_t>(v) < plan.value_shapes.size() && plan.value_shapes[v].rank() > 0)
      return plan.value_shapes[v];
    return g.value(v).shape;
  };
  ModelCost cost;
  for (const ir::Node& n : g.nodes()) {
    if (n.outputs.empty() || n.inputs.size() < 2) continue;
    const Shape out = shape_of(n.outputs[0]);
    const double out_elems = static_cast<double>(std::max<int64_t>(0, out.num_elements()));
    const Shape w = shape_of(n.inputs[1]);
    if (n.op == ir::OpType::kConv2D && w.rank() == 4) {
      // out [N,Ho,Wo,Co] x filter [kh,kw,Ci,Co]
      double m = out_elems * static_cast<double>(w[0] * w[1] * w[2]);
      cost.conv_macs += m;
    } else if (n.op == ir::OpType::kDepthwiseConv2D && w.rank() == 4) {
      // out [N,Ho,Wo,C*M] x filter [kh,kw,C,M]: kh*kw MACs per output.
      cost.dw_macs += out_elems * static_cast<double>(w[0] * w[1]);
    } else if (n.op == ir::OpType::kMatMul) {
      const Shape a = shape_of(n.inputs[0]);
      if (a.rank() < 2) continue;
      const int64_t k = n.attrs.i("transpose_a", 0) ? a[a.rank() - 2] : a[a.rank() - 1];
      cost.matmul_macs += out_elems * static_cast<double>(k);
    }
  }
  cost.macs = cost.conv_macs + cost.dw_macs + cost.matmul_macs;
  return cost;
}

namespace {

struct Cell {
  std::string model;
  int batch = 0;
  int threads = 0;
  double ms_per_input = 0;  // 0 when skipped
  int runs = 0;
  std::string note;         // why skipped / failed
};

// TF.js peer: runs tests/reference/bench_tfjs.mjs and parses its JSON.
Result<json> RunTfjsPeer(const std::string& ref_dir, const std::string& models_dir,
                         const std::vector<std::string>& models, const std::vector<int>& batches, double secs) {
  const std::string script = ref_dir + "/bench_tfjs.mjs";
  if (!std::filesystem::exists(script)) return NotFound("TF.js peer script not found: " + script);
  if (!std::filesystem::exists(ref_dir + "/node_modules/@tensorflow/tfjs-backend-wasm"))
    return NotFound("TF.js peer not installed: run `npm ci` in " + ref_dir);
  std::string list, bl;
  for (const auto& m : models) list.append(list.empty() ? "" : ",").append(m);
  for (int b : batches) bl.append(bl.empty() ? "" : ",").append(std::to_string(b));
  char tbuf[32];
  std::snprintf(tbuf, sizeof tbuf, "%.2f", secs);
  const std::string cmd = "node '" + script + "' --models-dir '" + models_dir + "' --models " + list +
                          " --batches " + bl + " --time " + tbuf + " --threads 1 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return Unavailable("could not start node for the TF.js peer (is Node.js installed?)");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) return Unavailable("TF.js peer failed (exit " + std::to_string(rc) + "): " + cmd);
  json j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("results")) return DataLoss("TF.js peer printed no JSON: " + out.substr(0, 200));
  return j;
}

void PrintUsage() {
  std::fprintf(stderr,
               "usage: facekit bench engine [--models a,b] [--batches 1,8,32] [--threads 1,2] [--time S]\n"
               "                            [--quick] [--no-tfjs] [--out DIR] [--json]\n"
               "       facekit bench search ...   (facekit bench search --help)\n\n"
               "bench engine: facekit cpu backend vs the TF.js wasm peer on the face models.\n"
               "  --models     comma-separated model names (default: all 17 face models)\n"
               "  --batches    batch sizes (default 1,8,32; --quick: 1,8)\n"
               "  --threads    thread counts (default 1,2)\n"
               "  --time       seconds per cell after warm-up (default 1.0; --quick 0.3)\n"
               "  --quick      3 models, batches 1,8 (smoke test)\n"
               "  --no-tfjs    skip the TF.js peer\n"
               "  --out DIR    where engine-cpu.md / engine-cpu.json go (default <source>/docs/benchmarks)\n"
               "  --json       print the JSON report on stdout instead of the table\n");
}

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

int BenchEngine(const Args& args) {
  if (HasFlag(args, "--help") || HasFlag(args, "-h")) {
    PrintUsage();
    return 0;
  }
  const bool quick = HasFlag(args, "--quick");
  const bool json_out = HasFlag(args, "--json");
  const bool no_tfjs = HasFlag(args, "--no-tfjs");

  std::vector<std::string> models;
  if (std::string m = FlagValue(args, "--models"); !m.empty()) {
    models = Split(m, ',');
    for (const auto& name : models) {
      bool known = false;
      for (const auto& bm : kBenchModels) known |= name == bm.name;
      if (!known) {
        std::fprintf(stderr, "facekit bench engine: unknown model '%s' (see --help for the list)\n", name.c_str());
        return 2;
      }
    }
  } else if (quick) {
    for (const char* q : kQuickModels) models.push_back(q);
  } else {
    for (const auto& bm : kBenchModels) models.push_back(bm.name);
  }
  auto batches = ParseInts(FlagValue(args, "--batches", quick ? "1,8" : "1,8,32"), "--batches");
  auto threads = ParseInts(FlagValue(args, "--threads", "1,2"), "--threads");
  if (!batches.ok() || !threads.ok()) {
    std::fprintf(stderr, "facekit bench engine: %s\n",
                 (!batches.ok() ? batches.status() : threads.status()).message().c_str());
    return 2;
  }
  const double cell_secs = std::atof(FlagValue(args, "--time", quick ? "0.3" : "1.0").c_str());
  const double max_run_secs = 15.0;  // a cell whose single run would take longer is skipped
#ifdef FK_SOURCE_DIR
  const std::string source_dir = FK_SOURCE_DIR;
#else
  const std::string source_dir = ".";
#endif
  const std::string out_dir = FlagValue(args, "--out", source_dir + "/docs/benchmarks");
  const std::string models_dir = ModelsDir() + "/human";
  std::string command = "facekit bench engine";
  for (const auto& a : args) command += " " + a;

  auto log = [&](const char* fmt, auto... a) {
    std::fprintf(stderr, fmt, a...);
    std::fflush(stderr);
  };

  const std::string load_before = LoadAverage();
  // 1. Peak.
  std::map<int, PeakFlops> peak;
  for (int t : *threads) {
    peak[t] = MeasurePeakGflops(t, quick ? 0.2 : 0.5);
    log("peak fp32 (%s FMA chains) on %d thread(s): %.1f GFLOP/s\n", peak[t].isa.c_str(), t, peak[t].gflops);
  }

  // 2. TF.js peer (batches 1 and 8 of the requested ones; same input shapes), started first
  //    so that its numbers are not disturbed by our threads.
  std::vector<int> tfjs_batches;
  for (int b : *batches)
    if (b <= 8) tfjs_batches.push_back(b);
  json tfjs;
  std::string tfjs_note;
  if (!no_tfjs && !tfjs_batches.empty()) {
    log("TF.js wasm peer (1 thread, SIMD) ...\n");
    auto r = RunTfjsPeer(source_dir + "/tests/reference", models_dir, models, tfjs_batches, quick ? 0.3 : 0.7);
    if (r.ok()) {
      tfjs = *r;
    } else {
      tfjs_note = r.status().message();
      log("  TF.js peer unavailable: %s\n", tfjs_note.c_str());
    }
  } else {
    tfjs_note = no_tfjs ? "skipped (--no-tfjs)" : "no batch <= 8 requested";
  }
  auto tfjs_ms = [&](const std::string& m, int b) -> double {
    if (!tfjs.contains("results")) return 0;
    for (const auto& r : tfjs["results"])
      if (r.value("model", "") == m && r.value("batch", 0) == b) return r.value("ms_per_input", 0.0);
    return 0;
  };

  // 3. facekit.
  std::vector<Cell> cells;
  std::map<std::string, double> gflop_per_input;
  std::map<std::string, std::string> model_error;
  for (const auto& name : models) {
    const BenchModel* bm = nullptr;
    for (const auto& x : kBenchModels)
      if (name == x.name) bm = &x;
    const std::string path = models_dir + "/" + name + ".json";
    if (!std::filesystem::exists(path)) {
      model_error[name] = "model not found: " + path;
      log("%s: %s\n", name.c_str(), model_error[name].c_str());
      continue;
    }
    for (int t : *threads) {
      ModelOptions mo;
      mo.backend = "cpu";
      mo.num_threads = t;
      auto model = Model::Load(path, mo);
      if (!model.ok()) {
        model_error[name] = model.status().ToString();
        log("%s: load failed: %s\n", name.c_str(), model_error[name].c_str());
        break;
      }
      const TensorSpec& in = (*model)->inputs().at(0);
      if (!gflop_per_input.count(name)) {
        Shape s1 = in.shape;
        s1[0] = 1;
        auto cost = CountModelCost(path, {s1});
        gflop_per_input[name] = cost.ok() ? 2.0 * cost->macs / 1e9 : 0;
        if (!cost.ok()) log("%s: FLOP count failed: %s\n", name.c_str(), cost.status().message().c_str());
      }
      double prev_ms_per_input = 0;
      for (int b : *batches) {
        Cell c;
        c.model = name;
        c.batch = b;
        c.threads = t;
        if (prev_ms_per_input * b / 1e3 > max_run_secs) {
          c.note = "skipped: one run would take ~" + Fmt("%.0f", prev_ms_per_input * b / 1e3) + " s";
          cells.push_back(c);
          continue;
        }
        Shape s = in.shape;
        s[0] = b;
        Tensor x(DType::kFloat32, s);
        std::mt19937 rng(1234 + b);
        std::uniform_real_distribution<float> dist(bm->lo, bm->hi);
        for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(rng);
        auto t0 = Clock::now();
        auto warm = (*model)->Run({x});  // warm-up: builds and caches the plan
        double warm_s = std::chrono::duration<double>(Clock::now() - t0).count();
        if (!warm.ok()) {
          c.note = "run failed: " + warm.status().message();
          cells.push_back(c);
          log("%s b%d t%d: %s\n", name.c_str(), b, t, c.note.c_str());
          continue;
        }
        std::vector<double> times;
        auto start = Clock::now();
        while (times.size() < 200 &&
               (times.size() < 3 || std::chrono::duration<double>(Clock::now() - start).count() < cell_secs)) {
          if (warm_s > cell_secs && times.size() >= 1) break;  // slow cell: keep it short
          auto r0 = Clock::now();
          auto r = (*model)->Run({x});
          times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r0).count());
          if (!r.ok()) break;
        }
        c.runs = static_cast<int>(times.size());
        c.ms_per_input = Median(times) / b;
        prev_ms_per_input = c.ms_per_input;
        cells.push_back(c);
        const double gf = gflop_per_input[name];
        log("%-26s b%-3d t%d  %9.3f ms/input  %7.1f GFLOP/s  (%d runs)\n", name.c_str(), b, t, c.ms_per_input,
            c.ms_per_input > 0 ? gf / (c.ms_per_input / 1e3) : 0.0, c.runs);
      }
    }
  }

  // 4. Report.
  json report;
  utsname un{};
  uname(&un);
  report["machine"] = {{"cpu", CpuModel()},
                       {"logical_cpus", std::thread::hardware_concurrency()},
                       {"cpu_flags", CpuFlagsOfInterest()},
                       {"kernel", std::string(un.sysname) + " " + un.release}};
  report["date"] = NowUtc();
  report["load_average"] = {{"start", load_before}, {"end", LoadAverage()}};
  report["command"] = command;
  for (const auto& [t, p] : peak) report["peak_gflops"][std::to_string(t)] = p.gflops;
  report["peak_isa"] = peak.empty() ? "" : peak.begin()->second.isa;
  report["tfjs_peer"] = tfjs.contains("results")
                            ? json{{"tfjs", tfjs.value("tfjs", "")}, {"backend", tfjs.value("backend", "")},
                                   {"simd", tfjs.value("simd", false)}, {"threads", tfjs.value("threads", 1)}}
                            : json{{"unavailable", tfjs_note}};
  report["results"] = json::array();
  for (const auto& c : cells) {
    json r{{"model", c.model}, {"batch", c.batch}, {"threads", c.threads}};
    const double gf = gflop_per_input[c.model];
    r["gflop_per_input"] = gf;
    if (c.ms_per_input > 0) {
      r["ms_per_input"] = c.ms_per_input;
      r["runs"] = c.runs;
      r["gflops"] = gf / (c.ms_per_input / 1e3);
      r["pct_peak"] = 100.0 * (gf / (c.ms_per_input / 1e3)) / peak[c.threads].gflops;
      if (double tm = tfjs_ms(c.model, c.batch); tm > 0) {
        r["tfjs_ms_per_input"] = tm;
        r["speedup_vs_tfjs"] = tm / c.ms_per_input;
      }
    } else {
      r["note"] = c.note;
    }
    report["results"].push_back(r);
  }
  for (const auto& [m, e] : model_error) report["errors"][m] = e;

  // Goals (reported, not enforced).
  json goals = json::array();
  auto find = [&](const std::string& m, int b, int t) -> const json* {
    for (const auto& r : report["results"])
      if (r["model"] == m && r["batch"] == b && r["threads"] == t && r.contains("ms_per_input")) return &r;
    return nullptr;
  };
  for (int b : tfjs_batches)
    for (auto [t, need] : {std::pair{1, 3.0}, std::pair{2, 5.0}}) {
      const json* r = find("faceres", b, t);
      if (!r || !r->contains("speedup_vs_tfjs")) continue;
      double s = (*r)["speedup_vs_tfjs"];
      goals.push_back({{"goal", "faceres >= " + Fmt("%.0f", need) + "x TF.js wasm (1 thread) at " +
                                    std::to_string(t) + " thread(s), batch " + std::to_string(b)},
                       {"measured", s}, {"met", s >= need}});
    }
  for (const auto& bm : kBenchModels) {
    if (!bm.recognizer) continue;
    for (int b : *batches)
      for (int t : *threads) {
        if (b < 8) continue;
        const json* r = find(bm.name, b, t);
        if (!r) continue;
        double p = (*r)["pct_peak"];
        goals.push_back({{"goal", std::string(bm.name) + " >= 30% of fp32 peak, batch " + std::to_string(b) + ", " +
                                      std::to_string(t) + " thread(s)"},
                         {"measured", p}, {"met", p >= 30.0}});
      }
  }
  report["goals"] = goals;

  // Table (markdown, also printed).
  std::ostringstream md;
  md << "# Engine benchmark: CPU\n\n"
     << "Produced by `" << command << "` — do not edit by hand; re-run the command.\n\n"
     << "- Machine: " << report["machine"]["cpu"].get<std::string>() << ", "
     << report["machine"]["logical_cpus"].get<unsigned>() << " logical CPUs (" << report["machine"]["cpu_flags"].get<std::string>()
     << "), " << report["machine"]["kernel"].get<std::string>() << "\n"
     << "- Date: " << report["date"].get<std::string>() << "; load average (1/5/15 min) at start "
     << load_before << ", at end " << report["load_average"]["end"].get<std::string>()
     << " — a load above the core count means other work shared the CPUs and timings (2 threads most) are pessimistic\n"
     << "- facekit: backend `cpu` (oneDNN), fp32, NHWC; ms/input = median run time / batch after one warm-up run, "
     << "each cell time-boxed to ~" << Fmt("%.1f", cell_secs) << " s\n"
     << "- GFLOP/input = 2 x MACs of Conv2D, DepthwiseConv2D and MatMul on the optimised graph "
     << "(element-wise ops, pooling and reductions not counted)\n"
     << "- Peak: measured in the same run with independent " << report["peak_isa"].get<std::string>()
     << " FMA chains:";
  for (const auto& [t, p] : peak) md << " " << Fmt("%.1f", p.gflops) << " GFLOP/s on " << t << " thread(s);";
  md << "\n- Peer: ";
  if (tfjs.contains("results"))
    md << "TensorFlow.js " << tfjs.value("tfjs", "") << " wasm backend, 1 thread, SIMD "
       << (tfjs.value("simd", false) ? "on" : "off") << ", Node " << "(tests/reference/bench_tfjs.mjs), same input "
       << "shapes; models whose TF.js graph is fixed to batch 1 run the batch as sequential batch-1 calls. "
       << "Speedup = TF.js ms/input / facekit ms/input (TF.js always 1 thread).\n\n";
  else
    md << "TF.js peer not measured: " << tfjs_note << "\n\n";
  md << "| model | GFLOP/input | batch | threads | facekit ms/input | GFLOP/s | % peak | TF.js ms/input | speedup |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : report["results"]) {
    md << "| " << r["model"].get<std::string>() << " | " << Fmt("%.3f", r["gflop_per_input"].get<double>()) << " | "
       << r["batch"].get<int>() << " | " << r["threads"].get<int>() << " | ";
    if (r.contains("ms_per_input")) {
      md << Fmt("%.3f", r["ms_per_input"].get<double>()) << " | " << Fmt("%.1f", r["gflops"].get<double>()) << " | "
         << Fmt("%.1f", r["pct_peak"].get<double>()) << " | ";
      if (r.contains("tfjs_ms_per_input"))
        md << Fmt("%.3f", r["tfjs_ms_per_input"].get<double>()) << " | " << Fmt("%.2fx", r["speedup_vs_tfjs"].get<double>());
      else
        md << "– | –";
      md << " |\n";
    } else {
      md << r.value("note", std::string("–")) << " | | | | |\n";
    }
  }
  if (!model_error.empty()) {
    md << "\nErrors:\n\n";
    for (const auto& [m, e] : model_error) md << "- " << m << ": " << e << "\n";
  }
  md << "\n## Goals\n\n| goal | measured | met |\n|---|---:|:---:|\n";
  for (const auto& g : goals) {
    const std::string goal = g["goal"];
    const bool is_pct = goal.find("% of") != std::string::npos;
    md << "| " << goal << " | " << (is_pct ? Fmt("%.1f%%", g["measured"].get<double>()) : Fmt("%.2fx", g["measured"].get<double>()))
       << " | " << (g["met"].get<bool>() ? "yes" : "**no**") << " |\n";
  }

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  const std::string md_path = out_dir + "/engine-cpu.md";
  const std::string json_path = out_dir + "/engine-cpu.json";
  {
    std::ofstream f(md_path);
    f << md.str();
    if (!f) {
      std::fprintf(stderr, "facekit bench engine: cannot write %s\n", md_path.c_str());
      return 1;
    }
  }
  {
    std::ofstream f(json_path);
    f << report.dump(1) << "\n";
    if (!f) {
      std::fprintf(stderr, "facekit bench engine: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  if (json_out)
    std::printf("%s\n", report.dump(1).c_str());
  else
    std::printf("%s\nwrote %s and %s\n", md.str().c_str(), md_path.c_str(), json_path.c_str());
  return 0;
}

int CmdBench(const Args& args) {
  const std::vector<std::string> pos = Positional(args, {"--models", "--batches", "--threads", "--time", "--out"});
  if (pos.empty()) {
    PrintUsage();
    return HasFlag(args, "--help") || HasFlag(args, "-h") ? 0 : 2;
  }
  // Everything after the subject goes to the sub-benchmark.
  Args rest;
  bool dropped = false;
  for (const auto& a : args) {
    if (!dropped && a == pos[0]) {
      dropped = true;
      continue;
    }
    rest.push_back(a);
  }
  if (pos[0] == "engine") return BenchEngine(rest);
  // `bench search`: implemented in src/tools/bench_search.cpp (declared in commands.h).
  if (pos[0] == "search") return BenchSearch(rest);
  std::fprintf(stderr, "facekit bench: unknown benchmark '%s' (engine, search)\n", pos[0].c_str());
  PrintUsage();
  return 2;
}

}  // namespace fk::tools
