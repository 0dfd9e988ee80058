// Load-time rewrites. Conventions shared by all of them:
//  - a value is fused into its consumer only when it has exactly one consumer and is not a
//    graph output (UseCounts() counts both);
//  - weights are never modified in place: a rewritten weight becomes a new constant (the
//    old one may be shared and is dropped by Compact() when unused);
//  - a fused node takes over the consumer's output value, so value names seen by users
//    (graph outputs) do not change.
#include "engine/optimizer/optimizer.h"

#include <cfloat>
#include <cmath>
#include <limits>
#include <sstream>

#include "engine/backend.h"
#include "engine/import/tfjs_loader.h"
#include "engine/ops/shape_inference.h"

namespace fk::engine {

using ir::Activation;
using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::ValueId;

std::string OptimizeStats::ToString() const {
  std::ostringstream os;
  os << "constants folded " << constants_folded << ", identities removed " << identities_removed
     << ", biases folded " << biases_folded << ", batch norms folded " << batchnorms_folded
     << ", activations fused " << activations_fused << ", pads folded " << pads_folded << ", prelu patterns fused " << prelu_patterns_fused;
  return os.str();
}

namespace {

// Consumers of each value: node indices (a node reading a value twice appears twice).
std::vector<std::vector<int>> Consumers(const Graph& g) {
  std::vector<std::vector<int>> c(g.values().size());
  for (size_t i = 0; i < g.nodes().size(); ++i)
    for (ValueId v : g.nodes()[i].inputs) c[static_cast<size_t>(v)].push_back(static_cast<int>(i));
  return c;
}

bool IsGraphOutput(const Graph& g, ValueId v) {
  for (ValueId o : g.outputs())
    if (o == v) return true;
  return false;
}

// The single consuming node of `v`, or -1 (several consumers, none, or a graph output).
int SoleConsumer(const Graph& g, const std::vector<std::vector<int>>& cons, ValueId v) {
  if (IsGraphOutput(g, v)) return -1;
  const auto& c = cons[static_cast<size_t>(v)];
  return c.size() == 1 ? c[0] : -1;
}

void EraseNodes(Graph* g, const std::vector<char>& dead) {
  std::vector<Node> kept;
  for (size_t i = 0; i < g->nodes().size(); ++i)
    if (!dead[i]) kept.push_back(std::move(g->nodes()[i]));
  g->nodes() = std::move(kept);
  for (auto& v : g->values()) v.producer = -1;
  for (size_t i = 0; i < g->nodes().size(); ++i)
    for (ValueId o : g->nodes()[i].outputs) g->value(o).producer = static_cast<ir::NodeId>(i);
}

bool IsLinearOp(OpType op) {
  return op == OpType::kConv2D || op == OpType::kDepthwiseConv2D || op == OpType::kMatMul;
}

// Number of output channels of a Conv2D / DepthwiseConv2D / MatMul from its constant weight,
// or -1 when the weight is not a constant float32 of the expected rank.
int64_t OutChannels(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2) return -1;
  const ir::Value& w = g.value(n.inputs[1]);
  if (!w.is_constant() || w.constant.dtype() != DType::kFloat32) return -1;
  const Shape& s = w.constant.shape();
  if (n.op == OpType::kConv2D && s.rank() == 4) return s[3];
  if (n.op == OpType::kDepthwiseConv2D && s.rank() == 4) return s[2] * s[3];
  if (n.op == OpType::kMatMul && s.rank() == 2) return n.attrs.i("transpose_b", 0) ? s[0] : s[1];
  return -1;
}

// Output channel of flat weight index k.
int64_t WeightChannel(const Node& n, const Shape& ws, int64_t k, int64_t cout) {
  if (n.op == OpType::kMatMul && n.attrs.i("transpose_b", 0)) return k / ws[1];
  return k % cout;
}

// A constant float32 that broadcasts per output channel onto a tensor of rank `rank`
// (shape [C], [1,..,1,C] or a scalar). Returns its values expanded to `cout`, or nothing.
std::optional<std::vector<float>> PerChannel(const Graph& g, ValueId v, int64_t cout, int rank) {
  const ir::Value& val = g.value(v);
  if (!val.is_constant() || val.constant.dtype() != DType::kFloat32) return std::nullopt;
  const Shape& s = val.constant.shape();
  if (s.rank() > rank) return std::nullopt;
  const int64_t n = val.constant.num_elements();
  const float* p = val.constant.data<float>();
  if (n == 1) return std::vector<float>(static_cast<size_t>(cout), p[0]);
  if (n != cout || s[s.rank() - 1] != cout) return std::nullopt;
  return std::vector<float>(p, p + n);
}

// Existing bias of a linear node (zeros if none).
std::vector<float> BiasOf(const Graph& g, const Node& n, int64_t cout) {
  std::vector<float> b(static_cast<size_t>(cout), 0.f);
  if (n.attrs.i("has_bias", 0) && n.inputs.size() >= 3) {
    const ir::Value& bv = g.value(n.inputs[2]);
    if (bv.is_constant() && bv.constant.num_elements() == cout)
      for (int64_t k = 0; k < cout; ++k) b[static_cast<size_t>(k)] = bv.constant.data<float>()[k];
  }
  return b;
}

bool HasConstBiasOrNone(const Graph& g, const Node& n) {
  if (!n.attrs.i("has_bias", 0)) return true;
  return n.inputs.size() >= 3 && g.value(n.inputs[2]).is_constant();
}

void SetBias(Graph* g, Node& n, const std::vector<float>& b) {
  Tensor t(DType::kFloat32, Shape{static_cast<int64_t>(b.size())});
  std::copy(b.begin(), b.end(), t.data<float>());
  const ValueId id = g->AddConstant(n.name + "/folded_bias", t);
  if (n.attrs.i("has_bias", 0)) {
    n.inputs[2] = id;
  } else {
    n.inputs.insert(n.inputs.begin() + 2, id);
    n.attrs.set("has_bias", static_cast<int64_t>(1));
  }
}

// Scales the weights of linear node `n` per output channel.
void ScaleWeights(Graph* g, Node& n, const std::vector<float>& scale, int64_t cout) {
  const Tensor& w = g->value(n.inputs[1]).constant;
  Tensor nw = w.Clone();
  float* p = nw.data<float>();
  for (int64_t k = 0; k < nw.num_elements(); ++k)
    p[k] *= scale[static_cast<size_t>(WeightChannel(n, nw.shape(), k, cout))];
  n.inputs[1] = g->AddConstant(n.name + "/folded_weights", nw);
}

// The other input of a binary node, given one of them.
ValueId OtherInput(const Node& n, ValueId v) { return n.inputs[0] == v ? n.inputs[1] : n.inputs[0]; }

float ScalarConst(const Graph& g, ValueId v, bool* ok) {
  const ir::Value& val = g.value(v);
  *ok = val.is_constant() && val.constant.num_elements() == 1 && val.constant.dtype() == DType::kFloat32;
  return *ok ? val.constant.data<float>()[0] : 0.f;
}

}  // namespace

