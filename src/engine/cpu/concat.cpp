// Concat along one axis as plain row copies (dense row-major tensors, any dtype).
//
// With outer = product of the dims before the axis, every input contributes one contiguous
// chunk of dims[axis..] elements per outer index, so the output is `outer` rows of the
// inputs' chunks side by side. oneDNN's concat ("simple:any" in 2.6) took 60 us for the
// [1,4420,2] + [1,4420,2] -> [1,4420,4] concats of fr_detect's box decoding (8-byte chunks);
// this loop takes a few microseconds. Large concats split the rows over the planned threads.
// Zero-sized inputs are skipped.
#include <cstring>
#include <memory>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "engine/cpu/copy_rows.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

class ConcatKernel final : public Kernel {
 public:
  std::string name;
  size_t elem = 4;
  int64_t outer = 1;
  int64_t row = 0;                    // output elements per outer index
  std::vector<size_t> src_index;      // node input index of each non-empty input
  std::vector<int64_t> chunk;         // elements per outer index of each input
  std::vector<int64_t> dst_offset;    // elements: where each input's chunk starts in a row
  int num_threads = 1;

  Status Run(std::span<const Tensor> in, std::span<Tensor> out, void*) const override {
    for (size_t i = 0; i < src_index.size(); ++i)
      if (in[src_index[i]].num_elements() != outer * chunk[i])
        return InvalidArgument("node '" + name + "': input " + std::to_string(src_index[i]) + " " +
                               in[src_index[i]].shape().ToString() +
                               " does not match the planned shape (re-plan for the new input shape)");
    auto* yp = static_cast<unsigned char*>(out[0].raw());
    const int64_t total_bytes = outer * row * static_cast<int64_t>(elem);
    const int threads = (num_threads > 1 && total_bytes >= (1 << 20) && outer >= num_threads) ? num_threads : 1;
    for (size_t i = 0; i < src_index.size(); ++i) {
      const auto* xp = static_cast<const unsigned char*>(in[src_index[i]].raw());
      const int64_t c = chunk[i];
      if (outer == 1) {
        std::memcpy(yp + dst_offset[i] * static_cast<int64_t>(elem), xp, static_cast<size_t>(c) * elem);
        continue;
      }
      if (elem == 4 && c <= 16) {  // short chunks: an element loop beats a memcpy call per row
        const auto* s = reinterpret_cast<const uint32_t*>(xp);
        auto* d = reinterpret_cast<uint32_t*>(yp) + dst_offset[i];
        CopyRows(d, row, s, c, outer, c);
      } else {
        const size_t cb = static_cast<size_t>(c) * elem;
        const size_t rb = static_cast<size_t>(row) * elem;
        unsigned char* d = yp + dst_offset[i] * static_cast<int64_t>(elem);
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
        for (int64_t o = 0; o < outer; ++o) std::memcpy(d + static_cast<size_t>(o) * rb, xp + static_cast<size_t>(o) * cb, cb);
      }
    }
    return OkStatus();
  }
};

}  // namespace

bool SupportsConcat(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty() || node.outputs.size() != 1) return false;
  const DType dt = graph.value(node.outputs[0]).dtype;
  const int rank = graph.value(node.inputs[0]).shape.rank();
  if (rank < 1) return false;
  for (ValueId id : node.inputs)
    if (graph.value(id).shape.rank() != rank || graph.value(id).dtype != dt) return false;
  return ops::NormalizeAxis(node.attrs.i("axis", 0), rank) >= 0;
}

Result<std::unique_ptr<Kernel>> PlanConcat(const PlanArgs& a) {
  const Shape& ys = a.outputs[0].shape;
  if (ys.num_elements() == 0) return MakeEmptyKernel();
  const int64_t axis = ops::NormalizeAxis(a.node.attrs.i("axis", 0), ys.rank());
  if (axis < 0) return InvalidArgument(NodeContext(a.node) + ": concat axis out of range");
  auto k = std::make_unique<ConcatKernel>();
  k->name = a.node.name;
  k->elem = DTypeSize(a.outputs[0].dtype);
  k->num_threads = a.options.num_threads;
  for (int64_t d = 0; d < axis; ++d) k->outer *= ys[static_cast<int>(d)];
  int64_t inner = 1;  // elements per unit of the axis
  for (int d = static_cast<int>(axis) + 1; d < ys.rank(); ++d) inner *= ys[d];
  int64_t axis_sum = 0;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Shape& xs = a.inputs[i].shape;
    if (xs.rank() != ys.rank() || a.inputs[i].dtype != a.outputs[0].dtype)
      return InvalidArgument(NodeContext(a.node) + ": input " + std::to_string(i) + " " + xs.ToString() +
                             " does not match the output " + ys.ToString());
    for (int d = 0; d < ys.rank(); ++d)
      if (d != axis && xs[d] != ys[d])
        return InvalidArgument(NodeContext(a.node) + ": input " + std::to_string(i) + " " + xs.ToString() +
                               " differs from the output " + ys.ToString() + " outside the concat axis");
    const int64_t along = xs[static_cast<int>(axis)];
    if (along > 0) {
      k->src_index.push_back(i);
      k->chunk.push_back(along * inner);
      k->dst_offset.push_back(axis_sum * inner);
    }
    axis_sum += along;
  }
  if (axis_sum != ys[static_cast<int>(axis)])
    return InvalidArgument(NodeContext(a.node) + ": inputs add up to " + std::to_string(axis_sum) +
                           " along the axis, output has " + std::to_string(ys[static_cast<int>(axis)]));
  k->row = axis_sum * inner;
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
