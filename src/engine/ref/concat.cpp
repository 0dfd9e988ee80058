// Reference Concat, Pack, Tile, Gather, Transpose; all dtype-agnostic byte copies.
#include <cstring>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status Concat(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& os = out[0].shape();
  const int r = os.rank();
  const int64_t axis = ops::NormalizeAxis(node.attrs.i("axis"), r);
  if (axis < 0) return ops::NodeError(node, "axis out of range");
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= os[i];
  const size_t es = DTypeSize(out[0].dtype());
  int64_t total = 0;
  for (const Tensor& t : in) {
    if (t.shape().rank() != r || t.dtype() != out[0].dtype())
      return ops::NodeError(node, "input rank/dtype does not match the output");
    for (int d = 0; d < r; ++d)
      if (d != axis && t.shape()[d] != os[d])
        return ops::NodeError(node, "input shape " + t.shape().ToString() + " does not match output " + os.ToString());
    total += t.shape()[static_cast<int>(axis)];
  }
  if (total != os[static_cast<int>(axis)]) return Internal(ops::NodeLabel(node) + ": output size mismatch");
  const int64_t out_row = os.num_elements() / (outer > 0 ? outer : 1);
  auto* yp = static_cast<unsigned char*>(out[0].raw());
  int64_t col = 0;
  for (const Tensor& t : in) {
    const int64_t row = outer > 0 ? t.num_elements() / outer : 0;
    const auto* xp = static_cast<const unsigned char*>(t.raw());
    for (int64_t o = 0; o < outer && row > 0; ++o)
      std::memcpy(yp + static_cast<size_t>(o * out_row + col) * es, xp + static_cast<size_t>(o * row) * es,
                  static_cast<size_t>(row) * es);
    col += row;
  }
  return OkStatus();
}

Status Pack(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& s = in[0].shape();
  const int64_t axis = ops::NormalizeAxis(node.attrs.i("axis"), s.rank() + 1);
  if (axis < 0) return ops::NodeError(node, "axis out of range");
  std::vector<int64_t> d = s.dims();
  d.insert(d.begin() + axis, static_cast<int64_t>(in.size()));
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape(d)));
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  const int64_t inner = outer > 0 ? s.num_elements() / outer : 0;
  const size_t es = DTypeSize(out[0].dtype());
  auto* yp = static_cast<unsigned char*>(out[0].raw());
  const int64_t k = static_cast<int64_t>(in.size());
  for (int64_t j = 0; j < k; ++j) {
    const Tensor& t = in[static_cast<size_t>(j)];
    if (t.shape() != s || t.dtype() != out[0].dtype()) return ops::NodeError(node, "all inputs must have the same shape and dtype");
    const auto* xp = static_cast<const unsigned char*>(t.raw());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(yp + static_cast<size_t>((o * k + j) * inner) * es, xp + static_cast<size_t>(o * inner) * es,
                  static_cast<size_t>(inner) * es);
  }
  return OkStatus();
}

Status Tile(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& s = in[0].shape();
  const auto m = ops::TensorToInts(in[1]);
  if (static_cast<int>(m.size()) != s.rank()) return ops::NodeError(node, "multiples must have one value per dim");
  std::vector<int64_t> d(static_cast<size_t>(s.rank()));
  for (int i = 0; i < s.rank(); ++i) d[static_cast<size_t>(i)] = s[i] * m[static_cast<size_t>(i)];
  const Shape os(d);
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], os));
  const auto ist = ops::RowStrides(s), ost = ops::RowStrides(os);
  const size_t es = DTypeSize(out[0].dtype());
  const auto* xp = static_cast<const unsigned char*>(in[0].raw());
  auto* yp = static_cast<unsigned char*>(out[0].raw());
  const int64_t n = os.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, off = 0;
    for (int k = 0; k < s.rank(); ++k) {
      const size_t u = static_cast<size_t>(k);
      off += (rem / ost[u]) % s[k] * ist[u];
      rem %= ost[u];
    }
    std::memcpy(yp + static_cast<size_t>(i) * es, xp + static_cast<size_t>(off) * es, es);
  }
  return OkStatus();
}

Status Gather(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& p = in[0].shape();
  const int64_t axis = ops::NormalizeAxis(node.attrs.i("axis"), p.rank());
  if (axis < 0) return ops::NodeError(node, "axis out of range");
  const auto idx = ops::TensorToInts(in[1]);
  std::vector<int64_t> d(p.dims().begin(), p.dims().begin() + axis);
  for (int64_t v : in[1].shape().dims()) d.push_back(v);
  for (int i = static_cast<int>(axis) + 1; i < p.rank(); ++i) d.push_back(p[i]);
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape(d)));
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= p[i];
  for (int i = static_cast<int>(axis) + 1; i < p.rank(); ++i) inner *= p[i];
  const int64_t len = p[static_cast<int>(axis)];
  const size_t es = DTypeSize(in[0].dtype());
  const auto* xp = static_cast<const unsigned char*>(in[0].raw());
  auto* yp = static_cast<unsigned char*>(out[0].raw());
  const int64_t k = static_cast<int64_t>(idx.size());
  for (int64_t j = 0; j < k; ++j)
    if (idx[static_cast<size_t>(j)] < 0 || idx[static_cast<size_t>(j)] >= len)
      return ops::NodeError(node, "index " + std::to_string(idx[static_cast<size_t>(j)]) + " out of range [0, " +
                                      std::to_string(len) + ")");
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < k; ++j)
      std::memcpy(yp + static_cast<size_t>((o * k + j) * inner) * es,
                  xp + static_cast<size_t>((o * len + idx[static_cast<size_t>(j)]) * inner) * es,
                  static_cast<size_t>(inner) * es);
  return OkStatus();
}

Status Transpose(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& s = in[0].shape();
  std::vector<int64_t> perm;
  FK_RETURN_IF_ERROR(ops::TransposePerm(node, s.rank(), in.size() > 1 ? &in[1] : nullptr, &perm));
  std::vector<int64_t> d(static_cast<size_t>(s.rank()));
  for (int i = 0; i < s.rank(); ++i) d[static_cast<size_t>(i)] = s[static_cast<int>(perm[static_cast<size_t>(i)])];
  const Shape os(d);
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], os));
  const auto ist = ops::RowStrides(s), ost = ops::RowStrides(os);
  const size_t es = DTypeSize(in[0].dtype());
  const auto* xp = static_cast<const unsigned char*>(in[0].raw());
  auto* yp = static_cast<unsigned char*>(out[0].raw());
  const int64_t n = os.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, off = 0;
    for (int k = 0; k < s.rank(); ++k) {
      const size_t u = static_cast<size_t>(k);
      off += (rem / ost[u]) * ist[static_cast<size_t>(perm[u])];
      rem %= ost[u];
    }
    std::memcpy(yp + static_cast<size_t>(i) * es, xp + static_cast<size_t>(off) * es, es);
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