// ---- constant folding ---------------------------------------------------------------------

Result<int> FoldConstants(Graph* g) {
  const Backend* ref = GetBackend("ref");
  if (!ref) return Internal("constant folding needs the ref backend");
  int count = 0;
  std::vector<char> dead(g->nodes().size(), 0);
  for (size_t i = 0; i < g->nodes().size(); ++i) {
    const Node& n = g->nodes()[i];
    if (n.inputs.empty()) continue;
    bool all_const = true;
    for (ValueId v : n.inputs) all_const = all_const && g->value(v).is_constant();
    if (!all_const) continue;
    std::vector<ops::ValueInfo> ins;
    std::vector<TensorInfo> in_info;
    std::vector<Tensor> in_t;
    for (ValueId v : n.inputs) {
      const Tensor& t = g->value(v).constant;
      ins.push_back({t.dtype(), t.shape(), &t});
      in_info.push_back({t.dtype(), t.shape()});
      in_t.push_back(t);
    }
    std::vector<ops::ValueInfo> outs;
    if (!ops::InferShapes(n, ins, &outs).ok()) continue;  // leave it to the executor to report
    std::vector<TensorInfo> out_info;
    bool concrete = true;
    for (const auto& o : outs) {
      concrete = concrete && o.shape.is_fully_defined();
      out_info.push_back({o.dtype, o.shape});
    }
    if (!concrete || outs.size() < n.outputs.size()) continue;
    auto kernel = ref->Plan(*g, n, in_info, out_info, PlanOptions{});
    if (!kernel.ok()) continue;
    std::vector<Tensor> out_t;
    for (const auto& o : out_info) out_t.emplace_back(o.dtype, o.shape);
    std::vector<char> ws((*kernel)->workspace_bytes() + 64);
    FK_RETURN_IF_ERROR((*kernel)->Run(in_t, out_t, ws.data()).WithContext("constant folding node '" + n.name + "'"));
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      ir::Value& ov = g->value(n.outputs[k]);
      ov.constant = out_t[k];
      ov.dtype = out_t[k].dtype();
      ov.shape = out_t[k].shape();
      ov.producer = -1;
    }
    dead[i] = 1;
    ++count;
  }
  if (count) EraseNodes(g, dead);
  return count;
}

