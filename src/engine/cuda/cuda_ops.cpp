// Planning of the CUDA ops that have no vendor library behind them: element-wise, softmax,
// pooling, pad, reductions, concat, resize, and the pure copies (Reshape & co). Each plans
// its launch descriptor once (from the concrete shapes) into a small FnKernel.
#include <cuda_runtime.h>

#include <functional>

#include "engine/cuda/binary.cuh"
#include "engine/cuda/ops_internal.h"
#include "engine/cuda/pad.cuh"
#include "engine/cuda/pool.cuh"
#include "engine/cuda/reduce.cuh"
#include "engine/cuda/resize.cuh"
#include "engine/cuda/softmax.cuh"
#include "engine/cuda/unary.cuh"
#include "engine/cuda/walk.cuh"
#include "engine/ops/op_util.h"

namespace fk::engine::cuda {

using ir::OpType;

// ---- shared helpers ---------------------------------------------------------------------------

bool ActSupported(ir::Activation a) {
  switch (a) {
    case ir::Activation::kNone: case ir::Activation::kRelu: case ir::Activation::kRelu6:
    case ir::Activation::kClip: case ir::Activation::kSigmoid: case ir::Activation::kTanh:
    case ir::Activation::kPrelu: case ir::Activation::kLeakyRelu: case ir::Activation::kElu:
      return true;
  }
  return false;
}

ActParams ActFromNode(const ir::Node& n, const DeviceTensor* alpha) {
  ActParams p;
  switch (n.activation()) {
    case ir::Activation::kNone: p.kind = ActKind::kNone; break;
    case ir::Activation::kRelu: p.kind = ActKind::kRelu; break;
    case ir::Activation::kRelu6: p.kind = ActKind::kRelu6; break;
    case ir::Activation::kClip:
      p.kind = ActKind::kClip;
      p.a = n.attrs.f("clip_min", 0.f);
      p.b = n.attrs.f("clip_max", 6.f);
      break;
    case ir::Activation::kSigmoid: p.kind = ActKind::kSigmoid; break;
    case ir::Activation::kTanh: p.kind = ActKind::kTanh; break;
    case ir::Activation::kLeakyRelu: p.kind = ActKind::kLeakyRelu; p.a = n.attrs.f("leaky_alpha", 0.2f); break;
    case ir::Activation::kElu: p.kind = ActKind::kElu; p.a = 1.f; break;
    case ir::Activation::kPrelu:
      p.kind = ActKind::kPrelu;
      if (alpha && alpha->data) {
        p.alpha = alpha->data;  // same storage as the activation (see ActParams)
        p.alpha_n = alpha->shape.num_elements();
      } else {
        p.kind = ActKind::kNone;  // unreachable: Supports requires the alpha input
      }
      break;
  }
  return p;
}

int PreluAlphaIndex(const ir::Node& n) {
  if (n.activation() != ir::Activation::kPrelu || n.inputs.empty()) return -1;
  return static_cast<int>(n.inputs.size()) - 1;
}

bool AllFloat(const ir::Graph& g, const ir::Node& n, size_t first, size_t count) {
  for (size_t i = first; i < first + count && i < n.inputs.size(); ++i) {
    if (n.inputs[i] == ir::kNoValue) continue;
    if (g.value(n.inputs[i]).dtype != DType::kFloat32) return false;
  }
  for (ir::ValueId o : n.outputs)
    if (g.value(o).dtype != DType::kFloat32) return false;
  return true;
}

namespace {

using RunFn = std::function<Status(const CudaKernel&, std::span<const DeviceTensor>,
                                   std::span<DeviceTensor>, ExecContext&)>;

class FnKernel final : public CudaKernel {
 public:
  explicit FnKernel(RunFn fn) : fn_(std::move(fn)) {}
  Status RunDevice(std::span<const DeviceTensor> in, std::span<DeviceTensor> out,
                   ExecContext& ctx) const override {
    return fn_(*this, in, out, ctx);
  }

