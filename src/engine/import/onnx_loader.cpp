// ONNX -> IR import (see onnx_loader.h for the contract, docs/onnx.md for the rules).
//
// How the NCHW -> NHWC conversion works: every imported ONNX value is an `OVal` = an IR
// value plus a flag `nhwc`. nhwc == true means "ONNX sees a 4-D NCHW tensor; the IR value
// holds it as NHWC". Layout-agnostic ops (element-wise, activations) keep the flag;
// ops with a channel/spatial meaning (Conv, pools, BatchNorm, PRelu) take NHWC; ops with an
// axis remap the axis; ops whose result depends on memory order (Reshape, Flatten, Shape,
// Gather, Transpose) see the NCHW ("plain") tensor: Plain() inserts a Transpose
// [0,3,1,2] only then, and Nhwc() the reverse [0,2,3,1] when a plain 4-D tensor feeds
// a conv again. Conversions are cached per value, constants are converted at import.
//
// The import runs IR shape inference node by node (with the exported input shapes),
// so every decision can look at ranks and static dims; MakeBatchDynamic then makes the
// batch dynamic.
#include "engine/import/onnx_loader.h"

#ifdef FK_HAVE_ONNX

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "engine/import/tfjs_loader.h"
#include "engine/ops/shape_inference.h"

namespace fk::engine {
namespace {

using ir::Attrs;
using ir::Node;
using ir::OpType;
using ir::ValueId;

// NHWC position of NCHW axis a: N->0, C->3, H->1, W->2.
constexpr int kNchwAxisToNhwc[4] = {0, 3, 1, 2};
// NCHW axis held at NHWC position i (the inverse): the perm NHWC -> NCHW.
constexpr int kNhwcToNchwPerm[4] = {0, 3, 1, 2};
constexpr int kNchwToNhwcPerm[4] = {0, 2, 3, 1};

int32_t ClampI32(int64_t v) {
  return static_cast<int32_t>(std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(),
                                                  std::numeric_limits<int32_t>::max()));
}

std::string Join(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return "[" + s + "]";
}

// ---- ONNX tensors -> fk::Tensor ---------------------------------------------------------

Result<Tensor> ConvertTensor(const onnx::TensorProto& t, const std::string& where) {
  const std::string label = "tensor '" + t.name() + "' (" + where + ")";
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0)
    return Unsupported(label +
                       " uses external data (weights in a separate file); facekit reads only "
                       "self-contained .onnx files: re-save the model with all tensors inside "
                       "(onnx.save_model(m, path, save_as_external_data=False))");
  if (t.has_segment()) return Unsupported(label + " is a segmented tensor");
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  for (int64_t d : dims)
    if (d < 0) return DataLoss(label + ": negative dimension " + Join(dims));
  Shape shape(dims);
  const int64_t n = shape.num_elements();
  const std::string& raw = t.raw_data();
  const bool has_raw = t.has_raw_data();
  auto check_count = [&](int64_t got, const char* field) -> Status {
    if (got != n)
      return DataLoss(label + ": has " + std::to_string(got) + " values in " + field + ", shape " +
                      Join(dims) + " needs " + std::to_string(n));
    return OkStatus();
  };
  auto raw_check = [&](size_t elem) -> Status {
    return check_count(static_cast<int64_t>(raw.size() / elem) * (raw.size() % elem == 0 ? 1 : -1), "raw_data");
  };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT: {
      Tensor out(DType::kFloat32, shape);
      float* o = out.data<float>();
      if (has_raw) {
        FK_RETURN_IF_ERROR(raw_check(4));
        std::memcpy(o, raw.data(), raw.size());
      } else {
        FK_RETURN_IF_ERROR(check_count(t.float_data_size(), "float_data"));
        for (int64_t i = 0; i < n; ++i) o[i] = t.float_data(static_cast<int>(i));
      }
      return out;
    }
    case onnx::TensorProto::DOUBLE: {
      Tensor out(DType::kFloat32, shape);
      float* o = out.data<float>();
      if (has_raw) {
        FK_RETURN_IF_ERROR(raw_check(8));
        for (int64_t i = 0; i < n; ++i) {
          double d;
          std::memcpy(&d, raw.data() + 8 * i, 8);
          o[i] = static_cast<float>(d);
        }
      } else {
        FK_RETURN_IF_ERROR(check_count(t.double_data_size(), "double_data"));
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(t.double_data(static_cast<int>(i)));
      }
      return out;
    }
    case onnx::TensorProto::FLOAT16: {
      Tensor out(DType::kFloat32, shape);
      float* o = out.data<float>();
      if (has_raw) {
        FK_RETURN_IF_ERROR(raw_check(2));
        for (int64_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, raw.data() + 2 * i, 2);
          o[i] = HalfToFloat(h);
        }
      } else {  // float16 values are stored in int32_data, one per element
        FK_RETURN_IF_ERROR(check_count(t.int32_data_size(), "int32_data"));
        for (int64_t i = 0; i < n; ++i) o[i] = HalfToFloat(static_cast<uint16_t>(t.int32_data(static_cast<int>(i))));
      }
      return out;
    }
    case onnx::TensorProto::INT64: {
      Tensor out(DType::kInt32, shape);
      int32_t* o = out.data<int32_t>();
      if (has_raw) {
        FK_RETURN_IF_ERROR(raw_check(8));
        for (int64_t i = 0; i < n; ++i) {
          int64_t v;
          std::memcpy(&v, raw.data() + 8 * i, 8);
          o[i] = ClampI32(v);
        }
      } else {
        FK_RETURN_IF_ERROR(check_count(t.int64_data_size(), "int64_data"));
        for (int64_t i = 0; i < n; ++i) o[i] = ClampI32(t.int64_data(static_cast<int>(i)));
      }
      return out;
    }
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::BOOL: {
      Tensor out(DType::kInt32, shape);
      int32_t* o = out.data<int32_t>();
      const auto dt = t.data_type();
      if (has_raw) {
        const size_t es = dt == onnx::TensorProto::INT32 ? 4 : (dt == onnx::TensorProto::INT16 || dt == onnx::TensorProto::UINT16) ? 2 : 1;
        FK_RETURN_IF_ERROR(raw_check(es));
        for (int64_t i = 0; i < n; ++i) {
          const char* p = raw.data() + es * i;
          if (dt == onnx::TensorProto::INT32) std::memcpy(&o[i], p, 4);
          else if (dt == onnx::TensorProto::INT16) { int16_t v; std::memcpy(&v, p, 2); o[i] = v; }
          else if (dt == onnx::TensorProto::UINT16) { uint16_t v; std::memcpy(&v, p, 2); o[i] = v; }
          else if (dt == onnx::TensorProto::INT8) o[i] = static_cast<int8_t>(*p);
          else o[i] = static_cast<uint8_t>(*p);
        }
      } else {
        FK_RETURN_IF_ERROR(check_count(t.int32_data_size(), "int32_data"));
        for (int64_t i = 0; i < n; ++i) o[i] = t.int32_data(static_cast<int>(i));
      }
      return out;
    }
    default:
      return Unsupported(label + ": data type " + std::to_string(t.data_type()) +
                         " is not supported (float, float16, double and integer tensors are)");
  }
}

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t AttrI(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  const auto* a = FindAttr(n, name);
  return a ? a->i() : def;
}
float AttrF(const onnx::NodeProto& n, const std::string& name, float def) {
  const auto* a = FindAttr(n, name);
  return a ? a->f() : def;
}
std::string AttrS(const onnx::NodeProto& n, const std::string& name, const std::string& def) {
  const auto* a = FindAttr(n, name);
  return a ? a->s() : def;
}
std::vector<int64_t> AttrInts(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> def = {}) {
  const auto* a = FindAttr(n, name);
  if (!a) return def;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}
std::vector<float> AttrFloats(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = FindAttr(n, name);
  if (!a) return {};
  return std::vector<float>(a->floats().begin(), a->floats().end());
}

// The ONNX ops this importer maps (the declarative part of the import: which ops exist;
// their conversion is in Importer::Convert, one case per op).
const std::set<std::string>& SupportedOps() {
  static const std::set<std::string> k = {
      "Conv", "BatchNormalization", "PRelu", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Clip",
      "Exp", "Log", "Sqrt", "Abs", "Neg", "Floor", "Reciprocal", "Add", "Sub", "Mul", "Div", "Pow",
      "Max", "Min", "Sum", "Flatten", "Gemm", "MatMul", "GlobalAveragePool", "GlobalMaxPool",
      "AveragePool", "MaxPool", "Concat", "Reshape", "Transpose", "Resize", "Upsample", "Softmax",
      "Pad", "Slice", "Split", "Shape", "Gather", "Unsqueeze", "Squeeze", "Identity", "Dropout",
      "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "Cast", "Constant",
      "ConstantOfShape", "HardSigmoid", "HardSwish"};
  return k;
}

struct OVal {
  ValueId id = ir::kNoValue;
  bool nhwc = false;      // ONNX NCHW 4-D value held as NHWC
  // ONNX 5-D [N,a,b,H,W] held as [N,H,W,a,b]: the middle of a ShuffleNet channel shuffle
  // (Reshape [N,C,H,W] -> [N,g,C/g,H,W], Transpose [0,2,1,3,4], Reshape back), which then
  // runs as one NHWC transpose instead of a round trip through NCHW. Only Reshape and
  // Transpose read such values (GetRaw); Get() hands every other op the plain tensor.
  bool shuffle5 = false;
};

class Importer {
 public:
  Importer(const std::string& path, OnnxImportInfo* info) : path_(path), info_(info) {}

