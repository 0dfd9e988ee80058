// Loading TensorFlow.js graph models (model.json + weight shards) into the IR.
//
// Contract:
//  - requires: `model_json_path` names a TF.js "graph-model" model.json; its weight
//    shards (weightsManifest[].paths) live next to it.
//  - ensures: on success, a validated ir::Graph in topological order whose values keep the
//    TF node names (so users and `facekit bisect` can refer to nodes). Quantized weights
//    (uint8/uint16/float16) are dequantized to float32; int32 weights stay int32.
//  - errors: NotFound (missing model.json or shard), DataLoss (bad JSON, truncated shard,
//    weight/shape size mismatch; the message names the file and the weight),
//    Unsupported (the FULL list of unsupported ops / attribute values, with node counts;
//    the model is refused at load, never halfway through a run).
//
// Dynamic batch (see the rule at MakeBatchDynamic in tfjs_loader.cpp): dim 0 of every
// 4-D/2-D graph input becomes -1, and Reshape shape constants that bake in the declared
// batch are rewritten, so every model runs with batch N.
#pragma once

#include <string>

#include "engine/ir/graph.h"
#include "facekit/status.h"

namespace fk::engine {

Result<ir::Graph> LoadTfjsGraphModel(const std::string& model_json_path);

// Runs shape inference over `graph` (inputs' shapes as stored, -1 kept) and stores the
// inferred dtype/shape in every non-constant value. Used after import and rewrites.
Status InferGraphShapes(ir::Graph* graph);

// IEEE half -> float (exposed for tests).
float HalfToFloat(uint16_t h);

}  // namespace fk::engine
