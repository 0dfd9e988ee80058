// Conv2D on cuDNN (v9 legacy API), NHWC activations, weights re-laid out once at Plan to
// cuDNN's NHWC filter layout (KRSC), algorithm chosen once per shape with
// cudnnGetConvolutionForwardAlgorithm_v7 (or timed with cudnnFindConvolutionForwardAlgorithm
// when FK_CUDNN_FIND=1), workspace from the pool. DepthwiseConv2D, and Conv2D that cuDNN has no
// algorithm for, run on the direct kernel (conv_direct.cu). Bias and activation run
// in one element-wise pass (bias_act.cu) after the convolution: cuDNN's fused
// ConvolutionBiasActivationForward supports only ReLU, so one path serves every activation.
// TF SAME padding that is asymmetric (extra pixel at the end) is materialised with pad.cu,
// because cuDNN only takes symmetric padding.
//
// Precision fp16 (elem() == kF16): x, w, y and the bias are half (CUDNN_DATA_HALF, NHWC), the
// convolution accumulates in fp32 (compute type CUDNN_DATA_FLOAT, cuDNN's PSEUDO_HALF_CONFIG)
// with tensor-op math; only when cuDNN offers no algorithm for that configuration does the node
// use fp16 accumulation (TRUE_HALF_CONFIG, compute type HALF; printed with FK_CUDA_VERBOSE=1),
// and when it has none for half data at all the node runs on the direct kernel in half (fp32
// accumulation). The bias + activation pass reads half and computes in fp32.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/cuda/conv_direct.cuh"
#include "engine/cuda/conv_geometry.h"
#include "engine/cuda/ops_internal.h"
#include "engine/cuda/pad.cuh"
#include "engine/ops/op_util.h"

namespace fk::engine::cuda {

namespace {

bool FindAlgorithms() {
  static const bool find = [] {
    const char* e = std::getenv("FK_CUDNN_FIND");
    return e && *e && *e != '0';
  }();
  return find;
}

class ConvKernel final : public CudaKernel {
 public:
  ~ConvKernel() override {
    if (xdesc_) Dnn().cudnnDestroyTensorDescriptor(xdesc_);
    if (ydesc_) Dnn().cudnnDestroyTensorDescriptor(ydesc_);
    if (wdesc_) Dnn().cudnnDestroyFilterDescriptor(wdesc_);
    if (cdesc_) Dnn().cudnnDestroyConvolutionDescriptor(cdesc_);
  }

  Status Plan(const PlanArgs& a) {
    const ir::Node& n = a.node;
    const Shape& xs = a.in[0].shape;
    const Shape& ys = a.out[0].shape;
    const Tensor& w = a.graph.value(n.inputs[1]).constant;
    FK_ASSIGN_OR_RETURN(ConvGeometry geo, MakeConvGeometry(n, xs, w.shape(), ys));
    const bool dw = geo.depthwise;
    n_ = ys.num_elements();
    k_ = geo.d.k;
    if (n.attrs.i("has_bias")) bias_index_ = 2;
    alpha_index_ = PreluAlphaIndex(n);
    dd_ = geo.d;
    if (!dw) {
      const Status cs = PlanCudnn(a, geo);
      if (cs.ok()) return OkStatus();
      if (std::getenv("FK_CUDA_VERBOSE"))
        std::fprintf(stderr, "facekit: %s: cuDNN cannot run it (%s): direct convolution kernel\n",
                     ops::NodeLabel(n).c_str(), cs.message().c_str());
    }
    // Depthwise always, dense when cuDNN has no algorithm: the direct kernel on the TF layout.
    direct_ = true;
    dd_.vec = DepthwiseVecWidth(dd_, elem() == Elem::kF16);
    pad_ = false;
    FK_ASSIGN_OR_RETURN(w_, Upload(w));  // half when elem() is kF16
    return OkStatus();
  }

