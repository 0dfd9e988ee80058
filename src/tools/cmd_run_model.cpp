// facekit run-model / facekit inspect: run a model on .npy inputs, describe a model.
#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "engine/backend.h"
#include "engine/executor.h"
#include "tools/commands.h"

namespace fk::tools {

namespace {

using json = nlohmann::ordered_json;

Result<Shape> ParseShape(const std::string& s) {
  std::vector<int64_t> dims;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    try {
      const long long d = std::stoll(tok);
      if (d <= 0) return InvalidArgument("shape '" + s + "': dimensions must be positive");
      dims.push_back(d);
    } catch (...) {
      return InvalidArgument("shape '" + s + "' is not a comma-separated list of integers (e.g. 8,112,112,3)");
    }
  }
  if (dims.empty()) return InvalidArgument("empty shape");
  return Shape(dims);
}

Tensor RandomTensor(DType dt, const Shape& s, uint32_t seed) {
  Tensor t(dt, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (dt == DType::kFloat32) t.data<float>()[i] = u(rng);
    else if (dt == DType::kInt32) t.data<int32_t>()[i] = static_cast<int32_t>(rng() % 256);
    else if (dt == DType::kUInt8) t.data<uint8_t>()[i] = static_cast<uint8_t>(rng() % 256);
  }
  return t;
}

double At(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32: return t.data<float>()[i];
    case DType::kInt32: return t.data<int32_t>()[i];
    case DType::kUInt8: return t.data<uint8_t>()[i];
    case DType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
  }
  return 0;
}

std::string SafeFileName(std::string name) {
  for (char& c : name)
    if (c == '/' || c == ':' || c == '\\' || c == ' ') c = '_';
  return name;
}

int Fail(const char* cmd, const Status& s) {
  std::fprintf(stderr, "facekit %s: %s\n", cmd, s.ToString().c_str());
  return 1;
}

// Inputs from .npy files or --random SHAPE (one random input per graph input; the shape is
// used for the first input, the others take their declared shape with the same batch).
Result<std::vector<Tensor>> GatherInputs(const engine::Executor& ex, const std::vector<std::string>& files,
                                         const std::string& random, uint32_t seed) {
  std::vector<Tensor> inputs;
  if (!random.empty()) {
    FK_ASSIGN_OR_RETURN(Shape s, ParseShape(random));
    const auto& g = ex.graph();
    for (size_t i = 0; i < g.inputs().size(); ++i) {
      const ir::Value& v = g.value(g.inputs()[i]);
      Shape shape = s;
      if (i > 0) {
        shape = v.shape;
        if (shape.rank() > 0) shape[0] = s[0];
        if (!shape.is_fully_defined())
          return InvalidArgument("--random cannot build input '" + v.name + "' of shape " + v.shape.ToString());
      }
      inputs.push_back(RandomTensor(v.dtype, shape, seed + static_cast<uint32_t>(i)));
    }
    return inputs;
  }
  for (const auto& f : files) {
    FK_ASSIGN_OR_RETURN(Tensor t, LoadNpy(f));
    inputs.push_back(std::move(t));
  }
  return inputs;
}

}  // namespace