 private:
  RunFn fn_;
};

std::optional<BinaryKind> BinaryOf(OpType op) {
  switch (op) {
    case OpType::kAdd: return BinaryKind::kAdd;
    case OpType::kSub: return BinaryKind::kSub;
    case OpType::kMul: return BinaryKind::kMul;
    case OpType::kDiv: return BinaryKind::kDiv;
    case OpType::kMaximum: return BinaryKind::kMaximum;
    case OpType::kMinimum: return BinaryKind::kMinimum;
    case OpType::kPow: return BinaryKind::kPow;
    case OpType::kSquaredDifference: return BinaryKind::kSquaredDifference;
    default: return std::nullopt;
  }
}

std::optional<UnaryKind> UnaryOf(OpType op) {
  switch (op) {
    case OpType::kAbs: return UnaryKind::kAbs;
    case OpType::kNeg: return UnaryKind::kNeg;
    case OpType::kSquare: return UnaryKind::kSquare;
    case OpType::kSqrt: return UnaryKind::kSqrt;
    case OpType::kRsqrt: return UnaryKind::kRsqrt;
    case OpType::kExp: return UnaryKind::kExp;
    case OpType::kLog: return UnaryKind::kLog;
    case OpType::kRelu: return UnaryKind::kRelu;
    case OpType::kRelu6: return UnaryKind::kRelu6;
    case OpType::kSigmoid: return UnaryKind::kSigmoid;
    case OpType::kTanh: return UnaryKind::kTanh;
    case OpType::kElu: return UnaryKind::kElu;
    case OpType::kLeakyRelu: return UnaryKind::kLeakyRelu;
    case OpType::kClip: return UnaryKind::kClip;
    case OpType::kFloor: return UnaryKind::kFloor;
    case OpType::kReciprocal: return UnaryKind::kReciprocal;
    default: return std::nullopt;
  }
}

std::optional<ReduceKind> ReduceOf(OpType op) {
  switch (op) {
    case OpType::kSum: return ReduceKind::kSum;
    case OpType::kMean: return ReduceKind::kMean;
    case OpType::kMax: return ReduceKind::kMax;
    case OpType::kMin: return ReduceKind::kMin;
    case OpType::kProd: return ReduceKind::kProd;
    default: return std::nullopt;
  }
}

bool IsCopy(OpType op) {
  return op == OpType::kReshape || op == OpType::kSqueeze || op == OpType::kExpandDims ||
         op == OpType::kIdentity;
}

bool ConstInput(const ir::Graph& g, const ir::Node& n, size_t i) {
  return i < n.inputs.size() && n.inputs[i] != ir::kNoValue && g.value(n.inputs[i]).is_constant();
}

int Rank(const ir::Graph& g, const ir::Node& n, size_t i) { return g.value(n.inputs[i]).shape.rank(); }

Result<BroadcastDesc> MakeBroadcast(const ir::Node& n, const Shape& a, const Shape& b, const Shape& y) {
  BroadcastDesc d;
  d.rank = y.rank();
  if (d.rank > kMaxRank) return ops::NodeError(n, "cuda: rank > 6");
  d.same_shape = a == y && b == y;
  if (d.rank == 0) {
    d.rank = 1;
    d.out_dims[0] = 1;
    return d;
  }
  auto fill = [&](const Shape& s, int64_t* strides) {
    const std::vector<int64_t> rs = ops::RowStrides(s);
    const int off = d.rank - s.rank();
    for (int r = 0; r < d.rank; ++r) {
      const int si = r - off;
      strides[r] = (si < 0 || s[si] == 1) ? 0 : rs[static_cast<size_t>(si)];
    }
  };
  for (int r = 0; r < d.rank; ++r) d.out_dims[r] = y[r];
  fill(a, d.a_strides);
  fill(b, d.b_strides);
  return d;
}

}  // namespace

bool SupportsSimple(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.empty() || n.outputs.empty() || n.inputs[0] == ir::kNoValue) return false;
  const OpType op = n.op;
  const int rank = Rank(g, n, 0);
  if (BinaryOf(op)) return n.inputs.size() == 2 && AllFloat(g, n, 0, 2) && rank <= kMaxRank &&
                           Rank(g, n, 1) <= kMaxRank && g.value(n.outputs[0]).shape.rank() <= kMaxRank;
  if (UnaryOf(op)) return AllFloat(g, n, 0, 1);
  if (op == OpType::kPrelu) return n.inputs.size() == 2 && AllFloat(g, n, 0, 2);
  if (op == OpType::kSoftmax) {
    const int64_t ax = n.attrs.i("axis", -1);
    return AllFloat(g, n, 0, 1) && rank >= 1 && (ax == -1 || ax == rank - 1);
  }
  if (op == OpType::kMaxPool || op == OpType::kAvgPool) return AllFloat(g, n, 0, 1) && rank == 4;
  if (ReduceOf(op)) return AllFloat(g, n, 0, 1) && ConstInput(g, n, 1) && rank >= 1 && rank <= kMaxRank;
  if (op == OpType::kPad) {
    const std::string mode = n.attrs.s("mode", "CONSTANT");
    return AllFloat(g, n, 0, 1) && ConstInput(g, n, 1) && rank >= 1 && rank <= kMaxRank &&
           (mode == "CONSTANT" || mode == "REFLECT" || mode == "SYMMETRIC");
  }
  if (op == OpType::kConcat) return AllFloat(g, n, 0, n.inputs.size()) && rank >= 1;
  if (op == OpType::kResizeBilinear || op == OpType::kResizeNearest)
    return AllFloat(g, n, 0, 1) && rank == 4;
  if (IsCopy(op)) return g.value(n.inputs[0]).dtype == DType::kFloat32 && AllFloat(g, n, 0, 0);
  // Strided gathers (LaunchWalk): constant slice bounds / perm; the walk's rank is the input's
  // (DepthToSpace: 6, its NHWC view [N,H,b,W,b,C/b^2]).
  if (op == OpType::kStridedSlice)
    return n.inputs.size() == 4 && AllFloat(g, n, 0, 1) && ConstInput(g, n, 1) && ConstInput(g, n, 2) &&
           ConstInput(g, n, 3) && rank >= 1 && rank <= kMaxRank;
  if (op == OpType::kSlice)
    return n.inputs.size() == 3 && AllFloat(g, n, 0, 1) && ConstInput(g, n, 1) && ConstInput(g, n, 2) &&
           rank >= 1 && rank <= kMaxRank;
  if (op == OpType::kTranspose)
    return AllFloat(g, n, 0, 1) && rank >= 1 && rank <= kMaxRank &&
           (n.attrs.has("perm") || (n.inputs.size() == 2 && ConstInput(g, n, 1)));
  if (op == OpType::kDepthToSpace) return AllFloat(g, n, 0, 1) && rank == 4;
  return false;
}

