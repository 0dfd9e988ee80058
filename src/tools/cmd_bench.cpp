// facekit bench — benchmarks, one sub-command per subject:
//
//   facekit bench engine [--models a,b] [--formats tfjs,onnx,faceapi] [--batches 1,8,32]
//                        [--threads 1,2] [--time S] [--quick] [--no-tfjs] [--no-ort]
//                        [--no-faceapi] [--out DIR] [--json]
//   facekit bench search ...   (src/tools/bench_search.cpp)
//
// `bench engine` measures, per model x batch x threads: facekit ms per input (median of
// repeated runs after one warm-up, each cell time-boxed), GFLOP per input (2 x MACs of
// Conv2D / DepthwiseConv2D / MatMul, counted on the optimised graph), GFLOP/s achieved and
// % of this CPU's fp32 peak (measured in the same run by an FMA micro-kernel), and a peer
// runtime on the same input shapes, in the same run, with the speed ratio:
//   - TF.js graph models (models/human): TF.js wasm, 1 thread, SIMD (tests/reference/bench_tfjs.mjs)
//   - ONNX models (models/faceplugin): onnxruntime-node, CPU EP, same thread count as facekit
//     (tests/reference/onnx/bench_onnx.mjs; batch > 1 on a batch-dynamic rewrite of the model)
//   - face-api weights-only nets (models/face-api): face-api on TF.js wasm, 1 thread
//     (tests/reference/faceapi/bench_faceapi.mjs)
// Peers run first, so that facekit's threads do not disturb them. It prints a table and
// writes engine-cpu.md and engine-cpu.json (default: <source>/docs/benchmarks).
#include <immintrin.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/cpu_time.h"
#include "engine/executor.h"
#ifdef FK_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
#endif
#include "facekit/device.h"
#include "facekit/engine.h"
#include "tools/bench_engine.h"
#include "tools/commands.h"

namespace fk::tools {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Model formats, each with its own peer runtime.
enum class Format { kTfjs, kOnnx, kFaceApi };
const char* FormatName(Format f) {
  switch (f) {
    case Format::kTfjs: return "tfjs";
    case Format::kOnnx: return "onnx";
    case Format::kFaceApi: return "faceapi";
  }
  return "?";
}

// The face models and the value range each expects (mirrors tests/reference/models.mjs,
// tests/reference/onnx/make_onnx_goldens.mjs and docs/faceapi.md). `file` is relative to the
// models directory; nullptr means human/<name>.json.
struct BenchModel {
  const char* name;
  float lo, hi;
  bool recognizer;  // TF.js recognizers carry the ">= 30% of fp32 peak" goal
  Format format = Format::kTfjs;
  const char* file = nullptr;
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
    // faceplugin ONNX models (docs/onnx.md); fr_feature is the balanced-tier recognizer.
    {"fr_feature", -1, 1, false, Format::kOnnx, "faceplugin/fr_feature.onnx"},
    {"fr_detect", -1, 1, false, Format::kOnnx, "faceplugin/fr_detect.onnx"},
    {"fr_landmark", 0, 1, false, Format::kOnnx, "faceplugin/fr_landmark.onnx"},
    {"fr_liveness", 0, 1, false, Format::kOnnx, "faceplugin/fr_liveness.onnx"},
    {"fr_age", 0, 1, false, Format::kOnnx, "faceplugin/fr_age.onnx"},
    {"fr_gender", 0, 1, false, Format::kOnnx, "faceplugin/fr_gender.onnx"},
    {"fr_pose", -2, 2, false, Format::kOnnx, "faceplugin/fr_pose.onnx"},
    {"fr_eye", 0, 1, false, Format::kOnnx, "faceplugin/fr_eye.onnx"},
    {"fr_expression", -2, 2, false, Format::kOnnx, "faceplugin/fr_expression.onnx"},
    // face-api weights-only nets (docs/faceapi.md): RGB 0..255 chips.
    {"faceapi-resnet", 0, 255, false, Format::kFaceApi, "face-api/face_recognition_model-weights_manifest.json"},
    {"faceapi-landmark68", 0, 255, false, Format::kFaceApi, "face-api/face_landmark_68_model-weights_manifest.json"},
};
const char* const kQuickModels[] = {"faceres", "mobilefacenet", "blazeface", "fr_feature", "faceapi-resnet"};

const BenchModel* FindBenchModel(const std::string& name) {
  for (const auto& bm : kBenchModels)
    if (name == bm.name) return &bm;
  return nullptr;
}

std::string BenchModelPath(const BenchModel& bm, const std::string& models_dir) {
  return models_dir + "/" + (bm.file ? std::string(bm.file) : "human/" + std::string(bm.name) + ".json");
}

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

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct Cell {
  std::string model;
  Format format = Format::kTfjs;
  int batch = 0;
  int threads = 0;
  double ms_per_input = 0;  // 0 when skipped
  double min_ms_per_input = 0;
  double cpu_ms_per_input = 0;  // process CPU time (all threads), median / batch
  int runs = 0;
  std::string note;         // why skipped / failed
};

// One peer measurement: ms per input for (model, batch, threads); threads 0 = the peer is
// single-threaded and its number stands for every facekit thread count.
struct PeerCell {
  double ms_per_input = 0;
  int threads = 0;
  std::string mode;  // bench_onnx.mjs: "single", "batched" or "stacked"; else empty
};

// A peer runtime: what it is (for the report) and its cells.
struct Peer {
  std::string label;        // short name for the table, e.g. "ORT-node"
  std::string description;  // one line for the report header
  std::string unavailable;  // why not measured (empty when measured)
  json info;                // what the peer script reported about itself
  std::map<std::tuple<std::string, int, int>, PeerCell> cells;  // (model, batch, threads)

