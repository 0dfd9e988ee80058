// MatMul (TF MatMul / _FusedMatMul) on oneDNN's matmul primitive: rank-2 operands,
// transpose flags as strides, optional bias [N] and the fused activation as post-ops.
// A constant B is packed once at Plan time into the layout the implementation prefers.
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"

namespace fk::engine::cpu {
namespace {

class MatMulKernel final : public DnnlKernel {
 public:
  using DnnlKernel::DnnlKernel;

  dnnl::matmul prim;
  // PReLU runs as a second, in-place primitive: oneDNN 2.6's optimised matmul (brgemm)
  // rejects the prelu post-op and the reference fallback fails at execution.
  dnnl::prelu_forward prelu;
  dnnl::memory::desc a_md, b_md, bias_md, dst_md, alpha_md;
  dnnl::memory packed_b;  // valid when B is constant
  int bias_input = -1;
  int alpha_input = -1;

 protected:
  void Execute(std::span<const Tensor> in, std::span<Tensor> out, dnnl::stream& s,
               std::unordered_map<int, dnnl::memory>& args) const override {
    const dnnl::engine& eng = engine();
    args[DNNL_ARG_SRC] = Wrap(a_md, eng, in[0]);
    args[DNNL_ARG_WEIGHTS] = packed_b ? packed_b : Wrap(b_md, eng, in[1]);
    args[DNNL_ARG_DST] = Wrap(dst_md, eng, out[0]);
    if (bias_input >= 0) args[DNNL_ARG_BIAS] = Wrap(bias_md, eng, in[static_cast<size_t>(bias_input)]);
    prim.execute(s, args);
    if (alpha_input >= 0) {
      std::unordered_map<int, dnnl::memory> pargs{
          {DNNL_ARG_SRC, args[DNNL_ARG_DST]},
          {DNNL_ARG_DST, args[DNNL_ARG_DST]},
          {DNNL_ARG_WEIGHTS, Wrap(alpha_md, eng, in[static_cast<size_t>(alpha_input)])}};
      if (args.count(DNNL_ARG_SCRATCHPAD)) pargs[DNNL_ARG_SCRATCHPAD] = args[DNNL_ARG_SCRATCHPAD];
      prelu.execute(s, pargs);
    }
  }
};

size_t ExpectedInputs(const ir::Node& node) {
  return 2 + (node.attrs.i("has_bias", 0) ? 1 : 0) +
         (node.activation() == ir::Activation::kPrelu ? 1 : 0);
}

}  // namespace

bool SupportsMatMul(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() != ExpectedInputs(node) || node.outputs.size() != 1) return false;
  if (!AllFloat32(graph, node)) return false;
  const Shape& as = graph.value(node.inputs[0]).shape;
  const Shape& bs = graph.value(node.inputs[1]).shape;
  if (as.rank() != 2 || bs.rank() != 2) return false;  // batched MatMul: ref
  const int64_t n = node.attrs.i("transpose_b", 0) ? bs[0] : bs[1];
  if (node.attrs.i("has_bias", 0)) {
    const int64_t nb = graph.value(node.inputs[2]).shape.num_elements();
    if (nb >= 0 && n >= 0 && nb != n) return false;  // bias must be one value per column
  }
  return SupportsFusedActivation(graph, node, n);
}

Result<std::unique_ptr<Kernel>> PlanMatMul(const PlanArgs& a) {
  const ir::Node& node = a.node;
  const std::string ctx = NodeContext(node);
  const bool ta = node.attrs.i("transpose_a", 0) != 0;
  const bool tb = node.attrs.i("transpose_b", 0) != 0;
  const bool has_bias = node.attrs.i("has_bias", 0) != 0;
  if (a.inputs.size() != ExpectedInputs(node) || a.outputs.size() != 1)
    return InvalidArgument(ctx + ": unexpected number of inputs");
  const Shape& as = a.inputs[0].shape;
  const Shape& bs = a.inputs[1].shape;
  const int64_t m = ta ? as[1] : as[0], k = ta ? as[0] : as[1];
  const int64_t kb = tb ? bs[1] : bs[0], n = tb ? bs[0] : bs[1];
  if (k != kb)
    return InvalidArgument(ctx + ": inner dimensions differ: " + as.ToString() + " x " +
                           bs.ToString());
  if (a.outputs[0].shape != Shape{m, n})
    return InvalidArgument(ctx + ": planned output " + a.outputs[0].shape.ToString() +
                           " != [" + std::to_string(m) + "," + std::to_string(n) + "]");
  if (a.outputs[0].shape.num_elements() == 0 || k == 0) {
    if (a.outputs[0].shape.num_elements() == 0) return MakeEmptyKernel();
    return Unsupported(ctx + ": K == 0");
  }

  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto kern = std::make_unique<MatMulKernel>(node.name, a.options.num_threads, eng);
  FK_ASSIGN_OR_RETURN(FusedActivation act, MakeFusedActivation(a.graph, node, a.inputs, 1, n));
  const Tensor& bconst = a.graph.value(node.inputs[1]).constant;

  dnnl::matmul::primitive_desc pd;
  FK_DNNL_CHECK({
    using dims = dnnl::memory::dims;
    kern->a_md = dnnl::memory::desc({m, k}, dt::f32, ta ? dims{1, m} : dims{k, 1});
    kern->b_md = dnnl::memory::desc({k, n}, dt::f32, tb ? dims{1, k} : dims{n, 1});
    kern->dst_md = dnnl::memory::desc({m, n}, dt::f32, tag::ab);
    kern->bias_md = dnnl::memory::desc({1, n}, dt::f32, tag::ab);
    dnnl::memory::desc w_md =
        bconst.empty() ? kern->b_md : dnnl::memory::desc({k, n}, dt::f32, tag::any);
    dnnl::primitive_attr attr = BaseAttr();
    if (!act.prelu) attr.set_post_ops(act.ops);
    auto d = has_bias ? dnnl::matmul::desc(kern->a_md, w_md, kern->bias_md, kern->dst_md)
                      : dnnl::matmul::desc(kern->a_md, w_md, kern->dst_md);
    pd = dnnl::matmul::primitive_desc(d, attr, *eng);
    kern->prim = dnnl::matmul(pd);
    kern->SetScratchpadFrom(pd);
  });
  if (!bconst.empty()) {
    FK_DNNL_CHECK({
      dnnl::memory user_b(kern->b_md, *eng, const_cast<void*>(bconst.raw()));
      kern->packed_b = dnnl::memory(pd.weights_desc(), *eng);
      dnnl::stream s(*eng);
      dnnl::reorder(user_b, kern->packed_b).execute(s, user_b, kern->packed_b);
      s.wait();
    });
  }
  if (has_bias) kern->bias_input = 2;
  if (act.prelu) {
    kern->alpha_input = static_cast<int>(a.inputs.size()) - 1;
    const int64_t na = a.inputs.back().shape.num_elements();
    FK_DNNL_CHECK({
      kern->alpha_md = dnnl::memory::desc({1, na}, dt::f32, tag::ab);
      dnnl::prelu_forward::desc d(dnnl::prop_kind::forward_inference, kern->dst_md, kern->alpha_md);
      dnnl::prelu_forward::primitive_desc ppd(d, BaseAttr(), *eng);
      kern->prelu = dnnl::prelu_forward(ppd);
      // One scratchpad serves both primitives (they run one after the other).
      if (ppd.scratchpad_desc().get_size() > pd.scratchpad_desc().get_size())
        kern->SetScratchpadFrom(ppd);
    });
  }
  return std::unique_ptr<Kernel>(std::move(kern));
}

}  // namespace fk::engine::cpu
