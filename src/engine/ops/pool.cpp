// Shape inference: MaxPool / AvgPool (NHWC; ksize, strides, padding, explicit_pads).
#include "engine/ops/infer_fns.h"

namespace fk::ops {

Status InferPool(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  FK_RETURN_IF_ERROR(ExpectRank(node, in[0], "input", 4));
  if (in[0].dtype != DType::kFloat32) return NodeError(node, "input must be float32");
  if (!node.attrs.has("ksize")) return NodeError(node, "missing attribute 'ksize'");
  Window w;
  FK_RETURN_IF_ERROR(ReadWindow(node, true, &w));
  const Shape& x = in[0].shape;
  const WindowOut o = ComputeWindow(w, x[1], x[2]);
  (*out)[0] = ValueInfo(DType::kFloat32, Shape{x[0], o.oh, o.ow, x[3]});
  return OkStatus();
}

}  // namespace fk::ops
