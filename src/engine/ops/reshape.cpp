// Shape inference: Reshape, Squeeze, ExpandDims, Identity, Cast, Shape.
#include "engine/ops/infer_fns.h"

namespace fk::ops {

// Reshape: x, shape int32 (at most one -1). A 0 in `shape` is a literal 0 (TF); with
// attr onnx_zero_copy=1 it copies the input dim at that position (ONNX allowzero=0).
Status InferReshape(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  std::vector<int64_t> s;
  if (!KnownInts(in, 1, &s)) {
    const int64_t n = in[1].shape.num_elements();
    if (n < 0) return NodeError(node, "target shape is unknown and its length is unknown");
    (*out)[0] = ValueInfo(in[0].dtype, Shape(std::vector<int64_t>(static_cast<size_t>(n), -1)));
    return OkStatus();
  }
  const bool zero_copy = node.attrs.i("onnx_zero_copy") != 0;
  int infer_at = -1;
  int64_t known = 1;
  bool any_unknown = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0 && zero_copy) {
      if (static_cast<int>(i) >= x.rank())
        return NodeError(node, "shape[" + std::to_string(i) + "]=0 copies a dim the input (rank " +
                                   std::to_string(x.rank()) + ") does not have");
      s[i] = x[static_cast<int>(i)];
      if (s[i] < 0) {
        any_unknown = true;
        continue;
      }
    }
    if (s[i] == -1) {
      if (infer_at >= 0) return NodeError(node, "target shape has more than one -1");
      infer_at = static_cast<int>(i);
      continue;
    }
    if (s[i] < 0) return NodeError(node, "target shape has a negative dim " + std::to_string(s[i]));
    known *= s[i];
  }
  const int64_t total = x.num_elements();
  if (infer_at >= 0) {
    if (total < 0 || any_unknown) {
      s[static_cast<size_t>(infer_at)] = -1;
    } else if (known == 0 || total % known != 0) {
      return NodeError(node, "cannot reshape " + x.ToString() + " (" + std::to_string(total) +
                                 " elements) to a shape with " + std::to_string(known) +
                                 " known elements and one -1");
    } else {
      s[static_cast<size_t>(infer_at)] = total / known;
    }
  } else if (total >= 0 && !any_unknown && total != known) {
    return NodeError(node, "cannot reshape " + x.ToString() + " (" + std::to_string(total) +
                               " elements) to " + Shape(s).ToString() + " (" + std::to_string(known) + ")");
  }
  (*out)[0] = ValueInfo(in[0].dtype, Shape(s));
  return OkStatus();
}

Status InferSqueeze(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  const auto axes = node.attrs.ints("axes");
  std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
  if (axes.empty()) {
    for (int i = 0; i < x.rank(); ++i) drop[static_cast<size_t>(i)] = x[i] == 1;
  } else {
    for (int64_t a : axes) {
      const int64_t n = NormalizeAxis(a, x.rank());
      if (n < 0) return NodeError(node, "axis " + std::to_string(a) + " out of range for " + x.ToString());
      if (x[static_cast<int>(n)] > 1)
        return NodeError(node, "cannot squeeze dim " + std::to_string(a) + " of size " +
                                   std::to_string(x[static_cast<int>(n)]));
      drop[static_cast<size_t>(n)] = true;
    }
  }
  std::vector<int64_t> d;
  for (int i = 0; i < x.rank(); ++i)
    if (!drop[static_cast<size_t>(i)]) d.push_back(x[i]);
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

// ExpandDims: axis is input 1 (scalar or [1]); attr "axis" is accepted when there is no input 1.
Status InferExpandDims(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  std::vector<int64_t> ax;
  if (in.size() < 2) {
    if (!node.attrs.has("axis")) return NodeError(node, "needs the axis as input 1 or attribute 'axis'");
    ax = {node.attrs.i("axis")};
  } else if (!KnownInts(in, 1, &ax)) {
    (*out)[0] = ValueInfo(in[0].dtype, Shape(std::vector<int64_t>(static_cast<size_t>(x.rank() + 1), -1)));
    return OkStatus();
  }
  if (ax.size() != 1) return NodeError(node, "axis must be a single value");
  const int64_t a = NormalizeAxis(ax[0], x.rank() + 1);
  if (a < 0) return NodeError(node, "axis " + std::to_string(ax[0]) + " out of range for " + x.ToString());
  std::vector<int64_t> d = x.dims();
  d.insert(d.begin() + a, 1);
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

Status InferIdentity(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  (*out)[0] = ValueInfo(in[0].dtype, in[0].shape);
  return OkStatus();
}

// Cast: dst_dtype attr holds the fk::DType enum value.
Status InferCast(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const int64_t t = node.attrs.i("dst_dtype", -1);
  if (t < 0 || t > static_cast<int64_t>(DType::kInt64))
    return NodeError(node, "attribute dst_dtype must be a DType value (0 float32, 1 int32, 2 uint8, 3 int64), got " +
                               std::to_string(t));
  (*out)[0] = ValueInfo(static_cast<DType>(t), in[0].shape);
  return OkStatus();
}

// Shape: int32 [rank]; the contents are known when the input shape is fully defined.
Status InferShapeOp(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  (*out)[0] = ValueInfo(DType::kInt32, Shape{x.rank()});
  if (x.is_fully_defined()) {
    Tensor t(DType::kInt32, Shape{x.rank()});
    for (int i = 0; i < x.rank(); ++i) t.data<int32_t>()[i] = static_cast<int32_t>(x[i]);
    (*out)[0].SetComputed(t);
  }
  return OkStatus();
}

}  // namespace fk::ops
