// The CPU backend's op families (one .cpp per family in engine/cpu/), registered in the
// explicit table of cpu_backend.cpp. Private to src/engine/cpu/.
#pragma once

#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/ir/graph.h"
#include "facekit/status.h"

namespace fk::engine::cpu {

struct PlanArgs {
  const ir::Graph& graph;
  const ir::Node& node;
  const std::vector<TensorInfo>& inputs;
  const std::vector<TensorInfo>& outputs;
  const PlanOptions& options;
};

using SupportsFn = bool (*)(const ir::Graph&, const ir::Node&);
using PlanFn = Result<std::unique_ptr<Kernel>> (*)(const PlanArgs&);

// conv.cpp: Conv2D, DepthwiseConv2D (+bias, +fused activation).
bool SupportsConv(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanConv(const PlanArgs& a);
// matmul.cpp: MatMul (+transpose flags, bias, fused activation).
bool SupportsMatMul(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanMatMul(const PlanArgs& a);
// pool.cpp: MaxPool, AvgPool.
bool SupportsPool(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanPool(const PlanArgs& a);
// softmax.cpp: Softmax.
bool SupportsSoftmax(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanSoftmax(const PlanArgs& a);
// binary.cpp: Add, Sub, Mul, Div, Maximum, Minimum, SquaredDifference (broadcasting).
bool SupportsBinary(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanBinary(const PlanArgs& a);
// unary.cpp: element-wise unary ops oneDNN computes exactly (eltwise), and Prelu.
bool SupportsUnary(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanUnary(const PlanArgs& a);
// reduce.cpp: Mean, Sum, Max, Min, Prod over constant axes.
bool SupportsReduce(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanReduce(const PlanArgs& a);
// concat.cpp: Concat (any dtype).
bool SupportsConcat(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanConcat(const PlanArgs& a);

// pad.cpp: Pad (CONSTANT mode, constant non-negative paddings, float32).
bool SupportsPad(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanPad(const PlanArgs& a);
// reshape.cpp: Reshape, Squeeze, ExpandDims, Identity (a memcpy; the executor does not alias).
bool SupportsReshapeLike(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanReshapeLike(const PlanArgs& a);

// slice.cpp: StridedSlice, Slice with constant begin/end/strides (sizes); any dtype.
bool SupportsSlice(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanSlice(const PlanArgs& a);
// slice.cpp: Transpose with a constant perm (attribute or constant input); any dtype.
bool SupportsTranspose(const ir::Graph& graph, const ir::Node& node);
Result<std::unique_ptr<Kernel>> PlanTranspose(const PlanArgs& a);

// A kernel for outputs with zero elements: writes nothing.
std::unique_ptr<Kernel> MakeEmptyKernel();

}  // namespace fk::engine::cpu
