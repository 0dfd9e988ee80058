// facekit's graph IR: attribute access, op names, graph bookkeeping.
#include "engine/ir/graph.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>

namespace fk::ir {

namespace {

const char* const kOpNames[] = {
#define FK_OP_NAME_(name) #name,
    FK_OP_LIST(FK_OP_NAME_)
#undef FK_OP_NAME_
};

struct ActName {
  Activation a;
  const char* name;
};
// Names used in the "activation" attribute of Conv2D / DepthwiseConv2D / MatMul.
constexpr ActName kActNames[] = {
    {Activation::kNone, "none"},       {Activation::kRelu, "relu"},
    {Activation::kRelu6, "relu6"},     {Activation::kPrelu, "prelu"},
    {Activation::kClip, "clip"},       {Activation::kSigmoid, "sigmoid"},
    {Activation::kTanh, "tanh"},       {Activation::kLeakyRelu, "leaky_relu"},
    {Activation::kElu, "elu"},
};

}  // namespace

const char* OpTypeName(OpType op) {
  const auto i = static_cast<size_t>(op);
  if (i >= static_cast<size_t>(OpType::kCount)) return "?";
  return kOpNames[i];
}

std::optional<OpType> OpTypeFromName(const std::string& name) {
  for (size_t i = 0; i < static_cast<size_t>(OpType::kCount); ++i)
    if (name == kOpNames[i]) return static_cast<OpType>(i);
  return std::nullopt;
}

const char* ActivationName(Activation a) {
  for (const auto& e : kActNames)
    if (e.a == a) return e.name;
  return "?";
}

std::optional<Activation> ActivationFromName(const std::string& name) {
  if (name.empty()) return Activation::kNone;
  for (const auto& e : kActNames)
    if (name == e.name) return e.a;
  return std::nullopt;
}

// ---- Attrs -------------------------------------------------------------------

int64_t Attrs::i(const std::string& k, int64_t def) const {
  auto it = m_.find(k);
  if (it == m_.end()) return def;
  if (auto p = std::get_if<int64_t>(&it->second)) return *p;
  if (auto p = std::get_if<float>(&it->second)) return static_cast<int64_t>(*p);
  return def;
}

float Attrs::f(const std::string& k, float def) const {
  auto it = m_.find(k);
  if (it == m_.end()) return def;
  if (auto p = std::get_if<float>(&it->second)) return *p;
  if (auto p = std::get_if<int64_t>(&it->second)) return static_cast<float>(*p);
  return def;
}

std::string Attrs::s(const std::string& k, const std::string& def) const {
  auto it = m_.find(k);
  if (it == m_.end()) return def;
  if (auto p = std::get_if<std::string>(&it->second)) return *p;
  return def;
}

std::vector<int64_t> Attrs::ints(const std::string& k, std::vector<int64_t> def) const {
  auto it = m_.find(k);
  if (it == m_.end()) return def;
  if (auto p = std::get_if<std::vector<int64_t>>(&it->second)) return *p;
  if (auto p = std::get_if<int64_t>(&it->second)) return {*p};
  return def;
}

std::vector<float> Attrs::floats(const std::string& k, std::vector<float> def) const {
  auto it = m_.find(k);
  if (it == m_.end()) return def;
  if (auto p = std::get_if<std::vector<float>>(&it->second)) return *p;
  if (auto p = std::get_if<float>(&it->second)) return {*p};
  return def;
}

Activation Node::activation() const {
  auto a = ActivationFromName(attrs.s("activation"));
  return a ? *a : Activation::kNone;
}

// ---- Graph -------------------------------------------------------------------

ValueId Graph::AddValue(Value v) {
  values_.push_back(std::move(v));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::AddConstant(const std::string& name, Tensor t) {
  Value v;
  v.name = name;
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.constant = std::move(t);
  return AddValue(std::move(v));
}

NodeId Graph::AddNode(Node n) {
  const NodeId id = static_cast<NodeId>(nodes_.size());
  for (ValueId o : n.outputs)
    if (o >= 0 && o < static_cast<ValueId>(values_.size())) values_[static_cast<size_t>(o)].producer = id;
  nodes_.push_back(std::move(n));
  return id;
}

std::optional<ValueId> Graph::FindValue(const std::string& name) const {
  for (size_t i = 0; i < values_.size(); ++i)
    if (values_[i].name == name) return static_cast<ValueId>(i);
  return std::nullopt;
}

std::vector<int> Graph::UseCounts() const {
  std::vector<int> uses(values_.size(), 0);
  for (const Node& n : nodes_)
    for (ValueId v : n.inputs)
      if (v >= 0 && v < static_cast<ValueId>(uses.size())) ++uses[static_cast<size_t>(v)];
  for (ValueId v : outputs_)
    if (v >= 0 && v < static_cast<ValueId>(uses.size())) ++uses[static_cast<size_t>(v)];
  return uses;
}

Status Graph::Compact() {
  const size_t nv = values_.size();
  const size_t nn = nodes_.size();
  // Producer of each value, recomputed from the node list (rewrites may leave stale fields).
  std::vector<int> producer(nv, -1);
  for (size_t i = 0; i < nn; ++i)
    for (ValueId o : nodes_[i].outputs) {
      if (o < 0 || static_cast<size_t>(o) >= nv)
        return Internal("Compact: node '" + nodes_[i].name + "' has an invalid output id");
      producer[static_cast<size_t>(o)] = static_cast<int>(i);
    }
  // Nodes needed for the outputs.
  std::vector<char> needed(nn, 0);
  std::vector<ValueId> stack(outputs_.begin(), outputs_.end());
  std::vector<char> seen_value(nv, 0);
  while (!stack.empty()) {
    ValueId v = stack.back();
    stack.pop_back();
    if (v < 0 || static_cast<size_t>(v) >= nv)
      return Internal("Compact: invalid value id " + std::to_string(v));
    if (seen_value[static_cast<size_t>(v)]) continue;
    seen_value[static_cast<size_t>(v)] = 1;
    const int p = producer[static_cast<size_t>(v)];
    if (p < 0 || needed[static_cast<size_t>(p)]) continue;
    needed[static_cast<size_t>(p)] = 1;
    for (ValueId in : nodes_[static_cast<size_t>(p)].inputs) stack.push_back(in);
  }
  // Topological sort of the needed nodes (Kahn; ties keep the original order).
  std::vector<int> indeg(nn, 0);
  std::vector<std::vector<int>> succ(nn);
  for (size_t i = 0; i < nn; ++i) {
    if (!needed[i]) continue;
    for (ValueId in : nodes_[i].inputs) {
      if (in < 0 || static_cast<size_t>(in) >= nv)
        return Internal("Compact: node '" + nodes_[i].name + "' has an invalid input id");
      const int p = producer[static_cast<size_t>(in)];
      if (p >= 0) {
        ++indeg[i];
        succ[static_cast<size_t>(p)].push_back(static_cast<int>(i));
      }
    }
  }
  std::vector<int> order;
  std::vector<int> ready;  // min-heap by original index keeps the order stable
  for (size_t i = 0; i < nn; ++i)
    if (needed[i] && indeg[i] == 0) ready.push_back(static_cast<int>(i));
  std::make_heap(ready.begin(), ready.end(), std::greater<>());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<>());
    const int i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (int s : succ[static_cast<size_t>(i)])
      if (--indeg[static_cast<size_t>(s)] == 0) {
        ready.push_back(s);
        std::push_heap(ready.begin(), ready.end(), std::greater<>());
      }
  }
  size_t n_needed = 0;
  for (char c : needed) n_needed += c ? 1 : 0;
  if (order.size() != n_needed) return Internal("Compact: the graph has a cycle");