  Result<ir::Graph> Run() {
    if (!std::filesystem::exists(path_)) return NotFound("ONNX model '" + path_ + "' does not exist");
    std::ifstream f(path_, std::ios::binary);
    if (!f) return IoError("cannot open ONNX model '" + path_ + "'");
    onnx::ModelProto model;
    if (!model.ParseFromIstream(&f))
      return DataLoss("'" + path_ + "' is not a valid ONNX model (protobuf ModelProto parse failed; "
                      "truncated download or not an .onnx file?)");
    opset_ = 0;
    for (const auto& o : model.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    if (opset_ == 0) opset_ = 1;
    if (opset_ > 18)
      return Unsupported("'" + path_ + "' uses opset " + std::to_string(opset_) +
                         "; facekit's ONNX import supports opsets 7..18 (convert the model with "
                         "onnx.version_converter)");
    const onnx::GraphProto& g = model.graph();

    // Refuse unsupported ops up front, with the full list.
    std::map<std::string, int> bad;
    std::set<std::string> types;
    for (const auto& n : g.node()) {
      const bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
      const std::string key = std_domain ? n.op_type() : n.domain() + "::" + n.op_type();
      types.insert(key);
      if (!std_domain || !SupportedOps().count(n.op_type())) bad[key]++;
    }
    if (info_) {
      info_->opset = opset_;
      info_->op_types.assign(types.begin(), types.end());
    }
    if (!bad.empty()) {
      std::string list;
      for (const auto& [k, c] : bad) list += (list.empty() ? "" : ", ") + k + " (x" + std::to_string(c) + ")";
      return Unsupported("'" + path_ + "': " + std::to_string(bad.size()) +
                         " ONNX op type(s) not supported by facekit: " + list +
                         " (supported ops are listed in docs/onnx.md)");
    }

    // Initializers.
    std::set<std::string> init_names;
    for (const auto& t : g.initializer()) {
      FK_ASSIGN_OR_RETURN(Tensor c, ConvertTensor(t, "initializer"));
      init_names.insert(t.name());
      vals_[t.name()] = {graph_.AddConstant(t.name(), c), false};
    }
    // Graph inputs (ir_version < 4 lists initializers as inputs too: skip them).
    for (const auto& in : g.input()) {
      if (init_names.count(in.name())) continue;
      const auto& tt = in.type().tensor_type();
      if (!in.type().has_tensor_type())
        return Unsupported("'" + path_ + "': graph input '" + in.name() + "' is not a tensor");
      DType dt;
      switch (tt.elem_type()) {
        case onnx::TensorProto::FLOAT: dt = DType::kFloat32; break;
        case onnx::TensorProto::INT32: case onnx::TensorProto::INT64: dt = DType::kInt32; break;
        default:
          return Unsupported("'" + path_ + "': graph input '" + in.name() + "' has element type " +
                             std::to_string(tt.elem_type()) + " (float32 and int32/int64 inputs are supported)");
      }
      std::vector<int64_t> dims;
      for (const auto& d : tt.shape().dim()) dims.push_back(d.has_dim_value() && d.dim_value() > 0 ? d.dim_value() : -1);
      if (!tt.has_shape())
        return Unsupported("'" + path_ + "': graph input '" + in.name() + "' has no declared rank");
      if (!dims.empty()) {
        if (batch_ == 0) batch_ = dims[0];
        else if (batch_ != dims[0]) batch_ = -1;
      }
      ir::Value v;
      v.name = in.name();
      v.dtype = dt;
      const bool nchw = dims.size() == 4 && dt == DType::kFloat32;
      if (nchw) v.shape = Shape({dims[0], dims[2], dims[3], dims[1]});
      else v.shape = Shape(dims);
      // Import with the exported batch (static shapes help decisions); made dynamic at the end.
      if (v.shape.rank() > 0 && v.shape[0] < 0) v.shape[0] = 1;
      ValueId id = graph_.AddValue(v);
      graph_.inputs().push_back(id);
      vals_[in.name()] = {id, nchw};
      if (info_) info_->input_was_nchw.push_back(nchw);
    }
    if (batch_ <= 0) batch_ = -1;

    int index = 0;
    for (const auto& n : g.node()) {
      node_name_ = n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
      ++index;
      Status s = Convert(n);
      if (!s.ok()) return s.WithContext("'" + path_ + "': node '" + node_name_ + "' (" + n.op_type() + ")");
    }

    // Graph outputs: 4-D NCHW outputs are returned NHWC (the boundary contract).
    std::set<ValueId> used_as_output;
    for (const auto& o : g.output()) {
      if (!vals_.count(o.name())) return DataLoss("'" + path_ + "': graph output '" + o.name() + "' is never produced");
      FK_ASSIGN_OR_RETURN(OVal ov, Get(o.name()));
      ValueId id = ov.id;
      const ir::Value& v = graph_.value(id);
      const bool is_input = std::find(graph_.inputs().begin(), graph_.inputs().end(), id) != graph_.inputs().end();
      if (v.name != o.name() || is_input || v.is_constant() || used_as_output.count(id)) {
        if (!is_input && !v.is_constant() && !used_as_output.count(id) && !graph_.FindValue(o.name())) {
          graph_.value(id).name = o.name();  // an alias: give the value the ONNX output name
        } else {
          FK_ASSIGN_OR_RETURN(id, Emit1(OpType::kIdentity, {id}, {}, o.name()));
        }
      }
      used_as_output.insert(id);
      graph_.outputs().push_back(id);
      if (info_) info_->output_was_nchw.push_back(ov.nhwc);
    }
    FK_RETURN_IF_ERROR(graph_.Compact().WithContext(path_));
    FK_RETURN_IF_ERROR(MakeBatchDynamic().WithContext(path_));
    FK_RETURN_IF_ERROR(graph_.Validate().WithContext(path_));
    return std::move(graph_);
  }

 private:
  // ---- value helpers ------------------------------------------------------------------
  Result<OVal> GetRaw(const std::string& name) const {
    auto it = vals_.find(name);
    if (it == vals_.end()) return DataLoss("input '" + name + "' is not produced by any earlier node");
    return it->second;
  }
  // An ONNX value as NCHW-4-D-held-NHWC or plain (shuffle5 values are made plain).
  Result<OVal> Get(const std::string& name) {
    FK_ASSIGN_OR_RETURN(OVal v, GetRaw(name));
    if (!v.shuffle5) return v;
    auto it = to_plain_.find(v.id);
    if (it != to_plain_.end()) return OVal{it->second, false, false};
    Attrs a;
    a.set("perm", std::vector<int64_t>{0, 3, 4, 1, 2});
    FK_ASSIGN_OR_RETURN(ValueId id, Emit1(OpType::kTranspose, {v.id}, a, graph_.value(v.id).name + "/nchw"));
    to_plain_[v.id] = id;
    return OVal{id, false, false};
  }
  const Shape& IrShape(ValueId id) const { return graph_.value(id).shape; }
  int Rank(const OVal& v) const { return IrShape(v.id).rank(); }
  // The ONNX (NCHW) view of a value's shape.
  Shape OnnxShape(const OVal& v) const {
    const Shape& s = IrShape(v.id);
    if (!v.nhwc) return s;
    return Shape({s[0], s[3], s[1], s[2]});
  }
  const Tensor* Known(ValueId id) const {
    const ir::Value& v = graph_.value(id);
    if (v.is_constant()) return &v.constant;
    auto it = computed_.find(id);
    return it == computed_.end() ? nullptr : &it->second;
  }
  bool IsConst(ValueId id) const { return graph_.value(id).is_constant(); }

  std::string Fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; graph_.FindValue(name) || used_names_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_names_.insert(name);
    return name;
  }
  ValueId ConstI32(const std::string& base, const std::vector<int64_t>& v, bool scalar = false) {
    Tensor t(DType::kInt32, scalar ? Shape() : Shape({static_cast<int64_t>(v.size())}));
    for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = ClampI32(v[i]);
    return graph_.AddConstant(Fresh(base), t);
  }
  ValueId ConstTensor(const std::string& base, Tensor t) { return graph_.AddConstant(Fresh(base), std::move(t)); }

  // Adds a node with fresh output values and infers their shapes.
  Result<std::vector<ValueId>> Emit(OpType op, std::vector<ValueId> inputs, Attrs attrs, int n_out,
                                    const std::vector<std::string>& out_names) {
    Node node;
    node.name = Fresh(node_name_ + (out_names.empty() ? "/" + std::string(ir::OpTypeName(op)) : ""));
    node.op = op;
    node.inputs = std::move(inputs);
    node.attrs = std::move(attrs);
    std::vector<ops::ValueInfo> ins;
    for (ValueId v : node.inputs) {
      const ir::Value& val = graph_.value(v);
      ins.emplace_back(val.dtype, val.shape, Known(v));
    }
    std::vector<ops::ValueInfo> outs;
    FK_RETURN_IF_ERROR(ops::InferShapes(node, ins, &outs));
    std::vector<ValueId> ids;
    for (int k = 0; k < n_out; ++k) {
      ir::Value v;
      v.name = Fresh(k < static_cast<int>(out_names.size()) && !out_names[k].empty() ? out_names[k]
                                                                                       : node.name + ":" + std::to_string(k));
      if (k < static_cast<int>(outs.size())) {
        v.dtype = outs[k].dtype;
        v.shape = outs[k].shape;
      }
      ids.push_back(graph_.AddValue(v));
      if (k < static_cast<int>(outs.size()) && outs[k].data) computed_[ids.back()] = *outs[k].data;
    }
    node.outputs = ids;
    graph_.AddNode(std::move(node));
    return ids;
  }
  Result<ValueId> Emit1(OpType op, std::vector<ValueId> inputs, Attrs attrs, const std::string& out_name = "") {
    FK_ASSIGN_OR_RETURN(auto ids, Emit(op, std::move(inputs), std::move(attrs), 1,
                                       out_name.empty() ? std::vector<std::string>{} : std::vector<std::string>{out_name}));
    return ids[0];
  }

