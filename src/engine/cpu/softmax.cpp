// Softmax over one axis on oneDNN's softmax_forward (dense row-major data of any rank).
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

class SoftmaxKernel final : public DnnlKernel {
 public:
  using DnnlKernel::DnnlKernel;
  dnnl::softmax_forward prim;
  dnnl::memory::desc md;

 protected:
  void Execute(std::span<const Tensor> in, std::span<Tensor> out, dnnl::stream& s,
               std::unordered_map<int, dnnl::memory>& args) const override {
    args[DNNL_ARG_SRC] = Wrap(md, engine(), in[0]);
    args[DNNL_ARG_DST] = Wrap(md, engine(), out[0]);
    prim.execute(s, args);
  }
};

}  // namespace

bool SupportsSoftmax(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() != 1 || node.outputs.size() != 1) return false;
  if (!AllFloat32(graph, node)) return false;
  const int rank = graph.value(node.inputs[0]).shape.rank();
  return rank >= 1 && ops::NormalizeAxis(node.attrs.i("axis", -1), rank) >= 0;
}

Result<std::unique_ptr<Kernel>> PlanSoftmax(const PlanArgs& a) {
  const Shape& xs = a.inputs[0].shape;
  if (xs.num_elements() == 0) return MakeEmptyKernel();
  const int64_t axis = ops::NormalizeAxis(a.node.attrs.i("axis", -1), xs.rank());
  if (axis < 0) return InvalidArgument(NodeContext(a.node) + ": softmax axis out of range");
  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto k = std::make_unique<SoftmaxKernel>(a.node.name, a.options.num_threads, eng);
  FK_DNNL_CHECK({
    k->md = PlainDesc(xs);
    dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, k->md, static_cast<int>(axis));
    dnnl::softmax_forward::primitive_desc pd(d, BaseAttr(), *eng);
    k->prim = dnnl::softmax_forward(pd);
    k->SetScratchpadFrom(pd);
  });
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