namespace {
// StridedSlice / Slice / Transpose / DepthToSpace as one strided gather over the output.
Result<WalkDesc> MakeWalk(const PlanArgs& a) {
  const ir::Node& n = a.node;
  const Shape& xs = a.in[0].shape;
  const Shape& ys = a.out[0].shape;
  WalkDesc d;
  std::vector<int64_t> dims, steps;
  int64_t offset = 0;
  if (n.op == OpType::kDepthToSpace) {  // TF DCR: out[n, h*b+i, w*b+j, c] = in[n, h, w, (i*b+j)*C' + c]
    const int64_t b = n.attrs.i("block_size");
    if (xs.rank() != 4 || b < 2 || xs[3] % (b * b) != 0)
      return ops::NodeError(n, "needs rank-4 input with channels divisible by block_size^2");
    const int64_t H = xs[1], W = xs[2], C = xs[3], CO = C / (b * b);
    if (ys != Shape{xs[0], H * b, W * b, CO}) return ops::NodeError(n, "cuda: planned output " + ys.ToString());
    dims = {xs[0], H, b, W, b, CO};
    steps = {H * W * C, W * C, b * CO, C, CO, 1};
  } else {  // StridedSlice, Slice, Transpose: the walk the CPU backend runs too
    FK_ASSIGN_OR_RETURN(ops::GatherWalk w, ops::ResolveGatherWalk(a.graph, n, xs, ys));
    dims = std::move(w.dims);
    steps = std::move(w.steps);
    offset = w.offset;
  }
  if (dims.size() > static_cast<size_t>(kMaxRank)) return ops::NodeError(n, "cuda: walk rank > 6");
  d.rank = static_cast<int>(dims.size());
  d.offset = offset;
  for (int r = 0; r < d.rank; ++r) {
    d.dims[r] = dims[static_cast<size_t>(r)];
    d.steps[r] = steps[static_cast<size_t>(r)];
  }
  return d;
}
}  // namespace