  // Permutes a constant's data: out[i0..] = in[... perm ...] (out dim k = in dim perm[k]).
  static Tensor PermuteConst(const Tensor& in, const std::vector<int>& perm) {
    const int r = in.shape().rank();
    std::vector<int64_t> od(static_cast<size_t>(r));
    for (int k = 0; k < r; ++k) od[k] = in.shape()[perm[k]];
    Tensor out(in.dtype(), Shape(od));
    std::vector<int64_t> istride(static_cast<size_t>(r), 1);
    for (int k = r - 2; k >= 0; --k) istride[k] = istride[k + 1] * in.shape()[k + 1];
    const int64_t n = in.num_elements();
    const size_t es = DTypeSize(in.dtype());
    std::vector<int64_t> idx(static_cast<size_t>(r), 0);
    const char* src = static_cast<const char*>(in.raw());
    char* dst = static_cast<char*>(out.raw());
    for (int64_t o = 0; o < n; ++o) {
      int64_t off = 0;
      for (int k = 0; k < r; ++k) off += idx[k] * istride[perm[k]];
      std::memcpy(dst + o * es, src + off * es, es);
      for (int k = r - 1; k >= 0; --k) {
        if (++idx[k] < od[k]) break;
        idx[k] = 0;
      }
    }
    return out;
  }

  // The NCHW ("plain") IR value of an ONNX value.
  Result<ValueId> Plain(const OVal& v) {
    if (!v.nhwc) return v.id;
    auto it = to_plain_.find(v.id);
    if (it != to_plain_.end()) return it->second;
    Attrs a;
    a.set("perm", std::vector<int64_t>(kNhwcToNchwPerm, kNhwcToNchwPerm + 4));
    FK_ASSIGN_OR_RETURN(ValueId id, Emit1(OpType::kTranspose, {v.id}, a, graph_.value(v.id).name + "/nchw"));
    to_plain_[v.id] = id;
    return id;
  }
  // The NHWC IR value of a 4-D ONNX value.
  Result<ValueId> Nhwc(const OVal& v) {
    if (v.nhwc) return v.id;
    if (Rank(v) != 4)
      return Unsupported("expected a 4-D NCHW tensor, got " + IrShape(v.id).ToString() + " ('" + graph_.value(v.id).name + "')");
    auto it = to_nhwc_.find(v.id);
    if (it != to_nhwc_.end()) return it->second;
    ValueId id;
    if (IsConst(v.id)) {
      id = ConstTensor(graph_.value(v.id).name + "/nhwc", PermuteConst(graph_.value(v.id).constant, {0, 2, 3, 1}));
    } else {
      Attrs a;
      a.set("perm", std::vector<int64_t>(kNchwToNhwcPerm, kNchwToNhwcPerm + 4));
      FK_ASSIGN_OR_RETURN(id, Emit1(OpType::kTranspose, {v.id}, a, graph_.value(v.id).name + "/nhwc"));
    }
    to_nhwc_[v.id] = id;
    return id;
  }
  // For Reshape/Flatten: a value whose memory order equals the NCHW tensor's. An NHWC
  // tensor with H == W == 1 already has it (no transpose needed).
  Result<ValueId> PlainForReshape(const OVal& v) {
    if (v.nhwc) {
      const Shape& s = IrShape(v.id);
      if (s[1] == 1 && s[2] == 1) return v.id;
    }
    return Plain(v);
  }

  void Set(const onnx::NodeProto& n, int k, ValueId id, bool nhwc, bool shuffle5 = false) {
    if (k < n.output_size() && !n.output(k).empty()) vals_[n.output(k)] = {id, nhwc, shuffle5};
  }
  std::vector<std::string> OutNames(const onnx::NodeProto& n) const {
    return std::vector<std::string>(n.output().begin(), n.output().end());
  }
  std::string Out0(const onnx::NodeProto& n) const { return n.output_size() ? n.output(0) : ""; }
  bool HasInput(const onnx::NodeProto& n, int k) const { return k < n.input_size() && !n.input(k).empty(); }

  // Known int values of an input (constants, folded shape arithmetic).
  Result<std::vector<int64_t>> KnownInts(const onnx::NodeProto& n, int k, const char* what) {
    FK_ASSIGN_OR_RETURN(OVal v, Get(n.input(k)));
    const Tensor* t = Known(v.id);
    if (!t) return Unsupported(std::string(what) + " (input '" + n.input(k) + "') must be a constant");
    std::vector<int64_t> out;
    for (int64_t i = 0; i < t->num_elements(); ++i)
      out.push_back(t->dtype() == DType::kFloat32 ? static_cast<int64_t>(t->data<float>()[i]) : t->data<int32_t>()[i]);
    return out;
  }
  Result<float> KnownScalar(const onnx::NodeProto& n, int k, const char* what) {
    FK_ASSIGN_OR_RETURN(OVal v, Get(n.input(k)));
    const Tensor* t = Known(v.id);
    if (!t || t->num_elements() != 1) return Unsupported(std::string(what) + " (input '" + n.input(k) + "') must be a constant scalar");
    return t->dtype() == DType::kFloat32 ? t->data<float>()[0] : static_cast<float>(t->data<int32_t>()[0]);
  }

  static Result<int64_t> NormAxis(int64_t axis, int rank) {
    if (axis < -rank || axis >= rank)
      return InvalidArgument("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
    return axis < 0 ? axis + rank : axis;
  }

  Status Convert(const onnx::NodeProto& n);
  Status ConvertConv(const onnx::NodeProto& n);
  Status ConvertPool(const onnx::NodeProto& n, bool is_max);
  Status ConvertBinary(const onnx::NodeProto& n, OpType op);
  Status ConvertGemm(const onnx::NodeProto& n);
  Status ConvertSlice(const onnx::NodeProto& n);
  Status ConvertSplit(const onnx::NodeProto& n);
  Status ConvertReduce(const onnx::NodeProto& n, OpType op);
  Status ConvertResize(const onnx::NodeProto& n);
  Status MakeBatchDynamic();

  std::string path_;
  OnnxImportInfo* info_;
  ir::Graph graph_;
  int64_t opset_ = 0;
  int64_t batch_ = 0;
  std::string node_name_;
  std::map<std::string, OVal> vals_;
  std::map<ValueId, Tensor> computed_;
  std::map<ValueId, ValueId> to_plain_, to_nhwc_;
  std::set<std::string> used_names_;
};

// ---- per-op conversion --------------------------------------------------------------------

Status Importer::ConvertConv(const onnx::NodeProto& n) {
  FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
  FK_ASSIGN_OR_RETURN(OVal w, Get(n.input(1)));
  if (!IsConst(w.id)) return Unsupported("the weights (input '" + n.input(1) + "') must be a constant");
  const Tensor& W = graph_.value(w.id).constant;
  if (W.shape().rank() != 4 || Rank(x) != 4)
    return Unsupported("only 2-D convolutions are supported (input " + OnnxShape(x).ToString() + ", weights " +
                       W.shape().ToString() + ")");
  FK_ASSIGN_OR_RETURN(ValueId xin, Nhwc(x));
  const int64_t O = W.shape()[0], I = W.shape()[1], KH = W.shape()[2], KW = W.shape()[3];
  const int64_t cin = IrShape(xin)[3];
  const int64_t group = AttrI(n, "group", 1);
  const float* wd = W.data<float>();
  Tensor w2;
  OpType op;
  if (group == 1) {
    if (cin >= 0 && cin != I)
      return InvalidArgument("input has " + std::to_string(cin) + " channels, weights expect " + std::to_string(I));
    op = OpType::kConv2D;
    w2 = Tensor(DType::kFloat32, Shape({KH, KW, I, O}));
    float* o = w2.data<float>();
    for (int64_t oc = 0; oc < O; ++oc)
      for (int64_t ic = 0; ic < I; ++ic)
        for (int64_t y = 0; y < KH; ++y)
          for (int64_t xk = 0; xk < KW; ++xk) o[((y * KW + xk) * I + ic) * O + oc] = wd[((oc * I + ic) * KH + y) * KW + xk];
  } else if (I == 1 && group == cin && O % group == 0) {
    op = OpType::kDepthwiseConv2D;
    const int64_t C = group, M = O / group;
    w2 = Tensor(DType::kFloat32, Shape({KH, KW, C, M}));
    float* o = w2.data<float>();
    for (int64_t c = 0; c < C; ++c)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t y = 0; y < KH; ++y)
          for (int64_t xk = 0; xk < KW; ++xk) o[((y * KW + xk) * C + c) * M + m] = wd[((c * M + m) * KH + y) * KW + xk];
  } else {
    return Unsupported("grouped convolution with group=" + std::to_string(group) + " (input channels " +
                       std::to_string(cin) + ", weights " + W.shape().ToString() +
                       ") is not supported; only group=1 and depthwise (group = input channels) are");
  }
  Attrs a;
  const auto strides = AttrInts(n, "strides", {1, 1});
  const auto dil = AttrInts(n, "dilations", {1, 1});
  a.set("strides", strides);
  a.set("dilations", dil);
  const std::string auto_pad = AttrS(n, "auto_pad", "NOTSET");
  if (auto_pad == "SAME_UPPER") {
    a.set("padding", std::string("SAME"));
  } else if (auto_pad == "VALID") {
    a.set("padding", std::string("VALID"));
  } else if (auto_pad == "NOTSET") {
    const auto p = AttrInts(n, "pads", {0, 0, 0, 0});
    if (p.size() != 4) return InvalidArgument("pads must have 4 values, got " + Join(p));
    a.set("padding", std::string("EXPLICIT"));
    a.set("explicit_pads", std::vector<int64_t>{p[0], p[2], p[1], p[3]});
  } else {
    return Unsupported("auto_pad=" + auto_pad + " (NOTSET, VALID and SAME_UPPER are supported)");
  }
  std::vector<ValueId> ins = {xin, ConstTensor(graph_.value(w.id).name + (op == OpType::kConv2D ? "/hwio" : "/hwcm"), w2)};
  if (HasInput(n, 2)) {
    FK_ASSIGN_OR_RETURN(OVal b, Get(n.input(2)));
    ins.push_back(b.id);
    a.set("has_bias", int64_t{1});
  }
  FK_ASSIGN_OR_RETURN(ValueId y, Emit1(op, ins, a, Out0(n)));
  Set(n, 0, y, true);
  return OkStatus();
}

