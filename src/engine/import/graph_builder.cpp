// Graph builder and face-api weights-manifest reader (see graph_builder.h).
#include "engine/import/graph_builder.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/import/tfjs_loader.h"

namespace fk::engine {

using json = nlohmann::json;

namespace {

std::string ShapeStr(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(d[i]));
  }
  s.push_back(']');
  return s;
}

Status ReadGroup(const std::string& path, const std::string& dir, const json& group,
                 std::vector<ManifestWeight>* out) {
  if (!group.is_object() || !group.contains("paths") || !group.contains("weights") ||
      !group["paths"].is_array() || !group["weights"].is_array())
    return DataLoss(path + ": a weights manifest group needs 'paths' and 'weights' lists");
  std::string buf;
  for (const auto& p : group["paths"]) {
    if (!p.is_string()) return DataLoss(path + ": a shard path is not a string");
    const std::string shard = (std::filesystem::path(dir) / p.get<std::string>()).string();
    std::ifstream f(shard, std::ios::binary);
    if (!f)
      return NotFound(
          "weight shard '" + shard + "' listed in " + path +
          " does not exist or cannot be read (keep the .bin files next to the manifest)");
    std::ostringstream ss;
    ss << f.rdbuf();
    buf += ss.str();
  }
  size_t off = 0;
  for (const auto& w : group["weights"]) {
    if (!w.is_object() || !w.contains("name") || !w.contains("shape") || !w.contains("dtype") ||
        !w["name"].is_string() || !w["shape"].is_array() || !w["dtype"].is_string())
      return DataLoss(path + ": a weight entry needs 'name', 'shape' and 'dtype'");
    const std::string name = w["name"].get<std::string>();
    const std::string dtype = w["dtype"].get<std::string>();
    std::vector<int64_t> dims;
    for (const auto& d : w["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        return DataLoss(path + ": weight '" + name + "' has a bad dimension in its shape");
      dims.push_back(d.get<int64_t>());
    }
    const Shape shape(dims);
    const size_t n = static_cast<size_t>(shape.num_elements());
    std::string q;
    double scale = 1.0, minv = 0.0;
    if (w.contains("quantization") && w["quantization"].is_object()) {
      const json& jq = w["quantization"];
      if (!jq.contains("dtype") || !jq["dtype"].is_string())
        return DataLoss(path + ": weight '" + name + "' has a quantization without a dtype");
      q = jq["dtype"].get<std::string>();
      if (jq.contains("scale") && jq["scale"].is_number()) scale = jq["scale"].get<double>();
      if (jq.contains("min") && jq["min"].is_number()) minv = jq["min"].get<double>();
    }
    size_t elem = 0;
    if (!q.empty()) {
      if (q == "uint8")
        elem = 1;
      else if (q == "uint16" || q == "float16")
        elem = 2;
      else
        return Unsupported(path + ": weight '" + name + "' uses unsupported quantization dtype '" +
                           q + "' (supported: uint8, uint16, float16)");
    } else if (dtype == "float32" || dtype == "int32") {
      elem = 4;
    } else {
      return Unsupported(path + ": weight '" + name + "' has unsupported dtype '" + dtype +
                         "' (supported: float32, int32)");
    }
    const size_t bytes = n * elem;
    if (off + bytes > buf.size())
      return DataLoss(path + ": weight '" + name + "' (" + ShapeStr(dims) + ", " +
                      std::to_string(bytes) + " bytes at offset " + std::to_string(off) +
                      ") runs past the end of the weight data (" + std::to_string(buf.size()) +
                      " bytes): the .bin shard is truncated or belongs to another model");
    const auto* src = reinterpret_cast<const unsigned char*>(buf.data()) + off;
    const bool is_int = dtype == "int32";
    Tensor t(is_int ? DType::kInt32 : DType::kFloat32, shape);
    if (q.empty()) {
      if (bytes) std::memcpy(t.raw(), src, bytes);
    } else {
      for (size_t k = 0; k < n; ++k) {
        double v;
        if (q == "uint8") {
          v = static_cast<double>(src[k]) * scale + minv;
        } else {
          uint16_t u;
          std::memcpy(&u, src + 2 * k, 2);
          v = q == "uint16" ? static_cast<double>(u) * scale + minv
                            : static_cast<double>(HalfToFloat(u));
        }
        if (is_int)
          t.data<int32_t>()[k] = static_cast<int32_t>(std::llround(v));
        else
          t.data<float>()[k] = static_cast<float>(v);
      }
    }
    out->push_back({name, std::move(t)});
    off += bytes;
  }
  if (off != buf.size())
    return DataLoss(path + ": the weight data has " + std::to_string(buf.size()) +
                    " bytes but the manifest describes " + std::to_string(off) +
                    " (the .bin shard does not match the manifest)");
  return OkStatus();
}

}  // namespace