// ---- Identity removal -----------------------------------------------------------------------

int RemoveIdentities(Graph* g) {
  int count = 0;
  std::vector<char> dead(g->nodes().size(), 0);
  for (size_t i = 0; i < g->nodes().size(); ++i) {
    Node& n = g->nodes()[i];
    if (n.op != OpType::kIdentity || n.inputs.size() != 1 || n.outputs.size() != 1) continue;
    const ValueId x = n.inputs[0], y = n.outputs[0];
    if (IsGraphOutput(*g, y)) {
      // Keep the output's name: the producer of x writes y directly, when x is an ordinary
      // intermediate with no other use.
      const auto uses = g->UseCounts();
      const ir::NodeId p = g->value(x).producer;
      if (p < 0 || uses[static_cast<size_t>(x)] != 1 || dead[static_cast<size_t>(p)]) continue;
      for (ValueId& o : g->nodes()[static_cast<size_t>(p)].outputs)
        if (o == x) o = y;
    } else {
      for (Node& m : g->nodes())
        for (ValueId& v : m.inputs)
          if (v == y) v = x;
    }
    dead[i] = 1;
    ++count;
  }
  if (count) EraseNodes(g, dead);
  return count;
}

// ---- bias folding ---------------------------------------------------------------------------

// Conv/DWConv/MatMul (no activation) -> Add/Sub(per-channel const) becomes the node's bias.
int FoldBias(Graph* g) {
  int count = 0;
  auto cons = Consumers(*g);
  std::vector<char> dead(g->nodes().size(), 0);
  for (size_t i = 0; i < g->nodes().size(); ++i) {
    Node& n = g->nodes()[i];
    if (dead[i] || !IsLinearOp(n.op) || n.activation() != Activation::kNone || n.outputs.size() != 1) continue;
    if (!HasConstBiasOrNone(*g, n)) continue;
    const int64_t cout = OutChannels(*g, n);
    if (cout <= 0) continue;
    const ValueId o = n.outputs[0];
    const int c = SoleConsumer(*g, cons, o);
    if (c < 0 || dead[static_cast<size_t>(c)]) continue;
    Node& a = g->nodes()[static_cast<size_t>(c)];
    if ((a.op != OpType::kAdd && a.op != OpType::kSub) || a.inputs.size() != 2) continue;
    if (a.op == OpType::kSub && a.inputs[0] != o) continue;  // c - x is not a bias
    const int rank = n.op == OpType::kMatMul ? 2 : 4;
    auto add = PerChannel(*g, OtherInput(a, o), cout, rank);
    if (!add) continue;
    std::vector<float> b = BiasOf(*g, n, cout);
    for (int64_t k = 0; k < cout; ++k)
      b[static_cast<size_t>(k)] += a.op == OpType::kSub ? -(*add)[static_cast<size_t>(k)] : (*add)[static_cast<size_t>(k)];
    SetBias(g, n, b);
    n.outputs[0] = a.outputs[0];
    dead[static_cast<size_t>(c)] = 1;
    cons = Consumers(*g);
    ++count;
  }
  if (count) EraseNodes(g, dead);
  return count;
}

// ---- batch-norm folding -----------------------------------------------------------------------

