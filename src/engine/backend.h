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

class Backend {
 public:
  virtual ~Backend() = default;
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

}  // namespace fk::engine
