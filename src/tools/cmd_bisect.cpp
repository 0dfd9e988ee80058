// facekit bisect: name the first node whose output differs between two backends (or between
// a backend and a directory of per-value .npy goldens). Optimization is disabled on both
// sides so every node of the imported model is compared under its original name.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "engine/executor.h"
#include "tools/commands.h"

namespace fk::tools {

namespace {

double ValueAt(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32: return t.data<float>()[i];
    case DType::kInt32: return t.data<int32_t>()[i];
    case DType::kUInt8: return t.data<uint8_t>()[i];
    case DType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
  }
  return 0;
}

struct Diff {
  bool shape_mismatch = false;
  double max_abs = 0;    // max |a - b|
  double ref_scale = 0;  // max |a|
  int64_t where = -1;
  double rel() const { return max_abs / std::max(ref_scale, 1e-12); }
};

Diff Compare(const Tensor& a, const Tensor& b) {
  Diff d;
  if (a.shape() != b.shape()) {
    d.shape_mismatch = true;
    return d;
  }
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    const double x = ValueAt(a, i), y = ValueAt(b, i);
    d.ref_scale = std::max(d.ref_scale, std::fabs(x));
    const double e = (std::isnan(x) != std::isnan(y)) ? INFINITY : std::fabs(x - y);
    if (e > d.max_abs || (std::isnan(e) && d.where < 0)) {
      d.max_abs = std::isnan(e) ? INFINITY : e;
      d.where = i;
    }
  }
  return d;
}

// Golden file for a value: DIR/<name>.npy with '/' kept as sub-directories, or with
// '/' and ':' replaced by '_' (both layouts are accepted).
std::string GoldenPath(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path nested = fs::path(dir) / (name + ".npy");
  if (fs::exists(nested)) return nested.string();
  std::string flat = name;
  for (char& c : flat)
    if (c == '/' || c == ':') c = '_';
  const fs::path f = fs::path(dir) / (flat + ".npy");
  if (fs::exists(f)) return f.string();
  return "";
}

}  // namespace

