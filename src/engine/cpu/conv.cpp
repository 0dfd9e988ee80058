// Conv2D and DepthwiseConv2D on oneDNN's convolution_forward (direct algorithm).
//
// Activations are NHWC at the kernel boundary (format_tag::nhwc); the weights are
// reordered once at Plan time into the layout the chosen implementation prefers
// (format_tag::any). Depthwise is a grouped convolution: groups = C, M outputs per group.
// Bias and the fused activation run as part of the primitive (bias + post-ops).
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/cpu/prelu_inplace.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

struct ConvInputs {
  bool depthwise = false;
  bool has_bias = false;
  bool prelu = false;
  size_t expected_inputs = 2;
};

ConvInputs Classify(const ir::Node& node) {
  ConvInputs c;
  c.depthwise = node.op == ir::OpType::kDepthwiseConv2D;
  c.has_bias = node.attrs.i("has_bias", 0) != 0;
  c.prelu = node.activation() == ir::Activation::kPrelu;
  c.expected_inputs = 2 + (c.has_bias ? 1 : 0) + (c.prelu ? 1 : 0);
  return c;
}

class ConvKernel final : public DnnlKernel {
 public:
  using DnnlKernel::DnnlKernel;

  dnnl::convolution_forward prim;
  // Set when PReLU runs as a separate in-place pass after the conv (oneDNN 2.6 has no
  // optimised conv with a prelu post-op for nhwc depthwise convs, 3-channel stems,
  // dilation): PreluChannelLastInPlace, not oneDNN's slow prelu_forward (prelu_inplace.h).
  bool split_prelu = false;
  int64_t rows = 0, channels = 0;  // dst as [N*OH*OW, Cout]
  dnnl::memory::desc src_md, dst_md, bias_md, alpha_md;
  dnnl::memory weights;  // packed at Plan time, owned here
  int bias_input = -1;
  int alpha_input = -1;

 protected:
  void Execute(std::span<const Tensor> in, std::span<Tensor> out, dnnl::stream& s,
               std::unordered_map<int, dnnl::memory>& args) const override {
    const dnnl::engine& eng = engine();
    args[DNNL_ARG_SRC] = Wrap(src_md, eng, in[0]);
    args[DNNL_ARG_WEIGHTS] = weights;
    args[DNNL_ARG_DST] = Wrap(dst_md, eng, out[0]);
    if (bias_input >= 0) args[DNNL_ARG_BIAS] = Wrap(bias_md, eng, in[static_cast<size_t>(bias_input)]);
    if (alpha_input >= 0 && !split_prelu)
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_WEIGHTS] =
          Wrap(alpha_md, eng, in[static_cast<size_t>(alpha_input)]);
    prim.execute(s, args);
    if (split_prelu) {
      s.wait();  // the conv's result must be complete before the in-place pass
      const Tensor& alpha = in[static_cast<size_t>(alpha_input)];
      PreluChannelLastInPlace(out[0].data<float>(), rows, channels, alpha.data<float>(),
                              alpha.num_elements() == 1, num_threads_);
    }
  }
};

}  // namespace

bool SupportsConv(const ir::Graph& graph, const ir::Node& node) {
  const ConvInputs c = Classify(node);
  if (node.inputs.size() != c.expected_inputs || node.outputs.size() != 1) return false;
  if (!AllFloat32(graph, node)) return false;
  const ir::Value& x = graph.value(node.inputs[0]);
  const ir::Value& w = graph.value(node.inputs[1]);
  if (x.shape.rank() != 4 || w.shape.rank() != 4 || !w.is_constant()) return false;
  if (!w.shape.is_fully_defined()) return false;
  ops::Window win;
  if (!ops::ReadWindow(node, /*pool=*/false, &win).ok()) return false;
  const int64_t cout = c.depthwise ? w.shape[2] * w.shape[3] : w.shape[3];
  const int64_t cin = w.shape[2];
  // Grouped Conv2D (input channels a multiple of the filter's) is left to ref.
  if (x.shape[3] >= 0 && x.shape[3] != cin) return false;
  if (c.has_bias) {
    const Shape& b = graph.value(node.inputs[2]).shape;
    if (b.num_elements() >= 0 && b.num_elements() != cout) return false;
  }
  return SupportsFusedActivation(graph, node, cout);
}