Status Importer::ConvertPool(const onnx::NodeProto& n, bool is_max) {
  FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
  if (Rank(x) != 4) return Unsupported("only 2-D pooling on NCHW tensors is supported, got " + OnnxShape(x).ToString());
  if (n.output_size() > 1 && !n.output(1).empty()) return Unsupported("MaxPool indices output is not supported");
  for (int64_t d : AttrInts(n, "dilations", {1, 1}))
    if (d != 1) return Unsupported("pooling with dilations is not supported");
  FK_ASSIGN_OR_RETURN(ValueId xin, Nhwc(x));
  const auto k = AttrInts(n, "kernel_shape");
  if (k.size() != 2) return InvalidArgument("kernel_shape must have 2 values, got " + Join(k));
  const auto s = AttrInts(n, "strides", {1, 1});
  Attrs a;
  a.set("ksize", k);
  a.set("strides", s);
  const std::string auto_pad = AttrS(n, "auto_pad", "NOTSET");
  std::vector<int64_t> p = AttrInts(n, "pads", {0, 0, 0, 0});
  if (auto_pad == "SAME_UPPER") {
    a.set("padding", std::string("SAME"));
  } else if (auto_pad == "VALID") {
    a.set("padding", std::string("VALID"));
  } else if (auto_pad == "NOTSET") {
    if (p.size() != 4) return InvalidArgument("pads must have 4 values, got " + Join(p));
    std::vector<int64_t> ep = {p[0], p[2], p[1], p[3]};  // top,bottom,left,right
    if (AttrI(n, "ceil_mode", 0)) {
      // ceil_mode: grow the end padding so floor() gives the ceil() size (the extra
      // positions are padding: ignored by max, not counted by the average).
      const Shape& xs = IrShape(xin);
      for (int d = 0; d < 2; ++d) {
        const int64_t in = xs[1 + d];
        if (in < 0) return Unsupported("ceil_mode=1 needs static spatial dims");
        const int64_t tot = in + ep[2 * d] + ep[2 * d + 1];
        int64_t out_ceil = (tot - k[d] + s[d] - 1) / s[d] + 1;
        if ((out_ceil - 1) * s[d] >= in + ep[2 * d]) --out_ceil;  // last window must start inside
        const int64_t need = (out_ceil - 1) * s[d] + k[d] - tot;
        if (need > 0) ep[2 * d + 1] += need;
      }
    }
    if (!is_max && AttrI(n, "count_include_pad", 0) && std::any_of(ep.begin(), ep.end(), [](int64_t v) { return v != 0; }))
      return Unsupported("AveragePool with count_include_pad=1 and non-zero pads is not supported");
    a.set("padding", std::string("EXPLICIT"));
    a.set("explicit_pads", ep);
  } else {
    return Unsupported("auto_pad=" + auto_pad + " (NOTSET, VALID and SAME_UPPER are supported)");
  }
  FK_ASSIGN_OR_RETURN(ValueId y, Emit1(is_max ? OpType::kMaxPool : OpType::kAvgPool, {xin}, a, Out0(n)));
  Set(n, 0, y, true);
  return OkStatus();
}

Status Importer::ConvertBinary(const onnx::NodeProto& n, OpType op) {
  std::vector<OVal> xs;
  for (int k = 0; k < n.input_size(); ++k) {
    FK_ASSIGN_OR_RETURN(OVal v, Get(n.input(k)));
    xs.push_back(v);
  }
  if (xs.size() < 2) return InvalidArgument("needs at least 2 inputs");
  bool any_nhwc = std::any_of(xs.begin(), xs.end(), [](const OVal& v) { return v.nhwc; });
  // NHWC when every other operand can follow: 4-D values are transposed, lower-rank
  // constants are broadcast to rank 4 and permuted; a lower-rank non-constant forces NCHW.
  bool use_nhwc = any_nhwc;
  for (const OVal& v : xs)
    if (!v.nhwc && Rank(v) != 4 && !IsConst(v.id)) use_nhwc = false;
  std::vector<ValueId> ids;
  for (const OVal& v : xs) {
    if (!use_nhwc) {
      FK_ASSIGN_OR_RETURN(ValueId id, Plain(v));
      ids.push_back(id);
    } else if (v.nhwc || Rank(v) == 4) {
      FK_ASSIGN_OR_RETURN(ValueId id, Nhwc(v));
      ids.push_back(id);
    } else {
      const Tensor& c = graph_.value(v.id).constant;
      std::vector<int64_t> d(static_cast<size_t>(4 - c.shape().rank()), 1);
      for (int64_t e : c.shape().dims()) d.push_back(e);
      FK_ASSIGN_OR_RETURN(Tensor c4, c.Reshaped(Shape(d)));
      ids.push_back(ConstTensor(graph_.value(v.id).name + "/nhwc", PermuteConst(c4, {0, 2, 3, 1})));
    }
  }
  ValueId acc = ids[0];
  for (size_t k = 1; k < ids.size(); ++k) {
    FK_ASSIGN_OR_RETURN(acc, Emit1(op, {acc, ids[k]}, {}, k + 1 == ids.size() ? Out0(n) : ""));
  }
  Set(n, 0, acc, use_nhwc);
  return OkStatus();
}

Status Importer::ConvertGemm(const onnx::NodeProto& n) {
  FK_ASSIGN_OR_RETURN(OVal a, Get(n.input(0)));
  FK_ASSIGN_OR_RETURN(OVal b, Get(n.input(1)));
  FK_ASSIGN_OR_RETURN(ValueId aid, PlainForReshape(a));
  if (IrShape(aid).rank() != 2 || Rank(b) != 2)
    return Unsupported("Gemm needs 2-D inputs, got " + OnnxShape(a).ToString() + " and " + OnnxShape(b).ToString());
  const float alpha = AttrF(n, "alpha", 1.f), beta = AttrF(n, "beta", 1.f);
  const bool trans_b = AttrI(n, "transB", 0) != 0;
  Attrs at;
  at.set("transpose_a", AttrI(n, "transA", 0));
  at.set("transpose_b", int64_t{trans_b ? 1 : 0});
  ValueId bid = b.id;
  bool scale_after = false;
  if (alpha != 1.f) {
    if (IsConst(b.id)) {
      Tensor t = graph_.value(b.id).constant.Clone();
      for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] *= alpha;
      bid = ConstTensor(graph_.value(b.id).name + "/alpha", t);
    } else {
      scale_after = true;
    }
  }
  std::vector<ValueId> ins = {aid, bid};
  const int64_t N = IrShape(b.id)[trans_b ? 0 : 1];
  std::optional<ValueId> add_after;
  if (HasInput(n, 2) && beta != 0.f) {
    FK_ASSIGN_OR_RETURN(OVal c, Get(n.input(2)));
    ValueId cid = c.id;
    if (IsConst(c.id)) {
      Tensor t = graph_.value(c.id).constant.Clone();
      if (beta != 1.f)
        for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] *= beta;
      if (t.num_elements() == N && !scale_after && (t.shape().rank() == 1 || (t.shape().rank() == 2 && t.shape()[0] == 1))) {
        FK_ASSIGN_OR_RETURN(Tensor t1, t.Reshaped(Shape({N})));
        ins.push_back(ConstTensor(graph_.value(c.id).name + "/bias", t1));
        at.set("has_bias", int64_t{1});
      } else {
        add_after = ConstTensor(graph_.value(c.id).name + "/beta", t);
      }
    } else {
      if (beta != 1.f) return Unsupported("Gemm with beta != 1 and a non-constant C");
      FK_ASSIGN_OR_RETURN(cid, Plain(c));
      add_after = cid;
    }
  }
  const bool last_is_matmul = !scale_after && !add_after;
  FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kMatMul, ins, at, last_is_matmul ? Out0(n) : ""));
  if (scale_after) {
    Tensor s(DType::kFloat32, Shape({1}));
    s.data<float>()[0] = alpha;
    FK_ASSIGN_OR_RETURN(y, Emit1(OpType::kMul, {y, ConstTensor(node_name_ + "/alpha", s)}, {}, add_after ? "" : Out0(n)));
  }
  if (add_after) {
    FK_ASSIGN_OR_RETURN(y, Emit1(OpType::kAdd, {y, *add_after}, {}, Out0(n)));
  }
  Set(n, 0, y, false);
  return OkStatus();
}