// Conv/DWConv/MatMul (no activation) followed by BatchNorm(scale, offset, mean, var) or by
// Mul(per-channel const): weights and bias are scaled per output channel.
int FoldBatchNorm(Graph* g) {
  int count = 0;
  auto cons = Consumers(*g);
  std::vector<char> dead(g->nodes().size(), 0);
  for (size_t i = 0; i < g->nodes().size(); ++i) {
    Node& n = g->nodes()[i];
    if (dead[i] || !IsLinearOp(n.op) || n.activation() != Activation::kNone || n.outputs.size() != 1) continue;
    if (!HasConstBiasOrNone(*g, n)) continue;
    const int64_t cout = OutChannels(*g, n);
    if (cout <= 0) continue;
    const ValueId o = n.outputs[0];
    const int c = SoleConsumer(*g, cons, o);
    if (c < 0 || dead[static_cast<size_t>(c)]) continue;
    Node& m = g->nodes()[static_cast<size_t>(c)];
    const int rank = n.op == OpType::kMatMul ? 2 : 4;
    std::vector<float> scale, shift(static_cast<size_t>(cout), 0.f);
    if (m.op == OpType::kBatchNorm && m.inputs.size() == 5 && m.inputs[0] == o) {
      auto gamma = PerChannel(*g, m.inputs[1], cout, rank);
      auto beta = PerChannel(*g, m.inputs[2], cout, rank);
      auto mean = PerChannel(*g, m.inputs[3], cout, rank);
      auto var = PerChannel(*g, m.inputs[4], cout, rank);
      if (!gamma || !beta || !mean || !var) continue;
      const float eps = m.attrs.f("epsilon", 0.001f);
      scale.resize(static_cast<size_t>(cout));
      for (size_t k = 0; k < scale.size(); ++k) {
        scale[k] = (*gamma)[k] / std::sqrt((*var)[k] + eps);
        shift[k] = (*beta)[k] - (*mean)[k] * scale[k];
      }
    } else if (m.op == OpType::kMul && m.inputs.size() == 2) {
      auto s = PerChannel(*g, OtherInput(m, o), cout, rank);
      if (!s) continue;
      scale = *s;
    } else {
      continue;
    }
    std::vector<float> b = BiasOf(*g, n, cout);
    for (size_t k = 0; k < b.size(); ++k) b[k] = b[k] * scale[k] + shift[k];
    ScaleWeights(g, n, scale, cout);
    if (n.attrs.i("has_bias", 0) || m.op == OpType::kBatchNorm) SetBias(g, n, b);
    n.outputs[0] = m.outputs[0];
    dead[static_cast<size_t>(c)] = 1;
    cons = Consumers(*g);
    ++count;
  }
  if (count) EraseNodes(g, dead);
  return count;
}

// ---- activation fusion ----------------------------------------------------------------------

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

// The node's current activation as a clip interval, when it is one (none/relu/relu6/clip).
bool AsInterval(const Node& n, float* lo, float* hi) {
  switch (n.activation()) {
    case Activation::kNone: *lo = -kInf; *hi = kInf; return true;
    case Activation::kRelu: *lo = 0; *hi = kInf; return true;
    case Activation::kRelu6: *lo = 0; *hi = 6; return true;
    case Activation::kClip:
      *lo = n.attrs.f("clip_min", -FLT_MAX);
      *hi = n.attrs.f("clip_max", FLT_MAX);
      if (*lo <= -FLT_MAX) *lo = -kInf;
      if (*hi >= FLT_MAX) *hi = kInf;
      return true;
    default: return false;
  }
}

void SetInterval(Node& n, float lo, float hi) {
  n.attrs.erase("clip_min");
  n.attrs.erase("clip_max");
  if (lo == -kInf && hi == kInf) {
    n.attrs.erase("activation");
  } else if (lo == 0 && hi == kInf) {
    n.attrs.set("activation", std::string("relu"));
  } else if (lo == 0 && hi == 6) {
    n.attrs.set("activation", std::string("relu6"));
  } else {
    n.attrs.set("activation", std::string("clip"));
    n.attrs.set("clip_min", lo == -kInf ? -FLT_MAX : lo);
    n.attrs.set("clip_max", hi == kInf ? FLT_MAX : hi);
  }
}
}  // namespace

