// Reference BatchNorm (inference): y = (x - mean) * scale / sqrt(variance + epsilon) + offset
// over the last axis; each parameter has C values (or 1). epsilon defaults to 0.001 (TF).
#include <cmath>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status BatchNorm(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], x.shape()));
  if (x.shape().rank() == 0) return ops::NodeError(node, "input must have rank >= 1");
  const int64_t c = x.shape()[x.shape().rank() - 1];
  for (size_t i = 1; i < 5; ++i)
    if (in[i].num_elements() != c && in[i].num_elements() != 1)
      return ops::NodeError(node, "parameter " + std::to_string(i) + " must have " + std::to_string(c) + " values");
  const double eps = node.attrs.f("epsilon", 0.001f);
  auto p = [&](size_t i, int64_t ch) -> double {
    return in[i].data<float>()[in[i].num_elements() == 1 ? 0 : ch];
  };
  const int64_t n = x.num_elements();
  const float* xp = x.data<float>();
  float* yp = out[0].data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t ch = c > 0 ? i % c : 0;
    yp[i] = static_cast<float>((xp[i] - p(3, ch)) * p(1, ch) / std::sqrt(p(4, ch) + eps) + p(2, ch));
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