int CmdRunModel(const Args& args) {
  const std::vector<std::string> vflags = {"--backend", "--threads", "--out", "--random", "--seed", "--repeat",
                                           "--precision"};
  if (HasFlag(args, "--help") || args.empty()) {
    std::fprintf(stderr,
                 "usage: facekit run-model MODEL (INPUT.npy... | --random N,H,W,C) [--backend ref|cpu]\n"
                 "                         [--threads N] [--out DIR] [--json] [--no-optimize] [--seed S]\n"
                 "                         [--repeat N] [--precision fp32|tf32|fp16]  (cuda; default fp32)\n"
                 "Runs MODEL (TF.js model.json or .onnx) and prints each output's name, shape, first values\n"
                 "and min/max/mean; --out DIR saves each output as DIR/<name>.npy. --repeat N runs N more\n"
                 "times after the first (warm-up) run and prints best/median ms per run to stderr; with\n"
                 "FK_PROFILE=1 the per-node profile (of the repeats only) is printed at exit.\n");
    return args.empty() ? 2 : 0;
  }
  const auto pos = Positional(args, vflags);
  const std::string random = FlagValue(args, "--random");
  if (pos.empty() || (pos.size() < 2 && random.empty())) {
    std::fprintf(stderr, "facekit run-model: need MODEL and INPUT.npy (or --random SHAPE)\n");
    return 2;
  }
  engine::LoadOptions lo;
  lo.exec.backend = FlagValue(args, "--backend", "cpu");
  lo.exec.num_threads = std::atoi(FlagValue(args, "--threads", "0").c_str());
  if (const char* run = std::getenv("FK_CUDA_RUN"); run && *run) lo.exec.device_run = run;  // cuda only
  if (const std::string prec = FlagValue(args, "--precision"); !prec.empty()) {
    if (lo.exec.backend != "cuda" || (prec != "fp32" && prec != "tf32" && prec != "fp16")) {
      std::fprintf(stderr, "facekit run-model: --precision takes fp32, tf32 or fp16, with --backend cuda\n");
      return 2;
    }
    auto be = engine::GetCudaBackend(0, prec, 0, 0);
    if (!be.ok()) return Fail("run-model", be.status());
    lo.exec.backend_object = *be;
  }
  lo.optimize = !HasFlag(args, "--no-optimize");
  auto ex = engine::LoadExecutor(pos[0], lo);
  if (!ex.ok()) return Fail("run-model", ex.status());
  auto inputs = GatherInputs(**ex, std::vector<std::string>(pos.begin() + 1, pos.end()), random,
                             static_cast<uint32_t>(std::atoi(FlagValue(args, "--seed", "42").c_str())));
  if (!inputs.ok()) return Fail("run-model", inputs.status());
  auto outs = (*ex)->Run(*inputs);
  if (!outs.ok()) return Fail("run-model", outs.status());
  if (const int repeat = std::atoi(FlagValue(args, "--repeat", "0").c_str()); repeat > 0) {
    (*ex)->ResetProfile();  // profile the timed runs only, not the warm-up
    std::vector<double> ms;
    const std::clock_t cpu0 = std::clock();  // process CPU time: robust to preemption on a busy machine
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      auto o = (*ex)->Run(*inputs);
      if (!o.ok()) return Fail("run-model", o.status());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double cpu_ms = 1e3 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / repeat;
    std::sort(ms.begin(), ms.end());
    std::fprintf(stderr,
                 "facekit run-model: %d run(s) after warm-up: best %.3f ms, median %.3f ms, mean %.3f ms, "
                 "process CPU %.3f ms per run\n",
                 repeat, ms.front(), ms[ms.size() / 2],
                 std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size()), cpu_ms);
  }

  const std::string out_dir = FlagValue(args, "--out");
  if (!out_dir.empty()) std::filesystem::create_directories(out_dir);
  const auto& g = (*ex)->graph();
  json j = json::array();
  for (size_t k = 0; k < outs->size(); ++k) {
    const Tensor& t = (*outs)[k];
    const std::string name = g.value(g.outputs()[k]).name;
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    const int64_t n = t.num_elements();
    for (int64_t i = 0; i < n; ++i) {
      const double v = At(t, i);
      mn = std::min(mn, v);
      mx = std::max(mx, v);
      sum += v;
    }
    std::vector<double> first;
    for (int64_t i = 0; i < std::min<int64_t>(n, 8); ++i) first.push_back(At(t, i));
    std::string saved;
    if (!out_dir.empty()) {
      saved = (std::filesystem::path(out_dir) / (SafeFileName(name) + ".npy")).string();
      Status s = SaveNpy(saved, t);
      if (!s.ok()) return Fail("run-model", s);
    }
    if (HasFlag(args, "--json")) {
      json o = {{"name", name}, {"dtype", DTypeName(t.dtype())}, {"shape", t.shape().dims()},
                {"first", first}, {"min", mn}, {"max", mx}, {"mean", n ? sum / n : 0.0}};
      if (!saved.empty()) o["file"] = saved;
      j.push_back(o);
    } else {
      std::printf("%s %s %s\n  first:", name.c_str(), DTypeName(t.dtype()), t.shape().ToString().c_str());
      for (double v : first) std::printf(" %.6g", v);
      std::printf("\n  min %.6g max %.6g mean %.6g%s%s\n", mn, mx, n ? sum / n : 0.0,
                  saved.empty() ? "" : "\n  saved ", saved.c_str());
    }
  }
  if (HasFlag(args, "--json")) std::printf("%s\n", json{{"backend", lo.exec.backend}, {"outputs", j}}.dump(2).c_str());
  return 0;
}

