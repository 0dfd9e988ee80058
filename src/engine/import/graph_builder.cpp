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
  FK_RETURN_IF_ERROR(ReadManifestGroups(manifest_path, dir, root, &out));
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
    Fail(DataLoss(source_ + ": weight '" + name + "' has shape " + t.shape().ToString() +
                  ", the network needs " + expected.ToString()));
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
