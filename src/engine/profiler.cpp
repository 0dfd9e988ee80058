#include "engine/profiler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace fk::engine {

bool Profiler::EnabledByEnv() {
  const char* e = std::getenv("FK_PROFILE");
  return e && *e && std::string(e) != "0";
}

void Profiler::Merge(const RunTimes& run, double run_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  if (seconds_.size() < run.seconds.size()) {
    seconds_.resize(run.seconds.size(), 0.0);
    calls_.resize(run.seconds.size(), 0);
    backend_.resize(run.seconds.size(), nullptr);
    shape_.resize(run.seconds.size());
    best_.resize(run.seconds.size(), -1.0);
  }
  for (size_t i = 0; i < run.seconds.size(); ++i) {
    if (run.calls[i] == 0) continue;
    seconds_[i] += run.seconds[i];
    if (best_[i] < 0 || run.seconds[i] < best_[i]) best_[i] = run.seconds[i];
    calls_[i] += run.calls[i];
    backend_[i] = run.backend[i];
    if (shape_[i].empty() && run.shape[i]) shape_[i] = run.shape[i]->ToString();
  }
  run_seconds_ += run_seconds;
  ++runs_;
}

void Profiler::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  seconds_.clear();
  calls_.clear();
  backend_.clear();
  shape_.clear();
  best_.clear();
  run_seconds_ = 0;
  runs_ = 0;
}

int64_t Profiler::runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

std::string Profiler::Report(const ir::Graph& graph) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (runs_ == 0) return {};
  auto op_label = [&](const ir::Node& n) {
    std::string s = ir::OpTypeName(n.op);
    if (n.activation() != ir::Activation::kNone) s += std::string("+") + ir::ActivationName(n.activation());
    return s;
  };
  std::vector<size_t> order;
  double nodes_total = 0, best_total = 0;
  for (size_t i = 0; i < seconds_.size() && i < graph.nodes().size(); ++i)
    if (calls_[i] > 0) {
      order.push_back(i);
      nodes_total += seconds_[i];
      best_total += best_[i];
    }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seconds_[a] > seconds_[b]; });
  const double run_total = run_seconds_ > 0 ? run_seconds_ : nodes_total;
  auto pct = [&](double s) { return run_total > 0 ? 100.0 * s / run_total : 0.0; };

  std::string out = "facekit profile of the graph with input(s)";
  for (ir::ValueId v : graph.inputs())
    out += " " + graph.value(v).name + graph.value(v).shape.ToString();
  out += ", " + std::to_string(graph.nodes().size()) + " nodes\n";
  char line[512];
  std::snprintf(line, sizeof(line),
                "%lld run(s), %.3f ms per run (wall), kernels %.3f ms per run (%.1f%%), "
                "sum of per-node bests %.3f ms\n",
                static_cast<long long>(runs_), 1e3 * run_total / static_cast<double>(runs_),
                1e3 * nodes_total / static_cast<double>(runs_), pct(nodes_total), 1e3 * best_total);
  out += line;
  std::snprintf(line, sizeof(line), "%-5s %-24s %-24s %-5s %-18s %7s %10s %9s %9s %6s\n", "node", "op", "name", "bknd", "output",
                "calls", "total ms", "ms/run", "best ms", "%run");
  out += line;
  for (size_t i : order) {
    const ir::Node& n = graph.nodes()[i];
    std::snprintf(line, sizeof(line), "#%-4zu %-24s %-24s %-5s %-18s %7lld %10.3f %9.4f %9.4f %6.2f\n", i, op_label(n).c_str(),
                  n.name.substr(0, 24).c_str(), backend_[i] ? backend_[i] : "?", shape_[i].c_str(),
                  static_cast<long long>(calls_[i]), 1e3 * seconds_[i], 1e3 * seconds_[i] / static_cast<double>(runs_),
                  1e3 * best_[i], pct(seconds_[i]));
    out += line;
  }
  // Per op type (with fused activation and backend).
  struct Agg {
    double s = 0, best = 0;
    int64_t calls = 0;
  };
  std::map<std::string, Agg> by_op;
  for (size_t i : order) {
    auto& a = by_op[op_label(graph.nodes()[i]) + " [" + (backend_[i] ? backend_[i] : "?") + "]"];
    a.s += seconds_[i];
    a.best += best_[i];
    a.calls += calls_[i];
  }
  std::vector<std::pair<std::string, Agg>> ops(by_op.begin(), by_op.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.s > b.second.s; });
  std::snprintf(line, sizeof(line), "by op type: %-24s %8s %10s %9s %9s %6s\n", "", "calls", "total ms", "ms/run",
                "best ms", "%run");
  out += line;
  for (const auto& [name, a] : ops) {
    std::snprintf(line, sizeof(line), "  %-36s %8lld %10.3f %9.4f %9.4f %6.2f\n", name.c_str(),
                  static_cast<long long>(a.calls), 1e3 * a.s, 1e3 * a.s / static_cast<double>(runs_), 1e3 * a.best,
                  pct(a.s));
    out += line;
  }
  return out;
}

}  // namespace fk::engine
