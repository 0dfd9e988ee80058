// Unary element-wise ops on oneDNN's eltwise primitive (data flattened to 1-D), and the
// Prelu op on the prelu primitive (alpha broadcast over trailing axes, channel-last).
//
// Left to ref on purpose: Floor, Reciprocal, Rsqrt (oneDNN 2.6 has no exact eltwise for
// them: round is to-nearest, pow goes through exp/log) and Log (oneDNN's polynomial is off
// by ~3e-6 absolute near 1, ~50x the float rounding error).
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"

namespace fk::engine::cpu {
namespace {

struct EltwiseSpec {
  dnnl::algorithm alg;
  float alpha = 0.f, beta = 0.f;
};

bool GetSpec(const ir::Node& node, EltwiseSpec* s) {
  using A = dnnl::algorithm;
  const ir::Attrs& at = node.attrs;
  switch (node.op) {
    case ir::OpType::kRelu: *s = {A::eltwise_relu, 0.f, 0.f}; return true;
    case ir::OpType::kRelu6: *s = {A::eltwise_clip, 0.f, 6.f}; return true;
    case ir::OpType::kSigmoid: *s = {A::eltwise_logistic}; return true;
    case ir::OpType::kTanh: *s = {A::eltwise_tanh}; return true;
    case ir::OpType::kElu: *s = {A::eltwise_elu, at.f("alpha", 1.f), 0.f}; return true;
    case ir::OpType::kLeakyRelu: *s = {A::eltwise_relu, at.f("alpha", 0.2f), 0.f}; return true;
    case ir::OpType::kClip:
      if (!at.has("clip_min") || !at.has("clip_max")) return false;
      *s = {A::eltwise_clip, at.f("clip_min"), at.f("clip_max")};
      return true;
    case ir::OpType::kAbs: *s = {A::eltwise_abs}; return true;
    case ir::OpType::kNeg: *s = {A::eltwise_linear, -1.f, 0.f}; return true;
    case ir::OpType::kSquare: *s = {A::eltwise_square}; return true;
    case ir::OpType::kSqrt: *s = {A::eltwise_sqrt}; return true;
    case ir::OpType::kExp: *s = {A::eltwise_exp}; return true;
    default: return false;
  }
}

using EltwiseKernel = SrcDstKernel<dnnl::eltwise_forward>;

class PreluKernel final : public DnnlKernel {
 public:
  using DnnlKernel::DnnlKernel;
  dnnl::prelu_forward prim;
  dnnl::memory::desc md, alpha_md;

 protected:
  void Execute(std::span<const Tensor> in, std::span<Tensor> out, dnnl::stream& s,
               std::unordered_map<int, dnnl::memory>& args) const override {
    args[DNNL_ARG_SRC] = Wrap(md, engine(), in[0]);
    args[DNNL_ARG_WEIGHTS] = Wrap(alpha_md, engine(), in[1]);
    args[DNNL_ARG_DST] = Wrap(md, engine(), out[0]);
    prim.execute(s, args);
  }
};

Shape PadTo(const Shape& s, int rank) {
  std::vector<int64_t> d(static_cast<size_t>(rank - s.rank()), 1);
  d.insert(d.end(), s.dims().begin(), s.dims().end());
  return Shape(std::move(d));
}

Result<std::unique_ptr<Kernel>> PlanPrelu(const PlanArgs& a) {
  const Shape& xs = a.inputs[0].shape;
  if (xs.num_elements() == 0) return MakeEmptyKernel();
  const Shape& al = a.inputs[1].shape;
  if (al.rank() > xs.rank())
    return InvalidArgument(NodeContext(a.node) + ": alpha rank exceeds input rank");
  const Shape alp = PadTo(al, xs.rank());
  for (int i = 0; i < xs.rank(); ++i)
    if (alp[i] != 1 && alp[i] != xs[i])
      return InvalidArgument(NodeContext(a.node) + ": alpha " + al.ToString() +
                             " does not broadcast to " + xs.ToString());
  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto k = std::make_unique<PreluKernel>(a.node.name, a.options.num_threads, eng);
  FK_DNNL_CHECK({
    k->md = ChannelLastDesc(xs);
    k->alpha_md = ChannelLastDesc(alp);
    dnnl::prelu_forward::desc d(dnnl::prop_kind::forward_inference, k->md, k->alpha_md);
    dnnl::prelu_forward::primitive_desc pd(d, BaseAttr(), *eng);
    k->prim = dnnl::prelu_forward(pd);
    k->SetScratchpadFrom(pd);
  });
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace

bool SupportsUnary(const ir::Graph& graph, const ir::Node& node) {
  if (!AllFloat32(graph, node) || node.outputs.size() != 1) return false;
  if (node.op == ir::OpType::kPrelu) {
    if (node.inputs.size() != 2) return false;
    const Shape& x = graph.value(node.inputs[0]).shape;
    const Shape& al = graph.value(node.inputs[1]).shape;
    if (x.rank() < 1 || al.rank() > x.rank()) return false;
    const Shape alp = PadTo(al, x.rank());
    for (int i = 0; i < x.rank(); ++i)
      if (alp[i] != 1 && alp[i] != x[i]) return false;
    return true;
  }
  EltwiseSpec s;
  return node.inputs.size() == 1 && GetSpec(node, &s);
}

Result<std::unique_ptr<Kernel>> PlanUnary(const PlanArgs& a) {
  if (a.node.op == ir::OpType::kPrelu) return PlanPrelu(a);
  EltwiseSpec spec;
  if (!GetSpec(a.node, &spec)) return Unsupported(NodeContext(a.node) + ": not an eltwise op");
  const int64_t n = a.inputs[0].shape.num_elements();
  if (n == 0) return MakeEmptyKernel();
  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto k = std::make_unique<EltwiseKernel>(a.node.name, a.options.num_threads, eng);
  FK_DNNL_CHECK({
    k->src_md = k->dst_md = dnnl::memory::desc({n}, dt::f32, tag::a);
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, spec.alg, k->src_md, spec.alpha,
                                  spec.beta);
    dnnl::eltwise_forward::primitive_desc pd(d, BaseAttr(), *eng);
    k->prim = dnnl::eltwise_forward(pd);
    k->SetScratchpadFrom(pd);
  });
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