Status Importer::ConvertSlice(const onnx::NodeProto& n) {
  FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset_ < 10) {
    starts = AttrInts(n, "starts");
    ends = AttrInts(n, "ends");
    axes = AttrInts(n, "axes");
  } else {
    FK_ASSIGN_OR_RETURN(starts, KnownInts(n, 1, "starts"));
    FK_ASSIGN_OR_RETURN(ends, KnownInts(n, 2, "ends"));
    if (HasInput(n, 3)) { FK_ASSIGN_OR_RETURN(axes, KnownInts(n, 3, "axes")); }
    if (HasInput(n, 4)) { FK_ASSIGN_OR_RETURN(steps, KnownInts(n, 4, "steps")); }
  }
  // Re-read the raw int64 ends: int32 constants clamp INT64_MAX to INT32_MAX, which works.
  const int r = Rank(x);
  if (axes.empty())
    for (int i = 0; i < static_cast<int>(starts.size()); ++i) axes.push_back(i);
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return InvalidArgument("starts/ends/axes/steps sizes differ");
  std::vector<int64_t> b(static_cast<size_t>(r), 0), e(static_cast<size_t>(r), 0), st(static_cast<size_t>(r), 1);
  int64_t bmask = (int64_t{1} << r) - 1, emask = bmask;
  for (size_t i = 0; i < axes.size(); ++i) {
    FK_ASSIGN_OR_RETURN(int64_t ax, NormAxis(axes[i], r));
    if (x.nhwc) ax = kNchwAxisToNhwc[ax];
    if (steps[i] == 0) return InvalidArgument("slice step 0");
    b[ax] = starts[i];
    e[ax] = ends[i];
    st[ax] = steps[i];
    bmask &= ~(int64_t{1} << ax);
    emask &= ~(int64_t{1} << ax);
    const int64_t big = std::numeric_limits<int32_t>::max() / 2;
    if (steps[i] > 0 && ends[i] >= big) emask |= int64_t{1} << ax;
    if (steps[i] < 0 && ends[i] <= -big) emask |= int64_t{1} << ax;
    if (steps[i] > 0 && starts[i] <= -big) bmask |= int64_t{1} << ax;
    if (steps[i] < 0 && starts[i] >= big) bmask |= int64_t{1} << ax;
  }
  Attrs a;
  a.set("begin_mask", bmask);
  a.set("end_mask", emask);
  FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kStridedSlice,
                                       {x.id, ConstI32(node_name_ + "/begin", b), ConstI32(node_name_ + "/end", e),
                                        ConstI32(node_name_ + "/strides", st)},
                                       a, Out0(n)));
  Set(n, 0, y, x.nhwc);
  return OkStatus();
}

Status Importer::ConvertSplit(const onnx::NodeProto& n) {
  FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
  const int r = Rank(x);
  FK_ASSIGN_OR_RETURN(int64_t ax, NormAxis(AttrI(n, "axis", 0), r));
  const int64_t ir_ax = x.nhwc ? kNchwAxisToNhwc[ax] : ax;
  const int64_t dim = IrShape(x.id)[static_cast<int>(ir_ax)];
  std::vector<int64_t> split = AttrInts(n, "split");
  if (opset_ >= 13 && HasInput(n, 1)) { FK_ASSIGN_OR_RETURN(split, KnownInts(n, 1, "split")); }
  const int64_t parts = n.output_size();
  if (split.empty()) {
    if (dim < 0) return Unsupported("Split of a dynamic dimension needs explicit sizes");
    const int64_t each = (dim + parts - 1) / parts;
    for (int64_t k = 0; k < parts; ++k) split.push_back(std::min(each, dim - k * each));
  }
  if (static_cast<int64_t>(split.size()) != parts) return InvalidArgument("split sizes do not match the output count");
  int64_t off = 0;
  for (int64_t k = 0; k < parts; ++k) {
    std::vector<int64_t> b(static_cast<size_t>(r), 0), sz(static_cast<size_t>(r), -1);
    b[ir_ax] = off;
    sz[ir_ax] = split[k];
    off += split[k];
    if (n.output(static_cast<int>(k)).empty()) continue;
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kSlice,
                                         {x.id, ConstI32(node_name_ + "/begin", b), ConstI32(node_name_ + "/size", sz)},
                                         {}, n.output(static_cast<int>(k))));
    Set(n, static_cast<int>(k), y, x.nhwc);
  }
  return OkStatus();
}

Status Importer::ConvertReduce(const onnx::NodeProto& n, OpType op) {
  FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
  const int r = Rank(x);
  std::vector<int64_t> axes = AttrInts(n, "axes");
  if (HasInput(n, 1)) { FK_ASSIGN_OR_RETURN(axes, KnownInts(n, 1, "axes")); }
  const bool keep = AttrI(n, "keepdims", 1) != 0;
  if (axes.empty()) {
    if (AttrI(n, "noop_with_empty_axes", 0)) {
      Set(n, 0, x.id, x.nhwc);
      return OkStatus();
    }
    for (int i = 0; i < r; ++i) axes.push_back(i);
  }
  std::set<int64_t> red;
  for (int64_t a : axes) {
    FK_ASSIGN_OR_RETURN(int64_t na, NormAxis(a, r));
    red.insert(na);
  }
  ValueId xin = x.id;
  bool nhwc_in = x.nhwc, nhwc_out = x.nhwc && keep;
  if (x.nhwc && !keep) {
    // Without keepdims the result is in NCHW order only if the kept dims keep their order.
    std::vector<int> kept_nchw, kept_nhwc;
    for (int a = 0; a < 4; ++a)
      if (!red.count(a)) kept_nchw.push_back(a);
    for (int p = 0; p < 4; ++p)
      if (!red.count(kNhwcToNchwPerm[p])) kept_nhwc.push_back(kNhwcToNchwPerm[p]);
    if (kept_nchw != kept_nhwc) {
      FK_ASSIGN_OR_RETURN(xin, Plain(x));
      nhwc_in = false;
    }
  }
  std::vector<int64_t> ir_axes;
  for (int64_t a : red) ir_axes.push_back(nhwc_in ? kNchwAxisToNhwc[a] : a);
  std::sort(ir_axes.begin(), ir_axes.end());
  Attrs at;
  at.set("keep_dims", int64_t{keep ? 1 : 0});
  FK_ASSIGN_OR_RETURN(ValueId y, Emit1(op, {xin, ConstI32(node_name_ + "/axes", ir_axes)}, at, Out0(n)));
  Set(n, 0, y, nhwc_out);
  return OkStatus();
}

Status Importer::ConvertResize(const onnx::NodeProto& n) {
  FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
  if (Rank(x) != 4) return Unsupported("only 4-D NCHW Resize/Upsample is supported");
  FK_ASSIGN_OR_RETURN(ValueId xin, Nhwc(x));
  const Shape& xs = IrShape(xin);
  std::string mode = AttrS(n, "mode", "nearest");
  std::string coord = "asymmetric";
  std::string nearest_mode = "floor";
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  auto known_floats = [&](int k) -> Result<std::vector<float>> {
    FK_ASSIGN_OR_RETURN(OVal v, Get(n.input(k)));
    const Tensor* t = Known(v.id);
    if (!t) return Unsupported("scales (input '" + n.input(k) + "') must be a constant");
    std::vector<float> out;
    for (int64_t i = 0; i < t->num_elements(); ++i)
      out.push_back(t->dtype() == DType::kFloat32 ? t->data<float>()[i] : static_cast<float>(t->data<int32_t>()[i]));
    return out;
  };
  if (n.op_type() == "Upsample") {
    if (opset_ < 9) scales = AttrFloats(n, "scales");
    else { FK_ASSIGN_OR_RETURN(scales, known_floats(1)); }
  } else if (opset_ < 11) {
    FK_ASSIGN_OR_RETURN(scales, known_floats(1));
  } else {
    coord = AttrS(n, "coordinate_transformation_mode", "half_pixel");
    nearest_mode = AttrS(n, "nearest_mode", "round_prefer_floor");
    if (HasInput(n, 3)) { FK_ASSIGN_OR_RETURN(sizes, KnownInts(n, 3, "sizes")); }
    if (sizes.empty() && HasInput(n, 2)) { FK_ASSIGN_OR_RETURN(scales, known_floats(2)); }
  }
  int64_t oh, ow;
  if (sizes.size() == 4) {
    oh = sizes[2];
    ow = sizes[3];
  } else if (scales.size() == 4) {
    if (scales[0] != 1.f || scales[1] != 1.f) return Unsupported("Resize may only scale H and W");
    if (xs[1] < 0 || xs[2] < 0) return Unsupported("Resize by scales needs static H and W");
    oh = static_cast<int64_t>(std::floor(xs[1] * scales[2]));
    ow = static_cast<int64_t>(std::floor(xs[2] * scales[3]));
  } else {
    return Unsupported("Resize needs 4 scales or 4 sizes");
  }
  Attrs a;
  OpType op;
  const bool int_scale = xs[1] > 0 && xs[2] > 0 && oh % xs[1] == 0 && ow % xs[2] == 0;
  if (mode == "nearest") {
    op = OpType::kResizeNearest;
    if (coord == "align_corners") {
      a.set("align_corners", int64_t{1});
    } else if (!(coord == "asymmetric" && nearest_mode == "floor") && !(int_scale && coord != "tf_crop_and_resize")) {
      return Unsupported("nearest Resize with coordinate_transformation_mode=" + coord + ", nearest_mode=" +
                         nearest_mode + " (asymmetric/floor, align_corners, or integer scale factors are supported)");
    }
  } else if (mode == "linear" || mode == "bilinear") {
    op = OpType::kResizeBilinear;
    if (coord == "align_corners") a.set("align_corners", int64_t{1});
    else if (coord == "half_pixel" || (coord == "pytorch_half_pixel" && oh > 1 && ow > 1)) a.set("half_pixel_centers", int64_t{1});
    else if (coord != "asymmetric")
      return Unsupported("linear Resize with coordinate_transformation_mode=" + coord);
  } else {
    return Unsupported("Resize mode '" + mode + "' (nearest and linear are supported)");
  }
  FK_ASSIGN_OR_RETURN(ValueId y, Emit1(op, {xin, ConstI32(node_name_ + "/size", {oh, ow})}, a, Out0(n)));
  Set(n, 0, y, true);
  return OkStatus();
}

