// Shape inference: Conv2D (x NHWC, w HWIO) and DepthwiseConv2D (x NHWC, w [kh,kw,C,M]),
// with fused bias (has_bias=1: input 2, Cout values) and prelu alpha (last input).
#include "engine/ops/infer_fns.h"

namespace fk::ops {

namespace {

Status CheckFused(const ir::Node& node, const std::vector<ValueInfo>& in, int64_t cout) {
  const FusedInputs f = GetFusedInputs(node);
  if (static_cast<int>(in.size()) != f.count)
    return NodeError(node, "expects " + std::to_string(f.count) + " inputs (has_bias=" +
                               std::to_string(node.attrs.i("has_bias")) + ", activation=" +
                               ir::ActivationName(node.activation()) + "), got " + std::to_string(in.size()));
  if (f.bias >= 0) {
    const int64_t nb = in[static_cast<size_t>(f.bias)].shape.num_elements();
    if (nb >= 0 && cout >= 0 && nb != cout)
      return NodeError(node, "bias has " + std::to_string(nb) + " values, expected " + std::to_string(cout));
  }
  if (f.alpha >= 0) {
    const int64_t na = in[static_cast<size_t>(f.alpha)].shape.num_elements();
    if (na >= 0 && cout >= 0 && na != cout && na != 1)
      return NodeError(node, "prelu alpha has " + std::to_string(na) + " values, expected " +
                                 std::to_string(cout) + " or 1");
  }
  for (const ValueInfo& v : in)
    if (v.dtype != DType::kFloat32)
      return NodeError(node, std::string("all inputs must be float32, got ") + DTypeName(v.dtype));
  if (!ir::ActivationFromName(node.attrs.s("activation")))
    return NodeError(node, "unknown activation '" + node.attrs.s("activation") + "'");
  return OkStatus();
}

Status InferConvCommon(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out,
                       bool depthwise) {
  const ValueInfo& x = in[0];
  const ValueInfo& w = in[1];
  FK_RETURN_IF_ERROR(ExpectRank(node, x, "input", 4));
  FK_RETURN_IF_ERROR(ExpectRank(node, w, "filter", 4));
  const int64_t c = x.shape[3];
  if (c >= 0 && w.shape[2] >= 0 && c != w.shape[2])
    return NodeError(node, "input channels " + std::to_string(c) + " != filter input channels " +
                               std::to_string(w.shape[2]));
  int64_t cout = -1;
  if (depthwise) {
    const int64_t cc = c >= 0 ? c : w.shape[2];
    cout = (cc >= 0 && w.shape[3] >= 0) ? cc * w.shape[3] : -1;
  } else {
    cout = w.shape[3];
  }
  Window win;
  FK_RETURN_IF_ERROR(ReadConvWindow(node, w.shape, &win));
  if (win.kh == 0 || win.kw == 0) return NodeError(node, "filter has an empty spatial size");
  FK_RETURN_IF_ERROR(CheckFused(node, in, cout));
  int64_t oh = -1, ow = -1;
  if (win.kh > 0 && win.kw > 0) {
    const WindowOut o = ComputeWindow(win, x.shape[1], x.shape[2]);
    oh = o.oh;
    ow = o.ow;
  }
  (*out)[0] = ValueInfo(DType::kFloat32, Shape{x.shape[0], oh, ow, cout});
  return OkStatus();
}

}  // namespace

Status InferConv2D(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  return InferConvCommon(node, in, out, false);
}

Status InferDepthwiseConv2D(const ir::Node& node, const std::vector<ValueInfo>& in,
                            std::vector<ValueInfo>* out) {
  return InferConvCommon(node, in, out, true);
}

// MatMul: a [M,K] ([K,M] with transpose_a), b [K,N] ([N,K] with transpose_b); rank-3
// batched a [B,M,K] with b [B,K,N] or a shared rank-2 b.
Status InferMatMul(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& a = in[0].shape;
  const Shape& b = in[1].shape;
  if (a.rank() < 2 || a.rank() > 3 || b.rank() < 2 || b.rank() > 3 || b.rank() > a.rank())
    return NodeError(node, "supports a rank 2 or 3 and b rank 2 or 3 (b rank <= a rank), got " +
                               a.ToString() + " x " + b.ToString());
  const bool ta = node.attrs.i("transpose_a") != 0, tb = node.attrs.i("transpose_b") != 0;
  const int ra = a.rank(), rb = b.rank();
  const int64_t m = ta ? a[ra - 1] : a[ra - 2];
  const int64_t ka = ta ? a[ra - 2] : a[ra - 1];
  const int64_t kb = tb ? b[rb - 1] : b[rb - 2];
  const int64_t n = tb ? b[rb - 2] : b[rb - 1];
  int64_t k;
  if (!MergeDim(ka, kb, &k))
    return NodeError(node, "inner dimensions differ: a " + a.ToString() + (ta ? " (transposed)" : "") +
                               " vs b " + b.ToString() + (tb ? " (transposed)" : ""));
  FK_RETURN_IF_ERROR(CheckFused(node, in, n));
  if (ra == 3) {
    int64_t batch = a[0];
    if (rb == 3 && !MergeDim(a[0], b[0], &batch))
      return NodeError(node, "batch dimensions differ: " + a.ToString() + " vs " + b.ToString());
    (*out)[0] = ValueInfo(DType::kFloat32, Shape{batch, m, n});
  } else {
    (*out)[0] = ValueInfo(DType::kFloat32, Shape{m, n});
  }
  return OkStatus();
}

}  // namespace fk::ops
