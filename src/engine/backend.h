// The backend interface: three verbs, like every backend in facekit.
//
//   Supports(node)  — can this backend run the node (op + attributes + dtypes)?
//   Plan(node, ...) — choose the algorithm once for concrete shapes (oneDNN primitive,
//                     cuDNN algo, packed weights); returns an immutable Kernel.
//   Kernel::Run     — execute on given buffers.
//
// Contracts:
//  - A Kernel is immutable after Plan and Run is const: the same Kernel may run
//    concurrently from several threads on different buffers (one loaded model serves
//    several threads). Scratch memory comes from the caller (workspace_bytes()).
//  - Inputs/outputs are dense row-major tensors in the IR layout (NHWC for 4-D
//    activations). Constant inputs (weights) are also visible at Plan time through
//    graph.value(id).constant so a backend may pre-pack them.
//  - Output tensors are preallocated by the executor with the planned shapes; the
//    kernel writes every element. Outputs never alias inputs unless the executor asks
//    for in-place (not yet).
//  - Backends are explicit objects, registered in an explicit table (engine/backends.cpp);
//    no self-registering statics.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/ir/graph.h"
#include "engine/pixel_transform.h"
#include "engine/warp_sample.h"
#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk::engine {

struct TensorInfo {
  DType dtype = DType::kFloat32;
  Shape shape;  // concrete at Plan time
};

struct PlanOptions {
  int num_threads = 1;  // threads a kernel may use inside one Run
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual size_t workspace_bytes() const { return 0; }
  // `inputs` in node input order (constants included), `outputs` preallocated.
  virtual Status Run(std::span<const Tensor> inputs, std::span<Tensor> outputs,
                     void* workspace) const = 0;
};

class Backend;

// ---- Optional: whole-graph execution on a device (docs/cuda.md, "Device-resident runs") ------
// After planning, the executor offers the planned graph to its backend; a backend that keeps
// data on a device (cuda) returns a GraphRunner that runs the whole graph in one call (inputs
// copied to the device once, outputs back once). Steps whose kernel is not the backend's own
// (ref fallback) are the runner's to handle. Backends without one return nullptr.
struct PlannedStep {
  int node = 0;                     // index into graph.nodes()
  const Backend* backend = nullptr;
  const Kernel* kernel = nullptr;   // owned by the executor's plan (outlives the runner)
};
struct PlannedGraph {
  const ir::Graph* graph = nullptr;
  std::vector<PlannedStep> steps;                // run order
  const std::vector<Tensor>* known = nullptr;    // per value: constants and plan-time values
  const std::vector<TensorInfo>* info = nullptr; // per value: concrete dtype and shape
  std::string mode;                              // backend-specific run mode (cuda: resident|graph)
};
class GraphRunner {
 public:
  virtual ~GraphRunner() = default;
  // `inputs` in graph-input order (already validated); `outputs` preallocated in graph-output
  // order with the planned shapes. Thread-safe (several concurrent calls).
  virtual Status Run(std::span<const Tensor> inputs, std::span<Tensor> outputs) const = 0;
  // Like Run with input i given as uint8 pixels of the input's shape, made float on the device
  // by `transforms[i]` (Model::RunPixels: a quarter of the bytes cross the bus). Unsupported when
  // the runner cannot; the executor then normalises on the host and calls Run.
  virtual Status RunPixels(std::span<const Tensor> pixels, std::span<const PixelTransform> transforms,
                           std::span<Tensor> outputs) const {
    (void)pixels, (void)transforms, (void)outputs;
    return Unsupported("this graph runner takes float inputs only");
  }
  // Like RunPixels for the single input, its pixels being crops of `images` cut on the device
  // (Model::RunWarps; engine/warp_sample.h has the arithmetic, the host's reference). Inputs are
  // validated by the executor. Unsupported when the runner cannot; the executor then cuts the
  // crops on the host and calls RunPixels. `crops_out` (may be null): host bytes (N*H*W*3) that
  // receive the 8-bit crops.
  virtual Status RunWarps(std::span<const WarpSource> images, std::span<const WarpDesc> crops,
                          const PixelTransform& transform, std::span<Tensor> outputs, uint8_t* crops_out) const {
    (void)images, (void)crops, (void)transform, (void)outputs, (void)crops_out;
    return Unsupported("this graph runner cuts no crops");
  }
  // One line for `facekit inspect` / logs (mode, steps on the device, host round trips).
  virtual std::string Describe() const { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Optional whole-graph runner (see above); nullptr = run node by node.
  virtual Result<std::unique_ptr<GraphRunner>> CreateGraphRunner(const PlannedGraph&) const {
    return std::unique_ptr<GraphRunner>();
  }
  virtual const char* name() const = 0;
  virtual bool Supports(const ir::Graph& graph, const ir::Node& node) const = 0;
  virtual Result<std::unique_ptr<Kernel>> Plan(const ir::Graph& graph, const ir::Node& node,
                                               const std::vector<TensorInfo>& inputs,
                                               const std::vector<TensorInfo>& outputs,
                                               const PlanOptions& options) const = 0;
};

// Backends compiled into this build: "ref" always; "cpu" with oneDNN; "cuda" with FK_CUDA.
// Returns nullptr for unknown or not-compiled names.
const Backend* GetBackend(const std::string& name);
std::vector<std::string> AvailableBackends();

// The "cuda" backend bound to GPU `gpu_index` with `precision` (fp32 | tf32 | fp16 | auto), with
// the GPU memory pool limit applied when one is given (the pool is per GPU and process-wide: the
// last limit set wins; 0/0 leaves it unchanged). Unavailable with the reason in a build without
// CUDA or when the GPU is unusable. "auto" here is the non-fp16 choice: tf32 on GPUs with TF32
// tensor cores (compute capability >= 8), else fp32; Model::Load tries fp16 first for "auto"
// (accuracy check, docs/cuda.md "Precision").
Result<const Backend*> GetCudaBackend(int gpu_index, const std::string& precision,
                                      int64_t memory_limit_bytes, double memory_limit_fraction);
// Compute capability of visible GPU `gpu_index` as major*10+minor (e.g. 90), or the reason the
// GPU is unusable (Unavailable; also in a build without CUDA).
Result<int> CudaComputeCapability(int gpu_index);

}  // namespace fk::engine
