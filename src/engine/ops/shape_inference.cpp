// Shape inference dispatch: ONE explicit table indexed by ir::OpType (same order as
// FK_OP_LIST; a static_assert keeps them in step), plus constant folding of small outputs
// through the reference kernels.
#include "engine/ops/shape_inference.h"

#include <algorithm>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::ops {

namespace {

struct InferEntry {
  ir::OpType op;
  InferFn fn;
  int min_inputs;
  int max_inputs;  // -1 = unbounded
};

using ir::OpType;
constexpr int kAny = -1;

// clang-format off
constexpr InferEntry kInferTable[] = {
    {OpType::kConv2D,            InferConv2D,          2, 4},
    {OpType::kDepthwiseConv2D,   InferDepthwiseConv2D, 2, 4},
    {OpType::kMatMul,            InferMatMul,          2, 4},
    {OpType::kAdd,               InferBinary,          2, 2},
    {OpType::kSub,               InferBinary,          2, 2},
    {OpType::kMul,               InferBinary,          2, 2},
    {OpType::kDiv,               InferBinary,          2, 2},
    {OpType::kMaximum,           InferBinary,          2, 2},
    {OpType::kMinimum,           InferBinary,          2, 2},
    {OpType::kPow,               InferBinary,          2, 2},
    {OpType::kSquaredDifference, InferBinary,          2, 2},
    {OpType::kAddN,              InferAddN,            1, kAny},
    {OpType::kAbs,               InferUnary,           1, 1},
    {OpType::kNeg,               InferUnary,           1, 1},
    {OpType::kSquare,            InferUnary,           1, 1},
    {OpType::kSqrt,              InferUnary,           1, 1},
    {OpType::kRsqrt,             InferUnary,           1, 1},
    {OpType::kExp,               InferUnary,           1, 1},
    {OpType::kLog,               InferUnary,           1, 1},
    {OpType::kRelu,              InferUnary,           1, 1},
    {OpType::kRelu6,             InferUnary,           1, 1},
    {OpType::kSigmoid,           InferUnary,           1, 1},
    {OpType::kTanh,              InferUnary,           1, 1},
    {OpType::kElu,               InferUnary,           1, 1},
    {OpType::kLeakyRelu,         InferUnary,           1, 1},
    {OpType::kClip,              InferUnary,           1, 1},
    {OpType::kFloor,             InferUnary,           1, 1},
    {OpType::kReciprocal,        InferUnary,           1, 1},
    {OpType::kPrelu,             InferPrelu,           2, 2},
    {OpType::kSoftmax,           InferSoftmax,         1, 1},
    {OpType::kMaxPool,           InferPool,            1, 1},
    {OpType::kAvgPool,           InferPool,            1, 1},
    {OpType::kMean,              InferReduce,          2, 2},
    {OpType::kSum,               InferReduce,          2, 2},
    {OpType::kMax,               InferReduce,          2, 2},
    {OpType::kMin,               InferReduce,          2, 2},
    {OpType::kProd,              InferReduce,          2, 2},
    {OpType::kPad,               InferPad,             2, 2},
    {OpType::kReshape,           InferReshape,         2, 2},
    {OpType::kSqueeze,           InferSqueeze,         1, 1},
    {OpType::kExpandDims,        InferExpandDims,      1, 2},
    {OpType::kConcat,            InferConcat,          1, kAny},
    {OpType::kStridedSlice,      InferStridedSlice,    4, 4},
    {OpType::kSlice,             InferSlice,           3, 3},
    {OpType::kTranspose,         InferTranspose,       1, 2},
    {OpType::kShape,             InferShapeOp,         1, 1},
    {OpType::kPack,              InferPack,            1, kAny},
    {OpType::kCast,              InferCast,            1, 1},
    {OpType::kIdentity,          InferIdentity,        1, 1},
    {OpType::kGather,            InferGather,          2, 2},
    {OpType::kTile,              InferTile,            2, 2},
    {OpType::kResizeBilinear,    InferResize,          2, 2},
    {OpType::kResizeNearest,     InferResize,          2, 2},
    {OpType::kDepthToSpace,      InferDepthToSpace,    1, 1},
    {OpType::kBatchNorm,         InferBatchNorm,       5, 5},
};
// clang-format on
static_assert(std::size(kInferTable) == static_cast<size_t>(OpType::kCount),
              "every op in FK_OP_LIST needs a line in kInferTable");

constexpr bool TableInOrder() {
  for (size_t i = 0; i < std::size(kInferTable); ++i)
    if (static_cast<size_t>(kInferTable[i].op) != i) return false;
  return true;
}
static_assert(TableInOrder(), "kInferTable must follow the FK_OP_LIST order");

// Evaluates small outputs whose inputs all have known contents, with the reference kernels.
void FoldSmallOutputs(const ir::Node& node, const std::vector<ValueInfo>& in,
                      std::vector<ValueInfo>* out) {
  if (node.op == OpType::kShape) return;  // handled by InferShapeOp
  for (const ValueInfo& v : in)
    if (!v.data || v.data->empty()) return;
  for (const ValueInfo& o : *out)
    if (!o.shape.is_fully_defined() || o.shape.num_elements() > kMaxFoldElements) return;
  const engine::ref::RefFn fn = engine::ref::RefKernelFn(node.op);
  if (!fn) return;
  std::vector<Tensor> ins;
  ins.reserve(in.size());
  for (const ValueInfo& v : in) ins.push_back(*v.data);
  std::vector<Tensor> outs;
  for (const ValueInfo& o : *out) outs.emplace_back(o.dtype, o.shape);
  if (!fn(node, ins, outs).ok()) return;  // not foldable; the executor will report errors
  for (size_t i = 0; i < out->size(); ++i) (*out)[i].SetComputed(outs[i]);
}

}  // namespace

