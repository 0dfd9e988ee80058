// Reference MatMul: a [M,K] (or [K,M] with transpose_a) x b [K,N] (or [N,K]); rank-3
// batched a with a rank-3 or shared rank-2 b. Double accumulation, + bias, activation.
#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status MatMul(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& as = in[0].shape();
  const Shape& bs = in[1].shape();
  const int ra = as.rank(), rb = bs.rank();
  if (ra < 2 || ra > 3 || rb < 2 || rb > ra) return ops::NodeError(node, "unsupported ranks");
  const bool ta = node.attrs.i("transpose_a") != 0, tb = node.attrs.i("transpose_b") != 0;
  const int64_t B = ra == 3 ? as[0] : 1;
  const int64_t M = ta ? as[ra - 1] : as[ra - 2], K = ta ? as[ra - 2] : as[ra - 1];
  const int64_t KB = tb ? bs[rb - 1] : bs[rb - 2], N = tb ? bs[rb - 2] : bs[rb - 1];
  if (K != KB) return ops::NodeError(node, "inner dimensions differ: " + as.ToString() + " x " + bs.ToString());
  if (rb == 3 && bs[0] != B) return ops::NodeError(node, "batch dimensions differ");
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], ra == 3 ? Shape{B, M, N} : Shape{M, N}));
  const ops::FusedInputs f = ops::GetFusedInputs(node);
  if (static_cast<int>(in.size()) != f.count)
    return ops::NodeError(node, "expects " + std::to_string(f.count) + " inputs, got " + std::to_string(in.size()));
  const float* bias = nullptr;
  if (f.bias >= 0) {
    if (in[static_cast<size_t>(f.bias)].num_elements() != N)
      return ops::NodeError(node, "bias must have " + std::to_string(N) + " values");
    bias = in[static_cast<size_t>(f.bias)].data<float>();
  }
  const float* a = in[0].data<float>();
  const float* b = in[1].data<float>();
  float* y = out[0].data<float>();
  for (int64_t bi = 0; bi < B; ++bi) {
    const float* ab = a + bi * M * K;
    const float* bb = b + (rb == 3 ? bi * K * N : 0);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0.0;
        for (int64_t k = 0; k < K; ++k) {
          const float av = ta ? ab[k * M + i] : ab[i * K + k];
          const float bv = tb ? bb[j * K + k] : bb[k * N + j];
          acc += static_cast<double>(av) * bv;
        }
        if (bias) acc += bias[j];
        y[(bi * M + i) * N + j] = static_cast<float>(acc);
      }
  }
  return ApplyFusedActivation(node, &out[0], f.alpha >= 0 ? &in[static_cast<size_t>(f.alpha)] : nullptr);
}

}  // namespace fk::engine::ref
