// Reference reductions Mean/Sum/Max/Min/Prod (float32 accumulated in double; int32 in int64).
// Reducing an empty range gives 0 (Sum), 1 (Prod), NaN (Mean), -inf/+inf or INT limits (Max/Min).
#include <cmath>
#include <limits>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

namespace {

template <typename T, typename Acc>
void Run(ir::OpType op, const Tensor& x, const std::vector<bool>& mask, Tensor& y) {
  const Shape& s = x.shape();
  const int r = s.rank();
  // Output strides over the input dims (0 on reduced dims).
  std::vector<int64_t> ost(static_cast<size_t>(r), 0);
  int64_t st = 1;
  for (int d = r - 1; d >= 0; --d)
    if (!mask[static_cast<size_t>(d)]) {
      ost[static_cast<size_t>(d)] = st;
      st *= s[d];
    }
  const int64_t on = st;
  Acc init;
  switch (op) {
    case ir::OpType::kProd: init = 1; break;
    case ir::OpType::kMax: init = std::numeric_limits<Acc>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                                           : std::numeric_limits<Acc>::lowest(); break;
    case ir::OpType::kMin: init = std::numeric_limits<Acc>::has_infinity ? std::numeric_limits<Acc>::infinity()
                                                                           : std::numeric_limits<Acc>::max(); break;
    default: init = 0;
  }
  std::vector<Acc> acc(static_cast<size_t>(on), init);
  const int64_t n = x.num_elements();
  const T* xp = x.data<T>();
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  int64_t oo = 0;
  for (int64_t i = 0; i < n; ++i) {
    Acc& a = acc[static_cast<size_t>(oo)];
    const Acc v = static_cast<Acc>(xp[i]);
    switch (op) {
      case ir::OpType::kProd: a *= v; break;
      case ir::OpType::kMax: a = v > a ? v : a; break;
      case ir::OpType::kMin: a = v < a ? v : a; break;
      default: a += v;
    }
    for (int d = r - 1; d >= 0; --d) {
      const size_t u = static_cast<size_t>(d);
      ++idx[u];
      oo += ost[u];
      if (idx[u] < s[d]) break;
      oo -= ost[u] * idx[u];
      idx[u] = 0;
    }
  }
  const int64_t count = on > 0 ? n / on : 0;
  T* yp = y.data<T>();
  for (int64_t i = 0; i < on; ++i) {
    Acc a = acc[static_cast<size_t>(i)];
    if (op == ir::OpType::kMean) {
      if constexpr (std::is_floating_point_v<Acc>) {
        a = count > 0 ? a / static_cast<Acc>(count) : std::numeric_limits<Acc>::quiet_NaN();
      } else {
        a = count > 0 ? a / count : 0;
      }
    }
    yp[i] = static_cast<T>(a);
  }
}

}  // namespace

Status Reduce(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  std::vector<bool> mask;
  FK_RETURN_IF_ERROR(ops::ReduceMask(node, x.shape().rank(), ops::TensorToInts(in[1]), &mask));
  const bool keep = node.attrs.i("keep_dims") != 0;
  std::vector<int64_t> d;
  for (int i = 0; i < x.shape().rank(); ++i) {
    if (!mask[static_cast<size_t>(i)]) {
      d.push_back(x.shape()[i]);
    } else if (keep) {
      d.push_back(1);
    }
  }
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape(d)));
  if (x.dtype() == DType::kFloat32) {
    Run<float, double>(node.op, x, mask, out[0]);
  } else if (x.dtype() == DType::kInt32) {
    Run<int32_t, int64_t>(node.op, x, mask, out[0]);
  } else {
    return ops::NodeError(node, "supports float32 and int32");
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