// ---- helpers for the per-op functions --------------------------------------------

bool KnownInts(const std::vector<ValueInfo>& in, size_t i, std::vector<int64_t>* v) {
  if (i >= in.size() || !in[i].data || in[i].data->empty()) return false;
  *v = TensorToInts(*in[i].data);
  return true;
}

Status ExpectRank(const ir::Node& node, const ValueInfo& v, const char* what, int rank) {
  if (v.shape.rank() != rank)
    return NodeError(node, std::string(what) + " must have rank " + std::to_string(rank) + ", got shape " +
                               v.shape.ToString());
  return OkStatus();
}

bool MergeDim(int64_t a, int64_t b, int64_t* out) {
  if (a < 0) {
    *out = b;
    return true;
  }
  if (b < 0 || a == b) {
    *out = a;
    return true;
  }
  return false;
}

FusedInputs GetFusedInputs(const ir::Node& node) {
  FusedInputs f;
  if (node.attrs.i("has_bias") != 0) f.bias = f.count++;
  if (node.activation() == ir::Activation::kPrelu) f.alpha = f.count++;
  return f;
}

// ---- entry points ------------------------------------------------------------------

Status InferShapes(const ir::Node& node, const std::vector<ValueInfo>& inputs,
                   std::vector<ValueInfo>* outputs) {
  const auto idx = static_cast<size_t>(node.op);
  if (idx >= std::size(kInferTable))
    return InvalidArgument("node '" + node.name + "': invalid op type " + std::to_string(idx));
  const InferEntry& e = kInferTable[idx];
  const int n = static_cast<int>(inputs.size());
  if (n < e.min_inputs || (e.max_inputs != kAny && n > e.max_inputs)) {
    std::string want = e.max_inputs == e.min_inputs ? std::to_string(e.min_inputs)
                       : e.max_inputs == kAny       ? "at least " + std::to_string(e.min_inputs)
                                                    : std::to_string(e.min_inputs) + ".." +
                                                          std::to_string(e.max_inputs);
    return NodeError(node, "expects " + want + " inputs, got " + std::to_string(n));
  }
  outputs->clear();
  outputs->resize(std::max<size_t>(node.outputs.size(), 1));
  FK_RETURN_IF_ERROR(e.fn(node, inputs, outputs));
  FoldSmallOutputs(node, inputs, outputs);
  return OkStatus();
}

}  // namespace fk::ops
