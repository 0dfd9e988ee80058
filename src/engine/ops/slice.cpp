// Shape inference: StridedSlice (TF semantics, see ComputeStridedSlice) and Slice
// (begin, size inputs; size -1 = to the end).
#include "engine/ops/infer_fns.h"

namespace fk::ops {

Status InferStridedSlice(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  std::vector<int64_t> b, e, s;
  const bool known = KnownInts(in, 1, &b) && KnownInts(in, 2, &e) && KnownInts(in, 3, &s);
  int64_t sparse = in[1].shape.num_elements();
  if (known) sparse = static_cast<int64_t>(b.size());
  if (sparse < 0) return NodeError(node, "the length of 'begin' is unknown");
  StridedSliceSpec spec;
  FK_RETURN_IF_ERROR(ComputeStridedSlice(node, in[0].shape, sparse, known ? &b : nullptr,
                                         known ? &e : nullptr, known ? &s : nullptr, &spec));
  (*out)[0] = ValueInfo(in[0].dtype, Shape(spec.final_shape));
  return OkStatus();
}

Status InferSlice(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  std::vector<int64_t> b, sz;
  if (!KnownInts(in, 1, &b) || !KnownInts(in, 2, &sz)) {
    (*out)[0] = ValueInfo(in[0].dtype, Shape(std::vector<int64_t>(static_cast<size_t>(x.rank()), -1)));
    return OkStatus();
  }
  if (static_cast<int>(b.size()) != x.rank() || static_cast<int>(sz.size()) != x.rank())
    return NodeError(node, "begin and size must have " + std::to_string(x.rank()) + " values (input " +
                               x.ToString() + ")");
  std::vector<int64_t> d(static_cast<size_t>(x.rank()));
  for (int i = 0; i < x.rank(); ++i) {
    const size_t u = static_cast<size_t>(i);
    if (b[u] < 0 || (x[i] >= 0 && b[u] > x[i]))
      return NodeError(node, "begin[" + std::to_string(i) + "]=" + std::to_string(b[u]) + " out of range for " +
                                 x.ToString());
    if (sz[u] == -1) {
      d[u] = x[i] < 0 ? -1 : x[i] - b[u];
    } else {
      if (sz[u] < 0 || (x[i] >= 0 && b[u] + sz[u] > x[i]))
        return NodeError(node, "size[" + std::to_string(i) + "]=" + std::to_string(sz[u]) + " out of range for " +
                                   x.ToString() + " at begin " + std::to_string(b[u]));
      d[u] = sz[u];
    }
  }
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

}  // namespace fk::ops
