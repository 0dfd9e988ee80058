// MaxPool / AvgPool on oneDNN's pooling_forward, NHWC. TF semantics: padded positions are
// ignored by max and excluded from the average (pooling_avg_exclude_padding).
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

using PoolKernel = SrcDstKernel<dnnl::pooling_forward>;

}  // namespace

bool SupportsPool(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() != 1 || node.outputs.size() != 1) return false;
  if (!AllFloat32(graph, node)) return false;
  if (graph.value(node.inputs[0]).shape.rank() != 4) return false;
  ops::Window w;
  if (!ops::ReadWindow(node, /*pool=*/true, &w).ok()) return false;
  // oneDNN needs every pad smaller than the window (TF SAME always satisfies this); a
  // window lying entirely in explicit padding has no TF-defined average.
  if (w.padding == "EXPLICIT" &&
      (w.ex_top >= w.kh || w.ex_bottom >= w.kh || w.ex_left >= w.kw || w.ex_right >= w.kw))
    return false;
  return true;
}

Result<std::unique_ptr<Kernel>> PlanPool(const PlanArgs& a) {
  const ir::Node& node = a.node;
  const std::string ctx = NodeContext(node);
  const Shape& xs = a.inputs[0].shape;
  const Shape& ys = a.outputs[0].shape;
  if (ys.num_elements() == 0) return MakeEmptyKernel();
  ops::Window w;
  FK_RETURN_IF_ERROR(ops::ReadWindow(node, true, &w));
  const ops::WindowOut wo = ops::ComputeWindow(w, xs[1], xs[2]);
  if (ys != Shape{xs[0], wo.oh, wo.ow, xs[3]})
    return InvalidArgument(ctx + ": planned output shape " + ys.ToString() + " does not match input " +
                           xs.ToString() + " and the window");
  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto k = std::make_unique<PoolKernel>(node.name, a.options.num_threads, eng);
  const auto alg = node.op == ir::OpType::kMaxPool ? dnnl::algorithm::pooling_max
                                                    : dnnl::algorithm::pooling_avg_exclude_padding;
  FK_DNNL_CHECK({
    k->src_md = dnnl::memory::desc({xs[0], xs[3], xs[1], xs[2]}, dt::f32, tag::nhwc);
    k->dst_md = dnnl::memory::desc({ys[0], ys[3], ys[1], ys[2]}, dt::f32, tag::nhwc);
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, k->src_md, k->dst_md,
                                  {w.sh, w.sw}, {w.kh, w.kw}, {wo.pad_top, wo.pad_left},
                                  {wo.pad_bottom, wo.pad_right});
    dnnl::pooling_forward::primitive_desc pd(d, BaseAttr(), *eng);
    k->prim = dnnl::pooling_forward(pd);
    k->SetScratchpadFrom(pd);
  });
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
