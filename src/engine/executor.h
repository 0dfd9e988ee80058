// The executor: runs an ir::Graph on a backend. Internal API (tools, tests, fk::Model).
//
// Planning is per concrete input-shape set and cached: shape inference with concrete shapes
// (int32 shape sub-graphs such as Shape -> StridedSlice -> Pack are evaluated with the ref
// backend at plan time), per-node backend choice (the requested backend if it Supports()
// the node, else "ref"; recorded per node), kernel planning, and memory planning (every
// non-constant intermediate value gets an offset in one arena; values whose lifetimes do
// not overlap share memory: greedy by size, first fit).
//
// Thread-safety: an Executor is immutable after Create() apart from its plan cache and
// arena pool, both guarded by a mutex; Run() may be called concurrently. Plans are
// immutable once built and shared by all threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ir/graph.h"
#include "engine/optimizer/optimizer.h"
#include "engine/profiler.h"
#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk::engine {

struct ExecutorOptions {
  std::string backend = "cpu";  // "ref", "cpu", "cuda"
  int num_threads = 0;          // 0 = all cores
  bool check_finite = true;     // reject NaN/Inf in float inputs
  // A backend object to use instead of GetBackend(backend) (e.g. the cuda backend of GPU 1
  // with tf32, from GetCudaBackend); its name() must equal `backend`.
  const Backend* backend_object = nullptr;
  // Whole-graph device runs (Backend::CreateGraphRunner): "staged" = node by node (host
  // tensors between nodes); "resident" = whole graph on the device, one sync; "graph" =
  // resident + CUDA Graph capture/replay per input-shape set. Ignored by CPU backends.
  std::string device_run = "graph";
  // CPU backend, threads > 1, batch >= 2: run the batch as single-threaded chunks on
  // `num_threads` threads (the caller and persistent pool workers) instead of one batch with
  // multi-threaded kernels (Executor::RunSplitBatch; docs/engine-cpu.md, "Threads").
  // $FK_SPLIT_BATCH=0 turns it off, =1 on (overrides this field).
  bool split_batch = true;
};

// One value's place in the arena.
struct ArenaSlot {
  ir::ValueId value = ir::kNoValue;
  size_t offset = 0;
  size_t bytes = 0;  // 64-byte aligned
  int first = 0;     // index (in plan order) of the step that writes it
  int last = 0;      // index of the last step that reads it (steps count for graph outputs)
};

struct MemoryPlan {
  size_t arena_bytes = 0;  // size of the shared arena
  size_t naive_bytes = 0;  // sum of all slot sizes (no reuse)
  std::vector<ArenaSlot> slots;
};

// Plans `sizes` (bytes) with lifetimes [first,last] (inclusive step indices) into one
// arena: greedy by decreasing size, first fit among the offsets that do not collide with
// an already placed slot whose lifetime overlaps. Exposed for tests.
MemoryPlan PlanMemory(std::vector<ArenaSlot> slots);

// Number of chunks of the batch split (Executor::RunSplitBatch) for a batch of `batch` inputs
// on `threads` threads: a multiple of `threads` (at most `batch`), chunks of at most 8 rows and,
// where the batch allows, at least 4. Rows are spread evenly (sizes differ by at most one).
// Exposed for tests.
int SplitChunks(int64_t batch, int threads);

// What a plan looks like, for `facekit inspect` and tests.
struct PlanSummary {
  std::vector<std::string> node_backend;  // per graph node: backend name, or "plan-time"
                                          // for nodes evaluated while planning
  std::vector<Shape> value_shapes;        // per value: concrete shape
  MemoryPlan memory;
  size_t workspace_bytes = 0;
};

class Executor {
 public:
  // Fails with Unavailable when `options.backend` is not compiled in (message lists the
  // available backends), or with the graph's validation error.
  static Result<std::unique_ptr<Executor>> Create(ir::Graph graph, const ExecutorOptions& options);
  ~Executor();

  const ir::Graph& graph() const { return graph_; }
  const Backend* backend() const { return backend_; }
  const ExecutorOptions& options() const { return options_; }

