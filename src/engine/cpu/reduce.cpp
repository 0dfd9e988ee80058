// Mean / Sum / Max / Min / Prod over constant axes.
//
// The common global pooling pattern (rank 4 NHWC, axes {1,2}, Mean or Max) runs on the
// pooling primitive with a window covering H x W (fast jit path); everything else on the
// reduction primitive, with both tensors described channel-last.
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

using ReduceKernel = SrcDstKernel<dnnl::primitive>;

dnnl::algorithm Algorithm(ir::OpType op) {
  switch (op) {
    case ir::OpType::kMean: return dnnl::algorithm::reduction_mean;
    case ir::OpType::kSum: return dnnl::algorithm::reduction_sum;
    case ir::OpType::kMax: return dnnl::algorithm::reduction_max;
    case ir::OpType::kMin: return dnnl::algorithm::reduction_min;
    default: return dnnl::algorithm::reduction_mul;
  }
}

bool ConstAxes(const ir::Graph& graph, const ir::Node& node, std::vector<int64_t>* axes) {
  if (node.inputs.size() != 2) return false;
  const ir::Value& v = graph.value(node.inputs[1]);
  if (!v.is_constant()) return false;
  if (v.dtype != DType::kInt32 && v.dtype != DType::kInt64) return false;
  *axes = ops::TensorToInts(v.constant);
  return true;
}

}  // namespace

bool SupportsReduce(const ir::Graph& graph, const ir::Node& node) {
  if (node.outputs.size() != 1) return false;
  if (graph.value(node.inputs[0]).dtype != DType::kFloat32 ||
      graph.value(node.outputs[0]).dtype != DType::kFloat32)
    return false;
  std::vector<int64_t> axes;
  if (!ConstAxes(graph, node, &axes) || axes.empty()) return false;  // no axes: identity (ref)
  const int rank = graph.value(node.inputs[0]).shape.rank();
  if (rank < 1 || rank > 6) return false;
  std::vector<bool> mask;
  return ops::ReduceMask(node, rank, axes, &mask).ok();
}

Result<std::unique_ptr<Kernel>> PlanReduce(const PlanArgs& a) {
  const ir::Node& node = a.node;
  std::vector<int64_t> axes;
  if (!ConstAxes(a.graph, node, &axes)) return Unsupported(NodeContext(node) + ": axes must be constant");
  const Shape& xs = a.inputs[0].shape;
  if (a.outputs[0].shape.num_elements() == 0) return MakeEmptyKernel();
  if (xs.num_elements() == 0)
    return Unsupported(NodeContext(node) + ": reduction of an empty tensor is left to ref");
  std::vector<bool> mask;
  FK_RETURN_IF_ERROR(ops::ReduceMask(node, xs.rank(), axes, &mask));
  std::vector<int64_t> dd = xs.dims();
  for (size_t i = 0; i < dd.size(); ++i)
    if (mask[i]) dd[i] = 1;
  const Shape ds(dd);
  if (ds.num_elements() != a.outputs[0].shape.num_elements())
    return InvalidArgument(NodeContext(node) + ": planned output " + a.outputs[0].shape.ToString() +
                           " does not match the reduction of " + xs.ToString());
  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  auto k = std::make_unique<ReduceKernel>(node.name, a.options.num_threads, eng);
  const bool global_pool = xs.rank() == 4 && !mask[0] && mask[1] && mask[2] && !mask[3] &&
                           (node.op == ir::OpType::kMean || node.op == ir::OpType::kMax);
  if (global_pool) {
    FK_DNNL_CHECK({
      k->src_md = dnnl::memory::desc({xs[0], xs[3], xs[1], xs[2]}, dt::f32, tag::nhwc);
      k->dst_md = dnnl::memory::desc({xs[0], xs[3], 1, 1}, dt::f32, tag::nhwc);
      dnnl::pooling_forward::desc d(
          dnnl::prop_kind::forward_inference,
          node.op == ir::OpType::kMax ? dnnl::algorithm::pooling_max
                                      : dnnl::algorithm::pooling_avg_exclude_padding,
          k->src_md, k->dst_md, {1, 1}, {xs[1], xs[2]}, {0, 0}, {0, 0});
      dnnl::pooling_forward::primitive_desc pd(d, BaseAttr(), *eng);
      k->prim = dnnl::pooling_forward(pd);
      k->SetScratchpadFrom(pd);
    });
  } else {
    FK_DNNL_CHECK({
      k->src_md = ChannelLastDesc(xs);
      k->dst_md = ChannelLastDesc(ds);
      dnnl::reduction::desc d(Algorithm(node.op), k->src_md, k->dst_md, 0.f, 0.f);
      dnnl::reduction::primitive_desc pd(d, BaseAttr(), *eng);
      k->prim = dnnl::reduction(pd);
      k->SetScratchpadFrom(pd);
    });
  }
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
