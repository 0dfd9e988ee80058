// MatMul on cuBLAS (sgemm), row-major handled as the column-major product C^T = B^T A^T;
// bias and activation in one element-wise pass (bias_act.cu). fp32 uses CUBLAS_DEFAULT_MATH
// (no TF32); tf32 enables CUBLAS_TF32_TENSOR_OP_MATH. fp16 (elem() == kF16): cublasGemmEx with
// half A, B, C (CUDA_R_16F) and fp32 accumulation (CUBLAS_COMPUTE_32F, float alpha/beta), which
// cuBLAS runs on tensor cores; the bias + activation pass reads half and computes in fp32.
#include "engine/cuda/ops_internal.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cuda {

namespace {

class MatMulKernel final : public CudaKernel {
 public:
  Status Plan(const PlanArgs& a) {
    const ir::Node& n = a.node;
    const Shape& as = a.in[0].shape;
    const Shape& bs = a.in[1].shape;
    if (as.rank() != 2 || bs.rank() != 2) return ops::NodeError(n, "cuda MatMul needs 2-D operands");
    ta_ = n.attrs.i("transpose_a") != 0;
    tb_ = n.attrs.i("transpose_b") != 0;
    m_ = ta_ ? as[1] : as[0];
    k_ = ta_ ? as[0] : as[1];
    const int64_t kb = tb_ ? bs[1] : bs[0];
    n_ = tb_ ? bs[0] : bs[1];
    if (k_ != kb) return ops::NodeError(n, "inner dimensions differ: " + as.ToString() + " x " + bs.ToString());
    if (n.attrs.i("has_bias")) bias_index_ = 2;
    alpha_index_ = PreluAlphaIndex(n);
    tf32_ = a.precision != "fp32";
    node_ = n;
    return OkStatus();
  }

  Status RunDevice(std::span<const DeviceTensor> in, std::span<DeviceTensor> out,
                   ExecContext& ctx) const override {
    const void* A = In(in, 0).data;
    const void* B = In(in, 1).data;
    void* C = out[0].data;
    const float one = 1.f, zero = 0.f;  // float for both paths (fp32 compute)
    const bool half = elem() == Elem::kF16;
    FK_CUBLAS_CHECK(Blas().cublasSetMathMode(ctx.blas, tf32_ && !half ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                       : CUBLAS_DEFAULT_MATH));
    // Column-major view: C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m).
    const int ldb = static_cast<int>(tb_ ? k_ : n_);
    const int lda = static_cast<int>(ta_ ? m_ : k_);
    const cublasOperation_t opb = tb_ ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta_ ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (m_ > 0 && n_ > 0) {
      if (half)
        FK_CUBLAS_CHECK(Blas().cublasGemmEx(ctx.blas, opb, opa, (int)n_, (int)m_, (int)k_, &one, B,
                                            CUDA_R_16F, ldb, A, CUDA_R_16F, lda, &zero, C, CUDA_R_16F,
                                            (int)n_, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      else
        FK_CUBLAS_CHECK(Blas().cublasSgemm_v2(ctx.blas, opb, opa, (int)n_, (int)m_, (int)k_, &one,
                                              static_cast<const float*>(B), ldb, static_cast<const float*>(A),
                                              lda, &zero, static_cast<float*>(C), (int)n_));
    }
    const void* bias = bias_index_ >= 0 ? In(in, bias_index_).data : nullptr;
    const DeviceTensor* alpha = alpha_index_ >= 0 ? &In(in, alpha_index_) : nullptr;
    return LaunchBiasAct(C, m_ * n_, n_, bias, ActFromNode(node_, alpha), elem(), ctx.stream);
  }

 private:
  bool ta_ = false, tb_ = false, tf32_ = false;
  int64_t m_ = 0, n_ = 0, k_ = 0;
  int bias_index_ = -1, alpha_index_ = -1;
  ir::Node node_;
};

}  // namespace

bool SupportsMatMul(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() < 2 || n.outputs.empty()) return false;
  if (!AllFloat(g, n, 0, n.inputs.size())) return false;
  if (g.value(n.inputs[0]).shape.rank() != 2 || g.value(n.inputs[1]).shape.rank() != 2) return false;
  return ActSupported(n.activation());
}

Result<KernelPtr> PlanMatMul(const PlanArgs& a) {
  auto k = std::make_unique<MatMulKernel>();
  k->set_elem(a.elem);
  FK_RETURN_IF_ERROR(k->Init(a.dev, a.graph, a.node));
  FK_RETURN_IF_ERROR(k->Plan(a));
  return KernelPtr(std::move(k));
}

}  // namespace fk::engine::cuda