  const PeerCell* Find(const std::string& model, int batch, int threads) const {
    auto it = cells.find({model, batch, threads});
    if (it == cells.end()) it = cells.find({model, batch, 0});
    return it == cells.end() ? nullptr : &it->second;
  }
};

std::string JoinInts(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s.append(s.empty() ? "" : ",").append(std::to_string(x));
  return s;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s.append(s.empty() ? "" : sep).append(x);
  return s;
}

// Runs a Node peer script (stderr dropped) and parses the one JSON object it prints.
Result<json> RunNodeJson(const std::string& cmd, const std::string& what) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return Unavailable("could not start node for the " + what + " (is Node.js installed?)");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) {
    const int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : rc;
    return Unavailable(what + " failed (exit " + std::to_string(code) + (code == 77 ? ": runtime not installed" : "") +
                       "); run it by hand to see why: " + cmd);
  }
  json j = json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("results")) return DataLoss(what + " printed no JSON: " + out.substr(0, 200));
  return j;
}

// Fills peer->cells from a peer script's {"results": [{model, batch, ms_per_input, [threads], [mode]}]}.
void ReadPeerCells(const json& j, bool per_thread, Peer* peer) {
  for (const auto& r : j["results"]) {
    if (!r.contains("ms_per_input")) continue;
    PeerCell c;
    c.ms_per_input = r.value("ms_per_input", 0.0);
    c.threads = per_thread ? r.value("threads", 1) : 0;
    c.mode = r.value("mode", "");
    peer->cells[{r.value("model", ""), r.value("batch", 0), c.threads}] = c;
  }
}

// TF.js peer: tests/reference/bench_tfjs.mjs (TF.js wasm, 1 thread).
Result<json> RunTfjsPeer(const std::string& ref_dir, const std::string& models_dir,
                         const std::vector<std::string>& models, const std::vector<int>& batches, double secs) {
  const std::string script = ref_dir + "/bench_tfjs.mjs";
  if (!std::filesystem::exists(script)) return NotFound("TF.js peer script not found: " + script);
  if (!std::filesystem::exists(ref_dir + "/node_modules/@tensorflow/tfjs-backend-wasm"))
    return NotFound("TF.js peer not installed: run `npm ci` in " + ref_dir + " (or scripts/install_deps.sh)");
  const std::string cmd = "node '" + script + "' --models-dir '" + models_dir + "' --models " + Join(models, ",") +
                          " --batches " + JoinInts(batches) + " --time " + Fmt("%.2f", secs) + " --threads 1";
  return RunNodeJson(cmd, "TF.js peer");
}

// ONNX Runtime peer: tests/reference/onnx/bench_onnx.mjs --runtime node (CPU EP, threads as facekit).
Result<json> RunOrtPeer(const std::string& ref_dir, const std::vector<std::string>& model_paths,
                        const std::vector<int>& batches, const std::vector<int>& threads, double secs) {
  const std::string dir = ref_dir + "/onnx";
  const std::string script = dir + "/bench_onnx.mjs";
  if (!std::filesystem::exists(script)) return NotFound("ONNX Runtime peer script not found: " + script);
  if (!std::filesystem::exists(dir + "/node_modules/onnxruntime-node"))
    return NotFound("onnxruntime-node not installed: run `npm ci` in " + dir + " (or scripts/install_deps.sh)");
  std::string paths;
  for (const auto& p : model_paths) paths.append(paths.empty() ? "" : ",").append(p);
  const std::string cmd = "node '" + script + "' '" + paths + "' --runtime node --json --threads " + JoinInts(threads) +
                          " --batches " + JoinInts(batches) + " --time " + Fmt("%.2f", secs);
  return RunNodeJson(cmd, "ONNX Runtime peer");
}

// face-api peer: tests/reference/faceapi/bench_faceapi.mjs (face-api on TF.js wasm, 1 thread).
Result<json> RunFaceApiPeer(const std::string& ref_dir, const std::string& models_dir,
                            const std::vector<std::string>& models, const std::vector<int>& batches, double secs) {
  const std::string dir = ref_dir + "/faceapi";
  const std::string script = dir + "/bench_faceapi.mjs";
  if (!std::filesystem::exists(script)) return NotFound("face-api peer script not found: " + script);
  if (!std::filesystem::exists(dir + "/node_modules/@vladmandic/face-api"))
    return NotFound("face-api peer not installed: run `npm ci` in " + dir + " (or scripts/install_deps.sh)");
  const std::string cmd = "node '" + script + "' --models-dir '" + models_dir + "' --models " + Join(models, ",") +
                          " --batches " + JoinInts(batches) + " --time " + Fmt("%.2f", secs);
  return RunNodeJson(cmd, "face-api peer");
}

