// The CUDA backend object and its explicit op table.
#include "engine/cuda/cuda_backend.h"

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "engine/cuda/graph_runner.h"
#include "engine/cuda/ops_internal.h"

namespace fk::engine {

namespace {

using cuda::PlanArgs;
using ir::OpType;

enum class Planner { kNone, kConv, kMatMul, kSimple };

// The explicit table: which planner serves each IR op (kNone = runs on the fallback backend).
Planner PlannerFor(OpType op) {
  switch (op) {
    case OpType::kConv2D: case OpType::kDepthwiseConv2D: return Planner::kConv;
    case OpType::kMatMul: return Planner::kMatMul;
    case OpType::kAdd: case OpType::kSub: case OpType::kMul: case OpType::kDiv:
    case OpType::kMaximum: case OpType::kMinimum: case OpType::kPow: case OpType::kSquaredDifference:
    case OpType::kAbs: case OpType::kNeg: case OpType::kSquare: case OpType::kSqrt:
    case OpType::kRsqrt: case OpType::kExp: case OpType::kLog: case OpType::kRelu:
    case OpType::kRelu6: case OpType::kSigmoid: case OpType::kTanh: case OpType::kElu:
    case OpType::kLeakyRelu: case OpType::kClip: case OpType::kFloor: case OpType::kReciprocal:
    case OpType::kPrelu: case OpType::kSoftmax: case OpType::kMaxPool: case OpType::kAvgPool:
    case OpType::kMean: case OpType::kSum: case OpType::kMax: case OpType::kMin: case OpType::kProd:
    case OpType::kPad: case OpType::kConcat: case OpType::kResizeBilinear:
    case OpType::kResizeNearest: case OpType::kReshape: case OpType::kSqueeze:
    case OpType::kExpandDims: case OpType::kIdentity: case OpType::kStridedSlice: case OpType::kSlice:
    case OpType::kTranspose: case OpType::kDepthToSpace:
      return Planner::kSimple;
    default:
      return Planner::kNone;
  }
}

}  // namespace

// Which nodes of an fp16 graph keep float storage (docs/cuda.md "Precision"), in node order:
//  - nodes that do not run on the GPU (host steps write float);
//  - ops whose result can leave half's range (|x| > 65504) or its resolution even when the
//    inputs are in range: Sum, Prod, Exp, Pow, Square, SquaredDifference, Reciprocal, Rsqrt, Div
//    (e.g. the sum of squares of an L2 normalisation, exp() of a box decoder, x / small);
//  - cheap ops (everything but Conv2D, DepthwiseConv2D, MatMul) that read a non-constant float
//    value written by a float-storage node: an fp32 region (a normalisation, a box decoder)
//    runs to its end in fp32 and the cast to half happens once, in front of the next
//    convolution/MatMul (or never, when the region ends at a graph output).
// Convolutions and MatMuls are always half: they are where tensor cores pay. Graph inputs are
// float but do not start an fp32 region: they are cast to half by their first reader (values in
// an input's range lose nothing a convolution would keep).
std::vector<bool> Fp32NodesInFp16Graph(const ir::Graph& g, const std::function<bool(const ir::Node&)>& on_gpu) {
  const auto& nodes = g.nodes();
  std::vector<bool> fp32(nodes.size(), false);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const ir::Node& n = nodes[i];
    if (!on_gpu(n)) {
      fp32[i] = true;
      continue;
    }
    switch (n.op) {
      case OpType::kConv2D: case OpType::kDepthwiseConv2D: case OpType::kMatMul:
        continue;  // half
      case OpType::kSum: case OpType::kProd: case OpType::kExp: case OpType::kPow:
      case OpType::kSquare: case OpType::kSquaredDifference: case OpType::kReciprocal:
      case OpType::kRsqrt: case OpType::kDiv:
        fp32[i] = true;
        continue;
      default:
        break;
    }
    for (ir::ValueId v : n.inputs) {
      if (v == ir::kNoValue) continue;
      const ir::Value& val = g.value(v);
      if (val.dtype != DType::kFloat32 || val.is_constant()) continue;
      if (val.producer >= 0 && fp32[static_cast<size_t>(val.producer)]) {
        fp32[i] = true;
        break;
      }
    }
  }
  return fp32;
}

namespace {

class CudaBackendImpl final : public Backend {
 public:
  explicit CudaBackendImpl(CudaBackendOptions o) : opt_(std::move(o)) {}
  const char* name() const override { return "cuda"; }

  // False for every node when the GPU is not usable (no driver/device/cuDNN/cuBLAS): the
  // executor then falls back per node and op parity tests count the cases as skipped. Callers
  // that must not silently fall back check facekit/device.h ResolveBackend first.
  bool Supports(const ir::Graph& g, const ir::Node& n) const override {
    std::call_once(probe_once_, [this] { usable_ = cuda::CheckDeviceUsable(opt_.gpu_index).status(); });
    if (!usable_.ok()) return false;
    switch (PlannerFor(n.op)) {
      case Planner::kConv: return cuda::SupportsConv(g, n);
      case Planner::kMatMul: return cuda::SupportsMatMul(g, n);
      case Planner::kSimple: return cuda::SupportsSimple(g, n);
      case Planner::kNone: return false;
    }
    return false;
  }

