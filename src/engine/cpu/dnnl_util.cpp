#include "engine/cpu/dnnl_util.h"

#include <cstdint>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fk::engine::cpu {

namespace {
// The statement text of FK_DNNL_CHECK, shortened for messages.
std::string CallText(const char* call) {
  std::string s(call);
  if (s.size() > 100) s = s.substr(0, 97) + "...";
  return s;
}
}  // namespace

Status DnnlErrorToStatus(const char* call, const char* file, int line, const dnnl::error& e) {
  std::string msg = "oneDNN call `" + CallText(call) + "` failed (" + file + ":" +
                    std::to_string(line) + "): " + e.what() + " (dnnl_status " +
                    std::to_string(static_cast<int>(e.status)) + ")";
  switch (e.status) {
    case dnnl_unimplemented:
      return Unsupported(msg + "; oneDNN has no implementation for this configuration");
    case dnnl_out_of_memory:
      return ResourceExhausted(msg);
    case dnnl_invalid_arguments:
      return InvalidArgument(msg);
    default:
      return Internal(msg);
  }
}

Status ExceptionToStatus(const char* call, const char* file, int line, const std::exception& e) {
  // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on "`" + std::string.
  std::string msg = "`";
  msg += CallText(call);
  msg += "` threw (";
  msg += file;
  msg += ":";
  msg += std::to_string(line);
  msg += "): ";
  msg += e.what();
  return Internal(msg);
}

Result<const dnnl::engine*> CpuEngine() {
  // Leaked on purpose: thread_local streams may outlive static destructors.
  static const dnnl::engine* engine = []() -> const dnnl::engine* {
    try {
      return new dnnl::engine(dnnl::engine::kind::cpu, 0);
    } catch (const dnnl::error&) {
      return nullptr;
    }
  }();
  if (!engine) return Unavailable("oneDNN could not create a CPU engine");
  return engine;
}

OmpThreadScope::OmpThreadScope(int num_threads) {
#ifdef _OPENMP
  saved_ = omp_get_max_threads();
  if (num_threads > 0 && num_threads != saved_) omp_set_num_threads(num_threads);
#else
  (void)num_threads;
#endif
}