void PrintUsage() {
  std::fprintf(stderr,
               "usage: facekit bench engine [--models a,b] [--formats tfjs,onnx,faceapi] [--batches 1,8,32]\n"
               "                            [--threads 1,2] [--time S] [--quick] [--no-tfjs] [--no-ort]\n"
               "                            [--no-faceapi] [--out DIR] [--json]\n"
               "       facekit bench search ...   (facekit bench search --help)\n"
               "       facekit bench server ...   (facekit bench server --help)\n\n"
               "bench engine: facekit cpu backend vs a peer runtime, same inputs, same run:\n"
               "  TF.js graph models (models/human) vs TF.js wasm (1 thread); ONNX models\n"
               "  (models/faceplugin) vs onnxruntime-node (same threads); face-api nets\n"
               "  (models/face-api) vs face-api on TF.js wasm (1 thread).\n"
               "  --models     comma-separated model names (default: all of --formats):\n"
               "               ");
  int col = 15;
  for (const auto& bm : kBenchModels) {
    const int len = static_cast<int>(std::strlen(bm.name)) + 1;
    if (col + len > 95) std::fprintf(stderr, "\n               "), col = 15;
    std::fprintf(stderr, " %s", bm.name);
    col += len;
  }
  std::fprintf(stderr,
               "\n"
               "  --formats    tfjs, onnx, faceapi (default: all three)\n"
               "  --batches    batch sizes (default: tfjs 1,8,32; onnx and faceapi 1,8,16,32; --quick: 1,8)\n"
               "  --threads    thread counts (default 1,2)\n"
               "  --time       seconds per cell after warm-up (default 1.0; --quick 0.3)\n"
               "  --quick      5 models (faceres mobilefacenet blazeface fr_feature faceapi-resnet), batches 1,8\n"
               "  --no-tfjs    skip the TF.js peer;  --no-ort: the ONNX Runtime peer;  --no-faceapi: the face-api peer\n"
               "  --out DIR    where engine-cpu.md / engine-cpu.json go (default <source>/docs/benchmarks)\n"
               "  --json       print the JSON report on stdout instead of the table\n"
               "  --device cuda[:N]  GPU table instead (engine-gpu.md/json): batch sweep (default 1..512), latency,\n"
               "               inputs/s, first-run time, GPU memory, CPU column; --precision fp32|tf32|fp16|auto,\n"
               "               --cpu-threads N, --cpu-max-batch B (default 32), --no-pixels (skip the 8-bit input\n"
               "               column); exit 3 when no GPU is usable\n");
}

}  // namespace