// Conv/DWConv/MatMul -> Relu/Relu6/Sigmoid/Tanh/LeakyRelu/Elu/Prelu(const alpha), and clip
// patterns Maximum/Minimum with scalar constants (any order, any count: they compose as
// intervals, so Minimum(Maximum(x,a),b), Maximum(Minimum(x,b),a) and Relu + Minimum(x,6) all
// end as one clip / relu6).
int FuseActivations(Graph* g) {
  int count = 0;
  auto cons = Consumers(*g);
  std::vector<char> dead(g->nodes().size(), 0);
  for (size_t i = 0; i < g->nodes().size(); ++i) {
    if (dead[i]) continue;
    bool changed = true;
    while (changed) {  // fuse a chain of activations into the same node
      changed = false;
      Node& n = g->nodes()[i];
      if (!IsLinearOp(n.op) || n.outputs.size() != 1) break;
      const ValueId o = n.outputs[0];
      const int c = SoleConsumer(*g, cons, o);
      if (c < 0 || dead[static_cast<size_t>(c)]) break;
      Node& a = g->nodes()[static_cast<size_t>(c)];
      float lo, hi;
      const bool interval = AsInterval(n, &lo, &hi);
      bool fuse = false;
      switch (a.op) {
        case OpType::kRelu:
          if (interval) { SetInterval(n, std::max(lo, 0.f), std::max(hi, 0.f)); fuse = true; }
          break;
        case OpType::kRelu6:
          if (interval) { SetInterval(n, std::min(std::max(lo, 0.f), 6.f), std::min(std::max(hi, 0.f), 6.f)); fuse = true; }
          break;
        case OpType::kMaximum:
        case OpType::kMinimum: {
          if (!interval || a.inputs.size() != 2) break;
          bool ok;
          const float v = ScalarConst(*g, OtherInput(a, o), &ok);
          if (!ok) break;
          if (a.op == OpType::kMaximum) SetInterval(n, std::max(lo, v), std::max(hi, v));
          else SetInterval(n, std::min(lo, v), std::min(hi, v));
          fuse = true;
          break;
        }
        case OpType::kClip:
          if (interval) {
            const float a_lo = a.attrs.f("clip_min", -FLT_MAX), a_hi = a.attrs.f("clip_max", FLT_MAX);
            SetInterval(n, std::min(std::max(lo, a_lo), a_hi), std::min(std::max(hi, a_lo), a_hi));
            fuse = true;
          }
          break;
        case OpType::kSigmoid:
        case OpType::kTanh:
        case OpType::kElu:
        case OpType::kLeakyRelu:
          if (n.activation() != Activation::kNone) break;
          n.attrs.set("activation", std::string(a.op == OpType::kSigmoid ? "sigmoid"
                                                : a.op == OpType::kTanh  ? "tanh"
                                                : a.op == OpType::kElu   ? "elu"
                                                                         : "leaky_relu"));
          if (a.op == OpType::kLeakyRelu) n.attrs.set("leaky_alpha", a.attrs.f("alpha", 0.2f));
          if (a.op == OpType::kElu) n.attrs.set("alpha", a.attrs.f("alpha", 1.f));
          fuse = true;
          break;
        case OpType::kPrelu: {
          if (n.activation() != Activation::kNone || a.inputs.size() != 2 || a.inputs[0] != o) break;
          const int64_t cout = OutChannels(*g, n);
          if (cout <= 0) break;
          auto alpha = PerChannel(*g, a.inputs[1], cout, n.op == OpType::kMatMul ? 2 : 4);
          if (!alpha) break;
          Tensor t(DType::kFloat32, Shape{cout});
          std::copy(alpha->begin(), alpha->end(), t.data<float>());
          const ValueId av = g->AddConstant(n.name + "/prelu_alpha", t);
          Node& nn = g->nodes()[i];
          nn.inputs.push_back(av);
          nn.attrs.set("activation", std::string("prelu"));
          fuse = true;
          break;
        }
        default: break;
      }
      if (!fuse) break;
      Node& nn = g->nodes()[i];
      nn.outputs[0] = g->nodes()[static_cast<size_t>(c)].outputs[0];
      dead[static_cast<size_t>(c)] = 1;
      cons = Consumers(*g);
      ++count;
      changed = true;
    }
  }
  if (count) EraseNodes(g, dead);
  return count;
}

// ---- PReLU pattern ---------------------------------------------------------------------------

namespace {
bool IsZeroScalar(const Graph& g, ValueId v) {
  bool ok;
  const float z = ScalarConst(g, v, &ok);
  return ok && z == 0.f;
}
}  // namespace