int CmdBisect(const Args& args) {
  const std::vector<std::string> vflags = {"--a", "--b", "--tol", "--golden", "--random", "--threads"};
  if (HasFlag(args, "--help") || args.empty()) {
    std::fprintf(stderr,
                 "usage: facekit bisect MODEL (INPUT.npy | --random N,H,W,C) [--a ref] [--b cpu] [--tol 1e-4]\n"
                 "                      [--golden DIR] [--json]\n"
                 "Runs MODEL unoptimized on backends A and B (or A against DIR/<value name>.npy goldens)\n"
                 "and names the first node, in topological order, whose output differs by more than\n"
                 "tol * max|A|.\n");
    return args.empty() ? 2 : 0;
  }
  const auto pos = Positional(args, vflags);
  const std::string random = FlagValue(args, "--random");
  if (pos.empty() || (pos.size() < 2 && random.empty())) {
    std::fprintf(stderr, "facekit bisect: need MODEL and INPUT.npy (or --random SHAPE)\n");
    return 2;
  }
  const std::string a_name = FlagValue(args, "--a", "ref");
  const std::string b_name = FlagValue(args, "--b", "cpu");
  const std::string golden = FlagValue(args, "--golden");
  const double tol = std::atof(FlagValue(args, "--tol", "1e-4").c_str());
  const bool as_json = HasFlag(args, "--json");

  engine::LoadOptions lo;
  lo.optimize = false;
  lo.exec.num_threads = std::atoi(FlagValue(args, "--threads", "0").c_str());
  lo.exec.backend = a_name;
  auto ea = engine::LoadExecutor(pos[0], lo);
  if (!ea.ok()) {
    std::fprintf(stderr, "facekit bisect: %s\n", ea.status().ToString().c_str());
    return 1;
  }
  const ir::Graph& g = (*ea)->graph();

  std::vector<Tensor> inputs;
  if (!random.empty()) {
    std::vector<int64_t> dims;
    std::stringstream ss(random);
    std::string tok;
    while (std::getline(ss, tok, ',')) dims.push_back(std::atoll(tok.c_str()));
    Tensor t(g.value(g.inputs()[0]).dtype, Shape(dims));
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    if (t.dtype() == DType::kFloat32)
      for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = u(rng);
    inputs.push_back(t);
  } else {
    for (size_t i = 1; i < pos.size(); ++i) {
      auto t = LoadNpy(pos[i]);
      if (!t.ok()) {
        std::fprintf(stderr, "facekit bisect: %s\n", t.status().ToString().c_str());
        return 1;
      }
      inputs.push_back(*t);
    }
  }
  auto va = (*ea)->RunAll(inputs);
  if (!va.ok()) {
    std::fprintf(stderr, "facekit bisect: backend %s: %s\n", a_name.c_str(), va.status().ToString().c_str());
    return 1;
  }
  std::vector<Tensor> vb;
  if (golden.empty()) {
    lo.exec.backend = b_name;
    auto eb = engine::LoadExecutor(pos[0], lo);
    if (!eb.ok()) {
      std::fprintf(stderr, "facekit bisect: %s\n", eb.status().ToString().c_str());
      return 1;
    }
    if ((*eb)->graph().values().size() != g.values().size()) {
      std::fprintf(stderr, "facekit bisect: the two loads produced different graphs\n");
      return 1;
    }
    auto r = (*eb)->RunAll(inputs);
    if (!r.ok()) {
      std::fprintf(stderr, "facekit bisect: backend %s: %s\n", b_name.c_str(), r.status().ToString().c_str());
      return 1;
    }
    vb = std::move(r).value();
  } else {
    vb.resize(g.values().size());
  }
  const std::string b_label = golden.empty() ? b_name : "golden " + golden;

  int compared = 0, missing = 0;
  double worst = 0;
  std::string worst_name;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const ir::Node& n = g.nodes()[i];
    for (ir::ValueId v : n.outputs) {
      const std::string& name = g.value(v).name;
      const Tensor& ta = (*va)[static_cast<size_t>(v)];
      Tensor tb = vb[static_cast<size_t>(v)];
      if (!golden.empty()) {
        const std::string path = GoldenPath(golden, name);
        if (path.empty()) {
          ++missing;
          continue;
        }
        auto t = LoadNpy(path);
        if (!t.ok()) {
          std::fprintf(stderr, "facekit bisect: %s\n", t.status().ToString().c_str());
          return 1;
        }
        tb = *t;
      }
      if (ta.empty() || tb.empty()) continue;
      ++compared;
      const Diff d = Compare(ta, tb);
      if (!d.shape_mismatch && d.rel() > worst) {
        worst = d.rel();
        worst_name = name;
      }
      if (d.shape_mismatch || !(d.rel() <= tol)) {
        std::string ins;
        for (ir::ValueId in : n.inputs)
          ins += (ins.empty() ? "" : ", ") + g.value(in).name + " " + (*va)[static_cast<size_t>(in)].shape().ToString();
        if (as_json) {
          nlohmann::ordered_json j = {{"diverged", true},       {"node", n.name},
                                      {"op", ir::OpTypeName(n.op)}, {"index", i},
                                      {"a", a_name},            {"b", b_label},
                                      {"shape_a", ta.shape().dims()}, {"shape_b", tb.shape().dims()},
                                      {"max_abs_error", d.max_abs}, {"max_abs_a", d.ref_scale},
                                      {"rel_error", d.shape_mismatch ? -1.0 : d.rel()}, {"tol", tol},
                                      {"inputs", ins}, {"compared", compared}};
          std::printf("%s\n", j.dump(2).c_str());
        } else {
          std::printf("first divergent node #%zu '%s' (%s)\n", i, n.name.c_str(), ir::OpTypeName(n.op));
          std::printf("  inputs: %s\n", ins.c_str());
          if (d.shape_mismatch) {
            std::printf("  shape mismatch: %s %s vs %s %s\n", a_name.c_str(), ta.shape().ToString().c_str(),
                        b_label.c_str(), tb.shape().ToString().c_str());
          } else {
            std::printf("  output %s: max |%s - %s| = %.6g at flat index %lld (%s %.6g, %s %.6g); max|%s| = %.6g;"
                        " relative error %.3g > tol %.3g\n",
                        ta.shape().ToString().c_str(), a_name.c_str(), b_label.c_str(), d.max_abs,
                        static_cast<long long>(d.where), a_name.c_str(), ValueAt(ta, std::max<int64_t>(d.where, 0)),
                        b_label.c_str(), ValueAt(tb, std::max<int64_t>(d.where, 0)), a_name.c_str(), d.ref_scale,
                        d.rel(), tol);
          }
          std::printf("  (%d values compared before it agreed within tol)\n", compared - 1);
        }
        return 1;  // divergence: non-zero for scripts
      }
    }
  }
  if (as_json) {
    nlohmann::ordered_json j = {{"diverged", false}, {"compared", compared}, {"missing_goldens", missing},
                                {"worst_rel_error", worst}, {"worst_node", worst_name}, {"tol", tol}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("no divergence: %d values compared (%s vs %s), worst relative error %.3g at '%s'%s\n", compared,
                a_name.c_str(), b_label.c_str(), worst, worst_name.c_str(),
                missing ? (" (" + std::to_string(missing) + " values had no golden file)").c_str() : "");
  }
  return 0;
}

}  // namespace fk::tools