// `facekit bench engine --device cuda[:N]`: the GPU timing table (issue 5) into
// engine-gpu.md / engine-gpu.json: latency (ms per input at batch 1), throughput (inputs/s)
// over a batch sweep, first-run time (planning: cuDNN heuristics, weight upload), GPU memory
// (the pool's peak), and the facekit CPU backend on the same inputs (batches <= 32) as the
// CPU column. Peers on the GPU (ONNX Runtime CUDA, PyTorch) run from scripts/gpu/peer_bench.py.
// Exit 3 = skipped: no usable GPU (the reason is printed), like `facekit selftest`.
int BenchEngineGpu(const Args& args, DeviceConfig dev) {
  dev.precision = FlagValue(args, "--precision", dev.precision.empty() ? "auto" : dev.precision);
  if (Status s = ValidateDeviceConfig(dev); !s.ok()) {
    std::fprintf(stderr, "facekit bench engine: %s\n", s.message().c_str());
    return 2;
  }
  std::string warning;
  if (auto r = ResolveBackend(dev, &warning); !r.ok() || *r != "cuda") {
    std::fprintf(stderr, "facekit bench engine: skipped, no usable GPU: %s\n",
                 r.ok() ? warning.c_str() : r.status().message().c_str());
    return 3;
  }
  std::vector<std::string> models = Split(
      FlagValue(args, "--models", "mobileface,fr_feature,faceapi-resnet,faceres,fr_detect,blazeface-back"), ',');
  for (const auto& m : models)
    if (!FindBenchModel(m)) {
      std::fprintf(stderr, "facekit bench engine: unknown model '%s'\n", m.c_str());
      return 2;
    }
  auto batches = ParseInts(FlagValue(args, "--batches", "1,8,32,64,128,256,512"), "--batches");
  if (!batches.ok()) {
    std::fprintf(stderr, "facekit bench engine: %s\n", batches.status().message().c_str());
    return 2;
  }
  const int cpu_threads = std::max(1, std::atoi(FlagValue(args, "--cpu-threads", "0").c_str()) > 0
                                          ? std::atoi(FlagValue(args, "--cpu-threads", "0").c_str())
                                          : static_cast<int>(std::thread::hardware_concurrency()));
  const int cpu_max_batch = std::atoi(FlagValue(args, "--cpu-max-batch", "32").c_str());
  const double cell_secs = std::atof(FlagValue(args, "--time", "1.0").c_str());
  if (!(cell_secs > 0) || cell_secs > 600) {
    std::fprintf(stderr, "facekit bench engine: --time: expected seconds in (0, 600]\n");
    return 2;
  }
#ifdef FK_SOURCE_DIR
  const std::string source_dir = FK_SOURCE_DIR;
#else
  const std::string source_dir = ".";
#endif
  const std::string out_dir = FlagValue(args, "--out", source_dir + "/docs/benchmarks");
  const std::string models_root = ModelsDir();
  std::string command = "facekit bench engine";
  for (const auto& a : args) command += " " + a;
  auto gpu_desc = DescribeGpu(dev.gpu_index);

  // Times `model` on `x`: median ms of runs within ~cell_secs after one warm-up run.
  struct Timing {
    double first_ms = 0, median_ms = 0, min_ms = 0;
    int runs = 0;
    std::string error;
  };
  // pixels: time RunPixels on 8-bit inputs (normalised on the GPU) instead of Run on floats.
  auto time_model = [&](const Model& model, const Tensor& x, const PixelNormalization* pixels = nullptr) {
    auto run = [&] { return pixels ? model.RunPixels({x}, *pixels) : model.Run({x}); };
    Timing t;
    auto t0 = Clock::now();
    auto warm = run();
    t.first_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!warm.ok()) {
      t.error = warm.status().message();
      return t;
    }
    std::vector<double> times;
    auto start = Clock::now();
    while (times.size() < 500 &&
           (times.size() < 5 || std::chrono::duration<double>(Clock::now() - start).count() < cell_secs)) {
      auto r0 = Clock::now();
      auto r = run();
      if (!r.ok()) {
        t.error = r.status().message();
        return t;
      }
      times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r0).count());
    }
    t.runs = static_cast<int>(times.size());
    t.median_ms = Median(times);
    t.min_ms = *std::min_element(times.begin(), times.end());
    return t;
  };
  const bool pixels_column = !HasFlag(args, "--no-pixels");

  json report;
  report["date"] = NowUtc();
  report["command"] = command;
  report["gpu"] = gpu_desc.ok() ? *gpu_desc : gpu_desc.status().message();
  report["precision"] = dev.precision;
  report["cpu"] = {{"model", CpuModel()}, {"threads", cpu_threads}};
  report["results"] = json::array();
  std::ostringstream md;
  md << "# Engine benchmark: GPU\n\n"
     << "Produced by `" << command << "` — do not edit by hand; re-run the command.\n\n"
     << "- GPU: " << report["gpu"].get<std::string>() << "\n"
     << "- Precision: " << dev.precision << "; run mode: " << (std::getenv("FK_CUDA_RUN") && *std::getenv("FK_CUDA_RUN") ? std::getenv("FK_CUDA_RUN") : "graph") << " (`$FK_CUDA_RUN`, default graph; docs/cuda.md)\n"
     << "- ms/input = median run time / batch (host tensors in and out, one synchronisation per run), after one "
        "warm-up run whose time is `first run ms` (planning, cuDNN heuristics, weight upload)\n"
     << "- CPU column: facekit's cpu backend (oneDNN) on " << CpuModel() << ", " << cpu_threads
     << " thread(s), same inputs, batches <= " << cpu_max_batch << "\n"
     << "- GPU memory: peak bytes reserved by facekit's pool for the model (weights + activations + workspaces)\n"
     << "- pixels inputs/s: `Model::RunPixels`, the same inputs as 8-bit pixels (a quarter of the bytes to the GPU, "
        "normalised there; how the pipeline's face crops are 8-bit before normalisation); – where the model "
        "input is not an image or with --no-pixels\n\n"
     << "| model | batch | GPU ms/input | inputs/s | pixels inputs/s | first run ms | GPU MiB | CPU ms/input | GPU speedup |\n"
     << "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& name : models) {
    const BenchModel* bm = FindBenchModel(name);
    const std::string path = BenchModelPath(*bm, models_root);
#ifdef FK_HAVE_CUDA
    engine::ResetCudaPoolPeak(dev.gpu_index);  // the GPU MiB column: this model's own peak
