// Per-op shape inference functions (engine/ops/<op>.cpp), dispatched by the one table in
// engine/ops/shape_inference.cpp. `out` is already sized to the node's output count and
// the input count has been checked against the table.
#pragma once

#include <vector>

#include "engine/ops/op_util.h"
#include "engine/ops/shape_inference.h"

namespace fk::ops {

using InferFn = Status (*)(const ir::Node& node, const std::vector<ValueInfo>& in,
                           std::vector<ValueInfo>* out);

// conv.cpp
Status InferConv2D(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferDepthwiseConv2D(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// conv.cpp (MatMul shares the fused bias/activation checks)
Status InferMatMul(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// elementwise.cpp
Status InferBinary(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferAddN(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferUnary(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferPrelu(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferSoftmax(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferBatchNorm(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// pool.cpp
Status InferPool(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// reduce.cpp
Status InferReduce(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// pad.cpp
Status InferPad(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// reshape.cpp (Reshape, Squeeze, ExpandDims, Identity, Cast, Shape)
Status InferReshape(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferSqueeze(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferExpandDims(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferIdentity(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferCast(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferShapeOp(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// slice.cpp (StridedSlice, Slice)
Status InferStridedSlice(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferSlice(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// concat.cpp (Concat, Pack, Tile, Gather, Transpose)
Status InferConcat(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferPack(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferTile(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferGather(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferTranspose(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
// resize.cpp (ResizeBilinear, ResizeNearest, DepthToSpace)
Status InferResize(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);
Status InferDepthToSpace(const ir::Node&, const std::vector<ValueInfo>&, std::vector<ValueInfo>*);

// Small helpers for the infer functions.
// Known int contents of input i (nullptr data -> false).
bool KnownInts(const std::vector<ValueInfo>& in, size_t i, std::vector<int64_t>* v);
Status ExpectRank(const ir::Node& node, const ValueInfo& v, const char* what, int rank);
// Merges two dims that must agree (-1 = unknown); false on conflict.
bool MergeDim(int64_t a, int64_t b, int64_t* out);
// Perm for Transpose (attr "perm", or input 1 data; empty attr = reverse).
Status TransposePerm(const ir::Node& node, int64_t rank, const Tensor* perm_input,
                     std::vector<int64_t>* perm);
// Inputs of Conv2D/DepthwiseConv2D/MatMul beyond the first two: bias index (-1 none),
// prelu alpha index (-1 none), and the expected input count.
struct FusedInputs {
  int bias = -1, alpha = -1, count = 2;
};
FusedInputs GetFusedInputs(const ir::Node& node);

}  // namespace fk::ops
