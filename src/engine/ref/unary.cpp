// Reference unary element-wise ops (float32; Abs/Neg/Square/Relu also int32) and Prelu
// (alpha broadcast numpy-style against x, typically per channel on the last axis).
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

namespace {

double UnaryF(const ir::Node& node, double x, double a0, double a1) {
  switch (node.op) {
    case ir::OpType::kAbs: return std::fabs(x);
    case ir::OpType::kNeg: return -x;
    case ir::OpType::kSquare: return x * x;
    case ir::OpType::kSqrt: return std::sqrt(x);
    case ir::OpType::kRsqrt: return 1.0 / std::sqrt(x);
    case ir::OpType::kExp: return std::exp(x);
    case ir::OpType::kLog: return std::log(x);
    case ir::OpType::kRelu: return x > 0 ? x : 0.0;
    case ir::OpType::kRelu6: return std::min(std::max(x, 0.0), 6.0);
    case ir::OpType::kSigmoid: return 1.0 / (1.0 + std::exp(-x));
    case ir::OpType::kTanh: return std::tanh(x);
    case ir::OpType::kElu: return x < 0 ? a0 * std::expm1(x) : x;
    case ir::OpType::kLeakyRelu: return x < 0 ? a0 * x : x;
    case ir::OpType::kClip: return std::min(std::max(x, a0), a1);
    case ir::OpType::kFloor: return std::floor(x);
    case ir::OpType::kReciprocal: return 1.0 / x;
    default: return 0.0;
  }
}

}  // namespace

Status Unary(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  Tensor& y = out[0];
  FK_RETURN_IF_ERROR(CheckOutShape(node, y, x.shape()));
  const int64_t n = x.num_elements();
  if (x.dtype() == DType::kInt32) {
    const int32_t* xp = x.data<int32_t>();
    int32_t* yp = y.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      const int32_t v = xp[i];
      switch (node.op) {
        case ir::OpType::kAbs: yp[i] = v < 0 ? -v : v; break;
        case ir::OpType::kNeg: yp[i] = -v; break;
        case ir::OpType::kSquare: yp[i] = v * v; break;
        case ir::OpType::kRelu: yp[i] = v > 0 ? v : 0; break;
        default: return ops::NodeError(node, "int32 is not supported for this op");
      }
    }
    return OkStatus();
  }
  if (x.dtype() != DType::kFloat32) return ops::NodeError(node, "input must be float32");
  double a0 = 0, a1 = 0;
  if (node.op == ir::OpType::kElu) a0 = node.attrs.f("alpha", 1.f);
  if (node.op == ir::OpType::kLeakyRelu) a0 = node.attrs.f("alpha", 0.2f);
  if (node.op == ir::OpType::kClip) {
    a0 = node.attrs.f("clip_min", -FLT_MAX);
    a1 = node.attrs.f("clip_max", FLT_MAX);
  }
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t i = 0; i < n; ++i) yp[i] = static_cast<float>(UnaryF(node, xp[i], a0, a1));
  return OkStatus();
}

Status Prelu(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  const Tensor& al = in[1];
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], x.shape()));
  Shape s;
  if (!ops::BroadcastShapes(x.shape(), al.shape(), &s) || s != x.shape())
    return ops::NodeError(node, "alpha shape " + al.shape().ToString() + " does not broadcast to " +
                                    x.shape().ToString());
  // Alpha offset per output index through broadcast strides.
  const Shape& o = x.shape();
  const int r = o.rank();
  std::vector<int64_t> sa(static_cast<size_t>(r), 0);
  const auto rs = ops::RowStrides(al.shape());
  for (int i = 0; i < al.shape().rank(); ++i)
    sa[static_cast<size_t>(r - al.shape().rank() + i)] = al.shape()[i] == 1 ? 0 : rs[static_cast<size_t>(i)];
  const auto os = ops::RowStrides(o);
  const float* xp = x.data<float>();
  const float* ap = al.data<float>();
  float* yp = out[0].data<float>();
  const int64_t n = x.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0, rem = i;
    for (int d = 0; d < r; ++d) {
      const int64_t c = rem / os[static_cast<size_t>(d)];
      rem %= os[static_cast<size_t>(d)];
      off += c * sa[static_cast<size_t>(d)];
    }
    yp[i] = xp[i] < 0.f ? ap[off] * xp[i] : xp[i];
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
