// Load-time graph rewrites. Each rewrite is one small function; Optimize() runs them in a
// fixed order until nothing changes. Every rewrite preserves the graph's results (checked
// numerically against the unoptimized graph on the ref backend in
// tests/engine/optimizer_test.cpp) and only fuses a value into its consumer when that value
// has a single consumer and is not a graph output.
#pragma once

#include <string>

#include "engine/ir/graph.h"
#include "facekit/status.h"

namespace fk::engine {

struct OptimizeOptions {
  bool fold_constants = true;     // nodes whose inputs are all constants -> constant (ref backend)
  bool remove_identity = true;    // Identity nodes
  bool fold_bias = true;          // Conv/DWConv/MatMul + Add/BiasAdd(per-channel const) -> bias
  bool fold_batchnorm = true;     // BatchNorm / Mul(per-channel const) (+Add) -> conv weights/bias
  bool fuse_activations = true;   // Relu/Relu6/Sigmoid/Tanh/LeakyRelu/Prelu/clip -> activation attr;
                                  // also Maximum(x,0) + alpha*Minimum(x,0) -> Prelu
  bool fold_pad = true;           // zero spatial Pad -> following conv's explicit pads

  static OptimizeOptions None() {
    OptimizeOptions o;
    o.fold_constants = o.remove_identity = o.fold_bias = o.fold_batchnorm = o.fuse_activations = o.fold_pad =
        false;
    return o;
  }
};

struct OptimizeStats {
  int constants_folded = 0;
  int identities_removed = 0;
  int biases_folded = 0;
  int batchnorms_folded = 0;
  int activations_fused = 0;
  int pads_folded = 0;
  int prelu_patterns_fused = 0;  // Maximum(x,0) + alpha*Minimum(x,0) -> Prelu
  std::string ToString() const;
};

// Rewrites `graph` in place (then compacts and validates it).
Status Optimize(ir::Graph* graph, const OptimizeOptions& options = {}, OptimizeStats* stats = nullptr);

// The individual rewrites (exposed for tests). Each returns the number of rewrites made;
// call graph->Compact() afterwards.
Result<int> FoldConstants(ir::Graph* graph);
int RemoveIdentities(ir::Graph* graph);
int FoldBias(ir::Graph* graph);
int FoldBatchNorm(ir::Graph* graph);
int FuseActivations(ir::Graph* graph);
int FoldPad(ir::Graph* graph);
int FusePreluPattern(ir::Graph* graph);

}  // namespace fk::engine
