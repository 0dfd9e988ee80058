// Builds small ir::Graphs by hand for tests.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace fk::testing {

class GraphBuilder {
 public:
  ir::ValueId Input(const std::string& name, Shape shape, DType dt = DType::kFloat32) {
    ir::Value v;
    v.name = name;
    v.shape = std::move(shape);
    v.dtype = dt;
    auto id = g.AddValue(std::move(v));
    g.inputs().push_back(id);
    return id;
  }
  ir::ValueId Const(const std::string& name, Shape shape, const std::vector<float>& data) {
    Tensor t(DType::kFloat32, shape);
    for (size_t i = 0; i < data.size() && i < static_cast<size_t>(t.num_elements()); ++i) t.data<float>()[i] = data[i];
    return g.AddConstant(name, t);
  }
  // Deterministic pseudo-random values in [-scale, scale].
  ir::ValueId ConstRandom(const std::string& name, Shape shape, float scale = 1.f, float offset = 0.f) {
    Tensor t(DType::kFloat32, shape);
    for (int64_t i = 0; i < t.num_elements(); ++i)
      t.data<float>()[i] = offset + scale * std::sin(1.7f * static_cast<float>(i) + static_cast<float>(name.size()));
    return g.AddConstant(name, t);
  }
  ir::ValueId ConstI32(const std::string& name, Shape shape, const std::vector<int32_t>& data) {
    Tensor t(DType::kInt32, shape);
    for (size_t i = 0; i < data.size(); ++i) t.data<int32_t>()[i] = data[i];
    return g.AddConstant(name, t);
  }
  ir::ValueId Op(ir::OpType op, const std::string& name, std::vector<ir::ValueId> inputs, ir::Attrs attrs = {}) {
    ir::Value out;
    out.name = name;
    out.shape = Shape{};
    ir::ValueId o = g.AddValue(out);
    ir::Node n;
    n.name = name;
    n.op = op;
    n.inputs = std::move(inputs);
    n.outputs = {o};
    n.attrs = std::move(attrs);
    g.AddNode(std::move(n));
    return o;
  }
  void Output(ir::ValueId v) { g.outputs().push_back(v); }

  ir::Graph g;
};

inline ir::Attrs ConvAttrs(const std::string& padding = "SAME", std::vector<int64_t> strides = {1, 1}) {
  ir::Attrs a;
  a.set("strides", strides);
  a.set("dilations", std::vector<int64_t>{1, 1});
  a.set("padding", padding);
  return a;
}

inline Tensor RandomInput(Shape s, int seed = 0) {
  Tensor t(DType::kFloat32, s);
  for (int64_t i = 0; i < t.num_elements(); ++i)
    t.data<float>()[i] = std::sin(0.731f * static_cast<float>(i) + static_cast<float>(seed));
  return t;
}

inline float MaxAbsDiff(const Tensor& a, const Tensor& b) {
  float m = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) m = std::max(m, std::fabs(a.data<float>()[i] - b.data<float>()[i]));
  return m;
}

}  // namespace fk::testing
