// Loading ONNX models (.onnx, protobuf ModelProto) into the IR.
//
// Contract:
//  - requires: `path` names a binary ONNX model (ir_version >= 3, default-domain opset
//    7..17) whose weights are stored inside the file (initializers, Constant nodes).
//  - ensures: on success, a validated ir::Graph in topological order, in facekit's NHWC
//    layout (docs/onnx.md):
//      * every 4-D float activation that ONNX holds as NCHW is held as NHWC; 4-D graph
//        inputs therefore take NHWC tensors (feed [N,H,W,C], not the ONNX [N,C,H,W]),
//        and 4-D graph outputs come out NHWC. Other ranks keep the ONNX order.
//      * Conv weights OIHW become HWIO; depthwise convs (group == C_in, weights
//        [C*mult,1,kh,kw]) become DepthwiseConv2D with [kh,kw,C,mult].
//      * axis attributes (Concat, Softmax, Reduce*, Slice, Split, Pad, Gather...) are
//        remapped; ops whose result depends on the memory order (Reshape, Flatten,
//        Transpose, Shape) see NCHW data (a Transpose is inserted only where needed), so
//        results equal the NCHW model's.
//      * int64 tensors (shapes, indices) become int32; float16/double weights float32.
//      * the batch (dim 0 of each input) is dynamic: Reshape shape constants that bake in
//        the exported batch are rewritten (rule at MakeBatchDynamic in onnx_loader.cpp).
//  - errors: NotFound (no file), DataLoss (not a parsable ModelProto, bad tensor sizes),
//    Unsupported (the FULL list of unsupported ops with counts; unsupported attribute
//    values naming the node; external-data weights; builds without libonnx-dev, with the
//    apt command that fixes it).
#pragma once

#include <string>
#include <vector>

#include "engine/ir/graph.h"
#include "facekit/status.h"

namespace fk::engine {

// What the import changed at the model boundary (for tools and docs).
struct OnnxImportInfo {
  int64_t opset = 0;                     // default-domain opset of the model
  std::vector<bool> input_was_nchw;      // per graph input: a 4-D ONNX NCHW input now NHWC
  std::vector<bool> output_was_nchw;     // per graph output: a 4-D NCHW output now NHWC
  std::vector<std::string> op_types;     // distinct ONNX op types, sorted
  int reshapes_made_dynamic = 0;         // Reshape constants rewritten for a dynamic batch
};

// True when this build can read ONNX (compiled with libonnx-dev + libprotobuf-dev).
bool OnnxSupportCompiled();

Result<ir::Graph> LoadOnnxModel(const std::string& path, OnnxImportInfo* info = nullptr);

}  // namespace fk::engine
