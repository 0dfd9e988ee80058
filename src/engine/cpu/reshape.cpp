// Reshape / Squeeze / ExpandDims / Identity: the data do not change, only the shape, so the
// kernel is one memcpy (the executor gives every node its own output buffer; it does not
// alias). Before this they fell back to the ref backend.
#include <cstring>
#include <memory>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"

namespace fk::engine::cpu {
namespace {

class CopyKernel final : public Kernel {
 public:
  std::string name;
  Status Run(std::span<const Tensor> in, std::span<Tensor> out, void*) const override {
    if (in[0].dtype() != out[0].dtype() || in[0].nbytes() != out[0].nbytes())
      return InvalidArgument("node '" + name + "': input " + in[0].shape().ToString() +
                             " and output " + out[0].shape().ToString() + " differ in size");
    if (out[0].nbytes() && out[0].raw() != in[0].raw())
      std::memcpy(out[0].raw(), in[0].raw(), out[0].nbytes());
    return OkStatus();
  }
};

}  // namespace

bool SupportsReshapeLike(const ir::Graph& graph, const ir::Node& node) {
  // Any dtype: the copy is bytewise. int32 shape arithmetic whose inputs are known is
  // evaluated at plan time by the executor before a backend is asked.
  (void)graph;
  return !node.inputs.empty() && node.outputs.size() == 1;
}

Result<std::unique_ptr<Kernel>> PlanReshapeLike(const PlanArgs& a) {
  if (a.inputs[0].shape.num_elements() != a.outputs[0].shape.num_elements() ||
      a.inputs[0].dtype != a.outputs[0].dtype)
    return InvalidArgument(NodeContext(a.node) + ": output " + a.outputs[0].shape.ToString() +
                           " does not hold the same elements as input " + a.inputs[0].shape.ToString());
  if (a.outputs[0].shape.num_elements() == 0) return MakeEmptyKernel();
  auto k = std::make_unique<CopyKernel>();
  k->name = a.node.name;
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