  // cuDNN (legacy API) for a dense convolution: filter re-laid out to KRSC, algorithm chosen
  // once. Any failure leaves the node to the direct kernel.
  Status PlanCudnn(const PlanArgs& a, const ConvGeometry& geo) {
    const ir::Node& n = a.node;
    const Tensor& w = a.graph.value(n.inputs[1]).constant;
    const Shape& ys = a.out[0].shape;
    const DirectConvDesc& gd = geo.d;
    const bool dw = geo.depthwise;
    const int64_t N = gd.n, H = gd.h, W = gd.w, C = gd.c, K = gd.k, kh = gd.kh, kw = gd.kw, groups = geo.groups;
    int64_t ph = gd.pad_top, pw = gd.pad_left, Hp = H, Wp = W;
    if (gd.pad_top != geo.pad_bottom || gd.pad_left != geo.pad_right) {
      pad_ = true;
      pd_.rank = 4;
      const int64_t in[4] = {N, H, W, C};
      Hp = H + gd.pad_top + geo.pad_bottom;
      Wp = W + gd.pad_left + geo.pad_right;
      const int64_t out[4] = {N, Hp, Wp, C}, before[4] = {0, gd.pad_top, gd.pad_left, 0};
      for (int i = 0; i < 4; ++i) {
        pd_.in_dims[i] = in[i];
        pd_.out_dims[i] = out[i];
        pd_.before[i] = before[i];
      }
      padded_bytes_ = static_cast<size_t>(N * Hp * Wp * C) * ElemSize(elem());
      ph = pw = 0;
    }
    // Filter HWIO / HWCM -> KRSC (cuDNN NHWC filter layout).
    Tensor wk(DType::kFloat32, Shape{K, kh, kw, C / groups});
    const float* src = w.data<float>();
    float* dst = wk.data<float>();
    const int64_t cin = w.shape()[2], cm = w.shape()[3];
    for (int64_t r = 0; r < kh; ++r)
      for (int64_t s = 0; s < kw; ++s)
        for (int64_t c = 0; c < cin; ++c)
          for (int64_t m = 0; m < cm; ++m) {
            const float v = src[((r * kw + s) * cin + c) * cm + m];
            if (dw) dst[((c * cm + m) * kh + r) * kw + s] = v;               // k = c*M+m, C/g = 1
            else dst[((m * kh + r) * kw + s) * cin + c] = v;                  // k = m
          }
    FK_ASSIGN_OR_RETURN(w_, Upload(wk));  // half when elem() is kF16

    const auto& d = Dnn();
    const bool half = elem() == Elem::kF16;
    const cudnnDataType_t dt = half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    FK_CUDNN_CHECK(d.cudnnCreateTensorDescriptor(&xdesc_));
    FK_CUDNN_CHECK(d.cudnnCreateTensorDescriptor(&ydesc_));
    FK_CUDNN_CHECK(d.cudnnCreateFilterDescriptor(&wdesc_));
    FK_CUDNN_CHECK(d.cudnnCreateConvolutionDescriptor(&cdesc_));
    FK_CUDNN_CHECK(d.cudnnSetTensor4dDescriptor(xdesc_, CUDNN_TENSOR_NHWC, dt, (int)N, (int)C, (int)Hp, (int)Wp));
    FK_CUDNN_CHECK(d.cudnnSetTensor4dDescriptor(ydesc_, CUDNN_TENSOR_NHWC, dt, (int)N, (int)K, (int)ys[1], (int)ys[2]));
    FK_CUDNN_CHECK(d.cudnnSetFilter4dDescriptor(wdesc_, dt, CUDNN_TENSOR_NHWC, (int)K, (int)(C / groups),
                                                (int)kh, (int)kw));
    // Compute types to try in order: fp32 accumulation first (also for half data:
    // PSEUDO_HALF_CONFIG), half accumulation only as a fallback for fp16.
    const cudnnDataType_t compute[2] = {CUDNN_DATA_FLOAT, CUDNN_DATA_HALF};
    const int tries = half ? 2 : 1;
    SlotGuard g(device());
    FK_RETURN_IF_ERROR(g.Acquire());
    constexpr size_t kMaxWorkspace = size_t{512} << 20;
    bool found = false;
    for (int t = 0; t < tries && !found; ++t) {
      FK_CUDNN_CHECK(d.cudnnSetConvolution2dDescriptor(cdesc_, (int)ph, (int)pw, (int)gd.sh,
                                                       (int)gd.sw, (int)gd.dh, (int)gd.dw,
                                                       CUDNN_CROSS_CORRELATION, compute[t]));
      FK_CUDNN_CHECK(d.cudnnSetConvolutionGroupCount(cdesc_, (int)groups));
      // fp32: FMA kernels only (no TF32); tf32/auto: tensor ops allowed (TF32); fp16: tensor ops.
      FK_CUDNN_CHECK(d.cudnnSetConvolutionMathType(
          cdesc_, half ? CUDNN_TENSOR_OP_MATH : a.precision == "fp32" ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH));
      if (t == 0) {
        int on = 0, oc = 0, oh = 0, ow = 0;
        FK_CUDNN_CHECK(d.cudnnGetConvolution2dForwardOutputDim(cdesc_, xdesc_, wdesc_, &on, &oc, &oh, &ow));
        if (on != N || oc != K || oh != ys[1] || ow != ys[2])
          return ops::NodeError(n, "cuDNN output dims disagree with shape inference");
      }
      cudnnConvolutionFwdAlgoPerf_t perf[8];
      int got = 0;
      // FK_CUDNN_FIND=1: time every algorithm on the GPU once per (node, shape) instead of
      // trusting the heuristics (PyTorch's cudnn.benchmark); slower first run, for A/B.
      const cudnnStatus_t st =
          FindAlgorithms() ? d.cudnnFindConvolutionForwardAlgorithm(g.ctx().dnn, xdesc_, wdesc_, cdesc_, ydesc_, 8,
                                                                    &got, perf)
                           : d.cudnnGetConvolutionForwardAlgorithm_v7(g.ctx().dnn, xdesc_, wdesc_, cdesc_, ydesc_,
                                                                      8, &got, perf);
      if (st != CUDNN_STATUS_SUCCESS) got = 0;  // e.g. NOT_SUPPORTED for this compute type: try the next one
      for (int i = 0; i < got && !found; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
        size_t ws = 0;
        if (d.cudnnGetConvolutionForwardWorkspaceSize(g.ctx().dnn, xdesc_, wdesc_, cdesc_, ydesc_,
                                                      perf[i].algo, &ws) != CUDNN_STATUS_SUCCESS)
          continue;
        algo_ = perf[i].algo;
        ws_ = ws;
        half_accumulate_ = compute[t] == CUDNN_DATA_HALF;
        found = true;
      }
    }
    if (!found)
      return Unsupported(ops::NodeLabel(n) + ": cuDNN has no algorithm for input " +
                         a.in[0].shape.ToString() + ", filter " + w.shape().ToString() +
                         (half ? " in fp16 (tried fp32 and fp16 accumulation)" : ""));
    if (half_accumulate_ && std::getenv("FK_CUDA_VERBOSE"))
      std::fprintf(stderr, "facekit: %s: cuDNN offers fp16 accumulation only (TRUE_HALF_CONFIG)\n",
                   ops::NodeLabel(n).c_str());
    return OkStatus();
  }

