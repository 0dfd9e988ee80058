// Concat along one axis on oneDNN's concat primitive (dense row-major tensors).
// Zero-sized inputs are skipped.
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

class ConcatKernel final : public DnnlKernel {
 public:
  using DnnlKernel::DnnlKernel;
  dnnl::concat prim;
  std::vector<dnnl::memory::desc> src_mds;
  std::vector<size_t> src_index;  // node input index of each oneDNN source
  dnnl::memory::desc dst_md;

 protected:
  void Execute(std::span<const Tensor> in, std::span<Tensor> out, dnnl::stream& s,
               std::unordered_map<int, dnnl::memory>& args) const override {
    for (size_t i = 0; i < src_mds.size(); ++i)
      args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = Wrap(src_mds[i], engine(), in[src_index[i]]);
    args[DNNL_ARG_DST] = Wrap(dst_md, engine(), out[0]);
    prim.execute(s, args);
  }
};

}  // namespace

bool SupportsConcat(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty() || node.outputs.size() != 1 || !AllFloat32(graph, node)) return false;
  const int rank = graph.value(node.inputs[0]).shape.rank();
  if (rank < 1) return false;
  for (ValueId id : node.inputs)
    if (graph.value(id).shape.rank() != rank) return false;
  return ops::NormalizeAxis(node.attrs.i("axis", 0), rank) >= 0;
}

Result<std::unique_ptr<Kernel>> PlanConcat(const PlanArgs& a) {
  const Shape& ys = a.outputs[0].shape;
  if (ys.num_elements() == 0) return MakeEmptyKernel();
  const int64_t axis = ops::NormalizeAxis(a.node.attrs.i("axis", 0), ys.rank());
  if (axis < 0) return InvalidArgument(NodeContext(a.node) + ": concat axis out of range");
  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto k = std::make_unique<ConcatKernel>(a.node.name, a.options.num_threads, eng);
  FK_DNNL_CHECK({
    for (size_t i = 0; i < a.inputs.size(); ++i) {
      if (a.inputs[i].shape.num_elements() == 0) continue;
      k->src_mds.push_back(PlainDesc(a.inputs[i].shape));
      k->src_index.push_back(i);
    }
    k->dst_md = PlainDesc(ys);
    dnnl::concat::primitive_desc pd(k->dst_md, static_cast<int>(axis), k->src_mds, *eng, BaseAttr());
    k->prim = dnnl::concat(pd);
    k->SetScratchpadFrom(pd);
  });
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
