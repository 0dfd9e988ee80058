// Shape and dtype inference for every IR op (one function per op in engine/ops/<op>.cpp,
// dispatched through one table). Used by importers (with -1 for unknown dims), by the
// optimizer, and by the executor at plan time with concrete input shapes.
#pragma once

#include <vector>

#include "engine/ir/graph.h"

namespace fk::ops {

struct ValueInfo {
  DType dtype = DType::kFloat32;
  Shape shape;                      // may contain -1
  const Tensor* data = nullptr;     // known contents (constants, or int32 shape values
                                    // evaluated at plan time); nullptr if unknown
};

// Infers dtype and shape of each output of `node`. `outputs` is resized to the node's
// output count. Returns InvalidArgument naming the node on inconsistent inputs
// (e.g. "node 'conv1' (Conv2D): input channels 3 != filter channels 4").
Status InferShapes(const ir::Node& node, const std::vector<ValueInfo>& inputs,
                   std::vector<ValueInfo>* outputs);

// SAME/VALID/EXPLICIT padding for one spatial dim, TF semantics (SAME puts the extra
// pixel at the end). Returns the output size; writes pad_before/pad_after.
int64_t ConvOutputSize(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                       const std::string& padding, int64_t explicit_before, int64_t explicit_after,
                       int64_t* pad_before, int64_t* pad_after);

}  // namespace fk::ops