Status Importer::Convert(const onnx::NodeProto& n) {
  const std::string& t = n.op_type();
  auto unary = [&](OpType op, Attrs a = {}) -> Status {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(op, {x.id}, a, Out0(n)));
    Set(n, 0, y, x.nhwc);
    return OkStatus();
  };
  auto alias = [&]() -> Status {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    Set(n, 0, x.id, x.nhwc);
    return OkStatus();
  };

  if (t == "Conv") return ConvertConv(n);
  if (t == "MaxPool") return ConvertPool(n, true);
  if (t == "AveragePool") return ConvertPool(n, false);
  if (t == "Add" || t == "Sum") return ConvertBinary(n, OpType::kAdd);
  if (t == "Sub") return ConvertBinary(n, OpType::kSub);
  if (t == "Mul") return ConvertBinary(n, OpType::kMul);
  if (t == "Div") return ConvertBinary(n, OpType::kDiv);
  if (t == "Pow") return ConvertBinary(n, OpType::kPow);
  if (t == "Max") return ConvertBinary(n, OpType::kMaximum);
  if (t == "Min") return ConvertBinary(n, OpType::kMinimum);
  if (t == "Gemm") return ConvertGemm(n);
  if (t == "Slice") return ConvertSlice(n);
  if (t == "Split") return ConvertSplit(n);
  if (t == "ReduceMean") return ConvertReduce(n, OpType::kMean);
  if (t == "ReduceSum") return ConvertReduce(n, OpType::kSum);
  if (t == "ReduceMax") return ConvertReduce(n, OpType::kMax);
  if (t == "ReduceMin") return ConvertReduce(n, OpType::kMin);
  if (t == "ReduceProd") return ConvertReduce(n, OpType::kProd);
  if (t == "Resize" || t == "Upsample") return ConvertResize(n);
  if (t == "Relu") return unary(OpType::kRelu);
  if (t == "Sigmoid") return unary(OpType::kSigmoid);
  if (t == "Tanh") return unary(OpType::kTanh);
  if (t == "Exp") return unary(OpType::kExp);
  if (t == "Log") return unary(OpType::kLog);
  if (t == "Sqrt") return unary(OpType::kSqrt);
  if (t == "Abs") return unary(OpType::kAbs);
  if (t == "Neg") return unary(OpType::kNeg);
  if (t == "Floor") return unary(OpType::kFloor);
  if (t == "Reciprocal") return unary(OpType::kReciprocal);
  if (t == "Identity" || t == "Dropout") return alias();
  if (t == "LeakyRelu") {
    Attrs a;
    a.set("alpha", AttrF(n, "alpha", 0.01f));
    return unary(OpType::kLeakyRelu, a);
  }
  if (t == "Elu") {
    Attrs a;
    a.set("alpha", AttrF(n, "alpha", 1.f));
    return unary(OpType::kElu, a);
  }
  if (t == "HardSigmoid" || t == "HardSwish") {
    // HardSigmoid = clip(alpha*x + beta, 0, 1); HardSwish = x * HardSigmoid(alpha=1/6, beta=0.5).
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    const bool swish = t == "HardSwish";
    Tensor al(DType::kFloat32, Shape({1})), be(DType::kFloat32, Shape({1}));
    al.data<float>()[0] = swish ? 1.f / 6.f : AttrF(n, "alpha", 0.2f);
    be.data<float>()[0] = swish ? 0.5f : AttrF(n, "beta", 0.5f);
    FK_ASSIGN_OR_RETURN(ValueId m, Emit1(OpType::kMul, {x.id, ConstTensor(node_name_ + "/alpha", al)}, {}));
    FK_ASSIGN_OR_RETURN(ValueId s, Emit1(OpType::kAdd, {m, ConstTensor(node_name_ + "/beta", be)}, {}));
    Attrs ca;
    ca.set("clip_min", 0.f);
    ca.set("clip_max", 1.f);
    FK_ASSIGN_OR_RETURN(ValueId c, Emit1(OpType::kClip, {s}, ca, swish ? "" : Out0(n)));
    if (swish) { FK_ASSIGN_OR_RETURN(c, Emit1(OpType::kMul, {x.id, c}, {}, Out0(n))); }
    Set(n, 0, c, x.nhwc);
    return OkStatus();
  }
  if (t == "Clip") {
    float lo = -std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::max();
    if (opset_ < 11) {
      lo = AttrF(n, "min", lo);
      hi = AttrF(n, "max", hi);
    } else {
      if (HasInput(n, 1)) { FK_ASSIGN_OR_RETURN(lo, KnownScalar(n, 1, "min")); }
      if (HasInput(n, 2)) { FK_ASSIGN_OR_RETURN(hi, KnownScalar(n, 2, "max")); }
    }
    Attrs a;
    a.set("clip_min", lo);
    a.set("clip_max", hi);
    return unary(OpType::kClip, a);
  }
  if (t == "PRelu") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(OVal s, Get(n.input(1)));
    if (!IsConst(s.id)) return Unsupported("PRelu slope (input '" + n.input(1) + "') must be a constant");
    const Tensor& sc = graph_.value(s.id).constant;
    const Shape on = OnnxShape(x);
    const int r = on.rank();
    // facekit's Prelu broadcasts alpha over the last IR axis: channels for NCHW (NHWC in
    // the IR), the last dim otherwise. ONNX slopes [C,1,1] / [C] / [1] fit that.
    const int64_t c = x.nhwc ? on[1] : on[r - 1];
    const int64_t ns = sc.num_elements();
    bool per_channel = ns == 1;
    if (!per_channel && ns == c) {
      // The non-1 dim of the slope must line up with the channel axis (NCHW: axis 1 of rank 4).
      const auto& sd = sc.shape().dims();
      const int off = r - static_cast<int>(sd.size());
      const int want = x.nhwc ? 1 : r - 1;
      per_channel = true;
      for (int k = 0; k < static_cast<int>(sd.size()); ++k)
        if (sd[k] != 1 && k + off != want) per_channel = false;
    }
    if (!per_channel)
      return Unsupported("PRelu slope of shape " + sc.shape().ToString() + " for input " + on.ToString() +
                         " (per-channel or scalar slopes are supported)");
    FK_ASSIGN_OR_RETURN(Tensor s1, sc.Reshaped(Shape({ns})));
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kPrelu, {x.id, ConstTensor(graph_.value(s.id).name + "/flat", s1)}, {}, Out0(n)));
    Set(n, 0, y, x.nhwc);
    return OkStatus();
  }
  if (t == "BatchNormalization") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && opset_ >= 14 && AttrI(n, "training_mode", 0))
        return Unsupported("BatchNormalization in training mode");
    const int r = Rank(x);
    ValueId xin = x.id;
    if (r == 4) { FK_ASSIGN_OR_RETURN(xin, Nhwc(x)); }
    else if (r != 2) return Unsupported("BatchNormalization on a rank-" + std::to_string(r) + " tensor (rank 2 and 4 are supported)");
    std::vector<ValueId> ins = {xin};
    for (int k = 1; k <= 4; ++k) {
      FK_ASSIGN_OR_RETURN(OVal p, Get(n.input(k)));
      if (!IsConst(p.id)) return Unsupported("BatchNormalization parameters must be constants");
      ins.push_back(p.id);
    }
    Attrs a;
    a.set("epsilon", AttrF(n, "epsilon", 1e-5f));
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kBatchNorm, ins, a, Out0(n)));
    Set(n, 0, y, r == 4);
    return OkStatus();
  }
  if (t == "GlobalAveragePool" || t == "GlobalMaxPool") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(ValueId xin, Nhwc(x));
    Attrs a;
    a.set("keep_dims", int64_t{1});
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(t == "GlobalAveragePool" ? OpType::kMean : OpType::kMax,
                                         {xin, ConstI32(node_name_ + "/axes", {1, 2})}, a, Out0(n)));
    Set(n, 0, y, true);
    return OkStatus();
  }
  if (t == "Softmax") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    const Shape on = OnnxShape(x);
    const int r = on.rank();
    FK_ASSIGN_OR_RETURN(int64_t ax, NormAxis(AttrI(n, "axis", opset_ < 13 ? 1 : -1), r));
    if (opset_ < 13) {
      // Opset < 13 softmax works on the input flattened to [prod(d<axis), prod(d>=axis)]:
      // the same as a softmax over `axis` when every later dim is 1.
      for (int k = static_cast<int>(ax) + 1; k < r; ++k)
        if (on[k] != 1)
          return Unsupported("Softmax (opset " + std::to_string(opset_) + ") with axis=" + std::to_string(ax) +
                             " over input " + on.ToString() + " coerces to 2-D; only softmax over the last "
                             "non-1 axis is supported");
    }
    Attrs a;
    a.set("axis", x.nhwc ? int64_t{kNchwAxisToNhwc[ax]} : ax);
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kSoftmax, {x.id}, a, Out0(n)));
    Set(n, 0, y, x.nhwc);
    return OkStatus();
  }
  if (t == "Concat") {
    std::vector<OVal> xs;
    for (const auto& in : n.input()) {
      FK_ASSIGN_OR_RETURN(OVal v, Get(in));
      xs.push_back(v);
    }
    if (xs.empty()) return InvalidArgument("Concat without inputs");
    const int r = Rank(xs[0]);
    FK_ASSIGN_OR_RETURN(int64_t ax, NormAxis(AttrI(n, "axis", 0), r));
    const bool use_nhwc = r == 4 && std::any_of(xs.begin(), xs.end(), [](const OVal& v) { return v.nhwc; });
    std::vector<ValueId> ids;
    for (const OVal& v : xs) {
      Result<ValueId> id = use_nhwc ? Nhwc(v) : Plain(v);
      if (!id.ok()) return id.status();
      ids.push_back(*id);
    }
    if (ids.size() == 1) {
      Set(n, 0, ids[0], use_nhwc);
      return OkStatus();
    }
    Attrs a;
    a.set("axis", use_nhwc ? int64_t{kNchwAxisToNhwc[ax]} : ax);
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kConcat, ids, a, Out0(n)));
    Set(n, 0, y, use_nhwc);
    return OkStatus();
  }
  if (t == "Transpose") {
    FK_ASSIGN_OR_RETURN(OVal x, GetRaw(n.input(0)));
    std::vector<int64_t> p = AttrInts(n, "perm");
    if (x.shuffle5 && p == std::vector<int64_t>{0, 2, 1, 3, 4}) {
      // [N,a,b,H,W] -> [N,b,a,H,W]: held as [N,H,W,a,b] -> [N,H,W,b,a].
      Attrs a;
      a.set("perm", std::vector<int64_t>{0, 1, 2, 4, 3});
      FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kTranspose, {x.id}, a, Out0(n)));
      Set(n, 0, y, false, true);
      return OkStatus();
    }
    FK_ASSIGN_OR_RETURN(x, Get(n.input(0)));
    const int r = Rank(x);
    if (p.empty())
      for (int k = r - 1; k >= 0; --k) p.push_back(k);
    if (static_cast<int>(p.size()) != r) return InvalidArgument("perm " + Join(p) + " does not match rank " + std::to_string(r));
    std::vector<int64_t> q = p;  // perm applied to the IR tensor giving the NCHW-semantics result
    if (x.nhwc)
      for (int k = 0; k < r; ++k) q[k] = kNchwAxisToNhwc[p[k]];  // IR axis holding NCHW axis p[k]
    auto is_identity = [](const std::vector<int64_t>& v) {
      for (size_t k = 0; k < v.size(); ++k)
        if (v[k] != static_cast<int64_t>(k)) return false;
      return true;
    };
    if (r == 4) {
      // The result held as NHWC: apply q then [0,2,3,1].
      std::vector<int64_t> rr(4);
      for (int k = 0; k < 4; ++k) rr[k] = q[kNchwToNhwcPerm[k]];
      if (is_identity(rr)) {
        Set(n, 0, x.id, true);
        return OkStatus();
      }
    }
    if (is_identity(q)) {
      Set(n, 0, x.id, false);
      return OkStatus();
    }
    Attrs a;
    a.set("perm", q);
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kTranspose, {x.id}, a, Out0(n)));
    Set(n, 0, y, false);
    return OkStatus();
  }
  if (t == "Reshape" && opset_ >= 5) {
    FK_ASSIGN_OR_RETURN(OVal x, GetRaw(n.input(0)));
    FK_ASSIGN_OR_RETURN(OVal sv, Get(n.input(1)));
    const Tensor* st = Known(sv.id);
    const Shape& xs = IrShape(x.id);
    if (st && st->dtype() == DType::kInt32 && (x.nhwc || x.shuffle5) && xs.is_fully_defined()) {
      std::vector<int64_t> sh(st->data<int32_t>(), st->data<int32_t>() + st->num_elements());
      const bool batch_ok = !sh.empty() && (sh[0] == xs[0] || sh[0] == 0 || sh[0] == -1);
      std::optional<std::vector<int64_t>> ir_shape;
      bool to_shuffle = false;
      if (x.nhwc && batch_ok && sh.size() == 5 && sh[1] > 0 && sh[2] > 0 && sh[1] * sh[2] == xs[3] &&
          sh[3] == xs[1] && sh[4] == xs[2]) {
        ir_shape = std::vector<int64_t>{0, xs[1], xs[2], sh[1], sh[2]};  // [N,C,H,W] -> [N,g,C/g,H,W]
        to_shuffle = true;
      } else if (x.shuffle5 && batch_ok && sh.size() == 4 && (sh[1] == xs[3] * xs[4] || sh[1] == -1) &&
                 sh[2] == xs[1] && sh[3] == xs[2]) {
        ir_shape = std::vector<int64_t>{0, xs[1], xs[2], xs[3] * xs[4]};  // [N,a,b,H,W] -> [N,a*b,H,W]
      }
      if (ir_shape) {
        Attrs a;
        a.set("onnx_zero_copy", int64_t{1});
        FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kReshape, {x.id, ConstI32(node_name_ + "/nhwc_shape", *ir_shape)},
                                             a, Out0(n)));
        Set(n, 0, y, !to_shuffle, to_shuffle);
        return OkStatus();
      }
    }
  }
  if (t == "Reshape" || t == "Flatten") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(ValueId xin, PlainForReshape(x));
    ValueId shape_id;
    Attrs a;
    if (t == "Flatten") {
      const Shape on = OnnxShape(x);
      FK_ASSIGN_OR_RETURN(int64_t ax, NormAxis(AttrI(n, "axis", 1), on.rank() + 1));
      std::vector<int64_t> s;
      if (ax == 0) {
        s = {1, -1};
      } else if (ax == 1) {
        s = {0, -1};
      } else {
        int64_t tail = 1;
        for (int k = static_cast<int>(ax); k < on.rank(); ++k) tail = on[k] < 0 ? -1 : tail * on[k];
        if (tail < 0) return Unsupported("Flatten with axis > 1 needs static trailing dims");
        s = {-1, tail};
      }
      shape_id = ConstI32(node_name_ + "/shape", s);
      a.set("onnx_zero_copy", int64_t{1});
    } else {
      if (opset_ < 5) return Unsupported("Reshape-1 (shape attribute) is not supported; re-export with opset >= 7");
      FK_ASSIGN_OR_RETURN(OVal s, Get(n.input(1)));
      shape_id = s.id;
      a.set("onnx_zero_copy", int64_t{AttrI(n, "allowzero", 0) ? 0 : 1});
    }
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kReshape, {xin, shape_id}, a, Out0(n)));
    Set(n, 0, y, false);
    return OkStatus();
  }
  if (t == "Shape") {
    if (FindAttr(n, "start") || FindAttr(n, "end")) return Unsupported("Shape with start/end attributes");
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(ValueId s, Emit1(OpType::kShape, {x.id}, {}, x.nhwc ? "" : Out0(n)));
    if (x.nhwc) {
      Attrs a;
      a.set("axis", int64_t{0});
      FK_ASSIGN_OR_RETURN(s, Emit1(OpType::kGather, {s, ConstI32(node_name_ + "/nchw", {0, 3, 1, 2})}, a, Out0(n)));
    }
    Set(n, 0, s, false);
    return OkStatus();
  }
  if (t == "Gather") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(OVal idx, Get(n.input(1)));
    FK_ASSIGN_OR_RETURN(ValueId xin, Plain(x));
    const Shape& xs = IrShape(xin);
    FK_ASSIGN_OR_RETURN(int64_t ax, NormAxis(AttrI(n, "axis", 0), xs.rank()));
    ValueId iid = idx.id;
    if (IsConst(idx.id)) {  // normalise negative constant indices
      const Tensor& it = graph_.value(idx.id).constant;
      bool neg = false;
      for (int64_t i = 0; i < it.num_elements(); ++i) neg |= it.data<int32_t>()[i] < 0;
      if (neg) {
        if (xs[static_cast<int>(ax)] < 0) return Unsupported("negative Gather indices on a dynamic axis");
        Tensor c = it.Clone();
        for (int64_t i = 0; i < c.num_elements(); ++i)
          if (c.data<int32_t>()[i] < 0) c.data<int32_t>()[i] += static_cast<int32_t>(xs[static_cast<int>(ax)]);
        iid = ConstTensor(graph_.value(idx.id).name + "/pos", c);
      }
    }
    Attrs a;
    a.set("axis", ax);
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kGather, {xin, iid}, a, Out0(n)));
    Set(n, 0, y, false);
    return OkStatus();
  }
  if (t == "Unsqueeze" || t == "Squeeze") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(ValueId xin, Plain(x));
    std::vector<int64_t> axes = AttrInts(n, "axes");
    if (HasInput(n, 1)) { FK_ASSIGN_OR_RETURN(axes, KnownInts(n, 1, "axes")); }
    const int r = IrShape(xin).rank();
    if (t == "Squeeze") {
      std::vector<int64_t> na;
      for (int64_t a : axes) {
        FK_ASSIGN_OR_RETURN(int64_t v, NormAxis(a, r));
        na.push_back(v);
      }
      Attrs at;
      at.set("axes", na);
      FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kSqueeze, {xin}, at, Out0(n)));
      Set(n, 0, y, false);
      return OkStatus();
    }
    const int out_r = r + static_cast<int>(axes.size());
    std::vector<int64_t> na;
    for (int64_t a : axes) {
      FK_ASSIGN_OR_RETURN(int64_t v, NormAxis(a, out_r));
      na.push_back(v);
    }
    std::sort(na.begin(), na.end());
    ValueId y = xin;
    for (size_t k = 0; k < na.size(); ++k) {
      Attrs at;
      at.set("axis", na[k]);
      FK_ASSIGN_OR_RETURN(y, Emit1(OpType::kExpandDims, {y}, at, k + 1 == na.size() ? Out0(n) : ""));
    }
    Set(n, 0, y, false);
    return OkStatus();
  }
  if (t == "Pad") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    std::vector<int64_t> pads;
    float value = 0.f;
    if (opset_ < 11) {
      pads = AttrInts(n, "pads");
      value = AttrF(n, "value", 0.f);
    } else {
      FK_ASSIGN_OR_RETURN(pads, KnownInts(n, 1, "pads"));
      if (HasInput(n, 2)) { FK_ASSIGN_OR_RETURN(value, KnownScalar(n, 2, "constant_value")); }
      if (HasInput(n, 3)) return Unsupported("Pad with an axes input");
    }
    const int r = Rank(x);
    if (static_cast<int>(pads.size()) != 2 * r) return InvalidArgument("pads " + Join(pads) + " do not match rank " + std::to_string(r));
    if (std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; })) {
      Set(n, 0, x.id, x.nhwc);  // a no-op pad (common in exported PyTorch graphs)
      return OkStatus();
    }
    const std::string mode = AttrS(n, "mode", "constant");
    std::string m;
    if (mode == "constant") m = "CONSTANT";
    else if (mode == "reflect") m = "REFLECT";
    else return Unsupported("Pad mode '" + mode + "' (constant and reflect are supported)");
    for (int64_t v : pads)
      if (v < 0) return Unsupported("Pad with negative pads (cropping)");
    std::vector<int64_t> p2(static_cast<size_t>(2 * r));
    for (int i = 0; i < r; ++i) {  // IR axis i <- ONNX axis a
      const int a = x.nhwc ? kNhwcToNchwPerm[i] : i;
      p2[2 * i] = pads[a];
      p2[2 * i + 1] = pads[a + r];
    }
    Tensor pt(DType::kInt32, Shape({r, 2}));
    for (int i = 0; i < 2 * r; ++i) pt.data<int32_t>()[i] = ClampI32(p2[i]);
    Attrs a;
    a.set("mode", m);
    a.set("constant_value", value);
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kPad, {x.id, ConstTensor(node_name_ + "/paddings", pt)}, a, Out0(n)));
    Set(n, 0, y, x.nhwc);
    return OkStatus();
  }
  if (t == "MatMul") {
    FK_ASSIGN_OR_RETURN(OVal a, Get(n.input(0)));
    FK_ASSIGN_OR_RETURN(OVal b, Get(n.input(1)));
    FK_ASSIGN_OR_RETURN(ValueId aid, PlainForReshape(a));
    FK_ASSIGN_OR_RETURN(ValueId bid, Plain(b));
    if (IrShape(aid).rank() != 2 || IrShape(bid).rank() != 2)
      return Unsupported("MatMul of " + OnnxShape(a).ToString() + " x " + OnnxShape(b).ToString() +
                         " (only 2-D MatMul is supported)");
    FK_ASSIGN_OR_RETURN(ValueId y, Emit1(OpType::kMatMul, {aid, bid}, {}, Out0(n)));
    Set(n, 0, y, false);
    return OkStatus();
  }
  if (t == "Constant") {
    Tensor c;
    if (const auto* v = FindAttr(n, "value")) {
      FK_ASSIGN_OR_RETURN(c, ConvertTensor(v->t(), "Constant"));
    } else if (const auto* v = FindAttr(n, "value_float")) {
      c = Tensor(DType::kFloat32, Shape());
      c.data<float>()[0] = v->f();
    } else if (const auto* v = FindAttr(n, "value_floats")) {
      c = Tensor(DType::kFloat32, Shape({v->floats_size()}));
      for (int i = 0; i < v->floats_size(); ++i) c.data<float>()[i] = v->floats(i);
    } else if (const auto* v = FindAttr(n, "value_int")) {
      c = Tensor(DType::kInt32, Shape());
      c.data<int32_t>()[0] = ClampI32(v->i());
    } else if (const auto* v = FindAttr(n, "value_ints")) {
      c = Tensor(DType::kInt32, Shape({v->ints_size()}));
      for (int i = 0; i < v->ints_size(); ++i) c.data<int32_t>()[i] = ClampI32(v->ints(i));
    } else {
      return Unsupported("Constant without a value/value_float(s)/value_int(s) attribute");
    }
    Set(n, 0, ConstTensor(Out0(n), c), false);
    return OkStatus();
  }
  if (t == "ConstantOfShape") {
    FK_ASSIGN_OR_RETURN(std::vector<int64_t> dims, KnownInts(n, 0, "shape"));
    Tensor val;
    if (const auto* v = FindAttr(n, "value")) {
      FK_ASSIGN_OR_RETURN(val, ConvertTensor(v->t(), "ConstantOfShape value"));
    } else {
      val = Tensor(DType::kFloat32, Shape({1}));
    }
    Tensor c(val.dtype(), Shape(dims));
    for (int64_t i = 0; i < c.num_elements(); ++i) {
      if (val.dtype() == DType::kFloat32) c.data<float>()[i] = val.data<float>()[0];
      else c.data<int32_t>()[i] = val.data<int32_t>()[0];
    }
    Set(n, 0, ConstTensor(Out0(n), c), false);
    return OkStatus();
  }
  if (t == "Cast") {
    FK_ASSIGN_OR_RETURN(OVal x, Get(n.input(0)));
    const int64_t to = AttrI(n, "to", 1);
    DType dt;
    if (to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE || to == onnx::TensorProto::FLOAT16) dt = DType::kFloat32;
    else if (to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32 || to == onnx::TensorProto::BOOL) dt = DType::kInt32;
    else return Unsupported("Cast to ONNX type " + std::to_string(to));
    if (graph_.value(x.id).dtype == dt) return alias();
    Attrs a;
    a.set("dst_dtype", static_cast<int64_t>(dt));
    return unary(OpType::kCast, a);
  }
  return Unsupported("op '" + t + "' has no conversion (internal: listed as supported)");
}

