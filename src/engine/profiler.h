// Per-node wall-time profiler of the executor (docs/engine-cpu.md, "Profiling").
//
// $FK_PROFILE=1 (read once per Executor at Create) makes the executor time every kernel run
// and accumulate per graph node over all runs; the sorted table (op, name, backend, output
// shape, calls, total ms, % of the runs' wall time) goes to stderr when the executor is destroyed, or on
// request (Executor::ProfileReport). When the variable is unset the executor holds no
// Profiler and the run loop only tests a null pointer per node.
//
// Thread-safe: each Execute call accumulates into its own NodeTimes and merges once at the
// end (one mutex per run, not per node).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "engine/ir/graph.h"
#include "facekit/tensor.h"

namespace fk::engine {

class Profiler {
 public:
  using Clock = std::chrono::steady_clock;

  // True when $FK_PROFILE is set to something other than "" or "0".
  static bool EnabledByEnv();

  // One run's per-node times (node index -> seconds; backend name and output shape per node).
  struct RunTimes {
    std::vector<double> seconds;
    std::vector<const char*> backend;
    std::vector<int> calls;
    std::vector<const Shape*> shape;  // first output's planned shape (owned by the plan)
    void Add(size_t node, const char* backend_name, const Shape* out_shape, double s) {
      if (node >= seconds.size()) {
        seconds.resize(node + 1, 0.0);
        backend.resize(node + 1, nullptr);
        calls.resize(node + 1, 0);
        shape.resize(node + 1, nullptr);
      }
      seconds[node] += s;
      backend[node] = backend_name;
      shape[node] = out_shape;
      ++calls[node];
    }
  };

  // Merges one run (wall time of the whole run in seconds).
  void Merge(const RunTimes& run, double run_seconds);
  void Reset();
  int64_t runs() const;

  // The table, sorted by total time (descending), then a per-op-type summary. Empty string
  // when nothing was recorded.
  std::string Report(const ir::Graph& graph) const;

 private:
  mutable std::mutex mu_;
  std::vector<double> seconds_;
  std::vector<int64_t> calls_;
  std::vector<const char*> backend_;
  std::vector<std::string> shape_;  // first seen output shape per node
  std::vector<double> best_;        // per node: least time of one run (robust to noise)
  double run_seconds_ = 0;
  int64_t runs_ = 0;
};

}  // namespace fk::engine