Result<std::unique_ptr<Kernel>> PlanConv(const PlanArgs& a) {
  const ir::Node& node = a.node;
  const ConvInputs c = Classify(node);
  const std::string ctx = NodeContext(node);
  if (a.inputs.size() != c.expected_inputs || a.outputs.size() != 1)
    return InvalidArgument(ctx + ": expected " + std::to_string(c.expected_inputs) + " inputs");
  const Shape& xs = a.inputs[0].shape;
  const Shape& ws = a.inputs[1].shape;
  const Shape& ys = a.outputs[0].shape;
  if (ys.num_elements() == 0) return MakeEmptyKernel();
  const Tensor& wt = a.graph.value(node.inputs[1]).constant;
  if (wt.empty()) return Unsupported(ctx + ": the CPU backend needs constant filter weights");

  ops::Window win;
  FK_RETURN_IF_ERROR(ops::ReadConvWindow(node, ws, &win));
  const ops::WindowOut wo = ops::ComputeWindow(win, xs[1], xs[2]);
  const int64_t n = xs[0], cin = xs[3], kh = ws[0], kw = ws[1];
  const int64_t groups = c.depthwise ? cin : 1;
  const int64_t mult = ws[3];  // Conv2D: Cout; depthwise: channel multiplier
  const int64_t cout = c.depthwise ? cin * mult : ws[3];
  if (ws[2] != cin)
    return InvalidArgument(ctx + ": input has " + std::to_string(cin) + " channels, filter expects " +
                           std::to_string(ws[2]));
  if (ys != Shape{n, wo.oh, wo.ow, cout})
    return InvalidArgument(ctx + ": planned output shape " + ys.ToString() + " != computed " +
                           Shape{n, wo.oh, wo.ow, cout}.ToString());

  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto k = std::make_unique<ConvKernel>(node.name, a.options.num_threads, eng);
  FK_ASSIGN_OR_RETURN(FusedActivation act, MakeFusedActivation(a.graph, node, a.inputs, 1, cout));

  using dims = dnnl::memory::dims;
  dnnl::memory::desc user_w_md, any_w_md;
  FK_DNNL_CHECK({
    k->src_md = dnnl::memory::desc({n, cin, xs[1], xs[2]}, dt::f32, tag::nhwc);
    k->dst_md = dnnl::memory::desc({n, cout, wo.oh, wo.ow}, dt::f32, tag::nhwc);
    if (c.depthwise) {
      // TF [kh,kw,C,M] == oneDNN (g=C, o=M, i=1, h, w) in hwigo order.
      user_w_md = dnnl::memory::desc({groups, mult, 1, kh, kw}, dt::f32, tag::hwigo);
      any_w_md = dnnl::memory::desc({groups, mult, 1, kh, kw}, dt::f32, tag::any);
    } else {
      user_w_md = dnnl::memory::desc({cout, cin, kh, kw}, dt::f32, tag::hwio);
      any_w_md = dnnl::memory::desc({cout, cin, kh, kw}, dt::f32, tag::any);
    }
    k->bias_md = dnnl::memory::desc({cout}, dt::f32, tag::x);
  });

  dnnl::convolution_forward::primitive_desc pd;
  bool split_prelu = false;
  FK_DNNL_CHECK({
    const dims strides{win.sh, win.sw};
    const dims dilates{win.dh - 1, win.dw - 1};
    const dims pad_l{wo.pad_top, wo.pad_left};
    const dims pad_r{wo.pad_bottom, wo.pad_right};
    auto d = c.has_bias
                 ? dnnl::convolution_forward::desc(
                       dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                       k->src_md, any_w_md, k->bias_md, k->dst_md, strides, dilates, pad_l, pad_r)
                 : dnnl::convolution_forward::desc(
                       dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                       k->src_md, any_w_md, k->dst_md, strides, dilates, pad_l, pad_r);
    dnnl::primitive_attr attr = BaseAttr();
    attr.set_post_ops(act.ops);
    pd = dnnl::convolution_forward::primitive_desc(d, attr, *eng);
    if (act.prelu && std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
      // The prelu post-op pushed oneDNN onto its reference conv. If the plain conv has an
      // optimised implementation, run PReLU as a second (in-place, jit) primitive instead.
      auto plain = dnnl::convolution_forward::primitive_desc(d, BaseAttr(), *eng);
      if (std::string(plain.impl_info_str()).rfind("ref", 0) != 0) {
        pd = plain;
        split_prelu = true;
      }
    }
    k->prim = dnnl::convolution_forward(pd);
  });
  // Pack the constant weights once into the implementation's layout.
  FK_DNNL_CHECK({
    dnnl::memory user_w(user_w_md, *eng, const_cast<void*>(wt.raw()));
    k->weights = dnnl::memory(pd.weights_desc(), *eng);
    dnnl::stream s(*eng);
    dnnl::reorder(user_w, k->weights).execute(s, user_w, k->weights);
    s.wait();
  });
  if (c.has_bias) k->bias_input = 2;
  if (act.prelu) {
    k->alpha_input = static_cast<int>(c.expected_inputs) - 1;
    const int64_t na = a.inputs.back().shape.num_elements();
    FK_DNNL_CHECK(k->alpha_md = dnnl::memory::desc({1, na, 1, 1}, dt::f32, tag::abcd));
  }
  FK_DNNL_CHECK(k->SetScratchpadFrom(pd));
  k->split_prelu = split_prelu;
  k->rows = n * wo.oh * wo.ow;
  k->channels = cout;
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