Result<std::vector<ManifestWeight>> ReadWeightsManifest(const std::string& manifest_path) {
  std::ifstream f(manifest_path);
  if (!f)
    return NotFound("weights manifest '" + manifest_path + "' does not exist or cannot be read");
  json root = json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return DataLoss("'" + manifest_path + "' is not valid JSON");
  if (root.is_object() && root.contains("weightsManifest")) root = root["weightsManifest"];
  if (!root.is_array())
    return DataLoss("'" + manifest_path +
                    "' is not a weights manifest (expected a list of groups)");
  const std::string dir = std::filesystem::path(manifest_path).parent_path().string();
  std::vector<ManifestWeight> out;
  for (const auto& group : root) FK_RETURN_IF_ERROR(ReadGroup(manifest_path, dir, group, &out));
  return out;
}

GraphBuilder::GraphBuilder(std::string source, std::vector<ManifestWeight> weights)
    : source_(std::move(source)), weights_(std::move(weights)) {
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (index_.count(weights_[i].name))
      Fail(DataLoss(source_ + ": weight '" + weights_[i].name + "' appears twice in the manifest"));
    index_[weights_[i].name] = i;
  }
}

void GraphBuilder::Fail(Status s) {
  if (error_.ok() && !s.ok()) error_ = std::move(s);
}

ir::ValueId GraphBuilder::NewValue(const std::string& name) {
  ir::Value v;
  v.name = name;
  v.dtype = DType::kFloat32;
  return g_.AddValue(std::move(v));
}

ir::ValueId GraphBuilder::Input(const std::string& name, Shape shape) {
  ir::Value v;
  v.name = name;
  v.dtype = DType::kFloat32;
  v.shape = std::move(shape);
  const ir::ValueId id = g_.AddValue(std::move(v));
  g_.inputs().push_back(id);
  return id;
}

ir::ValueId GraphBuilder::Constant(const std::string& name, Tensor t) {
  return g_.AddConstant(name, std::move(t));
}

ir::ValueId GraphBuilder::ConstantFloats(const std::string& name, Shape shape,
                                         std::vector<float> v) {
  Tensor t(DType::kFloat32, shape);
  if (static_cast<size_t>(t.num_elements()) != v.size()) {
    Fail(Internal(source_ + ": constant '" + name + "' has the wrong number of values"));
    return Constant(name, Tensor(DType::kFloat32, Shape{1}));
  }
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return Constant(name, std::move(t));
}

ir::ValueId GraphBuilder::ConstantInts(const std::string& name, Shape shape,
                                       std::vector<int32_t> v) {
  Tensor t(DType::kInt32, shape);
  if (static_cast<size_t>(t.num_elements()) != v.size()) {
    Fail(Internal(source_ + ": constant '" + name + "' has the wrong number of values"));
    return Constant(name, Tensor(DType::kInt32, Shape{1}));
  }
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(int32_t));
  return Constant(name, std::move(t));
}

std::vector<int64_t> GraphBuilder::WeightDims(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    Fail(DataLoss(source_ + ": weight '" + name +
                  "' is missing from the manifest (is this the right model file?)"));
    return {};
  }
  return weights_[it->second].tensor.shape().dims();
}

ir::ValueId GraphBuilder::Weight(const std::string& name, const Shape& expected) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    Fail(DataLoss(source_ + ": weight '" + name +
                  "' is missing from the manifest (is this the right model file?)"));
    return ConstantFloats(name + "/missing", Shape{1}, {0.f});
  }
  const Tensor& t = weights_[it->second].tensor;
  if (!expected.dims().empty() && expected.dims() != t.shape().dims())
    Fail(DataLoss(source_ + ": weight '" + name + "' has shape " + ShapeStr(t.shape().dims()) +
                  ", the network needs " + ShapeStr(expected.dims())));
  used_.insert(name);
  return g_.AddConstant(name, t);
}

ir::ValueId GraphBuilder::Emit(ir::OpType op, const std::string& name,
                               std::vector<ir::ValueId> inputs, ir::Attrs attrs) {
  const ir::ValueId out = NewValue(name);
  ir::Node n;
  n.name = name;
  n.op = op;
  n.inputs = std::move(inputs);
  n.outputs = {out};
  n.attrs = std::move(attrs);
  g_.AddNode(std::move(n));
  return out;
}

static ir::Attrs ConvAttrs(int stride, const std::string& padding, ir::Activation act,
                           bool has_bias) {
  ir::Attrs a;
  a.set("strides", std::vector<int64_t>{stride, stride});
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("padding", padding);
  if (has_bias) a.set("has_bias", int64_t{1});
  if (act != ir::Activation::kNone) a.set("activation", std::string(ir::ActivationName(act)));
  return a;
}

