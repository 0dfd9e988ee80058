// Reference Softmax over `axis` (default -1), numerically stable (max subtracted), double sums.
#include <cmath>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status Softmax(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], x.shape()));
  const Shape& s = x.shape();
  const int64_t axis = ops::NormalizeAxis(node.attrs.i("axis", -1), s.rank());
  if (axis < 0) return ops::NodeError(node, "axis out of range for " + s.ToString());
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= s[i];
  for (int i = static_cast<int>(axis) + 1; i < s.rank(); ++i) inner *= s[i];
  const int64_t len = s[static_cast<int>(axis)];
  const float* xp = x.data<float>();
  float* yp = out[0].data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * len * inner + i;
      float mx = -INFINITY;
      for (int64_t k = 0; k < len; ++k) mx = std::max(mx, xp[base + k * inner]);
      double sum = 0.0;
      for (int64_t k = 0; k < len; ++k) sum += std::exp(static_cast<double>(xp[base + k * inner]) - mx);
      for (int64_t k = 0; k < len; ++k)
        yp[base + k * inner] = static_cast<float>(std::exp(static_cast<double>(xp[base + k * inner]) - mx) / sum);
    }
  return OkStatus();
}

}  // namespace fk::engine::ref