// Dynamic batch. Exported graphs fix the batch (every faceplugin model: input [1,3,H,W]
// and Reshape shape constants [1,...]). Rule: dim 0 of every graph input becomes -1; then,
// walking the graph in order with shape inference, a Reshape whose shape is a constant
// with shape[0] == the exported batch, applied to a tensor whose dim 0 is now dynamic, gets
// shape[0] = -1 (a -1 elsewhere in the constant is resolved to its per-example value
// first). Shape -> Gather -> Concat chains already follow the batch at run time.
Status Importer::MakeBatchDynamic() {
  for (ValueId v : graph_.inputs())
    if (graph_.value(v).shape.rank() > 0) graph_.value(v).shape[0] = -1;
  const auto uses = graph_.UseCounts();
  int rewritten = 0;
  for (size_t i = 0; i < graph_.nodes().size(); ++i) {
    Node& n = graph_.nodes()[i];
    if (batch_ > 0 && n.op == OpType::kReshape && n.inputs.size() == 2) {
      const ir::Value& x = graph_.value(n.inputs[0]);
      const ir::Value& s = graph_.value(n.inputs[1]);
      if (s.is_constant() && s.constant.dtype() == DType::kInt32 && s.constant.num_elements() >= 1 &&
          x.shape.rank() >= 1 && x.shape[0] < 0 && s.constant.data<int32_t>()[0] == batch_) {
        Tensor t = s.constant.Clone();
        int32_t* d = t.data<int32_t>();
        const int64_t m = t.num_elements();
        int64_t other_unknown = -1, known = 1;
        for (int64_t k = 1; k < m; ++k) {
          if (d[k] < 0) other_unknown = k;
          else if (d[k] == 0 && n.attrs.i("onnx_zero_copy", 0)) known *= (k < x.shape.rank() ? x.shape[static_cast<int>(k)] : 0);
          else known *= d[k];
        }
        bool ok = true;
        if (other_unknown >= 0) {
          int64_t per_example = 1;
          for (int k = 1; k < x.shape.rank(); ++k) per_example = (x.shape[k] < 0 || per_example < 0) ? -1 : per_example * x.shape[k];
          if (per_example < 0 || known <= 0 || per_example % known != 0) ok = false;
          else d[other_unknown] = static_cast<int32_t>(per_example / known);
        }
        if (ok) {
          d[0] = -1;
          ++rewritten;
          if (uses[static_cast<size_t>(n.inputs[1])] == 1) {
            graph_.value(n.inputs[1]).constant = t;
          } else {
            n.inputs[1] = graph_.AddConstant(Fresh(s.name + "/dynamic_batch"), t);
          }
        }
      }
    }
    Node& nn = graph_.nodes()[i];
    std::vector<ops::ValueInfo> ins;
    for (ValueId v : nn.inputs) {
      const ir::Value& val = graph_.value(v);
      ins.emplace_back(val.dtype, val.shape, val.is_constant() ? &val.constant : nullptr);
    }
    std::vector<ops::ValueInfo> outs;
    FK_RETURN_IF_ERROR(ops::InferShapes(nn, ins, &outs));
    for (size_t k = 0; k < nn.outputs.size() && k < outs.size(); ++k) {
      ir::Value& ov = graph_.value(nn.outputs[k]);
      ov.dtype = outs[k].dtype;
      ov.shape = outs[k].shape;
    }
  }
  if (info_) info_->reshapes_made_dynamic = rewritten;
  return OkStatus();
}

}  // namespace

bool OnnxSupportCompiled() { return true; }

Result<ir::Graph> LoadOnnxModel(const std::string& path, OnnxImportInfo* info) {
  Importer imp(path, info);
  return imp.Run();
}

}  // namespace fk::engine

#else  // !FK_HAVE_ONNX

namespace fk::engine {

bool OnnxSupportCompiled() { return false; }

Result<ir::Graph> LoadOnnxModel(const std::string& path, OnnxImportInfo*) {
  return Unsupported("'" + path +
                     "': this facekit build has no ONNX support (built without libonnx-dev/libprotobuf-dev). "
                     "Install them (apt-get install libonnx-dev libprotobuf-dev protobuf-compiler) and "
                     "re-run cmake, then rebuild");
}

}  // namespace fk::engine

#endif  // FK_HAVE_ONNX
