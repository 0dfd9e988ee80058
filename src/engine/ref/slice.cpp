// Reference StridedSlice (TF semantics via ops::ComputeStridedSlice) and Slice; any dtype.
#include <cstring>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

namespace {

// Copies x[begin + i*stride] over the processing shape `size` into the dense output.
void CopyStrided(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& stride,
            const std::vector<int64_t>& size, Tensor& y) {
  const Shape& s = x.shape();
  const int r = s.rank();
  const size_t es = DTypeSize(x.dtype());
  const auto ist = ops::RowStrides(s);
  int64_t n = 1;
  for (int64_t v : size) n *= v;
  const auto* xp = static_cast<const unsigned char*>(x.raw());
  auto* yp = static_cast<unsigned char*>(y.raw());
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < r; ++d) {
      const size_t u = static_cast<size_t>(d);
      off += (begin[u] + idx[u] * stride[u]) * ist[u];
    }
    std::memcpy(yp + static_cast<size_t>(i) * es, xp + static_cast<size_t>(off) * es, es);
    for (int d = r - 1; d >= 0; --d) {
      const size_t u = static_cast<size_t>(d);
      if (++idx[u] < size[u]) break;
      idx[u] = 0;
    }
  }
}

}  // namespace

Status StridedSlice(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const auto b = ops::TensorToInts(in[1]), e = ops::TensorToInts(in[2]), s = ops::TensorToInts(in[3]);
  ops::StridedSliceSpec spec;
  FK_RETURN_IF_ERROR(ops::ComputeStridedSlice(node, in[0].shape(), static_cast<int64_t>(b.size()), &b, &e, &s, &spec));
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape(spec.final_shape)));
  CopyStrided(in[0], spec.begin, spec.stride, spec.size, out[0]);
  return OkStatus();
}

Status Slice(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& x = in[0].shape();
  auto b = ops::TensorToInts(in[1]), sz = ops::TensorToInts(in[2]);
  FK_RETURN_IF_ERROR(ops::ResolveSlice(node, x, b, &sz));
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape(sz)));
  CopyStrided(in[0], b, std::vector<int64_t>(b.size(), 1), sz, out[0]);
  return OkStatus();
}

}  // namespace fk::engine::ref