ir::ValueId GraphBuilder::Conv2D(const std::string& name, ir::ValueId x, ir::ValueId w,
                                 ir::ValueId bias, int stride, const std::string& padding,
                                 ir::Activation act) {
  std::vector<ir::ValueId> in = {x, w};
  if (bias != ir::kNoValue) in.push_back(bias);
  return Emit(ir::OpType::kConv2D, name, in, ConvAttrs(stride, padding, act, bias != ir::kNoValue));
}

ir::ValueId GraphBuilder::DepthwiseConv2D(const std::string& name, ir::ValueId x, ir::ValueId w,
                                          ir::ValueId bias, int stride, const std::string& padding,
                                          ir::Activation act) {
  std::vector<ir::ValueId> in = {x, w};
  if (bias != ir::kNoValue) in.push_back(bias);
  return Emit(ir::OpType::kDepthwiseConv2D, name, in,
              ConvAttrs(stride, padding, act, bias != ir::kNoValue));
}

ir::ValueId GraphBuilder::MatMul(const std::string& name, ir::ValueId a, ir::ValueId b,
                                 ir::ValueId bias) {
  ir::Attrs at;
  at.set("transpose_a", int64_t{0});
  at.set("transpose_b", int64_t{0});
  std::vector<ir::ValueId> in = {a, b};
  if (bias != ir::kNoValue) {
    in.push_back(bias);
    at.set("has_bias", int64_t{1});
  }
  return Emit(ir::OpType::kMatMul, name, in, at);
}

ir::ValueId GraphBuilder::Binary(ir::OpType op, const std::string& name, ir::ValueId a,
                                 ir::ValueId b) {
  return Emit(op, name, {a, b});
}

ir::ValueId GraphBuilder::Relu(const std::string& name, ir::ValueId x) {
  return Emit(ir::OpType::kRelu, name, {x});
}

static ir::Attrs PoolAttrs(int k, int stride, const std::string& padding) {
  ir::Attrs a;
  a.set("ksize", std::vector<int64_t>{k, k});
  a.set("strides", std::vector<int64_t>{stride, stride});
  a.set("padding", padding);
  return a;
}

ir::ValueId GraphBuilder::MaxPool(const std::string& name, ir::ValueId x, int k, int stride,
                                  const std::string& padding) {
  return Emit(ir::OpType::kMaxPool, name, {x}, PoolAttrs(k, stride, padding));
}

ir::ValueId GraphBuilder::AvgPool(const std::string& name, ir::ValueId x, int k, int stride,
                                  const std::string& padding) {
  return Emit(ir::OpType::kAvgPool, name, {x}, PoolAttrs(k, stride, padding));
}

ir::ValueId GraphBuilder::Mean(const std::string& name, ir::ValueId x, std::vector<int32_t> axes) {
  const int64_t n = static_cast<int64_t>(axes.size());
  const ir::ValueId ax = ConstantInts(name + "/axes", Shape{n}, std::move(axes));
  ir::Attrs a;
  a.set("keep_dims", int64_t{0});
  return Emit(ir::OpType::kMean, name, {x, ax}, a);
}

ir::ValueId GraphBuilder::Pad(const std::string& name, ir::ValueId x, std::vector<int32_t> pads) {
  const int64_t rank = static_cast<int64_t>(pads.size() / 2);
  const ir::ValueId p = ConstantInts(name + "/paddings", Shape{rank, 2}, std::move(pads));
  ir::Attrs a;
  a.set("constant_value", 0.f);
  a.set("mode", std::string("CONSTANT"));
  return Emit(ir::OpType::kPad, name, {x, p}, a);
}

ir::ValueId GraphBuilder::Reshape(const std::string& name, ir::ValueId x,
                                  std::vector<int32_t> shape) {
  const int64_t n = static_cast<int64_t>(shape.size());
  const ir::ValueId s = ConstantInts(name + "/shape", Shape{n}, std::move(shape));
  return Emit(ir::OpType::kReshape, name, {x, s});
}

Result<ir::Graph> GraphBuilder::Finish(const std::vector<ir::ValueId>& outputs) {
  FK_RETURN_IF_ERROR(error_);
  std::string unused;
  for (const auto& w : weights_)
    if (!used_.count(w.name)) {
      if (!unused.empty()) unused.append(", ");
      unused.append(w.name);
    }
  if (!unused.empty())
    return DataLoss(source_ + ": the network does not use these manifest weights: " + unused +
                    " (the manifest belongs to another network or version)");
  g_.outputs() = outputs;
  FK_RETURN_IF_ERROR(g_.Validate().WithContext(source_));
  FK_RETURN_IF_ERROR(InferGraphShapes(&g_).WithContext(source_));
  return std::move(g_);
}

}  // namespace fk::engine
