// Shape inference: Mean/Sum/Max/Min/Prod over the axes in input 1 (int32 scalar or 1-D,
// negative allowed), keep_dims attr. Unknown axes: rank is still derived from the axes
// count, every dim is -1.
#include "engine/ops/infer_fns.h"

namespace fk::ops {

Status InferReduce(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  const bool keep = node.attrs.i("keep_dims") != 0;
  if (in[0].dtype != DType::kFloat32 && in[0].dtype != DType::kInt32)
    return NodeError(node, std::string("supports float32 and int32, got ") + DTypeName(in[0].dtype));
  std::vector<int64_t> axes;
  if (!KnownInts(in, 1, &axes)) {
    const int64_t na = in[1].shape.num_elements();
    std::vector<int64_t> d;
    if (keep) {
      d.assign(static_cast<size_t>(x.rank()), -1);
    } else if (na >= 0 && na <= x.rank()) {
      d.assign(static_cast<size_t>(x.rank() - na), -1);
    } else {
      return NodeError(node, "reduction axes are unknown and their count is unknown; cannot infer the rank");
    }
    (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
    return OkStatus();
  }
  std::vector<bool> mask;
  FK_RETURN_IF_ERROR(ReduceMask(node, x.rank(), axes, &mask));
  std::vector<int64_t> d;
  for (int i = 0; i < x.rank(); ++i) {
    if (mask[static_cast<size_t>(i)]) {
      if (keep) d.push_back(1);
    } else {
      d.push_back(x[i]);
    }
  }
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

}  // namespace fk::ops
