// StridedSlice and Slice with constant begin/end/strides (sizes), and Transpose with a constant
// perm, as plain strided copies.
// The slice is resolved once at Plan time (ops::ComputeStridedSlice, the same TF semantics as
// the ref kernel) into a short list of (count, input step) dimensions: size-1 dimensions are
// dropped and dimensions that stay contiguous are merged, so the run loop copies whole
// contiguous runs (memcpy, or an element loop for short runs) without per-element index
// arithmetic. Before this, the box-decoding tail of fr_detect (six [1,4420,4] -> [1,4420,2]
// slices) ran on ref's per-element loop, ~10% of the model, and fr_pose's 16 channel-shuffle
// Transposes ~75% of that model (docs/engine-cpu.md, "fr_detect").
#include <cstring>
#include <memory>

#include "engine/cpu/copy_rows.h"
#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

class SliceKernel final : public Kernel {
 public:
  std::string name;
  size_t elem = 4;                   // bytes per element
  int64_t in_elements = 0;           // planned input size (checked at run time)
  int64_t offset = 0;                // elements: input position of the first output element
  std::vector<int64_t> count, step;  // outer dims (outermost first), input step in elements
  int64_t run = 1;                   // innermost: elements per run
  int64_t run_step = 1;              // innermost input step (1 = contiguous run)

  Status Run(std::span<const Tensor> in, std::span<Tensor> out, void*) const override {
    if (in[0].num_elements() != in_elements)
      return InvalidArgument("node '" + name + "': input " + in[0].shape().ToString() +
                             " does not match the planned shape (re-plan for the new input shape)");
    const auto* xp = static_cast<const unsigned char*>(in[0].raw()) + offset * static_cast<int64_t>(elem);
    auto* yp = static_cast<unsigned char*>(out[0].raw());
    int64_t outer = 1;
    for (int64_t c : count) outer *= c;
    const int nd = static_cast<int>(count.size());
    int64_t idx[8] = {0};
    int64_t off = 0;  // input offset (elements) of the current run
    const size_t run_bytes = static_cast<size_t>(run) * elem;
    if (count.size() == 1 && run_step == 1 && elem == 4 && run <= 4) {  // rows of a few floats
      const auto* s = reinterpret_cast<const uint32_t*>(xp);
      auto* d = reinterpret_cast<uint32_t*>(yp);
      CopyRows(d, run, s, step[0], outer, run);
      return OkStatus();
    }
    if (elem == 4 && run_step != 1 && nd >= 1) {
      // Strided innermost run (a transpose of the last two walked dims, e.g. a channel
      // shuffle): the two inner levels as tight loops, the counter only over the rest.
      const int64_t tc = count[static_cast<size_t>(nd - 1)], ts = step[static_cast<size_t>(nd - 1)];
      const auto* s0 = reinterpret_cast<const uint32_t*>(xp);
      auto* d = reinterpret_cast<uint32_t*>(yp);
      for (int64_t o = 0; o < outer / tc; ++o) {
        const uint32_t* s = s0 + off;
        for (int64_t i = 0; i < tc; ++i, d += run)
          for (int64_t k = 0; k < run; ++k) d[k] = s[i * ts + k * run_step];
        for (int dd = nd - 2; dd >= 0; --dd) {
          off += step[static_cast<size_t>(dd)];
          if (++idx[dd] < count[static_cast<size_t>(dd)]) break;
          off -= step[static_cast<size_t>(dd)] * count[static_cast<size_t>(dd)];
          idx[dd] = 0;
        }
      }
      return OkStatus();
    }
    for (int64_t o = 0; o < outer; ++o) {
      const unsigned char* src = xp + off * static_cast<int64_t>(elem);
      if (run_step == 1) {
        if (elem == 4 && run <= 16) {
          uint32_t* d = reinterpret_cast<uint32_t*>(yp);
          const uint32_t* s = reinterpret_cast<const uint32_t*>(src);
          for (int64_t k = 0; k < run; ++k) d[k] = s[k];
        } else {
          std::memcpy(yp, src, run_bytes);
        }
      } else if (elem == 4) {
        uint32_t* d = reinterpret_cast<uint32_t*>(yp);
        const uint32_t* s = reinterpret_cast<const uint32_t*>(src);
        for (int64_t k = 0; k < run; ++k) d[k] = s[k * run_step];
      } else {
        for (int64_t k = 0; k < run; ++k)
          std::memcpy(yp + static_cast<size_t>(k) * elem, src + k * run_step * static_cast<int64_t>(elem), elem);
      }
      yp += run_bytes;
      for (int d = nd - 1; d >= 0; --d) {
        off += step[static_cast<size_t>(d)];
        if (++idx[d] < count[static_cast<size_t>(d)]) break;
        off -= step[static_cast<size_t>(d)] * count[static_cast<size_t>(d)];
        idx[d] = 0;
      }
    }
    return OkStatus();
  }
};

