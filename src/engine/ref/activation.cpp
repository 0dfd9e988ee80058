// Fused activations (Conv2D / DepthwiseConv2D / MatMul epilogue) for the reference backend.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "engine/ops/op_util.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status CheckOutShape(const ir::Node& node, const Tensor& out, const Shape& want) {
  if (out.shape() != want)
    return Internal(ops::NodeLabel(node) + ": output buffer shape " + out.shape().ToString() +
                    " != computed shape " + want.ToString() + " (shape inference and kernel disagree)");
  return OkStatus();
}

Status ApplyFusedActivation(const ir::Node& node, Tensor* y, const Tensor* alpha) {
  const ir::Activation act = node.activation();
  if (act == ir::Activation::kNone) return OkStatus();
  float* p = y->data<float>();
  const int64_t n = y->num_elements();
  const int64_t c = y->shape().rank() > 0 ? y->shape()[y->shape().rank() - 1] : 1;
  switch (act) {
    case ir::Activation::kNone: break;
    case ir::Activation::kRelu:
      for (int64_t i = 0; i < n; ++i) p[i] = std::max(p[i], 0.f);
      break;
    case ir::Activation::kRelu6:
      for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], 0.f), 6.f);
      break;
    case ir::Activation::kPrelu: {
      if (!alpha) return InvalidArgument(ops::NodeLabel(node) + ": prelu activation needs an alpha input");
      const int64_t na = alpha->num_elements();
      if (na != c && na != 1)
        return InvalidArgument(ops::NodeLabel(node) + ": prelu alpha has " + std::to_string(na) +
                               " values, expected " + std::to_string(c));
      const float* a = alpha->data<float>();
      for (int64_t i = 0; i < n; ++i) {
        const float al = a[na == 1 ? 0 : i % c];
        p[i] = p[i] < 0.f ? al * p[i] : p[i];
      }
      break;
    }
    case ir::Activation::kClip: {
      const float lo = node.attrs.f("clip_min", -FLT_MAX), hi = node.attrs.f("clip_max", FLT_MAX);
      for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], lo), hi);
      break;
    }
    case ir::Activation::kSigmoid:
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(p[i]))));
      break;
    case ir::Activation::kTanh:
      for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
      break;
    case ir::Activation::kLeakyRelu: {
      const float a = node.attrs.f("leaky_alpha", 0.2f);
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] < 0.f ? a * p[i] : p[i];
      break;
    }
    case ir::Activation::kElu:
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] < 0.f ? std::expm1(p[i]) : p[i];
      break;
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