  // Values still referenced: graph inputs, outputs, inputs/outputs of kept nodes.
  std::vector<char> keep(nv, 0);
  for (ValueId v : inputs_) keep[static_cast<size_t>(v)] = 1;
  for (ValueId v : outputs_) keep[static_cast<size_t>(v)] = 1;
  for (int i : order) {
    for (ValueId v : nodes_[static_cast<size_t>(i)].inputs) keep[static_cast<size_t>(v)] = 1;
    for (ValueId v : nodes_[static_cast<size_t>(i)].outputs) keep[static_cast<size_t>(v)] = 1;
  }
  std::vector<ValueId> remap(nv, kNoValue);
  std::vector<Value> new_values;
  for (size_t v = 0; v < nv; ++v)
    if (keep[v]) {
      remap[v] = static_cast<ValueId>(new_values.size());
      new_values.push_back(std::move(values_[v]));
      new_values.back().producer = -1;
    }
  std::vector<Node> new_nodes;
  new_nodes.reserve(order.size());
  for (int i : order) {
    Node n = std::move(nodes_[static_cast<size_t>(i)]);
    for (ValueId& v : n.inputs) v = remap[static_cast<size_t>(v)];
    for (ValueId& v : n.outputs) v = remap[static_cast<size_t>(v)];
    for (ValueId v : n.outputs) new_values[static_cast<size_t>(v)].producer = static_cast<NodeId>(new_nodes.size());
    new_nodes.push_back(std::move(n));
  }
  for (ValueId& v : inputs_) v = remap[static_cast<size_t>(v)];
  for (ValueId& v : outputs_) v = remap[static_cast<size_t>(v)];
  values_ = std::move(new_values);
  nodes_ = std::move(new_nodes);
  return OkStatus();
}