Result<KernelPtr> PlanSimple(const PlanArgs& a) {
  const ir::Node& n = a.node;
  const OpType op = n.op;
  const Shape xs = a.in[0].shape;
  const Shape ys = a.out[0].shape;
  const int64_t ny = ys.num_elements();
  const Elem e = a.elem;  // storage of every float tensor of this node
  RunFn fn;

  if (auto bk = BinaryOf(op)) {
    FK_ASSIGN_OR_RETURN(BroadcastDesc d, MakeBroadcast(n, xs, a.in[1].shape, ys));
    const BinaryKind k = *bk;
    fn = [k, d, ny, e](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchBinary(k, self.In(in, 0).data, self.In(in, 1).data, out[0].data, ny, d, e, c.stream);
    };
  } else if (auto uk = UnaryOf(op)) {
    float p0 = 0, p1 = 0;
    if (op == OpType::kElu) p0 = n.attrs.f("alpha", 1.f);
    if (op == OpType::kLeakyRelu) p0 = n.attrs.f("alpha", 0.2f);
    if (op == OpType::kClip) {
      p0 = n.attrs.f("clip_min", 0.f);
      p1 = n.attrs.f("clip_max", 6.f);
    }
    const UnaryKind k = *uk;
    fn = [k, p0, p1, ny, e](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchUnary(k, self.In(in, 0).data, out[0].data, ny, p0, p1, e, c.stream);
    };
  } else if (op == OpType::kPrelu) {
    const int64_t channels = ys.rank() ? ys[ys.rank() - 1] : 1;
    const int64_t an = a.in[1].shape.num_elements();
    if (an != 1 && an != channels)
      return ops::NodeError(n, "cuda Prelu needs alpha with 1 or " + std::to_string(channels) +
                                   " elements (got " + a.in[1].shape.ToString() + ")");
    fn = [ny, channels, e](const CudaKernel& self, auto in, auto out, ExecContext& c) -> Status {
      const DeviceTensor& x = self.In(in, 0);
      if (out[0].data != x.data)
        FK_CUDA_CHECK(cudaMemcpyAsync(out[0].data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, c.stream));
      ActParams p;
      p.kind = ActKind::kPrelu;
      p.alpha = self.In(in, 1).data;
      p.alpha_n = self.In(in, 1).shape.num_elements();
      return LaunchBiasAct(out[0].data, ny, channels, nullptr, p, e, c.stream);
    };
  } else if (op == OpType::kSoftmax) {
    const int64_t cols = xs[xs.rank() - 1];
    const int64_t rows = cols ? ny / cols : 0;
    fn = [rows, cols, e](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchSoftmax(self.In(in, 0).data, out[0].data, rows, cols, e, c.stream);
    };
  } else if (op == OpType::kMaxPool || op == OpType::kAvgPool) {
    ops::Window w;
    FK_RETURN_IF_ERROR(ops::ReadWindow(n, true, &w));
    const ops::WindowOut wo = ops::ComputeWindow(w, xs[1], xs[2]);
    Pool2dDesc d;
    d.n = xs[0]; d.h = xs[1]; d.w = xs[2]; d.c = xs[3]; d.oh = wo.oh; d.ow = wo.ow;
    d.kh = w.kh; d.kw = w.kw; d.sh = w.sh; d.sw = w.sw; d.pad_top = wo.pad_top; d.pad_left = wo.pad_left;
    d.max = op == OpType::kMaxPool;
    if (wo.oh != ys[1] || wo.ow != ys[2]) return ops::NodeError(n, "planned pool output mismatch " + ys.ToString());
    fn = [d, e](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchPool2d(self.In(in, 0).data, out[0].data, d, e, c.stream);
    };
  } else if (auto rk = ReduceOf(op)) {
    std::vector<bool> mask;
    FK_RETURN_IF_ERROR(ops::ReduceMask(n, xs.rank(), ops::TensorToInts(a.graph.value(n.inputs[1]).constant), &mask));
    ReduceDesc d;
    d.kind = *rk;
    const std::vector<int64_t> st = ops::RowStrides(xs);
    for (int r = 0; r < xs.rank(); ++r) {
      if (mask[static_cast<size_t>(r)]) {
        d.red_dims[d.red_rank] = xs[r];
        d.red_strides[d.red_rank++] = st[static_cast<size_t>(r)];
        d.red_n *= xs[r];
      } else {
        d.keep_dims[d.keep_rank] = xs[r];
        d.keep_strides[d.keep_rank++] = st[static_cast<size_t>(r)];
        d.out_n *= xs[r];
      }
    }
    if (d.out_n != ny) return ops::NodeError(n, "planned reduction output mismatch " + ys.ToString());
    fn = [d, e](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchReduce(self.In(in, 0).data, out[0].data, d, e, c.stream);
    };
  } else if (op == OpType::kStridedSlice || op == OpType::kSlice || op == OpType::kTranspose ||
             op == OpType::kDepthToSpace) {
    FK_ASSIGN_OR_RETURN(WalkDesc d, MakeWalk(a));
    const size_t es = ElemSize(e);
    fn = [d, es](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchWalk(self.In(in, 0).data, out[0].data, d, es, c.stream);
    };
  } else if (op == OpType::kPad) {
    const std::vector<int64_t> p = ops::TensorToInts(a.graph.value(n.inputs[1]).constant);
    if (p.size() != static_cast<size_t>(2 * xs.rank())) return ops::NodeError(n, "paddings must be [rank,2]");
    PadDesc d;
    d.rank = xs.rank();
    const std::string mode = n.attrs.s("mode", "CONSTANT");
    d.mode = mode == "REFLECT" ? PadMode::kReflect : mode == "SYMMETRIC" ? PadMode::kSymmetric : PadMode::kConstant;
    d.value = n.attrs.f("constant_value", 0.f);
    for (int r = 0; r < d.rank; ++r) {
      d.in_dims[r] = xs[r];
      d.before[r] = p[static_cast<size_t>(2 * r)];
      d.out_dims[r] = xs[r] + p[static_cast<size_t>(2 * r)] + p[static_cast<size_t>(2 * r + 1)];
      if (d.out_dims[r] != ys[r] || d.before[r] < 0) return ops::NodeError(n, "cuda Pad: negative or mismatched paddings");
    }
    fn = [d, e](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchPad(self.In(in, 0).data, out[0].data, d, e, c.stream);
    };
  } else if (op == OpType::kConcat) {
    const int64_t axis = ops::NormalizeAxis(n.attrs.i("axis", 0), ys.rank());
    if (axis < 0) return ops::NodeError(n, "bad concat axis");
    int64_t outer = 1, dst_inner = 1;
    for (int r = 0; r < ys.rank(); ++r) (r < axis ? outer : dst_inner) *= ys[r];
    std::vector<int64_t> inner;
    for (const auto& ti : a.in) {
      int64_t v = 1;
      for (int r = static_cast<int>(axis); r < ti.shape.rank(); ++r) v *= ti.shape[r];
      inner.push_back(v);
    }
    const size_t es = ElemSize(e);  // bytes per element of this node's storage
    fn = [outer, dst_inner, inner, es](const CudaKernel& self, auto in, auto out, ExecContext& c) -> Status {
      int64_t off = 0;
      char* dst = static_cast<char*>(out[0].data);
      for (size_t i = 0; i < inner.size(); ++i) {
        if (inner[i] && outer)
          FK_CUDA_CHECK(cudaMemcpy2DAsync(dst + off * es, dst_inner * es, self.In(in, i).data, inner[i] * es,
                                          inner[i] * es, outer, cudaMemcpyDeviceToDevice, c.stream));
        off += inner[i];
      }
      return OkStatus();
    };
  } else if (op == OpType::kResizeBilinear || op == OpType::kResizeNearest) {
    ResizeDesc d;
    d.n = xs[0]; d.h = xs[1]; d.w = xs[2]; d.c = xs[3]; d.oh = ys[1]; d.ow = ys[2];
    d.bilinear = op == OpType::kResizeBilinear;
    d.align_corners = n.attrs.i("align_corners") != 0;
    d.half_pixel_centers = n.attrs.i("half_pixel_centers") != 0;
    fn = [d, e](const CudaKernel& self, auto in, auto out, ExecContext& c) {
      return LaunchResize(self.In(in, 0).data, out[0].data, d, e, c.stream);
    };
  } else if (IsCopy(op)) {
    fn = [](const CudaKernel& self, auto in, auto out, ExecContext& c) -> Status {
      const DeviceTensor& x = self.In(in, 0);
      if (out[0].data != x.data && out[0].nbytes())
        FK_CUDA_CHECK(cudaMemcpyAsync(out[0].data, x.data, out[0].nbytes(), cudaMemcpyDeviceToDevice, c.stream));
      return OkStatus();
    };
  } else {
    return Unsupported(ops::NodeLabel(n) + ": no CUDA kernel");
  }
  auto k = std::make_unique<FnKernel>(std::move(fn));
  k->set_elem(e);
  FK_RETURN_IF_ERROR(k->Init(a.dev, a.graph, a.node));
  return KernelPtr(std::move(k));
}

}  // namespace fk::engine::cuda