int CmdInspect(const Args& args) {
  const std::vector<std::string> vflags = {"--backend", "--batch"};
  if (HasFlag(args, "--help") || args.empty()) {
    std::fprintf(stderr,
                 "usage: facekit inspect MODEL [--json] [--backend ref|cpu] [--batch N]\n"
                 "Prints inputs/outputs, node counts by op before and after optimization, parameters,\n"
                 "the backend of each node and the planned arena size (for batch N, default 1).\n");
    return args.empty() ? 2 : 0;
  }
  const auto pos = Positional(args, vflags);
  if (pos.size() != 1) {
    std::fprintf(stderr, "facekit inspect: need exactly one MODEL\n");
    return 2;
  }
  const bool as_json = HasFlag(args, "--json");
  auto raw = engine::ImportModel(pos[0]);
  if (!raw.ok()) return Fail("inspect", raw.status());
  auto count_ops = [](const ir::Graph& g) {
    std::map<std::string, int> m;
    for (const auto& n : g.nodes()) ++m[ir::OpTypeName(n.op)];
    return m;
  };
  const auto before = count_ops(*raw);
  engine::LoadOptions lo;
  lo.exec.backend = FlagValue(args, "--backend", "cpu");
  engine::OptimizeStats stats;
  auto ex = engine::LoadExecutor(pos[0], lo, &stats);
  if (!ex.ok()) return Fail("inspect", ex.status());
  const ir::Graph& g = (*ex)->graph();
  const auto after = count_ops(g);
  int64_t params = 0;
  for (const auto& v : g.values())
    if (v.is_constant()) params += v.constant.num_elements();

  const int64_t batch = std::max(1, std::atoi(FlagValue(args, "--batch", "1").c_str()));
  std::vector<Shape> shapes;
  bool plannable = true;
  for (ir::ValueId v : g.inputs()) {
    Shape s = g.value(v).shape;
    if (s.rank() > 0 && s[0] < 0) s[0] = batch;
    plannable = plannable && s.is_fully_defined();
    shapes.push_back(s);
  }
  std::vector<std::string> node_backend = (*ex)->StaticAssignment();
  engine::PlanSummary summary;
  std::string plan_error;
  if (plannable) {
    auto s = (*ex)->Summarize(shapes);
    if (s.ok()) {
      summary = *s;
      node_backend = summary.node_backend;
    } else {
      plan_error = s.status().ToString();
    }
  } else {
    plan_error = "inputs have unknown non-batch dimensions; no plan";
  }
  auto spec = [&](ir::ValueId v) {
    const auto& x = g.value(v);
    return json{{"name", x.name}, {"dtype", DTypeName(x.dtype)}, {"shape", x.shape.dims()}};
  };
  if (as_json) {
    json j;
    j["model"] = pos[0];
    j["backend"] = lo.exec.backend;
    j["inputs"] = json::array();
    for (auto v : g.inputs()) j["inputs"].push_back(spec(v));
    j["outputs"] = json::array();
    for (auto v : g.outputs()) j["outputs"].push_back(spec(v));
    j["ops_before"] = before;
    j["ops_after"] = after;
    j["nodes_before"] = raw->nodes().size();
    j["nodes_after"] = g.nodes().size();
    j["optimizations"] = stats.ToString();
    j["params"] = params;
    j["batch"] = batch;
    json nodes = json::array();
    for (size_t i = 0; i < g.nodes().size(); ++i)
      nodes.push_back({{"name", g.nodes()[i].name}, {"op", ir::OpTypeName(g.nodes()[i].op)},
                       {"backend", node_backend[i]}});
    j["nodes"] = nodes;
    if (plan_error.empty()) {
      j["arena_bytes"] = summary.memory.arena_bytes;
      j["naive_bytes"] = summary.memory.naive_bytes;
      j["workspace_bytes"] = summary.workspace_bytes;
    } else {
      j["plan_error"] = plan_error;
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("model   %s\nbackend %s\n", pos[0].c_str(), lo.exec.backend.c_str());
  for (auto v : g.inputs())
    std::printf("input   %s %s %s\n", g.value(v).name.c_str(), DTypeName(g.value(v).dtype),
                g.value(v).shape.ToString().c_str());
  for (auto v : g.outputs())
    std::printf("output  %s %s %s\n", g.value(v).name.c_str(), DTypeName(g.value(v).dtype),
                g.value(v).shape.ToString().c_str());
  std::printf("nodes   %zu before optimization, %zu after (%s)\n", raw->nodes().size(), g.nodes().size(),
              stats.ToString().c_str());
  std::printf("%-18s %8s %8s\n", "op", "before", "after");
  std::map<std::string, std::pair<int, int>> both;
  for (const auto& [k, c] : before) both[k].first = c;
  for (const auto& [k, c] : after) both[k].second = c;
  for (const auto& [k, c] : both) std::printf("%-18s %8d %8d\n", k.c_str(), c.first, c.second);
  std::printf("params  %lld\n", static_cast<long long>(params));
  if (plan_error.empty())
    std::printf("arena   %zu bytes for batch %lld (naive sum of intermediates %zu bytes, %.1f%%), workspace %zu\n",
                summary.memory.arena_bytes, static_cast<long long>(batch), summary.memory.naive_bytes,
                summary.memory.naive_bytes ? 100.0 * summary.memory.arena_bytes / summary.memory.naive_bytes : 0.0,
                summary.workspace_bytes);
  else
    std::printf("arena   (not planned: %s)\n", plan_error.c_str());
  std::printf("nodes (backend):\n");
  for (size_t i = 0; i < g.nodes().size(); ++i)
    std::printf("  #%-4zu %-16s %-10s %s\n", i, ir::OpTypeName(g.nodes()[i].op), node_backend[i].c_str(),
                g.nodes()[i].name.c_str());
  return 0;
}

}  // namespace fk::tools