// Add(Maximum(x, 0), Mul(alpha, Minimum(x, 0))) (operands in any order, alpha a per-channel
// constant over the last axis) -> Prelu(x, alpha). Exact for finite alpha: for x > 0 it is
// x + alpha*0, otherwise 0 + alpha*x. The Prelu then fuses into x's producer like any other
// activation (FuseActivations). mobileface (MXNet export) writes every PReLU this way.
int FusePreluPattern(Graph* g) {
  int count = 0;
  auto cons = Consumers(*g);
  std::vector<char> dead(g->nodes().size(), 0);
  auto producer_of = [&](ValueId v) -> int { return g->value(v).producer; };
  for (size_t i = 0; i < g->nodes().size(); ++i) {
    Node& add = g->nodes()[i];
    if (dead[i] || add.op != OpType::kAdd || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    // One operand is the Maximum, the other the Mul.
    int imax = -1, imul = -1;
    for (int k = 0; k < 2; ++k) {
      const int p = producer_of(add.inputs[static_cast<size_t>(k)]);
      if (p < 0 || dead[static_cast<size_t>(p)]) continue;
      if (g->nodes()[static_cast<size_t>(p)].op == OpType::kMaximum) imax = p;
      if (g->nodes()[static_cast<size_t>(p)].op == OpType::kMul) imul = p;
    }
    if (imax < 0 || imul < 0) continue;
    const Node& mx = g->nodes()[static_cast<size_t>(imax)];
    const Node& mul = g->nodes()[static_cast<size_t>(imul)];
    if (mx.inputs.size() != 2 || mul.inputs.size() != 2 || mx.outputs.size() != 1 || mul.outputs.size() != 1) continue;
    if (SoleConsumer(*g, cons, mx.outputs[0]) != static_cast<int>(i) ||
        SoleConsumer(*g, cons, mul.outputs[0]) != static_cast<int>(i))
      continue;
    // Maximum(x, 0) / Maximum(0, x).
    ValueId x;
    if (IsZeroScalar(*g, mx.inputs[0])) x = mx.inputs[1];
    else if (IsZeroScalar(*g, mx.inputs[1])) x = mx.inputs[0];
    else continue;
    if (g->value(x).is_constant()) continue;
    // Mul(alpha, Minimum(x, 0)) in either order.
    int imin = -1;
    ValueId alpha_v = ir::kNoValue;
    for (int k = 0; k < 2; ++k) {
      const int p = producer_of(mul.inputs[static_cast<size_t>(k)]);
      if (p < 0 || dead[static_cast<size_t>(p)] || g->nodes()[static_cast<size_t>(p)].op != OpType::kMinimum) continue;
      imin = p;
      alpha_v = mul.inputs[static_cast<size_t>(1 - k)];
    }
    if (imin < 0) continue;
    const Node& mn = g->nodes()[static_cast<size_t>(imin)];
    if (mn.inputs.size() != 2 || mn.outputs.size() != 1) continue;
    if (SoleConsumer(*g, cons, mn.outputs[0]) != imul) continue;
    if (!((mn.inputs[0] == x && IsZeroScalar(*g, mn.inputs[1])) || (mn.inputs[1] == x && IsZeroScalar(*g, mn.inputs[0]))))
      continue;
    // alpha: a finite float constant whose only non-1 dim is the last one (or a scalar).
    const ir::Value& av = g->value(alpha_v);
    if (!av.is_constant() || av.constant.dtype() != DType::kFloat32) continue;
    const Shape& as = av.constant.shape();
    bool per_channel = true;
    for (int d = 0; d + 1 < as.rank(); ++d) per_channel = per_channel && as[d] == 1;
    if (!per_channel) continue;
    const Shape& xs = g->value(x).shape;
    // The Prelu keeps the Add's output shape only when alpha does not broadcast x up: alpha's
    // rank must not exceed x's, and its channel count must match x's last dim (or be 1).
    // A rank-0 shape or a -1 channel means "not inferred" (graphs built by hand): then a
    // mismatch, which no real model has, is reported by Prelu at plan time, never computed.
    if (as.rank() > 0 && xs.rank() > 0) {
      if (as.rank() > xs.rank()) continue;
      const int64_t c = as[as.rank() - 1], xc = xs[xs.rank() - 1];
      if (c != 1 && xc >= 0 && xc != c) continue;
    }
    bool finite = true;
    const float* ap = av.constant.data<float>();
    for (int64_t k = 0; k < av.constant.num_elements(); ++k) finite = finite && std::isfinite(ap[k]);
    if (!finite) continue;
    // Prelu's alpha broadcasts over the last axis: store it as [C] (or [1] for a scalar).
    Tensor alpha(DType::kFloat32, Shape{std::max<int64_t>(1, av.constant.num_elements())});
    std::copy(ap, ap + av.constant.num_elements(), alpha.data<float>());
    const std::string name = add.name;
    const ValueId out = add.outputs[0];
    const ValueId alpha_id = g->AddConstant(name + "/prelu_alpha", alpha);
    Node& a = g->nodes()[i];  // AddConstant does not touch nodes, but re-fetch for clarity
    a.op = OpType::kPrelu;
    a.inputs = {x, alpha_id};
    a.outputs = {out};
    a.attrs = ir::Attrs{};
    dead[static_cast<size_t>(imax)] = dead[static_cast<size_t>(imin)] = dead[static_cast<size_t>(imul)] = 1;
    cons = Consumers(*g);
    ++count;
  }
  if (count) EraseNodes(g, dead);
  return count;
}

// ---- pad folding ----------------------------------------------------------------------------

// Pad (constant 0, H/W only) -> Conv2D/DepthwiseConv2D with VALID or EXPLICIT padding: the pad
// amounts move into the conv's explicit_pads.
int FoldPad(Graph* g) {
  int count = 0;
  auto cons = Consumers(*g);
  std::vector<char> dead(g->nodes().size(), 0);
  for (size_t i = 0; i < g->nodes().size(); ++i) {
    const Node& p = g->nodes()[i];
    if (dead[i] || p.op != OpType::kPad || p.inputs.size() != 2 || p.outputs.size() != 1) continue;
    if (p.attrs.s("mode", "CONSTANT") != "CONSTANT" || p.attrs.f("constant_value", 0.f) != 0.f) continue;
    const ir::Value& pv = g->value(p.inputs[1]);
    if (!pv.is_constant() || pv.constant.dtype() != DType::kInt32 || pv.constant.num_elements() != 8) continue;
    const int32_t* pd = pv.constant.data<int32_t>();
    if (pd[0] || pd[1] || pd[6] || pd[7]) continue;  // batch / channel padding
    if (pd[2] < 0 || pd[3] < 0 || pd[4] < 0 || pd[5] < 0) continue;
    const int c = SoleConsumer(*g, cons, p.outputs[0]);
    if (c < 0 || dead[static_cast<size_t>(c)]) continue;
    Node& conv = g->nodes()[static_cast<size_t>(c)];
    if ((conv.op != OpType::kConv2D && conv.op != OpType::kDepthwiseConv2D) || conv.inputs[0] != p.outputs[0]) continue;
    const std::string padding = conv.attrs.s("padding", "VALID");
    std::vector<int64_t> ep{0, 0, 0, 0};
    if (padding == "EXPLICIT") ep = conv.attrs.ints("explicit_pads", ep);
    else if (padding != "VALID") continue;
    if (ep.size() != 4) continue;
    ep[0] += pd[2];
    ep[1] += pd[3];
    ep[2] += pd[4];
    ep[3] += pd[5];
    conv.attrs.set("padding", std::string("EXPLICIT"));
    conv.attrs.set("explicit_pads", ep);
    conv.inputs[0] = p.inputs[0];
    dead[i] = 1;
    cons = Consumers(*g);
    ++count;
  }
  if (count) EraseNodes(g, dead);
  return count;
}

// ---- driver -------------------------------------------------------------------------------------

Status Optimize(Graph* g, const OptimizeOptions& o, OptimizeStats* stats) {
  OptimizeStats local;
  OptimizeStats& st = stats ? *stats : local;
  if (o.remove_identity) st.identities_removed += RemoveIdentities(g);
  if (o.fold_constants) {
    FK_ASSIGN_OR_RETURN(int n, FoldConstants(g));
    st.constants_folded += n;
  }
  for (int iter = 0; iter < 8; ++iter) {
    int changed = 0;
    if (o.fold_pad) { int k = FoldPad(g); st.pads_folded += k; changed += k; }
    if (o.fold_batchnorm) { int k = FoldBatchNorm(g); st.batchnorms_folded += k; changed += k; }
    if (o.fold_bias) { int k = FoldBias(g); st.biases_folded += k; changed += k; }
    if (o.fuse_activations) { int k = FusePreluPattern(g); st.prelu_patterns_fused += k; changed += k; }
    if (o.fuse_activations) { int k = FuseActivations(g); st.activations_fused += k; changed += k; }
    if (!changed) break;
  }
  FK_RETURN_IF_ERROR(g->Compact());
  FK_RETURN_IF_ERROR(g->Validate());
  return OkStatus();
}

}  // namespace fk::engine