Status Graph::Validate() const {
  const auto nv = static_cast<ValueId>(values_.size());
  std::vector<char> defined(values_.size(), 0);
  for (ValueId v : inputs_) {
    if (v < 0 || v >= nv) return Internal("graph input id " + std::to_string(v) + " out of range");
    if (values_[static_cast<size_t>(v)].producer != -1)
      return Internal("graph input '" + values_[static_cast<size_t>(v)].name + "' has a producer");
    defined[static_cast<size_t>(v)] = 1;
  }
  for (ValueId v = 0; v < nv; ++v)
    if (values_[static_cast<size_t>(v)].is_constant()) {
      defined[static_cast<size_t>(v)] = 1;
      if (values_[static_cast<size_t>(v)].producer != -1)
        return Internal("constant '" + values_[static_cast<size_t>(v)].name + "' has a producer");
    }
  std::unordered_map<std::string, int> names;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    if (n.op >= OpType::kCount) return Internal("node '" + n.name + "' has an invalid op");
    if (!names.emplace(n.name, static_cast<int>(i)).second)
      return Internal("duplicate node name '" + n.name + "'");
    for (ValueId v : n.inputs) {
      if (v < 0 || v >= nv)
        return Internal("node '" + n.name + "' (" + OpTypeName(n.op) + ") has an invalid input id " +
                        std::to_string(v));
      if (!defined[static_cast<size_t>(v)])
        return Internal("node '" + n.name + "' (" + OpTypeName(n.op) + ") reads '" +
                        values_[static_cast<size_t>(v)].name +
                        "' before it is produced (nodes not in topological order)");
    }
    for (ValueId v : n.outputs) {
      if (v < 0 || v >= nv)
        return Internal("node '" + n.name + "' has an invalid output id " + std::to_string(v));
      if (defined[static_cast<size_t>(v)])
        return Internal("value '" + values_[static_cast<size_t>(v)].name + "' is defined twice (node '" +
                        n.name + "')");
      if (values_[static_cast<size_t>(v)].producer != static_cast<NodeId>(i))
        return Internal("value '" + values_[static_cast<size_t>(v)].name + "' has a wrong producer");
      defined[static_cast<size_t>(v)] = 1;
    }
  }
  for (ValueId v : outputs_) {
    if (v < 0 || v >= nv) return Internal("graph output id " + std::to_string(v) + " out of range");
    if (!defined[static_cast<size_t>(v)])
      return Internal("graph output '" + values_[static_cast<size_t>(v)].name + "' is never produced");
  }
  return OkStatus();
}

namespace {
std::string AttrToString(const AttrValue& a) {
  std::ostringstream os;
  if (auto p = std::get_if<int64_t>(&a)) {
    os << *p;
  } else if (auto p = std::get_if<float>(&a)) {
    os << *p;
  } else if (auto p = std::get_if<std::string>(&a)) {
    os << '"' << *p << '"';
  } else if (auto p = std::get_if<std::vector<int64_t>>(&a)) {
    os << '[';
    for (size_t i = 0; i < p->size(); ++i) os << (i ? "," : "") << (*p)[i];
    os << ']';
  } else if (auto p = std::get_if<std::vector<float>>(&a)) {
    os << '[';
    for (size_t i = 0; i < p->size(); ++i) os << (i ? "," : "") << (*p)[i];
    os << ']';
  }
  return os.str();
}
}  // namespace

std::string Graph::ToString() const {
  std::ostringstream os;
  auto val = [&](ValueId v) {
    if (v < 0 || v >= static_cast<ValueId>(values_.size())) return std::string("<invalid>");
    const Value& x = values_[static_cast<size_t>(v)];
    std::string s = "%" + std::to_string(v) + ":" + x.name + " " + DTypeName(x.dtype) + x.shape.ToString();
    if (x.is_constant()) s += "(const)";
    return s;
  };
  os << "inputs:";
  for (ValueId v : inputs_) os << ' ' << val(v);
  os << '\n';
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    os << '#' << i << ' ' << OpTypeName(n.op) << " '" << n.name << "' (";
    for (size_t k = 0; k < n.inputs.size(); ++k) os << (k ? ", " : "") << val(n.inputs[k]);
    os << ") -> ";
    for (size_t k = 0; k < n.outputs.size(); ++k) os << (k ? ", " : "") << val(n.outputs[k]);
    if (!n.attrs.all().empty()) {
      os << " {";
      bool first = true;
      for (const auto& [k, a] : n.attrs.all()) {
        os << (first ? "" : ", ") << k << '=' << AttrToString(a);
        first = false;
      }
      os << '}';
    }
    os << '\n';
  }
  os << "outputs:";
  for (ValueId v : outputs_) os << ' ' << val(v);
  os << '\n';
  return os.str();
}

}  // namespace fk::ir
