// Shape inference: Concat, Pack, Tile, Gather, Transpose.
#include "engine/ops/infer_fns.h"

namespace fk::ops {

Status InferConcat(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const int r = in[0].shape.rank();
  const int64_t axis = NormalizeAxis(node.attrs.i("axis"), r);
  if (axis < 0)
    return NodeError(node, "axis " + std::to_string(node.attrs.i("axis")) + " out of range for rank " +
                               std::to_string(r));
  Shape s = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i) {
    const Shape& t = in[i].shape;
    if (in[i].dtype != in[0].dtype) return NodeError(node, "all inputs must have the same dtype");
    if (t.rank() != r)
      return NodeError(node, "input " + std::to_string(i) + " rank " + std::to_string(t.rank()) + " != " +
                                 std::to_string(r));
    for (int d = 0; d < r; ++d) {
      if (d == axis) {
        s[d] = (s[d] < 0 || t[d] < 0) ? -1 : s[d] + t[d];
      } else if (!MergeDim(s[d], t[d], &s[d])) {
        return NodeError(node, "input " + std::to_string(i) + " shape " + t.ToString() + " does not match " +
                                   in[0].shape.ToString() + " outside axis " + std::to_string(axis));
      }
    }
  }
  (*out)[0] = ValueInfo(in[0].dtype, s);
  return OkStatus();
}

Status InferPack(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  Shape s = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].dtype != in[0].dtype) return NodeError(node, "all inputs must have the same dtype");
    if (in[i].shape.rank() != s.rank())
      return NodeError(node, "input " + std::to_string(i) + " shape " + in[i].shape.ToString() + " != " +
                                 in[0].shape.ToString());
    for (int d = 0; d < s.rank(); ++d)
      if (!MergeDim(s[d], in[i].shape[d], &s[d]))
        return NodeError(node, "input " + std::to_string(i) + " shape " + in[i].shape.ToString() + " != " +
                                   in[0].shape.ToString());
  }
  const int64_t axis = NormalizeAxis(node.attrs.i("axis"), s.rank() + 1);
  if (axis < 0) return NodeError(node, "axis " + std::to_string(node.attrs.i("axis")) + " out of range");
  std::vector<int64_t> d = s.dims();
  d.insert(d.begin() + axis, static_cast<int64_t>(in.size()));
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

Status InferTile(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  std::vector<int64_t> m;
  if (!KnownInts(in, 1, &m)) {
    (*out)[0] = ValueInfo(in[0].dtype, Shape(std::vector<int64_t>(static_cast<size_t>(x.rank()), -1)));
    return OkStatus();
  }
  if (static_cast<int>(m.size()) != x.rank())
    return NodeError(node, "multiples must have " + std::to_string(x.rank()) + " values, got " +
                               std::to_string(m.size()));
  std::vector<int64_t> d(static_cast<size_t>(x.rank()));
  for (int i = 0; i < x.rank(); ++i) {
    if (m[static_cast<size_t>(i)] < 0) return NodeError(node, "multiples must be >= 0");
    d[static_cast<size_t>(i)] = x[i] < 0 ? -1 : x[i] * m[static_cast<size_t>(i)];
  }
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

// Gather: params, indices (int32); output = params[:axis] + indices.shape + params[axis+1:].
Status InferGather(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& p = in[0].shape;
  if (in[1].dtype != DType::kInt32 && in[1].dtype != DType::kInt64)
    return NodeError(node, "indices must be int32");
  const int64_t axis = NormalizeAxis(node.attrs.i("axis"), p.rank());
  if (axis < 0) return NodeError(node, "axis " + std::to_string(node.attrs.i("axis")) + " out of range for " + p.ToString());
  std::vector<int64_t> d(p.dims().begin(), p.dims().begin() + axis);
  for (int64_t v : in[1].shape.dims()) d.push_back(v);
  for (int i = static_cast<int>(axis) + 1; i < p.rank(); ++i) d.push_back(p[i]);
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

Status TransposePerm(const ir::Node& node, int64_t rank, const Tensor* perm_input, std::vector<int64_t>* perm) {
  if (node.attrs.has("perm")) {
    *perm = node.attrs.ints("perm");
  } else if (perm_input && !perm_input->empty()) {
    *perm = TensorToInts(*perm_input);
  } else {
    perm->clear();
    for (int64_t i = rank - 1; i >= 0; --i) perm->push_back(i);
  }
  if (static_cast<int64_t>(perm->size()) != rank)
    return NodeError(node, "perm has " + std::to_string(perm->size()) + " values for rank " + std::to_string(rank));
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& p : *perm) {
    const int64_t n = NormalizeAxis(p, rank);
    if (n < 0 || seen[static_cast<size_t>(n)]) return NodeError(node, "perm is not a permutation");
    seen[static_cast<size_t>(n)] = true;
    p = n;
  }
  return OkStatus();
}

Status InferTranspose(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  if (!node.attrs.has("perm") && in.size() > 1 && !in[1].data) {
    (*out)[0] = ValueInfo(in[0].dtype, Shape(std::vector<int64_t>(static_cast<size_t>(x.rank()), -1)));
    return OkStatus();
  }
  std::vector<int64_t> perm;
  FK_RETURN_IF_ERROR(TransposePerm(node, x.rank(), in.size() > 1 ? in[1].data : nullptr, &perm));
  std::vector<int64_t> d(static_cast<size_t>(x.rank()));
  for (int i = 0; i < x.rank(); ++i) d[static_cast<size_t>(i)] = x[static_cast<int>(perm[static_cast<size_t>(i)])];
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

}  // namespace fk::ops
