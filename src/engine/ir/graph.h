// facekit's graph IR.
//
// A Graph is a list of Values (tensors: graph inputs, constants, node outputs)
// and a list of Nodes in topological order. Layout is NHWC for all 4-D
// activations; importers of NCHW formats (ONNX) convert at import.
//
// Shapes stored in Values may contain -1 (unknown, typically the batch). The
// executor re-runs shape inference with concrete input shapes when it plans
// a run (engine/ops/shape_inference.h); int32 shape computations
// (Shape -> StridedSlice -> Pack -> Reshape) are evaluated then.
//
// Attributes (all optional unless the op's shape inference says so):
//   Conv2D/DepthwiseConv2D: strides [sh,sw], dilations [dh,dw], padding "SAME"|"VALID"|"EXPLICIT",
//     explicit_pads [top,bottom,left,right], activation (see Activation), clip_min, clip_max,
//     leaky_alpha. Fused bias is input 2 when has_bias=1; Prelu alpha is the last input
//     when activation == "prelu".
//   MatMul: transpose_a, transpose_b (0/1), has_bias, activation as above.
//   MaxPool/AvgPool: ksize [kh,kw], strides [sh,sw], padding, explicit_pads.
//   Softmax: axis (default -1).  Mean/Sum/Max/Min/Prod: keep_dims; axes are input 1.
//   Pad: constant_value (float), mode "CONSTANT"|"REFLECT"|"SYMMETRIC"; paddings are input 1.
//   Squeeze: axes (empty = all size-1 dims). ExpandDims: axis is input 1.
//   Concat: axis (attr, resolved at import). StridedSlice: begin_mask, end_mask, ellipsis_mask,
//     new_axis_mask, shrink_axis_mask; begin/end/strides are inputs 1..3.
//   Slice: begin, size are inputs 1..2. Transpose: perm (attr). Pack: axis. Cast: dst_dtype.
//   Gather: axis; indices are input 1. Tile: multiples input 1.
//   ResizeBilinear/ResizeNearest: align_corners, half_pixel_centers; size is input 1.
//   DepthToSpace: block_size. LeakyRelu: alpha. Elu: alpha. Clip: clip_min, clip_max.
//   BatchNorm: epsilon.
//   (ops helper, additive:) Reshape: onnx_zero_copy (1 = a 0 in the shape copies the input dim,
//     ONNX allowzero=0; default TF: 0 is a literal 0). Cast: dst_dtype is an int64 holding the
//     fk::DType enum value. ExpandDims: attr axis is accepted when there is no input 1.
//     Transpose: perm may also come from a known input 1; no perm = reverse the dims.
//     Strides/dilations/ksize may also be given NHWC [1,s,s,1]; explicit_pads also as NHWC
//     [0,0,t,b,l,r,0,0]. LeakyRelu alpha defaults to 0.2, Elu alpha to 1, BatchNorm epsilon
//     to 0.001. int32 Div truncates toward zero.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/ir/op_list.h"
#include "facekit/tensor.h"

namespace fk::ir {

enum class OpType {
#define FK_OP_ENUM_(name) k##name,
  FK_OP_LIST(FK_OP_ENUM_)
#undef FK_OP_ENUM_
      kCount
};

const char* OpTypeName(OpType op);
std::optional<OpType> OpTypeFromName(const std::string& name);

// Fused activation on Conv2D / DepthwiseConv2D / MatMul.
enum class Activation { kNone, kRelu, kRelu6, kPrelu, kClip, kSigmoid, kTanh, kLeakyRelu, kElu };
const char* ActivationName(Activation a);
std::optional<Activation> ActivationFromName(const std::string& name);

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;

class Attrs {
 public:
  bool has(const std::string& k) const { return m_.count(k) != 0; }
  void set(const std::string& k, AttrValue v) { m_[k] = std::move(v); }
  void erase(const std::string& k) { m_.erase(k); }
  int64_t i(const std::string& k, int64_t def = 0) const;
  float f(const std::string& k, float def = 0.f) const;
  std::string s(const std::string& k, const std::string& def = "") const;
  std::vector<int64_t> ints(const std::string& k, std::vector<int64_t> def = {}) const;
  std::vector<float> floats(const std::string& k, std::vector<float> def = {}) const;
  const std::map<std::string, AttrValue>& all() const { return m_; }

 private:
  std::map<std::string, AttrValue> m_;
};

using ValueId = int;
using NodeId = int;
constexpr ValueId kNoValue = -1;

struct Value {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;          // may contain -1
  Tensor constant;      // non-empty iff this value is a constant (weights, shape constants)
  NodeId producer = -1; // -1 for graph inputs and constants
  bool is_constant() const { return !constant.empty(); }
};

struct Node {
  std::string name;  // unique; from the source model where possible
  OpType op;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Attrs attrs;
  // Activation fused into this node (Conv2D, DepthwiseConv2D, MatMul).
  Activation activation() const;
};

class Graph {
 public:
  ValueId AddValue(Value v);
  ValueId AddConstant(const std::string& name, Tensor t);
  // Adds a node and sets the producer of its outputs. Returns its id.
  NodeId AddNode(Node n);

  std::vector<Value>& values() { return values_; }
  const std::vector<Value>& values() const { return values_; }
  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  Value& value(ValueId id) { return values_[static_cast<size_t>(id)]; }
  const Value& value(ValueId id) const { return values_[static_cast<size_t>(id)]; }

  std::vector<ValueId>& inputs() { return inputs_; }
  const std::vector<ValueId>& inputs() const { return inputs_; }
  std::vector<ValueId>& outputs() { return outputs_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }

  std::optional<ValueId> FindValue(const std::string& name) const;

  // Removes nodes not needed for the outputs and values no longer referenced,
  // re-sorts nodes topologically and renumbers ids. Call after rewrites.
  Status Compact();
  // Number of consumers (nodes + graph outputs) of each value.
  std::vector<int> UseCounts() const;
  // Checks ids, topological order, producers. Returns the first problem found.
  Status Validate() const;
  // Human-readable dump (one line per node), for debugging and `facekit inspect`.
  std::string ToString() const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> inputs_;
  std::vector<ValueId> outputs_;
};

}  // namespace fk::ir
