// TF.js graph-model importer. The op mapping is data: kOpRules below is the one table from
// TensorFlow op name to IR op, its data inputs and its attribute converters. A few ops need
// a small special step (fused ops, inputs that become attributes); those are named in the
// table's `special` column and handled in one switch.
#include "engine/import/tfjs_loader.h"
#include "engine/import/weights_manifest.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "engine/ops/shape_inference.h"

namespace fk::engine {

using ir::Graph;
using ir::Node;
using ir::OpType;
using ir::ValueId;
using json = nlohmann::ordered_json;

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

namespace {

// ---- small helpers -----------------------------------------------------------------

std::string Base64Decode(const std::string& in) {
  static const std::string kChars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    size_t p = kChars.find(c);
    if (p == std::string::npos) {
      if (c == '-') p = 62;       // url-safe alphabet
      else if (c == '_') p = 63;
      else continue;
    }
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

int64_t JsonInt(const json& v) {
  if (v.is_string()) return std::stoll(v.get<std::string>());
  if (v.is_number()) return v.get<int64_t>();
  return 0;
}

std::optional<DType> TfDType(const std::string& t) {
  if (t == "DT_FLOAT") return DType::kFloat32;
  if (t == "DT_INT32") return DType::kInt32;
  if (t == "DT_UINT8") return DType::kUInt8;
  if (t == "DT_INT64") return DType::kInt64;
  return std::nullopt;
}

// Accessors on a TF node's "attr" object. Missing attributes give the default.
struct TfAttrs {
  const json* a = nullptr;
  const json* get(const std::string& k) const {
    if (!a || !a->is_object()) return nullptr;
    auto it = a->find(k);
    return it == a->end() ? nullptr : &*it;
  }
  bool has(const std::string& k) const { return get(k) != nullptr; }
  int64_t i(const std::string& k, int64_t def = 0) const {
    const json* v = get(k);
    if (!v || !v->contains("i")) return def;
    return JsonInt((*v)["i"]);
  }
  float f(const std::string& k, float def = 0.f) const {
    const json* v = get(k);
    if (!v || !v->contains("f")) return def;
    const json& x = (*v)["f"];
    if (x.is_number()) return x.get<float>();
    if (x.is_string()) return std::stof(x.get<std::string>());
    return def;
  }
  bool b(const std::string& k, bool def = false) const {
    const json* v = get(k);
    if (!v || !v->contains("b")) return def;
    return (*v)["b"].get<bool>();
  }
  std::string s(const std::string& k, const std::string& def = "") const {
    const json* v = get(k);
    if (!v || !v->contains("s")) return def;
    return Base64Decode((*v)["s"].get<std::string>());
  }
  std::string type(const std::string& k) const {
    const json* v = get(k);
    if (!v || !v->contains("type")) return "";
    return (*v)["type"].get<std::string>();
  }
  std::vector<int64_t> ints(const std::string& k) const {
    std::vector<int64_t> out;
    const json* v = get(k);
    if (!v || !v->contains("list")) return out;
    const json& l = (*v)["list"];
    if (l.contains("i"))
      for (const auto& x : l["i"]) out.push_back(JsonInt(x));
    return out;
  }
  std::vector<std::string> strings(const std::string& k) const {
    std::vector<std::string> out;
    const json* v = get(k);
    if (!v || !v->contains("list")) return out;
    const json& l = (*v)["list"];
    if (l.contains("s"))
      for (const auto& x : l["s"]) out.push_back(Base64Decode(x.get<std::string>()));
    return out;
  }
};

struct TfNode {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;  // control inputs ("^x") removed
  TfAttrs attrs;
};

// ---- the op table ---------------------------------------------------------------------

enum class AttrKind {
  kInt,          // {"i": n}               -> int64
  kBool,         // {"b": true}            -> int64 0/1
  kFloat,        // {"f": x}               -> float
  kString,       // {"s": base64}          -> string
  kIntList,      // {"list": {"i": [...]}} -> int64 list
  kHW,           // NHWC list of 4         -> [h, w] (batch and channel entries must be 1)
  kExplicitPads, // NHWC list of 8         -> [top, bottom, left, right]
  kDType,        // {"type": "DT_FLOAT"}   -> int64 fk::DType enum value
};

struct AttrRule {
  const char* tf;
  const char* ir;
  AttrKind kind;
};

enum class Special {
  kNone,
  kFused,           // _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul: fused_ops
  kAxisFromLast,    // ConcatV2: last input (const) -> attr axis
  kAxisFromInput2,  // GatherV2: input 2 (const) -> attr axis
  kPermFromInput1,  // Transpose: input 1 (const) -> attr perm
  kPadV2,           // PadV2: input 2 (const scalar) -> attr constant_value
  kMirrorPad,       // MirrorPad: attr mode
  kBatchNorm,       // FusedBatchNorm(V3): is_training must be false
  kElu,             // Elu: alpha = 1
};

struct OpRule {
  const char* tf;
  OpType op;
  int data_inputs;  // inputs passed to the IR node (-1: all)
  std::vector<AttrRule> attrs;
  Special special = Special::kNone;
};

const std::vector<AttrRule> kConvAttrs = {{"strides", "strides", AttrKind::kHW},
                                          {"dilations", "dilations", AttrKind::kHW},
                                          {"padding", "padding", AttrKind::kString},
                                          {"explicit_paddings", "explicit_pads", AttrKind::kExplicitPads}};
const std::vector<AttrRule> kPoolAttrs = {{"ksize", "ksize", AttrKind::kHW},
                                          {"strides", "strides", AttrKind::kHW},
                                          {"padding", "padding", AttrKind::kString},
                                          {"explicit_paddings", "explicit_pads", AttrKind::kExplicitPads}};
const std::vector<AttrRule> kMatMulAttrs = {{"transpose_a", "transpose_a", AttrKind::kBool},
                                            {"transpose_b", "transpose_b", AttrKind::kBool}};
const std::vector<AttrRule> kReduceAttrs = {{"keep_dims", "keep_dims", AttrKind::kBool}};

const std::vector<OpRule>& OpRules() {
  static const std::vector<OpRule> kRules = {
      {"Conv2D", OpType::kConv2D, 2, kConvAttrs},
      {"_FusedConv2D", OpType::kConv2D, 2, kConvAttrs, Special::kFused},
      {"DepthwiseConv2dNative", OpType::kDepthwiseConv2D, 2, kConvAttrs},
      {"FusedDepthwiseConv2dNative", OpType::kDepthwiseConv2D, 2, kConvAttrs, Special::kFused},
      {"MatMul", OpType::kMatMul, 2, kMatMulAttrs},
      {"_FusedMatMul", OpType::kMatMul, 2, kMatMulAttrs, Special::kFused},
      {"Add", OpType::kAdd, 2, {}},
      {"AddV2", OpType::kAdd, 2, {}},
      {"BiasAdd", OpType::kAdd, 2, {}},
      {"AddN", OpType::kAddN, -1, {}},
      {"Sub", OpType::kSub, 2, {}},
      {"Mul", OpType::kMul, 2, {}},
      {"RealDiv", OpType::kDiv, 2, {}},
      {"Div", OpType::kDiv, 2, {}},
      {"Maximum", OpType::kMaximum, 2, {}},
      {"Minimum", OpType::kMinimum, 2, {}},
      {"Pow", OpType::kPow, 2, {}},
      {"SquaredDifference", OpType::kSquaredDifference, 2, {}},
      {"Abs", OpType::kAbs, 1, {}},
      {"Neg", OpType::kNeg, 1, {}},
      {"Square", OpType::kSquare, 1, {}},
      {"Sqrt", OpType::kSqrt, 1, {}},
      {"Rsqrt", OpType::kRsqrt, 1, {}},
      {"Exp", OpType::kExp, 1, {}},
      {"Log", OpType::kLog, 1, {}},
      {"Floor", OpType::kFloor, 1, {}},
      {"Reciprocal", OpType::kReciprocal, 1, {}},
      {"Relu", OpType::kRelu, 1, {}},
      {"Relu6", OpType::kRelu6, 1, {}},
      {"Sigmoid", OpType::kSigmoid, 1, {}},
      {"Tanh", OpType::kTanh, 1, {}},
      {"Elu", OpType::kElu, 1, {}, Special::kElu},
      {"LeakyRelu", OpType::kLeakyRelu, 1, {{"alpha", "alpha", AttrKind::kFloat}}},
      {"Prelu", OpType::kPrelu, 2, {}},
      {"Softmax", OpType::kSoftmax, 1, {}},
      {"MaxPool", OpType::kMaxPool, 1, kPoolAttrs},
      {"AvgPool", OpType::kAvgPool, 1, kPoolAttrs},
      {"Mean", OpType::kMean, 2, kReduceAttrs},
      {"Sum", OpType::kSum, 2, kReduceAttrs},
      {"Max", OpType::kMax, 2, kReduceAttrs},
      {"Min", OpType::kMin, 2, kReduceAttrs},
      {"Prod", OpType::kProd, 2, kReduceAttrs},
      {"Pad", OpType::kPad, 2, {}},
      {"PadV2", OpType::kPad, 2, {}, Special::kPadV2},
      {"MirrorPad", OpType::kPad, 2, {}, Special::kMirrorPad},
      {"Reshape", OpType::kReshape, 2, {}},
      {"Squeeze", OpType::kSqueeze, 1, {{"squeeze_dims", "axes", AttrKind::kIntList}}},
      {"ExpandDims", OpType::kExpandDims, 2, {}},
      {"ConcatV2", OpType::kConcat, -1, {}, Special::kAxisFromLast},
      {"StridedSlice",
       OpType::kStridedSlice,
       4,
       {{"begin_mask", "begin_mask", AttrKind::kInt},
        {"end_mask", "end_mask", AttrKind::kInt},
        {"ellipsis_mask", "ellipsis_mask", AttrKind::kInt},
        {"new_axis_mask", "new_axis_mask", AttrKind::kInt},
        {"shrink_axis_mask", "shrink_axis_mask", AttrKind::kInt}}},
      {"Slice", OpType::kSlice, 3, {}},
      {"Transpose", OpType::kTranspose, 1, {}, Special::kPermFromInput1},
      {"Shape", OpType::kShape, 1, {}},
      {"Pack", OpType::kPack, -1, {{"axis", "axis", AttrKind::kInt}}},
      {"Cast", OpType::kCast, 1, {{"DstT", "dst_dtype", AttrKind::kDType}}},
      {"Identity", OpType::kIdentity, 1, {}},
      {"GatherV2", OpType::kGather, 2, {}, Special::kAxisFromInput2},
      {"Tile", OpType::kTile, 2, {}},
      {"ResizeBilinear",
       OpType::kResizeBilinear,
       2,
       {{"align_corners", "align_corners", AttrKind::kBool},
        {"half_pixel_centers", "half_pixel_centers", AttrKind::kBool}}},
      {"ResizeNearestNeighbor",
       OpType::kResizeNearest,
       2,
       {{"align_corners", "align_corners", AttrKind::kBool},
        {"half_pixel_centers", "half_pixel_centers", AttrKind::kBool}}},
      {"DepthToSpace", OpType::kDepthToSpace, 1, {{"block_size", "block_size", AttrKind::kInt}}},
      {"FusedBatchNorm", OpType::kBatchNorm, 5, {{"epsilon", "epsilon", AttrKind::kFloat}}, Special::kBatchNorm},
      {"FusedBatchNormV3", OpType::kBatchNorm, 5, {{"epsilon", "epsilon", AttrKind::kFloat}}, Special::kBatchNorm},
  };
  return kRules;
}

const OpRule* FindRule(const std::string& tf_op) {
  static const std::unordered_map<std::string, const OpRule*> kIndex = [] {
    std::unordered_map<std::string, const OpRule*> m;
    for (const auto& r : OpRules()) m[r.tf] = &r;
    return m;
  }();
  auto it = kIndex.find(tf_op);
  return it == kIndex.end() ? nullptr : it->second;
}

// ---- importer state ---------------------------------------------------------------------

// Problems that make the model unsupported, aggregated so the user sees the full list.
class Problems {
 public:
  void Add(const std::string& what, const std::string& node) {
    auto& e = m_[what];
    if (e.count++ == 0) e.example = node;
  }
  bool empty() const { return m_.empty(); }
  std::string ToString() const {
    std::ostringstream os;
    for (const auto& [what, e] : m_)
      os << "\n  - " << what << ": " << e.count << (e.count == 1 ? " node" : " nodes") << " (e.g. '"
         << e.example << "')";
    return os.str();
  }

 private:
  struct Entry {
    int count = 0;
    std::string example;
  };
  std::map<std::string, Entry> m_;
};

class Importer {
 public:
  explicit Importer(std::string path) : path_(std::move(path)) {}
  Result<Graph> Run();

 private:
  Status ReadWeights(const json& manifest);
  Status ParseNodes(const json& nodes);
  Status CreateValues();
  void Convert(const TfNode& n);
  void ConvertFused(const TfNode& n, const OpRule& r, Node node, ValueId out);
  std::optional<ValueId> Input(const TfNode& n, size_t i);
  const Tensor* ConstInput(const TfNode& n, size_t i);
  ValueId NewValue(const std::string& name, DType dt = DType::kFloat32) {
    ir::Value v;
    v.name = name;
    v.dtype = dt;
    return g_.AddValue(std::move(v));
  }
  Status SetOutputs(const json& root);
  Status MakeBatchDynamic();

  std::string path_;
  std::string dir_;
  Graph g_;
  std::vector<TfNode> nodes_;
  std::unordered_map<std::string, size_t> node_index_;
  std::unordered_map<std::string, Tensor> weights_;
  std::unordered_map<std::string, ValueId> value_of_;  // TF node name -> its output 0
  std::map<ValueId, int64_t> declared_batch_;         // graph input -> declared dim 0
  Problems problems_;
};

// Reads the weights (engine/import/weights_manifest.h: shards concatenated per group, sliced
// in manifest order, dequantized) into weights_ by name.
Status Importer::ReadWeights(const json& manifest) {
  std::vector<ManifestWeight> weights;
  FK_RETURN_IF_ERROR(ReadManifestGroups(path_, dir_, manifest, &weights));
  for (ManifestWeight& w : weights) weights_[w.name] = std::move(w.tensor);
  return OkStatus();
}

Status Importer::ParseNodes(const json& nodes) {
  if (!nodes.is_array()) return DataLoss(path_ + ": 'modelTopology.node' is not a list");
  for (const auto& jn : nodes) {
    TfNode n;
    n.name = jn.at("name").get<std::string>();
    n.op = jn.at("op").get<std::string>();
    if (jn.contains("input"))
      for (const auto& in : jn["input"]) {
        std::string s = in.get<std::string>();
        if (!s.empty() && s[0] == '^') continue;  // control dependency: no data flows
        n.inputs.push_back(s);
      }
    if (jn.contains("attr")) n.attrs.a = &jn["attr"];
    if (node_index_.count(n.name)) return DataLoss(path_ + ": duplicate node name '" + n.name + "'");
    node_index_[n.name] = nodes_.size();
    nodes_.push_back(std::move(n));
  }
  return OkStatus();
}

// One value per TF node output 0: constants, graph inputs (Placeholders), op outputs.
Status Importer::CreateValues() {
  for (const TfNode& n : nodes_) {
    if (n.op == "Const") {
      auto it = weights_.find(n.name);
      if (it == weights_.end())
        return NotFound(path_ + ": constant '" + n.name + "' has no entry in weightsManifest");
      value_of_[n.name] = g_.AddConstant(n.name, it->second);
    } else if (n.op == "Placeholder") {
      ir::Value v;
      v.name = n.name;
      auto dt = TfDType(n.attrs.type("dtype"));
      if (!dt) {
        problems_.Add("Placeholder dtype " + n.attrs.type("dtype"), n.name);
        dt = DType::kFloat32;
      }
      v.dtype = *dt;
      if (const json* s = n.attrs.get("shape"); s && s->contains("shape")) {
        const json& sh = (*s)["shape"];
        std::vector<int64_t> dims;
        if (sh.contains("dim"))
          for (const auto& d : sh["dim"]) dims.push_back(d.contains("size") ? JsonInt(d["size"]) : -1);
        if (sh.value("unknownRank", false)) problems_.Add("Placeholder with unknown rank", n.name);
        v.shape = Shape(dims);
      } else {
        problems_.Add("Placeholder without a shape", n.name);
      }
      const ValueId id = g_.AddValue(std::move(v));
      g_.inputs().push_back(id);
      value_of_[n.name] = id;
    } else {
      value_of_[n.name] = NewValue(n.name);
    }
  }
  return OkStatus();
}

std::optional<ValueId> Importer::Input(const TfNode& n, size_t i) {
  if (i >= n.inputs.size()) {
    problems_.Add(n.op + " with fewer inputs than expected", n.name);
    return std::nullopt;
  }
  std::string ref = n.inputs[i];
  int index = 0;
  if (auto colon = ref.rfind(':'); colon != std::string::npos) {
    const std::string tail = ref.substr(colon + 1);
    if (!tail.empty() && tail.find_first_not_of("0123456789") == std::string::npos) {
      index = std::stoi(tail);
      ref = ref.substr(0, colon);
    }
  }
  auto it = value_of_.find(ref);
  if (it == value_of_.end()) {
    problems_.Add("input refers to a node that does not exist", n.name + " <- " + n.inputs[i]);
    return std::nullopt;
  }
  if (index != 0) {
    const auto& src = nodes_[node_index_.at(ref)];
    problems_.Add("use of output :" + std::to_string(index) + " of " + src.op + " (only output 0 is supported)",
                  n.name);
    return std::nullopt;
  }
  return it->second;
}

const Tensor* Importer::ConstInput(const TfNode& n, size_t i) {
  auto v = Input(n, i);
  if (!v) return nullptr;
  const ir::Value& val = g_.value(*v);
  if (!val.is_constant()) {
    problems_.Add(n.op + " input " + std::to_string(i) + " must be a constant", n.name);
    return nullptr;
  }
  return &val.constant;
}

std::vector<int64_t> TensorInts(const Tensor& t) {
  std::vector<int64_t> v;
  for (int64_t k = 0; k < t.num_elements(); ++k)
    v.push_back(t.dtype() == DType::kInt32 ? t.data<int32_t>()[k] : static_cast<int64_t>(t.data<float>()[k]));
  return v;
}

void Importer::Convert(const TfNode& n) {
  if (n.op == "Const" || n.op == "Placeholder") return;
  const OpRule* r = FindRule(n.op);
  if (!r) {
    problems_.Add("unsupported op " + n.op, n.name);
    return;
  }
  // Attribute values we refuse, checked uniformly.
  if (n.attrs.has("data_format")) {
    const std::string df = n.attrs.s("data_format");
    if (df != "NHWC" && df != "") problems_.Add(n.op + " data_format=" + df + " (only NHWC is supported)", n.name);
  }
  if (n.attrs.has("padding")) {
    const std::string p = n.attrs.s("padding");
    if (p != "SAME" && p != "VALID" && p != "EXPLICIT")
      problems_.Add(n.op + " padding=" + p + " (supported: SAME, VALID, EXPLICIT)", n.name);
  }

  Node node;
  node.name = n.name;
  node.op = r->op;
  for (const AttrRule& a : r->attrs) {
    if (!n.attrs.has(a.tf)) continue;
    switch (a.kind) {
      case AttrKind::kInt: node.attrs.set(a.ir, n.attrs.i(a.tf)); break;
      case AttrKind::kBool: node.attrs.set(a.ir, static_cast<int64_t>(n.attrs.b(a.tf) ? 1 : 0)); break;
      case AttrKind::kFloat: node.attrs.set(a.ir, n.attrs.f(a.tf)); break;
      case AttrKind::kString: node.attrs.set(a.ir, n.attrs.s(a.tf)); break;
      case AttrKind::kIntList: node.attrs.set(a.ir, n.attrs.ints(a.tf)); break;
      case AttrKind::kHW: {
        auto v = n.attrs.ints(a.tf);
        if (v.size() != 4 || v[0] != 1 || v[3] != 1) {
          std::string s;
          for (size_t k = 0; k < v.size(); ++k) s += (k ? "," : "") + std::to_string(v[k]);
          problems_.Add(n.op + " " + a.tf + "=[" + s + "] (batch and channel entries must be 1)", n.name);
          break;
        }
        node.attrs.set(a.ir, std::vector<int64_t>{v[1], v[2]});
        break;
      }
      case AttrKind::kExplicitPads: {
        auto v = n.attrs.ints(a.tf);
        if (v.empty()) break;
        if (v.size() != 8 || v[0] || v[1] || v[6] || v[7]) {
          problems_.Add(n.op + " explicit_paddings on batch/channel dims", n.name);
          break;
        }
        node.attrs.set(a.ir, std::vector<int64_t>{v[2], v[3], v[4], v[5]});
        break;
      }
      case AttrKind::kDType: {
        auto dt = TfDType(n.attrs.type(a.tf));
        if (!dt) {
          problems_.Add(n.op + " " + a.tf + "=" + n.attrs.type(a.tf), n.name);
          break;
        }
        node.attrs.set(a.ir, static_cast<int64_t>(*dt));
        break;
      }
    }
  }
  const ValueId out = value_of_.at(n.name);

  // Data inputs.
  const size_t n_data = r->data_inputs < 0 ? n.inputs.size() : static_cast<size_t>(r->data_inputs);
  size_t n_take = n_data;
  if (r->special == Special::kAxisFromLast) n_take = n.inputs.empty() ? 0 : n.inputs.size() - 1;
  if (r->special != Special::kFused)
    for (size_t i = 0; i < n_take; ++i) {
      auto v = Input(n, i);
      if (!v) return;
      node.inputs.push_back(*v);
    }

  switch (r->special) {
    case Special::kNone: break;
    case Special::kFused: ConvertFused(n, *r, std::move(node), out); return;
    case Special::kAxisFromLast: {
      const Tensor* t = ConstInput(n, n.inputs.size() - 1);
      if (!t) return;
      node.attrs.set("axis", TensorInts(*t).at(0));
      break;
    }
    case Special::kAxisFromInput2: {
      if (n.attrs.i("batch_dims", 0) != 0) problems_.Add("GatherV2 batch_dims != 0", n.name);
      const Tensor* t = ConstInput(n, 2);
      if (!t) return;
      node.attrs.set("axis", TensorInts(*t).at(0));
      break;
    }
    case Special::kPermFromInput1: {
      const Tensor* t = ConstInput(n, 1);
      if (!t) return;
      node.attrs.set("perm", TensorInts(*t));
      break;
    }
    case Special::kPadV2: {
      const Tensor* t = ConstInput(n, 2);
      if (!t) return;
      node.attrs.set("constant_value",
                     t->dtype() == DType::kFloat32 ? t->data<float>()[0] : static_cast<float>(t->data<int32_t>()[0]));
      node.attrs.set("mode", std::string("CONSTANT"));
      break;
    }
    case Special::kMirrorPad: {
      const std::string mode = n.attrs.s("mode");
      if (mode != "REFLECT" && mode != "SYMMETRIC") problems_.Add("MirrorPad mode=" + mode, n.name);
      node.attrs.set("mode", mode);
      break;
    }
    case Special::kBatchNorm:
      if (n.attrs.b("is_training", false)) problems_.Add(n.op + " is_training=true", n.name);
      if (!node.attrs.has("epsilon")) node.attrs.set("epsilon", 0.001f);
      break;
    case Special::kElu: node.attrs.set("alpha", 1.0f); break;
  }
  if (node.op == OpType::kPad && !node.attrs.has("mode")) {
    node.attrs.set("mode", std::string("CONSTANT"));
    node.attrs.set("constant_value", 0.0f);
  }
  if (node.op == OpType::kSoftmax) node.attrs.set("axis", static_cast<int64_t>(-1));
  if (node.op == OpType::kPack && !node.attrs.has("axis")) node.attrs.set("axis", static_cast<int64_t>(0));
  node.outputs = {out};
  g_.AddNode(std::move(node));
}

// _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul. fused_ops is
//   [BiasAdd] or [BiasAdd, <act>]          -> one IR node with has_bias and activation
//   [FusedBatchNorm] or [FusedBatchNorm, <act>] -> conv, BatchNorm node, activation node
// where <act> is Relu, Relu6, Elu, Sigmoid, Tanh, LeakyRelu (leakyrelu_alpha) or Prelu
// (alpha is the extra argument).
void Importer::ConvertFused(const TfNode& n, const OpRule& r, Node node, ValueId out) {
  const std::vector<std::string> fused = n.attrs.strings("fused_ops");
  const int64_t num_args = n.attrs.i("num_args", 0);
  std::string desc;
  for (size_t k = 0; k < fused.size(); ++k) desc += (k ? "," : "") + fused[k];
  const bool bn = !fused.empty() && fused[0] == "FusedBatchNorm";
  const bool bias = !fused.empty() && fused[0] == "BiasAdd";
  std::string act = fused.size() >= 2 ? fused[1] : "";
  static const std::map<std::string, std::pair<const char*, OpType>> kActs = {
      {"Relu", {"relu", OpType::kRelu}},         {"Relu6", {"relu6", OpType::kRelu6}},
      {"Elu", {"elu", OpType::kElu}},            {"Sigmoid", {"sigmoid", OpType::kSigmoid}},
      {"Tanh", {"tanh", OpType::kTanh}},         {"LeakyRelu", {"leaky_relu", OpType::kLeakyRelu}},
      {"Prelu", {"prelu", OpType::kPrelu}},
  };
  if (fused.size() > 2 || (!bn && !bias) || (!act.empty() && !kActs.count(act)) ||
      (bn && r.op == OpType::kMatMul)) {
    problems_.Add(n.op + " fused_ops=[" + desc + "]", n.name);
    return;
  }
  const int64_t expect_args = (bn ? 4 : 1) + (act == "Prelu" ? 1 : 0);
  if (num_args != expect_args) {
    problems_.Add(n.op + " fused_ops=[" + desc + "] with num_args=" + std::to_string(num_args), n.name);
    return;
  }
  std::vector<ValueId> args;
  for (size_t i = 0; i < 2 + static_cast<size_t>(num_args); ++i) {
    auto v = Input(n, i);
    if (!v) return;
    args.push_back(*v);
  }
  node.inputs = {args[0], args[1]};
  if (bias) {
    node.inputs.push_back(args[2]);
    node.attrs.set("has_bias", static_cast<int64_t>(1));
    if (!act.empty()) {
      node.attrs.set("activation", std::string(kActs.at(act).first));
      if (act == "Prelu") node.inputs.push_back(args[3]);
      if (act == "LeakyRelu") node.attrs.set("leaky_alpha", n.attrs.f("leakyrelu_alpha", 0.2f));
      if (act == "Elu") node.attrs.set("alpha", 1.0f);
    }
    node.outputs = {out};
    g_.AddNode(std::move(node));
    return;
  }
  // Batch norm: conv -> BatchNorm -> [activation].
  const ValueId conv_out = NewValue(n.name + "/conv");
  node.outputs = {conv_out};
  node.name = n.name + "/conv";
  g_.AddNode(std::move(node));
  Node b;
  b.name = act.empty() ? n.name : n.name + "/bn";
  b.op = OpType::kBatchNorm;
  b.inputs = {conv_out, args[2], args[3], args[4], args[5]};
  b.attrs.set("epsilon", n.attrs.f("epsilon", 0.001f));
  const ValueId bn_out = act.empty() ? out : NewValue(n.name + "/bn");
  b.outputs = {bn_out};
  g_.AddNode(std::move(b));
  if (act.empty()) return;
  Node a;
  a.name = n.name;
  a.op = kActs.at(act).second;
  a.inputs = {bn_out};
  if (act == "Prelu") a.inputs.push_back(args[6]);
  if (act == "LeakyRelu") a.attrs.set("alpha", n.attrs.f("leakyrelu_alpha", 0.2f));
  if (act == "Elu") a.attrs.set("alpha", 1.0f);
  a.outputs = {out};
  g_.AddNode(std::move(a));
}

// Outputs: signature.outputs when present (in file order; ":0" stripped), else every
// non-constant node that no other node consumes, in node order (what TF.js does).
Status Importer::SetOutputs(const json& root) {
  auto resolve = [&](std::string name) -> Result<ValueId> {
    if (auto c = name.rfind(':'); c != std::string::npos) {
      if (name.substr(c + 1) != "0")
        return Unsupported(path_ + ": signature output '" + name + "' is not output 0 of its node");
      name = name.substr(0, c);
    }
    auto it = value_of_.find(name);
    if (it == value_of_.end())
      return DataLoss(path_ + ": signature output '" + name + "' does not name a node of the model");
    return it->second;
  };
  if (root.contains("signature") && root["signature"].contains("outputs") &&
      root["signature"]["outputs"].is_object() && !root["signature"]["outputs"].empty()) {
    for (const auto& [key, o] : root["signature"]["outputs"].items()) {
      FK_ASSIGN_OR_RETURN(ValueId v, resolve(o.contains("name") ? o["name"].get<std::string>() : key));
      g_.outputs().push_back(v);
    }
    return OkStatus();
  }
  std::set<std::string> consumed;
  for (const TfNode& n : nodes_)
    for (std::string in : n.inputs) {
      if (auto c = in.rfind(':'); c != std::string::npos) in = in.substr(0, c);
      consumed.insert(in);
    }
  for (const TfNode& n : nodes_)
    if (n.op != "Const" && n.op != "Placeholder" && !consumed.count(n.name))
      g_.outputs().push_back(value_of_.at(n.name));
  if (g_.outputs().empty()) return DataLoss(path_ + ": the model has no outputs");
  return OkStatus();
}

// Dynamic batch rule.
//  1. Every graph input of rank >= 1 gets dim 0 = -1; a declared positive dim 0 (e.g.
//     blazeface's [1,256,256,3]) is remembered as the declared batch B.
//  2. Shapes are then inferred in topological order with dim 0 unknown. A Reshape whose
//     data input has an unknown dim 0 (it carries the batch) and whose shape input is a
//     constant s with s[0] == B gets s[0] = -1. If s already had a -1 elsewhere, that -1 is
//     first resolved from the known per-example size (prod(input[1:]) / prod(known s[1:])),
//     so at most one -1 remains. A shared shape constant is cloned before it is changed.
//  Shape sub-graphs (Shape -> StridedSlice -> Pack -> Reshape) need no rewrite: the
//  executor evaluates them with the concrete batch at plan time.
//  Limitation: a constant baking the batch into another op (e.g. a Tile multiple) is left
//  as is; such a model runs at its declared batch only and fails at plan with a shape error.
Status Importer::MakeBatchDynamic() {
  int64_t batch = -1;
  for (ValueId in : g_.inputs()) {
    ir::Value& v = g_.value(in);
    if (v.shape.rank() >= 1 && v.shape[0] > 0) {
      if (batch < 0) batch = v.shape[0];
      v.shape[0] = -1;
    }
  }
  if (batch < 0) return InferGraphShapes(&g_);
  // Shape inference node by node, rewriting Reshape constants on the way.
  const auto uses = g_.UseCounts();
  for (size_t i = 0; i < g_.nodes().size(); ++i) {
    Node& n = g_.nodes()[i];
    if (n.op == OpType::kReshape && n.inputs.size() == 2) {
      const ir::Value& x = g_.value(n.inputs[0]);
      const ir::Value& s = g_.value(n.inputs[1]);
      if (s.is_constant() && s.constant.dtype() == DType::kInt32 && s.constant.num_elements() >= 1 &&
          x.shape.rank() >= 1 && x.shape[0] < 0 && s.constant.data<int32_t>()[0] == batch) {
        Tensor t = s.constant.Clone();
        int32_t* d = t.data<int32_t>();
        const int64_t m = t.num_elements();
        int64_t other_unknown = -1, known = 1;
        for (int64_t k = 1; k < m; ++k) {
          if (d[k] < 0) other_unknown = k;
          else known *= d[k];
        }
        bool ok = true;
        if (other_unknown >= 0) {
          int64_t per_example = 1;
          for (int k = 1; k < x.shape.rank(); ++k) per_example = x.shape[k] < 0 ? -1 : per_example * x.shape[k];
          // s = [B, ..., -1, ...] holds B * per_example elements, so -1 = per_example / known.
          if (per_example < 0 || known == 0 || per_example % known != 0) ok = false;
          else d[other_unknown] = static_cast<int32_t>(per_example / known);
        }
        if (ok) {
          d[0] = -1;
          if (uses[static_cast<size_t>(n.inputs[1])] == 1) {
            g_.value(n.inputs[1]).constant = t;
          } else {
            const std::string cname = s.name + "/dynamic_batch";
            n.inputs[1] = g_.AddConstant(cname, t);
          }
        }
      }
    }
    Node& nn = g_.nodes()[i];
    std::vector<ops::ValueInfo> ins;
    for (ValueId v : nn.inputs) {
      const ir::Value& val = g_.value(v);
      ins.push_back({val.dtype, val.shape, val.is_constant() ? &val.constant : nullptr});
    }
    std::vector<ops::ValueInfo> outs;
    FK_RETURN_IF_ERROR(ops::InferShapes(nn, ins, &outs).WithContext(path_));
    for (size_t k = 0; k < nn.outputs.size() && k < outs.size(); ++k) {
      ir::Value& ov = g_.value(nn.outputs[k]);
      ov.dtype = outs[k].dtype;
      ov.shape = outs[k].shape;
    }
  }
  return OkStatus();
}

Result<Graph> Importer::Run() {
  dir_ = std::filesystem::path(path_).parent_path().string();
  std::ifstream f(path_, std::ios::binary);
  if (!f) return NotFound("model file '" + path_ + "' does not exist or cannot be read");
  std::ostringstream ss;
  ss << f.rdbuf();
  json root = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object())
    return DataLoss("'" + path_ + "' is not valid JSON (corrupt or truncated model.json)");
  try {
    if (root.contains("format") && root["format"].is_string() && root["format"] != "graph-model")
      return Unsupported("'" + path_ + "' is a TF.js '" + root["format"].get<std::string>() +
                         "'; only graph-model is supported (convert with tensorflowjs_converter)");
    if (!root.contains("modelTopology") || !root["modelTopology"].contains("node"))
      return DataLoss("'" + path_ + "' has no modelTopology.node (not a TF.js graph model)");
    if (!root.contains("weightsManifest")) return DataLoss("'" + path_ + "' has no weightsManifest");
    FK_RETURN_IF_ERROR(ParseNodes(root["modelTopology"]["node"]));
    FK_RETURN_IF_ERROR(ReadWeights(root["weightsManifest"]));
    FK_RETURN_IF_ERROR(CreateValues());
    for (const TfNode& n : nodes_) Convert(n);
    if (!problems_.empty())
      return Unsupported("model '" + path_ + "' uses ops or attributes facekit does not support:" +
                         problems_.ToString());
    FK_RETURN_IF_ERROR(SetOutputs(root));
  } catch (const json::exception& e) {
    return DataLoss("'" + path_ + "' is malformed: " + e.what());
  } catch (const std::exception& e) {
    return DataLoss("'" + path_ + "' is malformed: " + e.what());
  }
  if (g_.inputs().empty()) return DataLoss("'" + path_ + "' has no Placeholder (graph input)");
  FK_RETURN_IF_ERROR(g_.Compact().WithContext(path_));
  FK_RETURN_IF_ERROR(g_.Validate().WithContext(path_));
  FK_RETURN_IF_ERROR(MakeBatchDynamic());
  return std::move(g_);
}

}  // namespace

Status InferGraphShapes(ir::Graph* graph) {
  for (Node& n : graph->nodes()) {
    std::vector<ops::ValueInfo> ins;
    for (ValueId v : n.inputs) {
      const ir::Value& val = graph->value(v);
      ins.push_back({val.dtype, val.shape, val.is_constant() ? &val.constant : nullptr});
    }
    std::vector<ops::ValueInfo> outs;
    FK_RETURN_IF_ERROR(ops::InferShapes(n, ins, &outs));
    for (size_t k = 0; k < n.outputs.size() && k < outs.size(); ++k) {
      ir::Value& ov = graph->value(n.outputs[k]);
      if (ov.is_constant()) continue;
      ov.dtype = outs[k].dtype;
      ov.shape = outs[k].shape;
    }
  }
  return OkStatus();
}

Result<ir::Graph> LoadTfjsGraphModel(const std::string& model_json_path) {
  Importer imp(model_json_path);
  return imp.Run();
}

}  // namespace fk::engine
