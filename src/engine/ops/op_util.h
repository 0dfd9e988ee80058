// Helpers shared by shape inference (engine/ops/) and the reference kernels
// (engine/ref/): error messages naming the node, attribute parsing for windowed ops,
// broadcasting, axis normalisation and the StridedSlice spec. Internal to the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/ir/graph.h"
#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk::ops {

// "node 'conv1' (Conv2D)".
std::string NodeLabel(const ir::Node& node);
// InvalidArgument("node 'conv1' (Conv2D): <msg>").
Status NodeError(const ir::Node& node, const std::string& msg);

// Contents of an integer (or float, truncated) tensor as int64.
std::vector<int64_t> TensorToInts(const Tensor& t);

// numpy broadcasting of two shapes; -1 (unknown) broadcasts against 1 to -1 and against
// n to n. Returns false when the shapes are incompatible.
bool BroadcastShapes(const Shape& a, const Shape& b, Shape* out);

// Normalises a possibly negative axis into [0, rank); returns -1 when out of range.
int64_t NormalizeAxis(int64_t axis, int64_t rank);

// Geometry of Conv2D / DepthwiseConv2D / MaxPool / AvgPool (NHWC).
struct Window {
  int64_t kh = 1, kw = 1;    // kernel (for convs: filter size, not dilated)
  int64_t sh = 1, sw = 1;    // strides
  int64_t dh = 1, dw = 1;    // dilations
  std::string padding = "VALID";
  int64_t ex_top = 0, ex_bottom = 0, ex_left = 0, ex_right = 0;  // EXPLICIT pads
};
// Reads strides/dilations/padding/explicit_pads (and ksize when `pool`) from the node.
// Accepts [sh,sw] or NHWC [1,sh,sw,1] forms and explicit_pads [t,b,l,r] or NHWC
// [0,0,t,b,l,r,0,0].
Status ReadWindow(const ir::Node& node, bool pool, Window* w);
// A convolution's window: ReadWindow plus the size from the filter's shape [kh, kw, ...] (dims
// may be unknown, -1, during shape inference). Every convolution (ref, cpu, cuda, shape
// inference) reads its window here, so none can forget the size.
Status ReadConvWindow(const ir::Node& node, const Shape& filter, Window* w);
struct WindowOut {
  int64_t oh = -1, ow = -1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
};
WindowOut ComputeWindow(const Window& w, int64_t in_h, int64_t in_w);

// Reduction axes -> mask over `rank` dims. Fails on out-of-range axes.
Status ReduceMask(const ir::Node& node, int64_t rank, const std::vector<int64_t>& axes,
                  std::vector<bool>* mask);

// TF StridedSlice, resolved against a concrete or partially known input shape.
// Per input dim: begin, stride and the number of elements taken (size, -1 if unknown).
// final_shape is the op's output shape (shrunk dims removed, new axes inserted).
struct StridedSliceSpec {
  std::vector<int64_t> begin, stride, size;
  std::vector<int64_t> final_shape;
};
// begin/end/strides may be empty when unknown (then only the rank and the masked dims
// are resolved; others are -1). `sparse_dims` is the length of begin/end/strides.
Status ComputeStridedSlice(const ir::Node& node, const Shape& in, int64_t sparse_dims,
                           const std::vector<int64_t>* begin, const std::vector<int64_t>* end,
                           const std::vector<int64_t>* strides, StridedSliceSpec* spec);

// TF Slice against a concrete input shape: one begin and size per input dim, size -1 = to
// the end (resolved in place). A negative or out-of-range slice is an error naming the dim.
Status ResolveSlice(const ir::Node& node, const Shape& in, const std::vector<int64_t>& begin,
                    std::vector<int64_t>* size);

// StridedSlice, Slice and Transpose as a strided walk of the input, which the CPU and CUDA
// backends both run: `dims` row-major over the output (input rank), `steps` input elements per
// step of each dim (negative for reversed slices), `offset` the input element of output element 0.
// Bounds / perm come from the node's constant inputs (Unsupported when one is not a constant);
// InvalidArgument when the walk disagrees with the planned output shape `ys`.
struct GatherWalk {
  std::vector<int64_t> dims, steps;
  int64_t offset = 0;
};
Result<GatherWalk> ResolveGatherWalk(const ir::Graph& graph, const ir::Node& node, const Shape& xs, const Shape& ys);

// Row-major strides of a shape (in elements).
std::vector<int64_t> RowStrides(const Shape& s);

}  // namespace fk::ops
