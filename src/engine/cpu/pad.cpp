// Pad (CONSTANT mode, non-negative paddings, float32) as plain row copies: the output is
// filled with the constant, then each contiguous run of the input is copied into place.
// A run is everything from the innermost padded dimension inwards, so a spatial NHWC pad
// copies W*C... per row and a channel pad (blazeface / facemesh residuals) C per pixel.
#include <algorithm>
#include <cstring>
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

class PadKernel final : public Kernel {
 public:
  std::string name;
  float value = 0.f;
  std::vector<int64_t> in_dims, out_strides, before;  // per dimension
  int inner_dim = 0;        // innermost padded dimension (runs start here)
  int64_t run = 0;          // elements per contiguous run (input dims inner_dim..)
  int64_t runs = 0;         // number of runs (product of input dims before inner_dim)

  Status Run(std::span<const Tensor> in, std::span<Tensor> out, void*) const override {
    const Tensor& x = in[0];
    Tensor& y = out[0];
    int64_t in_n = 1;
    for (int64_t d : in_dims) in_n *= d;
    if (x.dtype() != DType::kFloat32 || y.dtype() != DType::kFloat32 || x.num_elements() != in_n)
      return InvalidArgument("node '" + name + "': pad input does not match the planned shape " +
                             "(re-plan the executor for the new input shape)");
    float* yp = y.data<float>();
    const float* xp = x.data<float>();
    const int64_t ny = y.num_elements();
    if (value == 0.f) std::memset(yp, 0, static_cast<size_t>(ny) * sizeof(float));
    else std::fill(yp, yp + ny, value);
    if (run == 0) return OkStatus();
    // Walk the run indices (dims 0..inner_dim-1) as a counter.
    std::vector<int64_t> idx(static_cast<size_t>(inner_dim), 0);
    int64_t base = 0;
    for (int d = 0; d <= inner_dim; ++d) base += before[static_cast<size_t>(d)] * out_strides[static_cast<size_t>(d)];
    for (int64_t r = 0; r < runs; ++r) {
      int64_t off = base;
      for (int d = 0; d < inner_dim; ++d) off += idx[static_cast<size_t>(d)] * out_strides[static_cast<size_t>(d)];
      std::memcpy(yp + off, xp + r * run, static_cast<size_t>(run) * sizeof(float));
      for (int d = inner_dim - 1; d >= 0; --d) {
        if (++idx[static_cast<size_t>(d)] < in_dims[static_cast<size_t>(d)]) break;
        idx[static_cast<size_t>(d)] = 0;
      }
    }
    return OkStatus();
  }
};

// Paddings as [rank][2] int64, when input 1 is a constant int32/int64 of that shape.
bool ConstPaddings(const ir::Graph& graph, const ir::Node& node, int rank, std::vector<int64_t>* p) {
  if (node.inputs.size() != 2) return false;
  const ir::Value& v = graph.value(node.inputs[1]);
  if (!v.is_constant() || v.constant.num_elements() != 2 * rank) return false;
  p->resize(static_cast<size_t>(2 * rank));
  for (int i = 0; i < 2 * rank; ++i) {
    if (v.constant.dtype() == DType::kInt32) (*p)[static_cast<size_t>(i)] = v.constant.data<int32_t>()[i];
    else if (v.constant.dtype() == DType::kInt64) (*p)[static_cast<size_t>(i)] = v.constant.data<int64_t>()[i];
    else return false;
    if ((*p)[static_cast<size_t>(i)] < 0) return false;  // negative pads crop: leave to ref
  }
  return true;
}

}  // namespace

bool SupportsPad(const ir::Graph& graph, const ir::Node& node) {
  // Shapes and dtypes may not be inferred in the static graph: PlanPad checks them with
  // concrete shapes and refuses (-> ref fallback) what it does not handle.
  if (node.inputs.size() != 2 || node.outputs.size() != 1) return false;
  if (node.attrs.s("mode", "CONSTANT") != "CONSTANT") return false;
  if (graph.value(node.inputs[0]).dtype != DType::kFloat32) return false;
  const ir::Value& p = graph.value(node.inputs[1]);
  if (!p.is_constant() || p.constant.num_elements() % 2 != 0) return false;
  std::vector<int64_t> pads;
  return ConstPaddings(graph, node, static_cast<int>(p.constant.num_elements() / 2), &pads);
}

Result<std::unique_ptr<Kernel>> PlanPad(const PlanArgs& a) {
  const Shape& xs = a.inputs[0].shape;
  const Shape& ys = a.outputs[0].shape;
  const int rank = xs.rank();
  if (a.inputs[0].dtype != DType::kFloat32 || a.outputs[0].dtype != DType::kFloat32)
    return Unsupported(NodeContext(a.node) + ": the cpu pad handles float32 only");
  std::vector<int64_t> p;
  if (rank < 1 || !ConstPaddings(a.graph, a.node, rank, &p) || ys.rank() != rank)
    return InvalidArgument(NodeContext(a.node) + ": pad needs constant non-negative paddings of shape [" +
                           std::to_string(rank) + ",2]");
  for (int d = 0; d < rank; ++d)
    if (!xs.is_fully_defined() || ys[d] != xs[d] + p[static_cast<size_t>(2 * d)] + p[static_cast<size_t>(2 * d + 1)])
      return InvalidArgument(NodeContext(a.node) + ": pad output shape " + ys.ToString() +
                             " does not match input " + xs.ToString() + " plus paddings");
  if (ys.num_elements() == 0) return MakeEmptyKernel();
  auto k = std::make_unique<PadKernel>();
  k->name = a.node.name;
  k->value = a.node.attrs.f("constant_value", 0.f);
  k->in_dims.resize(static_cast<size_t>(rank));
  k->before.resize(static_cast<size_t>(rank));
  k->out_strides.resize(static_cast<size_t>(rank));
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    k->in_dims[static_cast<size_t>(d)] = xs[d];
    k->before[static_cast<size_t>(d)] = p[static_cast<size_t>(2 * d)];
    k->out_strides[static_cast<size_t>(d)] = stride;
    stride *= ys[d];
  }
  k->inner_dim = 0;
  for (int d = 0; d < rank; ++d)
    if (p[static_cast<size_t>(2 * d)] || p[static_cast<size_t>(2 * d + 1)]) k->inner_dim = d;
  k->run = 1;
  for (int d = k->inner_dim; d < rank; ++d) k->run *= xs[d];
  k->runs = 1;
  for (int d = 0; d < k->inner_dim; ++d) k->runs *= xs[d];
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
