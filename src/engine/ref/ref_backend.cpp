// The reference backend: ONE explicit registration table from ir::OpType to the plain-loop
// kernel (engine/ref/<op>.cpp). Plan() keeps a copy of the node's attributes; Run() is a
// pure function of its inputs, so one Kernel may run concurrently on several threads.
#include "engine/ref/ref_backend.h"

#include <iterator>

#include "engine/ops/op_util.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine {

namespace ref {

namespace {

using ir::OpType;

struct RefEntry {
  OpType op;
  RefFn fn;
};

// clang-format off
constexpr RefEntry kRefTable[] = {
    {OpType::kConv2D,            Conv2D},
    {OpType::kDepthwiseConv2D,   DepthwiseConv2D},
    {OpType::kMatMul,            MatMul},
    {OpType::kAdd,               Binary},
    {OpType::kSub,               Binary},
    {OpType::kMul,               Binary},
    {OpType::kDiv,               Binary},
    {OpType::kMaximum,           Binary},
    {OpType::kMinimum,           Binary},
    {OpType::kPow,               Binary},
    {OpType::kSquaredDifference, Binary},
    {OpType::kAddN,              AddN},
    {OpType::kAbs,               Unary},
    {OpType::kNeg,               Unary},
    {OpType::kSquare,            Unary},
    {OpType::kSqrt,              Unary},
    {OpType::kRsqrt,             Unary},
    {OpType::kExp,               Unary},
    {OpType::kLog,               Unary},
    {OpType::kRelu,              Unary},
    {OpType::kRelu6,             Unary},
    {OpType::kSigmoid,           Unary},
    {OpType::kTanh,              Unary},
    {OpType::kElu,               Unary},
    {OpType::kLeakyRelu,         Unary},
    {OpType::kClip,              Unary},
    {OpType::kFloor,             Unary},
    {OpType::kReciprocal,        Unary},
    {OpType::kPrelu,             Prelu},
    {OpType::kSoftmax,           Softmax},
    {OpType::kMaxPool,           Pool},
    {OpType::kAvgPool,           Pool},
    {OpType::kMean,              Reduce},
    {OpType::kSum,               Reduce},
    {OpType::kMax,               Reduce},
    {OpType::kMin,               Reduce},
    {OpType::kProd,              Reduce},
    {OpType::kPad,               Pad},
    {OpType::kReshape,           Copy},
    {OpType::kSqueeze,           Copy},
    {OpType::kExpandDims,        Copy},
    {OpType::kConcat,            Concat},
    {OpType::kStridedSlice,      StridedSlice},
    {OpType::kSlice,             Slice},
    {OpType::kTranspose,         Transpose},
    {OpType::kShape,             ShapeOp},
    {OpType::kPack,              Pack},
    {OpType::kCast,              Cast},
    {OpType::kIdentity,          Copy},
    {OpType::kGather,            Gather},
    {OpType::kTile,              Tile},
    {OpType::kResizeBilinear,    ResizeBilinear},
    {OpType::kResizeNearest,     ResizeNearest},
    {OpType::kDepthToSpace,      DepthToSpace},
    {OpType::kBatchNorm,         BatchNorm},
};
// clang-format on
static_assert(std::size(kRefTable) == static_cast<size_t>(OpType::kCount),
              "every op in FK_OP_LIST needs a reference kernel in kRefTable");
constexpr bool TableInOrder() {
  for (size_t i = 0; i < std::size(kRefTable); ++i)
    if (static_cast<size_t>(kRefTable[i].op) != i) return false;
  return true;
}
static_assert(TableInOrder(), "kRefTable must follow the FK_OP_LIST order");

class RefKernel final : public Kernel {
 public:
  RefKernel(ir::Node node, RefFn fn) : node_(std::move(node)), fn_(fn) {}
  Status Run(std::span<const Tensor> inputs, std::span<Tensor> outputs, void* /*workspace*/) const override {
    if (outputs.empty()) return Internal(ops::NodeLabel(node_) + ": no output buffer");
    for (const Tensor& t : inputs)
      if (t.empty() && t.num_elements() != 0)
        return Internal(ops::NodeLabel(node_) + ": an input tensor is empty (not computed?)");
    return fn_(node_, inputs, outputs);
  }

 private:
  ir::Node node_;  // attributes; ids are not used at run time
  RefFn fn_;
};

class RefBackendImpl final : public Backend {
 public:
  const char* name() const override { return "ref"; }
  bool Supports(const ir::Graph& graph, const ir::Node& node) const override {
    return RefKernelFn(node.op) != nullptr;
  }
  Result<std::unique_ptr<Kernel>> Plan(const ir::Graph& graph, const ir::Node& node,
                                       const std::vector<TensorInfo>& inputs,
                                       const std::vector<TensorInfo>& outputs,
                                       const PlanOptions& options) const override {
    const RefFn fn = RefKernelFn(node.op);
    if (!fn) return Unsupported(ops::NodeLabel(node) + ": no reference kernel");
    for (const TensorInfo& t : outputs)
      if (!t.shape.is_fully_defined())
        return InvalidArgument(ops::NodeLabel(node) + ": output shape " + t.shape.ToString() +
                               " is not fully defined at plan time");
    return std::unique_ptr<Kernel>(std::make_unique<RefKernel>(node, fn));
  }
};

}  // namespace

RefFn RefKernelFn(ir::OpType op) {
  const auto i = static_cast<size_t>(op);
  if (i >= std::size(kRefTable)) return nullptr;
  return kRefTable[i].fn;
}

}  // namespace ref

const Backend* RefBackend() {
  static const ref::RefBackendImpl kBackend;
  return &kBackend;
}

}  // namespace fk::engine
