// Shape inference: binary element-wise ops (numpy broadcasting), AddN, unary ops, Prelu,
// Softmax and BatchNorm — all keep the input's dtype and (broadcast) shape.
#include <algorithm>

#include "engine/ops/infer_fns.h"

namespace fk::ops {

Status InferBinary(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  if (in[0].dtype != in[1].dtype)
    return NodeError(node, std::string("input dtypes differ: ") + DTypeName(in[0].dtype) + " vs " +
                               DTypeName(in[1].dtype));
  if (in[0].dtype != DType::kFloat32 && in[0].dtype != DType::kInt32)
    return NodeError(node, std::string("supports float32 and int32, got ") + DTypeName(in[0].dtype));
  Shape s;
  if (!BroadcastShapes(in[0].shape, in[1].shape, &s))
    return NodeError(node, "shapes " + in[0].shape.ToString() + " and " + in[1].shape.ToString() +
                               " cannot be broadcast");
  (*out)[0] = ValueInfo(in[0].dtype, s);
  return OkStatus();
}

Status InferAddN(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  Shape s = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].dtype != in[0].dtype) return NodeError(node, "all inputs must have the same dtype");
    if (in[i].shape.rank() != s.rank())
      return NodeError(node, "input " + std::to_string(i) + " shape " + in[i].shape.ToString() + " != " +
                                 s.ToString());
    for (int d = 0; d < s.rank(); ++d)
      if (!MergeDim(s[d], in[i].shape[d], &s[d]))
        return NodeError(node, "input " + std::to_string(i) + " shape " + in[i].shape.ToString() +
                                   " != " + in[0].shape.ToString());
  }
  (*out)[0] = ValueInfo(in[0].dtype, s);
  return OkStatus();
}

Status InferUnary(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const DType t = in[0].dtype;
  const bool int_ok = node.op == ir::OpType::kAbs || node.op == ir::OpType::kNeg ||
                      node.op == ir::OpType::kSquare || node.op == ir::OpType::kRelu;
  if (t != DType::kFloat32 && !(int_ok && t == DType::kInt32))
    return NodeError(node, std::string("unsupported dtype ") + DTypeName(t));
  (*out)[0] = ValueInfo(t, in[0].shape);
  return OkStatus();
}

Status InferPrelu(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  if (in[0].dtype != DType::kFloat32 || in[1].dtype != DType::kFloat32)
    return NodeError(node, "x and alpha must be float32");
  Shape s;
  if (!BroadcastShapes(in[0].shape, in[1].shape, &s) || s.rank() != in[0].shape.rank())
    return NodeError(node, "alpha shape " + in[1].shape.ToString() + " does not broadcast to x shape " +
                               in[0].shape.ToString());
  (*out)[0] = ValueInfo(DType::kFloat32, in[0].shape);
  return OkStatus();
}

Status InferSoftmax(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  if (in[0].dtype != DType::kFloat32) return NodeError(node, "input must be float32");
  const int64_t r = in[0].shape.rank();
  if (r == 0 || NormalizeAxis(node.attrs.i("axis", -1), r) < 0)
    return NodeError(node, "axis " + std::to_string(node.attrs.i("axis", -1)) + " out of range for shape " +
                               in[0].shape.ToString());
  (*out)[0] = ValueInfo(DType::kFloat32, in[0].shape);
  return OkStatus();
}

// BatchNorm: x, scale, offset, mean, variance (each C values or 1), over the last axis.
Status InferBatchNorm(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  if (x.rank() == 0) return NodeError(node, "input must have rank >= 1");
  const int64_t c = x[x.rank() - 1];
  static const char* kNames[] = {"x", "scale", "offset", "mean", "variance"};
  for (size_t i = 0; i < 5; ++i) {
    if (in[i].dtype != DType::kFloat32) return NodeError(node, std::string(kNames[i]) + " must be float32");
    if (i == 0) continue;
    const int64_t n = in[i].shape.num_elements();
    if (n >= 0 && c >= 0 && n != c && n != 1)
      return NodeError(node, std::string(kNames[i]) + " has " + std::to_string(n) + " values, expected " +
                                 std::to_string(c) + " (last axis of x)");
  }
  (*out)[0] = ValueInfo(DType::kFloat32, x);
  return OkStatus();
}

}  // namespace fk::ops
