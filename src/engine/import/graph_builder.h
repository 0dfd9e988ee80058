// A small C++ API to define a network in code and bind its weights from a face-api /
// TF.js weights manifest (`*-weights_manifest.json` + `.bin` shards). Used for networks that
// are published as weights only (their architecture lives in JavaScript), see
// engine/import/faceapi_nets.h.
//
// Contract:
//  - ReadWeightsManifest requires a JSON list of groups {paths, weights:[{name, shape, dtype,
//    quantization?}]}; the shards of each group are concatenated in `paths` order and the
//    weights sliced out in manifest order. float32 and int32 are read raw; uint8 / uint16
//    quantized weights are dequantized as q * scale + min (computed in double, stored as
//    float32, like tfjs-core's io.decodeWeights); float16 converted to float32.
//    Errors: NotFound (manifest / shard missing), DataLoss (bad JSON, truncated shard, sizes
//    that do not match), Unsupported (unknown dtype). Messages name the file and the weight.
//  - GraphBuilder emits IR nodes (NHWC activations, Conv2D weights HWIO, depthwise
//    [kh,kw,C,mult]). Weight(name) looks a weight up by its manifest name; a missing name or a
//    shape that does not match what the layer needs is recorded (the first error is kept)
//    and returned by Finish(), so network definitions read straight through without an
//    error check after every layer. Every weight the manifest holds must be used, or
//    Finish() reports the unused ones (a net definition that does not match its weights).
//  - Finish() sets the graph outputs, validates the graph and runs shape inference.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/import/weights_manifest.h"
#include "engine/ir/graph.h"
#include "facekit/status.h"

namespace fk::engine {

// Weights of a manifest, in manifest order.
Result<std::vector<ManifestWeight>> ReadWeightsManifest(const std::string& manifest_path);

class GraphBuilder {
 public:
  // `source` names the model file in error messages.
  GraphBuilder(std::string source, std::vector<ManifestWeight> weights);

  // A float32 graph input; dim 0 may be -1 (any batch).
  ir::ValueId Input(const std::string& name, Shape shape);
  // A constant value.
  ir::ValueId Constant(const std::string& name, Tensor t);
  ir::ValueId ConstantFloats(const std::string& name, Shape shape, std::vector<float> v);
  ir::ValueId ConstantInts(const std::string& name, Shape shape, std::vector<int32_t> v);
  // A manifest weight as a constant (marked used). `expected` (when given) must match.
  ir::ValueId Weight(const std::string& name, const Shape& expected = Shape());
  // The dims of a manifest weight ({} and an error recorded when missing).
  std::vector<int64_t> WeightDims(const std::string& name);

  // padding: "SAME" or "VALID". bias may be ir::kNoValue.
  ir::ValueId Conv2D(const std::string& name, ir::ValueId x, ir::ValueId w, ir::ValueId bias,
                     int stride, const std::string& padding,
                     ir::Activation act = ir::Activation::kNone);
  ir::ValueId DepthwiseConv2D(const std::string& name, ir::ValueId x, ir::ValueId w,
                              ir::ValueId bias, int stride, const std::string& padding,
                              ir::Activation act = ir::Activation::kNone);
  ir::ValueId MatMul(const std::string& name, ir::ValueId a, ir::ValueId b,
                     ir::ValueId bias = ir::kNoValue);
  ir::ValueId Binary(ir::OpType op, const std::string& name, ir::ValueId a, ir::ValueId b);
  ir::ValueId Add(const std::string& name, ir::ValueId a, ir::ValueId b) {
    return Binary(ir::OpType::kAdd, name, a, b);
  }
  ir::ValueId Sub(const std::string& name, ir::ValueId a, ir::ValueId b) {
    return Binary(ir::OpType::kSub, name, a, b);
  }
  ir::ValueId Mul(const std::string& name, ir::ValueId a, ir::ValueId b) {
    return Binary(ir::OpType::kMul, name, a, b);
  }
  ir::ValueId Relu(const std::string& name, ir::ValueId x);
  ir::ValueId MaxPool(const std::string& name, ir::ValueId x, int k, int stride,
                      const std::string& padding);
  ir::ValueId AvgPool(const std::string& name, ir::ValueId x, int k, int stride,
                      const std::string& padding);
  // Mean over `axes`, keep_dims = 0.
  ir::ValueId Mean(const std::string& name, ir::ValueId x, std::vector<int32_t> axes);
  // Zero padding; `pads` is [rank][2] flattened (before, after per dim).
  ir::ValueId Pad(const std::string& name, ir::ValueId x, std::vector<int32_t> pads);
  ir::ValueId Reshape(const std::string& name, ir::ValueId x, std::vector<int32_t> shape);

  // Records an error (kept if it is the first).
  void Fail(Status s);
  // Sets the outputs, checks that every weight was used, validates, infers shapes.
  Result<ir::Graph> Finish(const std::vector<ir::ValueId>& outputs);

 private:
  ir::ValueId NewValue(const std::string& name);
  ir::ValueId Emit(ir::OpType op, const std::string& name, std::vector<ir::ValueId> inputs,
                   ir::Attrs attrs = {});

  std::string source_;
  std::vector<ManifestWeight> weights_;
  std::map<std::string, size_t> index_;
  std::set<std::string> used_;
  ir::Graph g_;
  Status error_;
};

}  // namespace fk::engine
