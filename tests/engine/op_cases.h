// Helpers for the op tests: run one IR node on a backend (one-node graph -> InferShapes ->
// Supports -> Plan -> Run), deterministic tensor fills, and tensor comparison.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ir/graph.h"
#include "engine/ops/shape_inference.h"
#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk::testing {

// One input of a one-node graph. Constant inputs are visible to shape inference and to the
// backend's Plan (as graph constants); the others are graph inputs.
struct CaseInput {
  Tensor value;
  bool is_const = false;
};

inline Tensor FloatTensor(Shape s, const std::vector<float>& v) {
  Tensor t(DType::kFloat32, std::move(s));
  for (size_t i = 0; i < v.size() && static_cast<int64_t>(i) < t.num_elements(); ++i) t.data<float>()[i] = v[i];
  return t;
}

inline Tensor IntTensor(Shape s, const std::vector<int32_t>& v) {
  Tensor t(DType::kInt32, std::move(s));
  for (size_t i = 0; i < v.size() && static_cast<int64_t>(i) < t.num_elements(); ++i) t.data<int32_t>()[i] = v[i];
  return t;
}

inline Tensor Ints1D(const std::vector<int32_t>& v) {
  return IntTensor(Shape{static_cast<int64_t>(v.size())}, v);
}

// Deterministic pseudo-random floats in [lo, hi) (LCG; identical on every platform).
inline Tensor RandomFloat(Shape s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kFloat32, std::move(s));
  uint32_t x = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    x = x * 1664525u + 1013904223u;
    t.data<float>()[i] = lo + (hi - lo) * static_cast<float>(x >> 8) / static_cast<float>(1u << 24);
  }
  return t;
}

inline Tensor RandomInt(Shape s, uint32_t seed, int32_t lo, int32_t hi) {
  Tensor t(DType::kInt32, std::move(s));
  uint32_t x = seed * 2654435761u + 777u;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    x = x * 1664525u + 1013904223u;
    t.data<int32_t>()[i] = lo + static_cast<int32_t>((x >> 8) % static_cast<uint32_t>(hi - lo + 1));
  }
  return t;
}

// Builds the one-node graph for `op` with `attrs` and `inputs`.
inline ir::Graph MakeOneNodeGraph(ir::OpType op, const ir::Attrs& attrs, const std::vector<CaseInput>& inputs,
                                  const std::string& name = "n") {
  ir::Graph g;
  ir::Node node;
  node.name = name;
  node.op = op;
  node.attrs = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string vname = "in" + std::to_string(i);
    ir::ValueId id;
    if (inputs[i].is_const) {
      id = g.AddConstant(vname, inputs[i].value);
    } else {
      ir::Value v;
      v.name = vname;
      v.dtype = inputs[i].value.dtype();
      v.shape = inputs[i].value.shape();
      id = g.AddValue(std::move(v));
      g.inputs().push_back(id);
    }
    node.inputs.push_back(id);
  }
  ir::Value out;
  out.name = "out";
  const ir::ValueId oid = g.AddValue(std::move(out));
  node.outputs.push_back(oid);
  g.outputs().push_back(oid);
  g.AddNode(std::move(node));
  return g;
}

// Shape inference for the single node of `g` (constant inputs carry their data).
inline Result<std::vector<ops::ValueInfo>> InferOneNode(const ir::Graph& g) {
  const ir::Node& node = g.nodes()[0];
  std::vector<ops::ValueInfo> in;
  for (ir::ValueId id : node.inputs) {
    const ir::Value& v = g.value(id);
    in.emplace_back(v.dtype, v.shape, v.is_constant() ? &v.constant : nullptr);
  }
  std::vector<ops::ValueInfo> out;
  FK_RETURN_IF_ERROR(ops::InferShapes(node, in, &out));
  return out;
}

struct NodeRun {
  bool supported = true;
  std::vector<Tensor> outputs;
};

// Runs the node on `backend`. Returns supported=false (and no outputs) when the backend
// declines the node.
inline Result<NodeRun> RunOneNode(const engine::Backend* backend, ir::OpType op, const ir::Attrs& attrs,
                                  const std::vector<CaseInput>& inputs) {
  ir::Graph g = MakeOneNodeGraph(op, attrs, inputs);
  FK_ASSIGN_OR_RETURN(std::vector<ops::ValueInfo> infos, InferOneNode(g));
  for (size_t i = 0; i < infos.size(); ++i) {
    g.value(g.nodes()[0].outputs[i]).dtype = infos[i].dtype;
    g.value(g.nodes()[0].outputs[i]).shape = infos[i].shape;
  }
  const ir::Node& node = g.nodes()[0];
  NodeRun r;
  if (!backend->Supports(g, node)) {
    r.supported = false;
    return r;
  }
  std::vector<engine::TensorInfo> ti, to;
  for (const CaseInput& c : inputs) ti.push_back({c.value.dtype(), c.value.shape()});
  for (const ops::ValueInfo& v : infos) {
    if (!v.shape.is_fully_defined())
      return InvalidArgument("output shape " + v.shape.ToString() + " not fully defined");
    to.push_back({v.dtype, v.shape});
  }
  FK_ASSIGN_OR_RETURN(std::unique_ptr<engine::Kernel> kernel, backend->Plan(g, node, ti, to, engine::PlanOptions{}));
  std::vector<Tensor> ins;
  for (const CaseInput& c : inputs) ins.push_back(c.value);
  for (const engine::TensorInfo& t : to) r.outputs.emplace_back(t.dtype, t.shape);
  std::vector<unsigned char> ws(kernel->workspace_bytes() + 64);
  FK_RETURN_IF_ERROR(kernel->Run(ins, r.outputs, ws.data()));
  return r;
}

// Max |a-b| over all elements (as double); +inf on shape/dtype mismatch.
inline double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    double x, y;
    if (a.dtype() == DType::kFloat32) {
      x = a.data<float>()[i];
      y = b.data<float>()[i];
    } else if (a.dtype() == DType::kInt32) {
      x = a.data<int32_t>()[i];
      y = b.data<int32_t>()[i];
    } else {
      return INFINITY;
    }
    if (std::isnan(x) != std::isnan(y)) return INFINITY;
    if (!std::isnan(x)) m = std::max(m, std::fabs(x - y));
  }
  return m;
}

inline double MaxAbs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i)
    m = std::max(m, a.dtype() == DType::kFloat32 ? std::fabs(static_cast<double>(a.data<float>()[i]))
                                                 : std::fabs(static_cast<double>(a.data<int32_t>()[i])));
  return m;
}

inline std::vector<float> ToFloats(const Tensor& t) {
  std::vector<float> v;
  for (int64_t i = 0; i < t.num_elements(); ++i)
    v.push_back(t.dtype() == DType::kFloat32 ? t.data<float>()[i] : static_cast<float>(t.data<int32_t>()[i]));
  return v;
}

}  // namespace fk::testing