OmpThreadScope::~OmpThreadScope() {
#ifdef _OPENMP
  if (saved_ > 0 && omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
#endif
}

dnnl::memory::dims ToDims(const Shape& shape) {
  dnnl::memory::dims d(shape.dims().begin(), shape.dims().end());
  if (d.empty()) d.push_back(1);
  return d;
}

dnnl::memory::desc PlainDesc(const Shape& shape) {
  dnnl::memory::dims d = ToDims(shape);
  dnnl::memory::dims strides(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i)
    strides[static_cast<size_t>(i)] = strides[static_cast<size_t>(i) + 1] * d[static_cast<size_t>(i) + 1];
  return dnnl::memory::desc(d, dt::f32, strides);
}

dnnl::memory::desc ChannelLastDesc(const Shape& shape) {
  const int r = shape.rank();
  if (r < 3 || r > 5) return PlainDesc(shape);
  std::vector<int64_t> row(static_cast<size_t>(r), 1);
  for (int i = r - 2; i >= 0; --i) row[static_cast<size_t>(i)] = row[static_cast<size_t>(i) + 1] * shape[i + 1];
  std::vector<int> perm{0, r - 1};
  for (int i = 1; i < r - 1; ++i) perm.push_back(i);
  dnnl::memory::dims d, st;
  for (int p : perm) {
    d.push_back(shape[p]);
    st.push_back(row[static_cast<size_t>(p)]);
  }
  return dnnl::memory::desc(d, dt::f32, st);
}

bool Spatial2(const ir::Attrs& attrs, const std::string& key, int64_t def, int64_t* a, int64_t* b) {
  if (!attrs.has(key)) {
    *a = *b = def;
    return true;
  }
  std::vector<int64_t> v = attrs.ints(key);
  if (v.size() == 2) {
    *a = v[0];
    *b = v[1];
  } else if (v.size() == 4 && v[0] == 1 && v[3] == 1) {
    *a = v[1];
    *b = v[2];
  } else if (v.size() == 1) {
    *a = *b = v[0];
  } else {
    return false;
  }
  return *a > 0 && *b > 0;
}

bool AllFloat32(const ir::Graph& graph, const ir::Node& node) {
  for (ValueId id : node.inputs)
    if (id == kNoValue || graph.value(id).dtype != DType::kFloat32) return false;
  for (ValueId id : node.outputs)
    if (graph.value(id).dtype != DType::kFloat32) return false;
  return true;
}

bool SupportsFusedActivation(const ir::Graph& graph, const ir::Node& node, int64_t channels_hint) {
  if (node.attrs.has("activation") && !ir::ActivationFromName(node.attrs.s("activation")))
    return false;  // an activation name we do not know: let ref decide
  if (node.activation() != ir::Activation::kPrelu) return true;
  if (node.inputs.empty()) return false;
  const Shape& s = graph.value(node.inputs.back()).shape;
  int64_t n = s.num_elements();
  if (n < 0) return false;
  // Alpha must be a scalar or one value per output channel (any leading 1s allowed).
  if (n == 1) return true;
  for (int i = 0; i + 1 < s.rank(); ++i)
    if (s[i] != 1) return false;
  return channels_hint < 0 || n == channels_hint;
}

Result<FusedActivation> MakeFusedActivation(const ir::Graph& graph, const ir::Node& node,
                                            const std::vector<TensorInfo>& inputs, int channel_dim,
                                            int64_t channels) {
  FusedActivation fa;
  const ir::Attrs& at = node.attrs;
  switch (node.activation()) {
    case ir::Activation::kNone:
      break;
    case ir::Activation::kRelu:
      FK_DNNL_CHECK(fa.ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f));
      break;
    case ir::Activation::kRelu6:
      FK_DNNL_CHECK(fa.ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f));
      break;
    case ir::Activation::kClip:
      FK_DNNL_CHECK(fa.ops.append_eltwise(
          1.f, dnnl::algorithm::eltwise_clip, at.f("clip_min", std::numeric_limits<float>::lowest()),
          at.f("clip_max", std::numeric_limits<float>::max())));
      break;
    case ir::Activation::kSigmoid:
      FK_DNNL_CHECK(fa.ops.append_eltwise(1.f, dnnl::algorithm::eltwise_logistic, 0.f, 0.f));
      break;
    case ir::Activation::kTanh:
      FK_DNNL_CHECK(fa.ops.append_eltwise(1.f, dnnl::algorithm::eltwise_tanh, 0.f, 0.f));
      break;
    case ir::Activation::kLeakyRelu:
      FK_DNNL_CHECK(fa.ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu,
                                          at.f("leaky_alpha", 0.2f), 0.f));
      break;
    case ir::Activation::kElu:
      FK_DNNL_CHECK(fa.ops.append_eltwise(1.f, dnnl::algorithm::eltwise_elu, 1.f, 0.f));
      break;
    case ir::Activation::kPrelu: {
      if (inputs.empty()) return InvalidArgument(NodeContext(node) + ": prelu without alpha input");
      int64_t n = inputs.back().shape.num_elements();
      if (n == channels) {
        fa.prelu_mask = 1 << channel_dim;
      } else if (n == 1) {
        fa.prelu_mask = 0;
      } else {
        return InvalidArgument(NodeContext(node) + ": prelu alpha has " + std::to_string(n) +
                               " values, expected 1 or " + std::to_string(channels) +
                               " (one per output channel)");
      }
      fa.prelu = true;
      fa.alpha_value = node.inputs.back();
      FK_DNNL_CHECK(fa.ops.append_prelu(fa.prelu_mask));
      break;
    }
  }
  (void)graph;
  (void)channel_dim;
  return fa;
}

dnnl::primitive_attr BaseAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

std::string NodeContext(const ir::Node& node) {
  return "node '" + node.name + "' (" + ir::OpTypeName(node.op) + ")";
}

namespace {
dnnl::stream& ThreadStream(const dnnl::engine& eng) {
  // One stream per thread (engines are process-wide singletons, so one slot suffices).
  thread_local std::unique_ptr<dnnl::stream> stream;
  if (!stream) stream = std::make_unique<dnnl::stream>(eng);
  return *stream;
}
}  // namespace

Status DnnlKernel::Run(std::span<const Tensor> inputs, std::span<Tensor> outputs,
                       void* workspace) const {
  OmpThreadScope threads(num_threads_);
  std::unique_ptr<char[]> local;
  void* scratch = nullptr;
  if (scratch_bytes_ > 0) {
    char* base = static_cast<char*>(workspace);
    if (!base) {
      local.reset(new char[scratch_bytes_ + 64]);
      base = local.get();
    }
    auto p = reinterpret_cast<uintptr_t>(base);
    scratch = reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
  }
  Status st = DnnlCall("primitive::execute", __FILE__, __LINE__, [&]() {
    dnnl::stream& s = ThreadStream(*engine_);
    std::unordered_map<int, dnnl::memory> args;
    if (scratch) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratch_md_, *engine_, scratch);
    Execute(inputs, outputs, s, args);
    s.wait();
  });
  if (!st.ok()) return st.WithContext("node '" + node_name_ + "'");
  return st;
}

}  // namespace fk::engine::cpu
