// The CPU backend: one explicit table from IR op to (Supports, Plan) of its op family.
// Ops not in the table (or whose attributes a family rejects) run on the reference
// backend; the executor falls back per node.
#include "engine/cpu/cpu_backend.h"

#include <array>
#include <exception>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"

namespace fk::engine {
namespace cpu {
namespace {

// Work below which a node is not worth parallelising (see Plan).
constexpr int64_t kSmallElementwise = 64 * 1024;  // output elements
constexpr int64_t kSmallMacs = 2 * 1000 * 1000;   // multiply-adds of a conv / matmul

bool IsSmallWork(const ir::Node& node, const std::vector<TensorInfo>& inputs,
                 const std::vector<TensorInfo>& outputs) {
  int64_t out_elems = 0;
  for (const TensorInfo& t : outputs) out_elems += t.shape.num_elements();
  if ((node.op == ir::OpType::kConv2D || node.op == ir::OpType::kDepthwiseConv2D ||
       node.op == ir::OpType::kMatMul) &&
      inputs.size() >= 2) {
    // MACs = output elements x (reduction length) = out x (weights elements / out channels).
    const Shape& w = inputs[1].shape;
    int64_t wel = w.num_elements();
    int64_t out_c = w.rank() > 0 ? w[w.rank() - 1] : 1;
    if (node.op == ir::OpType::kDepthwiseConv2D && w.rank() == 4) out_c = w[2] * w[3];
    int64_t macs = out_c > 0 ? out_elems * (wel / out_c) : out_elems;
    return macs < kSmallMacs;
  }
  return out_elems < kSmallElementwise;
}

struct Entry {
  ir::OpType op;
  SupportsFn supports;
  PlanFn plan;
};

using ir::OpType;
constexpr Entry kTable[] = {
    {OpType::kConv2D, SupportsConv, PlanConv},
    {OpType::kDepthwiseConv2D, SupportsConv, PlanConv},
    {OpType::kMatMul, SupportsMatMul, PlanMatMul},
    {OpType::kMaxPool, SupportsPool, PlanPool},
    {OpType::kAvgPool, SupportsPool, PlanPool},
    {OpType::kSoftmax, SupportsSoftmax, PlanSoftmax},
    {OpType::kAdd, SupportsBinary, PlanBinary},
    {OpType::kSub, SupportsBinary, PlanBinary},
    {OpType::kMul, SupportsBinary, PlanBinary},
    {OpType::kDiv, SupportsBinary, PlanBinary},
    {OpType::kMaximum, SupportsBinary, PlanBinary},
    {OpType::kMinimum, SupportsBinary, PlanBinary},
    {OpType::kSquaredDifference, SupportsBinary, PlanBinary},
    {OpType::kRelu, SupportsUnary, PlanUnary},
    {OpType::kRelu6, SupportsUnary, PlanUnary},
    {OpType::kSigmoid, SupportsUnary, PlanUnary},
    {OpType::kTanh, SupportsUnary, PlanUnary},
    {OpType::kElu, SupportsUnary, PlanUnary},
    {OpType::kLeakyRelu, SupportsUnary, PlanUnary},
    {OpType::kClip, SupportsUnary, PlanUnary},
    {OpType::kAbs, SupportsUnary, PlanUnary},
    {OpType::kNeg, SupportsUnary, PlanUnary},
    {OpType::kSquare, SupportsUnary, PlanUnary},
    {OpType::kSqrt, SupportsUnary, PlanUnary},
    {OpType::kExp, SupportsUnary, PlanUnary},
    {OpType::kPrelu, SupportsUnary, PlanUnary},
    {OpType::kMean, SupportsReduce, PlanReduce},
    {OpType::kSum, SupportsReduce, PlanReduce},
    {OpType::kMax, SupportsReduce, PlanReduce},
    {OpType::kMin, SupportsReduce, PlanReduce},
    {OpType::kProd, SupportsReduce, PlanReduce},
    {OpType::kConcat, SupportsConcat, PlanConcat},
    {OpType::kStridedSlice, SupportsSlice, PlanSlice},
    {OpType::kSlice, SupportsSlice, PlanSlice},
    {OpType::kTranspose, SupportsTranspose, PlanTranspose},
    {OpType::kPad, SupportsPad, PlanPad},
    {OpType::kReshape, SupportsReshapeLike, PlanReshapeLike},
    {OpType::kSqueeze, SupportsReshapeLike, PlanReshapeLike},
    {OpType::kExpandDims, SupportsReshapeLike, PlanReshapeLike},
    {OpType::kIdentity, SupportsReshapeLike, PlanReshapeLike},
};

const Entry* Find(OpType op) {
  for (const Entry& e : kTable)
    if (e.op == op) return &e;
  return nullptr;
}

class EmptyKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor>, std::span<Tensor>, void*) const override { return OkStatus(); }
};

class CpuBackendImpl final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  bool Supports(const ir::Graph& graph, const ir::Node& node) const override {
    const Entry* e = Find(node.op);
    if (!e) return false;
    try {
      return e->supports(graph, node);
    } catch (const std::exception&) {
      return false;  // never let a malformed node escape as an exception
    }
  }

  Result<std::unique_ptr<Kernel>> Plan(const ir::Graph& graph, const ir::Node& node,
                                       const std::vector<TensorInfo>& inputs,
                                       const std::vector<TensorInfo>& outputs,
                                       const PlanOptions& options) const override {
    const Entry* e = Find(node.op);
    if (!e) return Unsupported(NodeContext(node) + ": not supported by the cpu backend");
    for (const TensorInfo& t : outputs)
      if (!t.shape.is_fully_defined())
        return InvalidArgument(NodeContext(node) + ": output shape " + t.shape.ToString() +
                               " is not concrete at plan time");
    // oneDNN sizes its parallel work at primitive creation from the OpenMP thread count.
    // Small nodes run on one thread: an OpenMP fork/join costs microseconds on an idle
    // machine and a whole scheduler slice (~ms) when another process holds a core, which
    // dominated small models (mobileface: 0.5 ms -> 600 ms at 2 threads under load).
    PlanOptions opts = options;
    if (opts.num_threads > 1 && IsSmallWork(node, inputs, outputs)) opts.num_threads = 1;
    OmpThreadScope threads(opts.num_threads);
    PlanArgs args{graph, node, inputs, outputs, opts};
    try {
      Result<std::unique_ptr<Kernel>> k = e->plan(args);
      if (!k.ok()) return k.status().WithContext("cpu backend");
      return k;
    } catch (const dnnl::error& ex) {
      return DnnlErrorToStatus("Plan", __FILE__, __LINE__, ex).WithContext(NodeContext(node));
    } catch (const std::exception& ex) {
      return ExceptionToStatus("Plan", __FILE__, __LINE__, ex).WithContext(NodeContext(node));
    }
  }
};

}  // namespace

std::unique_ptr<Kernel> MakeEmptyKernel() { return std::make_unique<EmptyKernel>(); }

}  // namespace cpu

const Backend* CpuBackend() {
  static const cpu::CpuBackendImpl backend;
  return &backend;
}

}  // namespace fk::engine