  Status RunDevice(std::span<const DeviceTensor> in, std::span<DeviceTensor> out,
                   ExecContext& ctx) const override {
    const void* x = In(in, 0).data;
    const void* bias = bias_index_ >= 0 ? In(in, bias_index_).data : nullptr;
    const DeviceTensor* alpha = alpha_index_ >= 0 ? &In(in, alpha_index_) : nullptr;
    if (direct_)
      return LaunchDirectConv(x, w_.data, bias, out[0].data, dd_, ActFromNode(node_, alpha), elem(), ctx.stream);
    if (pad_) {
      FK_ASSIGN_OR_RETURN(void* xp, ctx.Scratch(padded_bytes_));
      FK_RETURN_IF_ERROR(LaunchPad(x, xp, pd_, elem(), ctx.stream));
      x = xp;
    }
    void* ws = nullptr;
    if (ws_) {
      FK_ASSIGN_OR_RETURN(ws, ctx.Scratch(ws_));
    }
    // Scaling factors are float for float and half data (cuDNN: double only for double data).
    const float one = 1.f, zero = 0.f;
    FK_CUDNN_CHECK(Dnn().cudnnConvolutionForward(ctx.dnn, &one, xdesc_, x, wdesc_, w_.data, cdesc_,
                                                 algo_, ws, ws_, &zero, ydesc_, out[0].data));
    // The node's activation (node_ is the kernel's copy of the node).
    return LaunchBiasAct(out[0].data, n_, k_, bias, ActFromNode(node_, alpha), elem(), ctx.stream);
  }

  ir::Node node_;

 private:
  cudnnTensorDescriptor_t xdesc_ = nullptr, ydesc_ = nullptr;
  cudnnFilterDescriptor_t wdesc_ = nullptr;
  cudnnConvolutionDescriptor_t cdesc_ = nullptr;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t ws_ = 0;
  bool half_accumulate_ = false;  // fp16 only: cuDNN had no fp32-accumulating algorithm
  DeviceTensor w_;
  bool pad_ = false;
  PadDesc pd_;
  bool direct_ = false;  // conv_direct.cu instead of cuDNN
  DirectConvDesc dd_;
  size_t padded_bytes_ = 0;
  int64_t n_ = 0, k_ = 1;
  int bias_index_ = -1, alpha_index_ = -1;
};

}  // namespace

bool SupportsConv(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() < 2 || n.outputs.empty()) return false;
  const ir::Value& w = g.value(n.inputs[1]);
  if (!w.is_constant() || w.constant.dtype() != DType::kFloat32 || w.constant.shape().rank() != 4)
    return false;
  if (!AllFloat(g, n, 0, n.inputs.size())) return false;
  if (!ActSupported(n.activation())) return false;
  const std::string pad = n.attrs.s("padding", "VALID");
  return pad == "SAME" || pad == "VALID" || pad == "EXPLICIT";
}

Result<KernelPtr> PlanConv(const PlanArgs& a) {
  auto plan = [&](Elem e) -> Result<KernelPtr> {
    auto k = std::make_unique<ConvKernel>();
    k->set_elem(e);
    k->node_ = a.node;
    std::vector<bool> skip(a.node.inputs.size(), false);
    skip[1] = true;  // the filter is uploaded re-laid out by Plan
    FK_RETURN_IF_ERROR(k->Init(a.dev, a.graph, a.node, skip));
    FK_RETURN_IF_ERROR(k->Plan(a));
    return KernelPtr(std::move(k));
  };
  Result<KernelPtr> k = plan(a.elem);
  if (!k.ok() && a.elem == Elem::kF16 && k.status().code() == StatusCode::kUnsupported) {
    // A half plan the backend cannot make at all (the direct kernel covers what cuDNN lacks, so
    // this is a safety net): this node runs in fp32 inside the fp16 graph.
    if (std::getenv("FK_CUDA_VERBOSE"))
      std::fprintf(stderr, "facekit: %s: no fp16 plan, planned in fp32\n", ops::NodeLabel(a.node).c_str());
    return plan(Elem::kF32);
  }
  return k;
}

}  // namespace fk::engine::cuda
