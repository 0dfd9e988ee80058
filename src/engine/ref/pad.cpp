// Reference Pad: CONSTANT (constant_value), REFLECT (edge not repeated) and SYMMETRIC
// (edge repeated), any dtype.
#include <cstring>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status Pad(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  const Shape& s = x.shape();
  const int r = s.rank();
  const std::vector<int64_t> p = ops::TensorToInts(in[1]);
  if (static_cast<int>(p.size()) != 2 * r) return ops::NodeError(node, "paddings must be [rank,2]");
  const std::string mode = node.attrs.s("mode", "CONSTANT");
  std::vector<int64_t> od(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) {
    const int64_t b = p[2 * static_cast<size_t>(i)], a = p[2 * static_cast<size_t>(i) + 1];
    if (b < 0 || a < 0) return ops::NodeError(node, "paddings must be >= 0");
    if ((mode == "REFLECT" && (b > s[i] - 1 || a > s[i] - 1)) || (mode == "SYMMETRIC" && (b > s[i] || a > s[i])))
      return ops::NodeError(node, "paddings too large for " + mode + " mode on dim " + std::to_string(i));
    od[static_cast<size_t>(i)] = s[i] + b + a;
  }
  const Shape os(od);
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], os));
  const size_t es = DTypeSize(x.dtype());
  const auto ist = ops::RowStrides(s), ost = ops::RowStrides(os);
  const float cv = node.attrs.f("constant_value", 0.f);
  const auto* xp = static_cast<const unsigned char*>(x.raw());
  auto* yp = static_cast<unsigned char*>(out[0].raw());
  const int64_t n = out[0].num_elements();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, off = 0;
    bool inside = true;
    for (int d = 0; d < r && inside; ++d) {
      const size_t u = static_cast<size_t>(d);
      int64_t c = rem / ost[u] - p[2 * u];
      rem %= ost[u];
      if (c < 0 || c >= s[d]) {
        if (mode == "REFLECT") {
          c = c < 0 ? -c : 2 * (s[d] - 1) - c;
        } else if (mode == "SYMMETRIC") {
          c = c < 0 ? -c - 1 : 2 * s[d] - 1 - c;
        } else {
          inside = false;
        }
      }
      off += c * ist[u];
    }
    unsigned char* dst = yp + static_cast<size_t>(i) * es;
    if (inside) {
      std::memcpy(dst, xp + static_cast<size_t>(off) * es, es);
    } else if (x.dtype() == DType::kFloat32) {
      std::memcpy(dst, &cv, es);
    } else if (x.dtype() == DType::kInt32) {
      const int32_t v = static_cast<int32_t>(cv);
      std::memcpy(dst, &v, es);
    } else if (x.dtype() == DType::kInt64) {
      const int64_t v = static_cast<int64_t>(cv);
      std::memcpy(dst, &v, es);
    } else {
      const uint8_t v = static_cast<uint8_t>(cv);
      std::memcpy(dst, &v, es);
    }
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