// The walk over the output: (count, input step) per output dim, size-1 dims dropped and
// neighbours that stay contiguous merged; the innermost becomes the run.
Status SetWalk(const ir::Node& node, const std::vector<int64_t>& size, const std::vector<int64_t>& steps,
               SliceKernel* k) {
  std::vector<int64_t> cnt, stp;
  for (size_t u = 0; u < size.size(); ++u) {
    if (size[u] == 1) continue;
    const int64_t st = steps[u];
    if (!cnt.empty() && stp.back() == st * size[u]) {  // the previous dim continues this one
      cnt.back() *= size[u];
      stp.back() = st;
    } else {
      cnt.push_back(size[u]);
      stp.push_back(st);
    }
  }
  if (cnt.empty()) {
    cnt.push_back(1);
    stp.push_back(1);
  }
  if (cnt.size() > 8) return Unsupported(NodeContext(node) + ": more than 8 dims to walk");
  k->run = cnt.back();
  k->run_step = stp.back();
  cnt.pop_back();
  stp.pop_back();
  k->count = cnt;
  k->step = stp;
  return OkStatus();
}

bool ConstantInts(const ir::Graph& graph, ValueId v, std::vector<int64_t>* out) {
  const ir::Value& val = graph.value(v);
  if (!val.is_constant()) return false;
  if (val.constant.dtype() != DType::kInt32 && val.constant.dtype() != DType::kInt64) return false;
  *out = ops::TensorToInts(val.constant);
  return true;
}

}  // namespace

bool SupportsSlice(const ir::Graph& graph, const ir::Node& node) {
  const size_t want = node.op == ir::OpType::kStridedSlice ? 4 : 3;
  if (node.inputs.size() != want || node.outputs.size() != 1) return false;
  std::vector<int64_t> tmp;
  for (size_t i = 1; i < want; ++i)
    if (!ConstantInts(graph, node.inputs[i], &tmp)) return false;
  const int rank = graph.value(node.inputs[0]).shape.rank();
  return rank >= 1 && rank <= 8;
}

Result<std::unique_ptr<Kernel>> PlanSlice(const PlanArgs& a) {
  const ir::Node& node = a.node;
  const Shape& xs = a.inputs[0].shape;
  const Shape& ys = a.outputs[0].shape;
  if (ys.num_elements() == 0) return MakeEmptyKernel();
  if (a.inputs[0].dtype != a.outputs[0].dtype)
    return InvalidArgument(NodeContext(node) + ": output dtype differs from the input's");
  FK_ASSIGN_OR_RETURN(ops::GatherWalk w, ops::ResolveGatherWalk(a.graph, node, xs, ys));
  auto k = std::make_unique<SliceKernel>();
  k->name = node.name;
  k->elem = DTypeSize(a.inputs[0].dtype);
  k->in_elements = xs.num_elements();
  k->offset = w.offset;
  FK_RETURN_IF_ERROR(SetWalk(node, w.dims, w.steps, k.get()));
  return std::unique_ptr<Kernel>(std::move(k));
}

bool SupportsTranspose(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty() || node.inputs.size() > 2 || node.outputs.size() != 1) return false;
  std::vector<int64_t> tmp;
  if (!node.attrs.has("perm") && node.inputs.size() == 2 && !ConstantInts(graph, node.inputs[1], &tmp)) return false;
  const int rank = graph.value(node.inputs[0]).shape.rank();
  return rank >= 1 && rank <= 8;
}

// A transpose is the same walk (ops::ResolveGatherWalk): output dims in order, each stepping its
// input dim's stride.
Result<std::unique_ptr<Kernel>> PlanTranspose(const PlanArgs& a) { return PlanSlice(a); }

}  // namespace fk::engine::cpu