  Result<std::unique_ptr<Kernel>> Plan(const ir::Graph& g, const ir::Node& n,
                                       const std::vector<TensorInfo>& inputs,
                                       const std::vector<TensorInfo>& outputs,
                                       const PlanOptions&) const override {
    FK_ASSIGN_OR_RETURN(cuda::DeviceContext * dev, cuda::DeviceContext::Get(opt_.gpu_index));
    if (outputs.empty() || inputs.empty())
      return Internal("cuda Plan of '" + n.name + "' without inputs/outputs");
    PlanArgs a{g, n, inputs, outputs, dev, opt_.precision};
    if (opt_.precision == "fp16") {
      // O(nodes) per planned node: cheap next to cuDNN's heuristics, and needs no cache keyed by
      // a graph that may be destroyed and its address reused.
      const std::vector<bool> fp32 = Fp32NodesInFp16Graph(g, [&](const ir::Node& m) { return Supports(g, m); });
      size_t id = SIZE_MAX;
      const auto& all = g.nodes();
      if (!all.empty() && &n >= all.data() && &n < all.data() + all.size()) {
        id = static_cast<size_t>(&n - all.data());
      } else {  // a copy of a node of g (tests): find it by its outputs
        for (size_t j = 0; j < all.size() && id == SIZE_MAX; ++j)
          if (all[j].outputs == n.outputs) id = j;
      }
      a.elem = (id < fp32.size() && !fp32[id]) ? cuda::Elem::kF16 : cuda::Elem::kF32;
    }
    Result<cuda::KernelPtr> k = Unsupported("node '" + n.name + "' (" + ir::OpTypeName(n.op) +
                                            "): not supported by the cuda backend");
    switch (PlannerFor(n.op)) {
      case Planner::kConv: k = cuda::PlanConv(a); break;
      case Planner::kMatMul: k = cuda::PlanMatMul(a); break;
      case Planner::kSimple: k = cuda::PlanSimple(a); break;
      case Planner::kNone: break;
    }
    if (!k.ok()) return k.status();
    return std::unique_ptr<Kernel>(std::move(k).value());
  }

  // Whole-graph device runs (graph_runner.h); nullptr when no node runs on the GPU.
  Result<std::unique_ptr<GraphRunner>> CreateGraphRunner(const PlannedGraph& pg) const override {
    return cuda::CreateCudaGraphRunner(pg);
  }

 private:
  CudaBackendOptions opt_;
  mutable std::once_flag probe_once_;
  mutable Status usable_;
};

}  // namespace

const Backend* CudaBackend() {
  static const CudaBackendImpl b{CudaBackendOptions{}};
  return &b;
}

Result<const Backend*> CudaBackendFor(const CudaBackendOptions& o) {
  if (o.gpu_index < 0) return InvalidArgument("gpu_index must be >= 0");
  if (o.precision != "fp32" && o.precision != "tf32" && o.precision != "fp16" && o.precision != "auto")
    return InvalidArgument("precision must be fp32, tf32, fp16 or auto (got '" + o.precision + "')");
  if (o.gpu_index == 0 && o.precision == "fp32") return CudaBackend();
  static std::mutex mu;
  static std::map<std::pair<int, std::string>, std::unique_ptr<CudaBackendImpl>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[{o.gpu_index, o.precision}];
  if (!slot) slot = std::make_unique<CudaBackendImpl>(o);
  return static_cast<const Backend*>(slot.get());
}

Status SetCudaMemoryLimit(int gpu_index, int64_t limit_bytes, double limit_fraction) {
  if (limit_bytes < 0 || limit_fraction < 0 || limit_fraction > 1)
    return InvalidArgument("gpu memory limit: bytes must be >= 0 and fraction in [0, 1]");
  FK_ASSIGN_OR_RETURN(cuda::DeviceContext * dev, cuda::DeviceContext::Get(gpu_index));
  dev->pool().set_limit(cuda::EffectivePoolLimit(limit_bytes, limit_fraction, dev->info().total_memory));
  return OkStatus();
}

void ResetCudaPoolPeak(int gpu_index) {
  auto dev = cuda::DeviceContext::Get(gpu_index);
  if (dev.ok()) (*dev)->pool().ResetPeak();
}

cuda::PoolStats CudaPoolStats(int gpu_index) {
  auto dev = cuda::DeviceContext::Get(gpu_index);
  if (!dev.ok()) return {};
  return (*dev)->pool().stats();
}

}  // namespace fk::engine