#endif
    ModelOptions go;
    go.backend = "cuda";
    go.device = dev;
    go.device.use_cuda = true;
    auto gm = Model::Load(path, go);
    if (!gm.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), gm.status().ToString().c_str());
      md << "| " << name << " | – | load failed: " << gm.status().message() << " | | | | | | |\n";
      continue;
    }
    ModelOptions co;
    co.backend = "cpu";
    co.num_threads = cpu_threads;
    auto cm = Model::Load(path, co);
    for (int b : *batches) {
      Shape s = (*gm)->inputs().at(0).shape;
      s[0] = b;
      Tensor x(DType::kFloat32, s);
      std::mt19937 rng(1234 + b);
      std::uniform_real_distribution<float> dist(bm->lo, bm->hi);
      for (int64_t i = 0; i < x.num_elements(); ++i) x.data<float>()[i] = dist(rng);
      Timing g = time_model(**gm, x);
      json r{{"model", name}, {"batch", b}, {"precision", (*gm)->precision()}};  // auto resolved
      if (!g.error.empty()) {
        r["error"] = g.error;
        report["results"].push_back(r);
        md << "| " << name << " | " << b << " | failed: " << g.error << " | | | | | | |\n";
        std::fprintf(stderr, "%s b%d: %s\n", name.c_str(), b, g.error.c_str());
        continue;
      }
      // The same values as 8-bit pixels: v = lo + p * (hi - lo) / 255.
      double pixels_per_s = 0;
      if (pixels_column && s.rank() == 4 && s[3] >= 1 && s[3] <= 4) {
        Tensor px(DType::kUInt8, s);
        for (int64_t i = 0; i < px.num_elements(); ++i) px.data<uint8_t>()[i] = static_cast<uint8_t>(rng() >> 24);
        PixelNormalization norm;
        norm.scale = {(bm->hi - bm->lo) / 255.f};
        norm.offset = {bm->lo};
        Timing p = time_model(**gm, px, &norm);
        if (p.error.empty()) {
          pixels_per_s = 1e3 * b / p.median_ms;
          r["pixels_gpu_ms_per_input"] = p.median_ms / b;
          r["pixels_inputs_per_s"] = pixels_per_s;
        } else {
          r["pixels_error"] = p.error;
          std::fprintf(stderr, "%s b%d pixels: %s\n", name.c_str(), b, p.error.c_str());
        }
      }
      r["gpu_ms_per_input"] = g.median_ms / b;
      r["gpu_min_ms_per_input"] = g.min_ms / b;
      r["inputs_per_s"] = 1e3 * b / g.median_ms;
      r["first_run_ms"] = g.first_ms;
      r["runs"] = g.runs;
#ifdef FK_HAVE_CUDA
      r["gpu_pool_peak_bytes"] = engine::CudaPoolStats(dev.gpu_index).peak_reserved;
#endif
      double cpu_ms = 0;
      if (cm.ok() && b <= cpu_max_batch) {
        Timing c = time_model(**cm, x);
        if (c.error.empty()) cpu_ms = c.median_ms / b;
      }
      if (cpu_ms > 0) {
        r["cpu_ms_per_input"] = cpu_ms;
        r["gpu_speedup"] = cpu_ms / (g.median_ms / b);
      }
      report["results"].push_back(r);
      std::fprintf(stderr, "%-16s b%-4d gpu %.4f ms/input  %.0f inputs/s  first %.1f ms  cpu %.3f ms/input\n",
                   name.c_str(), b, g.median_ms / b, 1e3 * b / g.median_ms, g.first_ms, cpu_ms);
      md << "| " << name << " | " << b << " | " << Fmt("%.4f", g.median_ms / b) << " | "
         << Fmt("%.0f", 1e3 * b / g.median_ms) << " | " << (pixels_per_s > 0 ? Fmt("%.0f", pixels_per_s) : "–")
         << " | " << Fmt("%.1f", g.first_ms) << " | "
         << (r.contains("gpu_pool_peak_bytes") ? Fmt("%.1f", r["gpu_pool_peak_bytes"].get<double>() / 1048576.0) : "–")
         << " | " << (cpu_ms > 0 ? Fmt("%.3f", cpu_ms) : "–") << " | "
         << (cpu_ms > 0 ? Fmt("%.1fx", cpu_ms / (g.median_ms / b)) : "–") << " |\n";
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  const std::string md_path = out_dir + "/engine-gpu.md", json_path = out_dir + "/engine-gpu.json";
  std::ofstream(md_path) << md.str();
  std::ofstream(json_path) << report.dump(1) << "\n";
  if (!std::filesystem::exists(md_path) || !std::filesystem::exists(json_path)) {
    std::fprintf(stderr, "facekit bench engine: cannot write %s / %s\n", md_path.c_str(), json_path.c_str());
    return 1;
  }
  std::printf("%s\nwrote %s and %s\n", md.str().c_str(), md_path.c_str(), json_path.c_str());
  return 0;
}