  // Validates the inputs (count, dtype, rank, non-batch dims, finite values) and runs.
  // Returns the graph outputs in graph order (deep copies the caller owns).
  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) const;

  // Model::RunPixels: input i given as uint8 NHWC pixels (C <= 4) for a float32 input, made
  // float by scale/offset (one value, or one per channel) and the channel reversal. A device
  // runner normalises on the device (GraphRunner::RunPixels); otherwise the host does, with the
  // same arithmetic (engine/pixel_transform.h). InvalidArgument as documented in facekit/engine.h.
  Result<std::vector<Tensor>> RunPixels(const std::vector<Tensor>& pixels, const std::vector<float>& scale,
                                        const std::vector<float>& offset, bool reverse_channels) const;

  // Model::RunWarps: the single [N, H, W, 3] float input made of N crops of `images`, 8-bit
  // (engine/warp_sample.h), then normalised as RunPixels. A device runner cuts them on the device
  // (GraphRunner::RunWarps); otherwise the host cuts them and RunPixels runs. `crops_out` (may be
  // null): N*H*W*3 bytes that receive the 8-bit crops.
  Result<std::vector<Tensor>> RunWarps(std::span<const WarpSource> images, std::span<const WarpDesc> crops,
                                       int height, int width, const std::vector<float>& scale,
                                       const std::vector<float>& offset, bool reverse_channels,
                                       uint8_t* crops_out = nullptr) const;

  // Like Run, but returns every value of the graph indexed by ValueId (constants included;
  // values that were not computed are empty). For `facekit bisect`.
  Result<std::vector<Tensor>> RunAll(const std::vector<Tensor>& inputs) const;

  // Plans (or fetches the cached plan) for the given input shapes and describes it.
  Result<PlanSummary> Summarize(const std::vector<Shape>& input_shapes) const;

  // How many (input shapes, threads) plans are cached.
  size_t plan_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return plans_.size();
  }

  // Per-node backend assignment without shapes ("cpu" or "ref" fallback).
  std::vector<std::string> StaticAssignment() const;

  // Checks `inputs` against the graph inputs (exposed for Model).
  Status ValidateInputs(const std::vector<Tensor>& inputs) const;

  // Per-node profile ($FK_PROFILE=1, engine/profiler.h): the table so far ("" when profiling
  // is off or nothing ran), and a reset (e.g. after warm-up runs). With profiling on, the
  // table is also printed to stderr when the executor is destroyed.
  std::string ProfileReport() const;
  void ResetProfile() const;

  struct Plan;

 private:
  Executor() = default;
  // threads <= 0: the executor's thread count.
  Result<std::shared_ptr<const Plan>> GetPlan(const std::vector<Shape>& shapes, int threads = 0) const;
  Result<std::shared_ptr<const Plan>> BuildPlan(const std::vector<Shape>& shapes, int threads) const;
  // The batch split of Run(); nullopt when it does not apply.
  Result<std::optional<std::vector<Tensor>>> RunSplitBatch(const std::vector<Tensor>& inputs) const;
  // Run after validation (batch split or one plan).
  Result<std::vector<Tensor>> RunValidated(const std::vector<Tensor>& inputs) const;
  Result<std::vector<Tensor>> Execute(const Plan& plan, const std::vector<Tensor>& inputs, bool keep_all) const;

  ir::Graph graph_;
  ExecutorOptions options_;
  const Backend* backend_ = nullptr;
  const Backend* ref_ = nullptr;
  int threads_ = 1;

  mutable std::mutex mu_;
  mutable std::map<std::vector<std::vector<int64_t>>, std::shared_ptr<const Plan>> plans_;
  std::unique_ptr<Profiler> profiler_;  // non-null iff $FK_PROFILE was set at Create
};

// Imports a model file into a graph; dispatches on the extension (.json: TF.js graph
// model; .onnx: Unsupported for now).
Result<ir::Graph> ImportModel(const std::string& path);

struct LoadOptions {
  ExecutorOptions exec;
  bool optimize = true;
  OptimizeOptions optimize_options;
};
// ImportModel + Optimize (when enabled) + Executor::Create.
Result<std::unique_ptr<Executor>> LoadExecutor(const std::string& path, const LoadOptions& options,
                                               OptimizeStats* stats = nullptr);

}  // namespace fk::engine
