// Reference binary element-wise ops with numpy broadcasting (float32, int32) and AddN.
// int32 Div truncates toward zero (C++ semantics, like TF's TruncateDiv; TF's RealDiv is
// float-only); int32 division by zero is an error.
#include <cmath>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

namespace {

// Broadcast strides of `s` against the output shape `o` (0 on broadcast dims).
std::vector<int64_t> BStrides(const Shape& s, const Shape& o) {
  std::vector<int64_t> st(static_cast<size_t>(o.rank()), 0);
  const std::vector<int64_t> rs = ops::RowStrides(s);
  for (int i = 0; i < s.rank(); ++i) {
    const int oi = o.rank() - s.rank() + i;
    st[static_cast<size_t>(oi)] = s[i] == 1 ? 0 : rs[static_cast<size_t>(i)];
  }
  return st;
}

template <typename T>
T Apply(ir::OpType op, T a, T b, bool* div0) {
  switch (op) {
    case ir::OpType::kAdd: return a + b;
    case ir::OpType::kSub: return a - b;
    case ir::OpType::kMul: return a * b;
    case ir::OpType::kDiv:
      if constexpr (std::is_integral_v<T>) {
        if (b == 0) {
          *div0 = true;
          return 0;
        }
      }
      return a / b;
    case ir::OpType::kMaximum: return a > b ? a : b;
    case ir::OpType::kMinimum: return a < b ? a : b;
    case ir::OpType::kPow:
      if constexpr (std::is_integral_v<T>) {
        if (b < 0) return a == 1 ? 1 : (a == -1 ? ((-b) % 2 ? -1 : 1) : 0);
        int64_t r = 1;
        for (T k = 0; k < b; ++k) r *= a;
        return static_cast<T>(r);
      } else {
        return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
      }
    case ir::OpType::kSquaredDifference: return (a - b) * (a - b);
    default: return 0;
  }
}

template <typename T>
Status Run(const ir::Node& node, const Tensor& a, const Tensor& b, Tensor& y) {
  const Shape& o = y.shape();
  const int r = o.rank();
  const auto sa = BStrides(a.shape(), o), sb = BStrides(b.shape(), o);
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  T* yp = y.data<T>();
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  const int64_t n = y.num_elements();
  bool div0 = false;
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    yp[i] = Apply<T>(node.op, ap[oa], bp[ob], &div0);
    // Advance the multi-index (last dim fastest), keeping the input offsets in step.
    for (int d = r - 1; d >= 0; --d) {
      const size_t u = static_cast<size_t>(d);
      ++idx[u];
      oa += sa[u];
      ob += sb[u];
      if (idx[u] < o[d]) break;
      oa -= sa[u] * idx[u];
      ob -= sb[u] * idx[u];
      idx[u] = 0;
    }
  }
  if (div0) return ops::NodeError(node, "integer division by zero");
  return OkStatus();
}

}  // namespace

Status Binary(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& a = in[0];
  const Tensor& b = in[1];
  Shape s;
  if (a.dtype() != b.dtype()) return ops::NodeError(node, "input dtypes differ");
  if (!ops::BroadcastShapes(a.shape(), b.shape(), &s))
    return ops::NodeError(node, "shapes " + a.shape().ToString() + " and " + b.shape().ToString() +
                                    " cannot be broadcast");
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], s));
  if (a.dtype() == DType::kFloat32) return Run<float>(node, a, b, out[0]);
  if (a.dtype() == DType::kInt32) return Run<int32_t>(node, a, b, out[0]);
  return ops::NodeError(node, std::string("unsupported dtype ") + DTypeName(a.dtype()));
}

Status AddN(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const int64_t n = out[0].num_elements();
  for (const Tensor& t : in)
    if (t.shape() != out[0].shape() || t.dtype() != out[0].dtype())
      return ops::NodeError(node, "all inputs must have the output's shape and dtype");
  if (out[0].dtype() == DType::kFloat32) {
    float* y = out[0].data<float>();
    for (int64_t i = 0; i < n; ++i) {
      double acc = 0.0;
      for (const Tensor& t : in) acc += t.data<float>()[i];
      y[i] = static_cast<float>(acc);
    }
  } else if (out[0].dtype() == DType::kInt32) {
    int32_t* y = out[0].data<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      int32_t acc = 0;
      for (const Tensor& t : in) acc += t.data<int32_t>()[i];
      y[i] = acc;
    }
  } else {
    return ops::NodeError(node, "supports float32 and int32");
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