int BenchEngine(const Args& args) {
  if (HasFlag(args, "--help") || HasFlag(args, "-h")) {
    PrintUsage();
    return 0;
  }
  if (std::string d = FlagValue(args, "--device"); !d.empty() && d != "cpu") {
    auto dev = ParseDeviceFlag(d);
    if (!dev.ok()) {
      std::fprintf(stderr, "facekit bench engine: %s\n", dev.status().message().c_str());
      return 2;
    }
    return BenchEngineGpu(args, *dev);
  }
  const bool quick = HasFlag(args, "--quick");
  const bool json_out = HasFlag(args, "--json");

  // Formats, then models.
  std::vector<Format> formats;
  if (std::string f = FlagValue(args, "--formats"); !f.empty()) {
    for (const auto& name : Split(f, ',')) {
      bool known = false;
      for (Format x : {Format::kTfjs, Format::kOnnx, Format::kFaceApi})
        if (name == FormatName(x)) formats.push_back(x), known = true;
      if (!known) {
        std::fprintf(stderr, "facekit bench engine: unknown format '%s' (tfjs, onnx, faceapi)\n", name.c_str());
        return 2;
      }
    }
  } else {
    formats = {Format::kTfjs, Format::kOnnx, Format::kFaceApi};
  }
  auto format_selected = [&](Format f) { return std::find(formats.begin(), formats.end(), f) != formats.end(); };
  std::vector<std::string> models;
  if (std::string m = FlagValue(args, "--models"); !m.empty()) {
    models = Split(m, ',');
    for (const auto& name : models) {
      if (!FindBenchModel(name)) {
        std::fprintf(stderr, "facekit bench engine: unknown model '%s' (see --help for the list)\n", name.c_str());
        return 2;
      }
    }
  } else if (quick) {
    for (const char* q : kQuickModels) models.push_back(q);
  } else {
    for (const auto& bm : kBenchModels) models.push_back(bm.name);
  }
  std::erase_if(models, [&](const std::string& m) { return !format_selected(FindBenchModel(m)->format); });
  if (models.empty()) {
    std::fprintf(stderr, "facekit bench engine: no model left: --models and --formats select nothing in common\n");
    return 2;
  }

  const std::string batches_flag = FlagValue(args, "--batches");
  std::map<Format, std::vector<int>> batches;
  for (Format f : {Format::kTfjs, Format::kOnnx, Format::kFaceApi}) {
    const std::string def = quick ? "1,8" : (f == Format::kTfjs ? "1,8,32" : "1,8,16,32");
    auto b = ParseInts(batches_flag.empty() ? def : batches_flag, "--batches");
    if (!b.ok()) {
      std::fprintf(stderr, "facekit bench engine: %s\n", b.status().message().c_str());
      return 2;
    }
    batches[f] = *b;
  }
  auto threads = ParseInts(FlagValue(args, "--threads", "1,2"), "--threads");
  if (!threads.ok()) {
    std::fprintf(stderr, "facekit bench engine: %s\n", threads.status().message().c_str());
    return 2;
  }
  const double cell_secs = std::atof(FlagValue(args, "--time", quick ? "0.3" : "1.0").c_str());
  if (!(cell_secs > 0) || cell_secs > 600) {
    std::fprintf(stderr, "facekit bench engine: --time: expected seconds in (0, 600]\n");
    return 2;
  }
  const double max_run_secs = 15.0;  // a cell whose single run would take longer is skipped
#ifdef FK_SOURCE_DIR
  const std::string source_dir = FK_SOURCE_DIR;
#else
  const std::string source_dir = ".";
#endif
  const std::string out_dir = FlagValue(args, "--out", source_dir + "/docs/benchmarks");
  const std::string models_root = ModelsDir();
  const std::string ref_dir = source_dir + "/tests/reference";
  std::string command = "facekit bench engine";
  for (const auto& a : args) command += " " + a;

  auto log = [&](const char* fmt, auto... a) {
    std::fprintf(stderr, fmt, a...);
    std::fflush(stderr);
  };
  auto models_of = [&](Format f) {
    std::vector<std::string> v;
    for (const auto& m : models)
      if (FindBenchModel(m)->format == f) v.push_back(m);
    return v;
  };

  const std::string load_before = LoadAverage();
  // 1. Peak.
  std::map<int, PeakFlops> peak;
  for (int t : *threads) {
    peak[t] = MeasurePeakGflops(t, quick ? 0.2 : 0.5);
    log("peak fp32 (%s FMA chains) on %d thread(s): %.1f GFLOP/s\n", peak[t].isa.c_str(), t, peak[t].gflops);
  }

  // 2. Peers, started first so that their numbers are not disturbed by our threads.
  std::map<Format, Peer> peers;
  {
    // TF.js graph models: TF.js wasm at batches 1 and 8 of the requested ones.
    Peer& p = peers[Format::kTfjs];
    p.label = "TF.js wasm";
    const auto ms = models_of(Format::kTfjs);
    std::vector<int> bs;
    for (int b : batches[Format::kTfjs])
      if (b <= 8) bs.push_back(b);
    if (HasFlag(args, "--no-tfjs")) {
      p.unavailable = "skipped (--no-tfjs)";
    } else if (bs.empty()) {
      p.unavailable = "no batch <= 8 requested";
    } else if (!ms.empty()) {
      log("TF.js wasm peer (1 thread, SIMD) ...\n");
      auto r = RunTfjsPeer(ref_dir, models_root + "/human", ms, bs, quick ? 0.3 : 0.7);
      if (r.ok()) {
        p.info = *r;
        ReadPeerCells(*r, false, &p);
        p.description = "TensorFlow.js " + r->value("tfjs", std::string()) + " wasm backend, 1 thread, SIMD " +
                        (r->value("simd", false) ? "on" : "off") +
                        ", Node (tests/reference/bench_tfjs.mjs), batches <= 8; models whose TF.js graph is fixed "
                        "to batch 1 run the batch as sequential batch-1 calls";
      } else {
        p.unavailable = r.status().message();
      }
    }
  }
  {
    // ONNX models: onnxruntime-node, CPU EP, at every batch and thread count.
    Peer& p = peers[Format::kOnnx];
    p.label = "ORT-node";
    std::vector<std::string> paths;
    std::vector<int> bs = batches[Format::kOnnx];
    for (const auto& m : models_of(Format::kOnnx)) paths.push_back(BenchModelPath(*FindBenchModel(m), models_root));
    if (HasFlag(args, "--no-ort")) {
      p.unavailable = "skipped (--no-ort)";
    } else if (!paths.empty()) {
      log("onnxruntime-node peer (CPU EP, %s thread(s)) ...\n", JoinInts(*threads).c_str());
      auto r = RunOrtPeer(ref_dir, paths, bs, *threads, cell_secs);
      if (r.ok()) {
        p.info = *r;
        ReadPeerCells(*r, true, &p);
        p.description = "onnxruntime-node " + r->value("version", std::string()) +
                        ", CPU execution provider, intraOpNumThreads = facekit's threads, graph optimisation all "
                        "(tests/reference/onnx/bench_onnx.mjs); batch > 1 runs one batched call on a batch-dynamic "
                        "rewrite of the model (checked against batch-1 runs; \"stacked\" = sequential batch-1 calls "
                        "where the rewrite was refused)";
      } else {
        p.unavailable = r.status().message();
      }
    }
  }
  {
    // face-api nets: face-api on TF.js wasm, 1 thread.
    Peer& p = peers[Format::kFaceApi];
    p.label = "face-api wasm";
    const auto ms = models_of(Format::kFaceApi);
    if (HasFlag(args, "--no-faceapi")) {
      p.unavailable = "skipped (--no-faceapi)";
    } else if (!ms.empty()) {
      log("face-api peer (TF.js wasm, 1 thread) ...\n");
      auto r = RunFaceApiPeer(ref_dir, models_root + "/face-api", ms, batches[Format::kFaceApi], cell_secs);
      if (r.ok()) {
        p.info = *r;
        ReadPeerCells(*r, false, &p);
        p.description = "@vladmandic/face-api " + r->value("faceapi", std::string()) + " on TensorFlow.js " +
                        r->value("tfjs", std::string()) + " wasm, 1 thread, SIMD " +
                        (r->value("simd", false) ? "on" : "off") +
                        " (tests/reference/faceapi/bench_faceapi.mjs): net.forward on the batch + reading the output";
      } else {
        p.unavailable = r.status().message();
      }
    }
  }
  for (const auto& [f, p] : peers)
    if (!p.unavailable.empty() && !models_of(f).empty()) log("  %s peer not measured: %s\n", FormatName(f), p.unavailable.c_str());

  // 3. facekit.
  std::vector<Cell> cells;
  std::map<std::string, double> gflop_per_input;
  std::map<std::string, std::string> model_error;
  for (const auto& name : models) {
    const BenchModel* bm = FindBenchModel(name);
    const std::string path = BenchModelPath(*bm, models_root);
    if (!std::filesystem::exists(path)) {
      model_error[name] = "model not found: " + path + " (run scripts/fetch_models.sh)";
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
      for (int b : batches[bm->format]) {
        Cell c;
        c.model = name;
        c.format = bm->format;
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
        std::vector<double> times, cpu_times;
        auto cpu_now = [] { return ProcessCpuMs(); };
        auto start = Clock::now();
        while (times.size() < 200 &&
               (times.size() < 3 || std::chrono::duration<double>(Clock::now() - start).count() < cell_secs)) {
          if (warm_s > cell_secs && times.size() >= 1) break;  // slow cell: keep it short
          auto r0 = Clock::now();
          const double c0 = cpu_now();
          auto r = (*model)->Run({x});
          cpu_times.push_back(cpu_now() - c0);
          times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r0).count());
          if (!r.ok()) break;
        }
        c.runs = static_cast<int>(times.size());
        c.ms_per_input = Median(times) / b;
        c.min_ms_per_input = *std::min_element(times.begin(), times.end()) / b;
        c.cpu_ms_per_input = Median(cpu_times) / b;
        prev_ms_per_input = c.ms_per_input;
        cells.push_back(c);
        const double gf = gflop_per_input[name];
        const PeerCell* pc = peers[bm->format].Find(name, b, t);
        log("%-26s b%-3d t%d  %9.3f ms/input (min %.3f, cpu %.3f)  %7.1f GFLOP/s  (%d runs)", name.c_str(), b, t,
            c.ms_per_input, c.min_ms_per_input, c.cpu_ms_per_input, c.ms_per_input > 0 ? gf / (c.ms_per_input / 1e3) : 0.0,
            c.runs);
        if (pc) log("  %s %.3f ms/input: %.2fx", peers[bm->format].label.c_str(), pc->ms_per_input, pc->ms_per_input / c.ms_per_input);
        log("\n");
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
  if (!models_of(Format::kTfjs).empty()) {  // the key of earlier reports
    const json& tj = peers[Format::kTfjs].info;
    report["tfjs_peer"] = tj.contains("results")
                              ? json{{"tfjs", tj.value("tfjs", "")}, {"backend", tj.value("backend", "")},
                                     {"simd", tj.value("simd", false)}, {"threads", tj.value("threads", 1)}}
                              : json{{"unavailable", peers[Format::kTfjs].unavailable}};
  }
  for (const auto& [f, p] : peers) {
    if (models_of(f).empty()) continue;
    json pj{{"label", p.label}};
    if (p.unavailable.empty()) {
      pj["description"] = p.description;
      for (const char* k : {"tfjs", "faceapi", "version", "runtime", "backend", "simd", "execution_provider"})
        if (p.info.contains(k)) pj[k] = p.info[k];
    } else {
      pj["unavailable"] = p.unavailable;
    }
    report["peers"][FormatName(f)] = pj;
  }
  report["results"] = json::array();
  for (const auto& c : cells) {
    json r{{"model", c.model}, {"format", FormatName(c.format)}, {"batch", c.batch}, {"threads", c.threads}};
    const double gf = gflop_per_input[c.model];
    r["gflop_per_input"] = gf;
    if (c.ms_per_input > 0) {
      r["ms_per_input"] = c.ms_per_input;
      r["min_ms_per_input"] = c.min_ms_per_input;
      r["cpu_ms_per_input"] = c.cpu_ms_per_input;  // CPU time of all threads: robust to load at 1 thread
      r["runs"] = c.runs;
      r["gflops"] = gf / (c.ms_per_input / 1e3);
      r["pct_peak"] = 100.0 * (gf / (c.ms_per_input / 1e3)) / peak[c.threads].gflops;
      const Peer& p = peers[c.format];
      if (const PeerCell* pc = p.Find(c.model, c.batch, c.threads); pc && pc->ms_per_input > 0) {
        r["peer"] = p.label;
        r["peer_threads"] = pc->threads == 0 ? 1 : pc->threads;
        if (!pc->mode.empty()) r["peer_mode"] = pc->mode;
        r["peer_ms_per_input"] = pc->ms_per_input;
        r["speedup_vs_peer"] = pc->ms_per_input / c.ms_per_input;
        if (c.format == Format::kTfjs) {  // the names of earlier reports
          r["tfjs_ms_per_input"] = pc->ms_per_input;
          r["speedup_vs_tfjs"] = pc->ms_per_input / c.ms_per_input;
        }
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
  for (int b : batches[Format::kTfjs])
    for (auto [t, need] : {std::pair{1, 3.0}, std::pair{2, 5.0}}) {
      const json* r = find("faceres", b, t);
      if (!r || !r->contains("speedup_vs_peer")) continue;
      double s = (*r)["speedup_vs_peer"];
      goals.push_back({{"goal", "faceres >= " + Fmt("%.0f", need) + "x TF.js wasm (1 thread) at " +
                                    std::to_string(t) + " thread(s), batch " + std::to_string(b)},
                       {"measured", s}, {"met", s >= need}});
    }
  // Issue 3: fr_feature >= 1.2x onnxruntime-node at 1 and 2 threads, batch 1 and 16.
  for (int b : {1, 16})
    for (int t : {1, 2}) {
      const json* r = find("fr_feature", b, t);
      if (!r || !r->contains("speedup_vs_peer")) continue;
      double s = (*r)["speedup_vs_peer"];
      goals.push_back({{"goal", "fr_feature >= 1.2x onnxruntime-node at " + std::to_string(t) + " thread(s), batch " +
                                    std::to_string(b)},
                       {"measured", s}, {"met", s >= 1.2}});
    }
  for (const auto& bm : kBenchModels) {
    if (!bm.recognizer) continue;
    for (int b : batches[bm.format])
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
     << "each cell time-boxed to ~" << Fmt("%.1f", cell_secs) << " s (engine-cpu.json also has the minimum, "
     << "`min_ms_per_input`, and `cpu_ms_per_input`: process CPU time / batch, robust to other load at 1 thread)\n"
     << "- GFLOP/input = 2 x MACs of Conv2D, DepthwiseConv2D and MatMul on the optimised graph "
     << "(element-wise ops, pooling and reductions not counted)\n"
     << "- Peak: measured in the same run with independent " << report["peak_isa"].get<std::string>()
     << " FMA chains:";
  for (const auto& [t, p] : peak) md << " " << Fmt("%.1f", p.gflops) << " GFLOP/s on " << t << " thread(s);";
  md << "\n- Peers, measured in the same run before facekit (speedup = peer ms/input / facekit ms/input):\n";
  for (const auto& [f, p] : peers) {
    if (models_of(f).empty()) continue;
    md << "  - " << FormatName(f) << " models, peer **" << p.label << "**: "
       << (p.unavailable.empty() ? p.description : "not measured: " + p.unavailable) << "\n";
  }
  md << "\n| model | format | GFLOP/input | batch | threads | facekit ms/input | GFLOP/s | % peak | peer | peer ms/input | speedup |\n"
     << "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n";
  for (const auto& r : report["results"]) {
    md << "| " << r["model"].get<std::string>() << " | " << r["format"].get<std::string>() << " | "
       << Fmt("%.3f", r["gflop_per_input"].get<double>()) << " | " << r["batch"].get<int>() << " | "
       << r["threads"].get<int>() << " | ";
    if (r.contains("ms_per_input")) {
      md << Fmt("%.3f", r["ms_per_input"].get<double>()) << " | " << Fmt("%.1f", r["gflops"].get<double>()) << " | "
         << Fmt("%.1f", r["pct_peak"].get<double>()) << " | ";
      if (r.contains("peer_ms_per_input")) {
        std::string peer = r["peer"].get<std::string>() + ", " + std::to_string(r["peer_threads"].get<int>()) + "t";
        if (r.contains("peer_mode") && r["peer_mode"] != "single") peer += ", " + r["peer_mode"].get<std::string>();
        md << peer << " | " << Fmt("%.3f", r["peer_ms_per_input"].get<double>()) << " | "
           << Fmt("%.2fx", r["speedup_vs_peer"].get<double>());
      } else {
        md << "– | – | –";
      }
      md << " |\n";
    } else {
      md << r.value("note", std::string("–")) << " | | | | | |\n";
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
  const std::vector<std::string> pos = Positional(args, {"--models", "--formats", "--batches", "--threads", "--time", "--out", "--device", "--precision", "--cpu-threads", "--cpu-max-batch"});
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
  if (pos[0] == "server") return BenchServer(rest);
  std::fprintf(stderr, "facekit bench: unknown benchmark '%s' (engine, search, server)\n", pos[0].c_str());
  PrintUsage();
  return 2;
}

}  // namespace fk::tools
