// Reference kernels (engine/ref/<op>.cpp): plain loops, one function per op or family.
// Each reads its attributes from the node and its geometry from the actual tensors, and
// writes every element of the preallocated outputs (shapes from shape inference).
// Internal to the engine: ref_backend.cpp registers them in one table, and shape
// inference uses them to fold small int32 shape computations.
#pragma once

#include <span>

#include "engine/ir/graph.h"
#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk::engine::ref {

using RefFn = Status (*)(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out);

// The kernel for an op, or nullptr (ref_backend.cpp).
RefFn RefKernelFn(ir::OpType op);

// conv.cpp
Status Conv2D(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status DepthwiseConv2D(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// matmul.cpp
Status MatMul(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// binary.cpp (all binary ops and AddN)
Status Binary(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status AddN(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// unary.cpp (unary ops, Prelu)
Status Unary(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status Prelu(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// softmax.cpp
Status Softmax(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// pool.cpp
Status Pool(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// reduce.cpp
Status Reduce(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// pad.cpp
Status Pad(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// shape_ops.cpp (Reshape, Squeeze, ExpandDims, Identity: copy; Shape; Cast)
Status Copy(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status ShapeOp(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status Cast(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// slice.cpp (StridedSlice, Slice)
Status StridedSlice(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status Slice(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// concat.cpp (Concat, Pack, Tile, Gather, Transpose)
Status Concat(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status Pack(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status Tile(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status Gather(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status Transpose(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// resize.cpp (ResizeBilinear, ResizeNearest, DepthToSpace)
Status ResizeBilinear(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status ResizeNearest(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
Status DepthToSpace(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);
// batch_norm.cpp
Status BatchNorm(const ir::Node&, std::span<const Tensor>, std::span<Tensor>);

// activation.cpp: the fused activation of Conv2D/DepthwiseConv2D/MatMul applied in place
// to `y` (last axis = channels). `alpha` is the prelu alpha tensor (C or 1 values) or null.
Status ApplyFusedActivation(const ir::Node& node, Tensor* y, const Tensor* alpha);
// Checks that out[0] has the expected shape (guards against an executor planning bug).
Status CheckOutShape(const ir::Node& node, const Tensor& out, const Shape& want);

}  // namespace fk::engine::ref
