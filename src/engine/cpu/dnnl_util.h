// Internal helpers of the CPU backend: oneDNN error conversion, the shared engine,
// threading, memory descriptors and the DnnlKernel base class.
//
// This header includes dnnl.hpp and is private to src/engine/cpu/: nothing outside this
// folder may include it (oneDNN types never leave the CPU backend).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/backend.h"
#include "engine/ir/graph.h"
#include "facekit/status.h"

namespace fk::engine::cpu {

// Converts a dnnl::error (or any std::exception) thrown by `fn` into a Status naming the
// call, where it was made and oneDNN's message.
Status DnnlErrorToStatus(const char* call, const char* file, int line, const dnnl::error& e);
Status ExceptionToStatus(const char* call, const char* file, int line, const std::exception& e);

template <typename F>
Status DnnlCall(const char* call, const char* file, int line, F&& fn) {
  try {
    fn();
    return OkStatus();
  } catch (const dnnl::error& e) {
    return DnnlErrorToStatus(call, file, line, e);
  } catch (const std::exception& e) {
    return ExceptionToStatus(call, file, line, e);
  }
}

}  // namespace fk::engine::cpu

// FK_DNNL_CHECK(statement): runs the statement, returns a Status from the enclosing
// function if it throws. Statements may contain commas (variadic).
#define FK_DNNL_CHECK(...)                                                              \
  FK_RETURN_IF_ERROR(::fk::engine::cpu::DnnlCall(#__VA_ARGS__, __FILE__, __LINE__, \
                                                 [&]() { __VA_ARGS__; }))

namespace fk::engine::cpu {

using dt = dnnl::memory::data_type;
using ir::kNoValue;
using ir::ValueId;
using tag = dnnl::memory::format_tag;

// The one CPU engine of the process (created on first use).
Result<const dnnl::engine*> CpuEngine();

// Sets the OpenMP thread count of the calling thread for the scope and restores it after.
// oneDNN (OpenMP build) sizes its parallel regions from omp_get_max_threads() both when a
// primitive is created and when it runs, so Plan and Run both use the planned count.
class OmpThreadScope {
 public:
  explicit OmpThreadScope(int num_threads);
  ~OmpThreadScope();
  OmpThreadScope(const OmpThreadScope&) = delete;
  OmpThreadScope& operator=(const OmpThreadScope&) = delete;

 private:
  int saved_ = 0;
};

// Dense row-major descriptor (format a, ab, abc, ...) of a shape; rank 0 becomes {1}.
dnnl::memory::desc PlainDesc(const Shape& shape);
dnnl::memory::dims ToDims(const Shape& shape);
// The same dense row-major data described with the last axis as oneDNN's logical channel
// dim (logical order 0, r-1, 1, ..., r-2; i.e. nwc / nhwc / ndhwc) for ranks 3..5, so that
// per-channel broadcasts hit oneDNN's optimised per_oc paths. Other ranks: PlainDesc.
// All operands of one primitive must use the same convention.
dnnl::memory::desc ChannelLastDesc(const Shape& shape);

// Attribute helpers tolerant of [h,w] or [1,h,w,1] forms.
// Returns false when the attribute has a form we do not understand.
bool Spatial2(const ir::Attrs& attrs, const std::string& key, int64_t def, int64_t* a, int64_t* b);

// Fused activation of Conv2D / DepthwiseConv2D / MatMul as oneDNN post-ops.
// `channel_dim` is the dst dimension (in oneDNN's logical order) that indexes the
// per-channel PReLU alpha; `channels` its size.
struct FusedActivation {
  dnnl::post_ops ops;
  bool prelu = false;       // alpha goes to DNNL_ARG_ATTR_MULTIPLE_POST_OP(0)|DNNL_ARG_WEIGHTS
  int prelu_mask = 0;
  ValueId alpha_value = kNoValue;
};
// True if the node's activation can be expressed exactly (prelu alpha with 1 or `channels`
// elements).
bool SupportsFusedActivation(const ir::Graph& graph, const ir::Node& node, int64_t channels_hint);
Result<FusedActivation> MakeFusedActivation(const ir::Graph& graph, const ir::Node& node,
                                            const std::vector<TensorInfo>& inputs, int channel_dim,
                                            int64_t channels);

bool AllFloat32(const ir::Graph& graph, const ir::Node& node);

// Base class of the CPU kernels: a primitive with user-managed scratchpad (so one Kernel
// can run concurrently from several threads), the planned thread count, and conversion of
// anything oneDNN throws during Run into a Status.
class DnnlKernel : public Kernel {
 public:
  DnnlKernel(std::string node_name, int num_threads, const dnnl::engine* engine)
      : node_name_(std::move(node_name)), num_threads_(num_threads), engine_(engine) {}
  size_t workspace_bytes() const override { return scratch_bytes_ ? scratch_bytes_ + 64 : 0; }
  Status Run(std::span<const Tensor> inputs, std::span<Tensor> outputs,
             void* workspace) const final;

  // Plan-time setup (the kernel is immutable once Plan returns it).
  void SetScratchpad(const dnnl::memory::desc& md) {
    scratch_md_ = md;
    scratch_bytes_ = md.get_size();
  }
  // Throws dnnl::error; call inside FK_DNNL_CHECK.
  void SetScratchpadFrom(const dnnl::primitive_desc_base& pd) { SetScratchpad(pd.scratchpad_desc()); }

 protected:
  // `args` already holds DNNL_ARG_SCRATCHPAD when the primitive needs one.
  virtual void Execute(std::span<const Tensor> inputs, std::span<Tensor> outputs,
                       dnnl::stream& stream, std::unordered_map<int, dnnl::memory>& args) const = 0;
  const dnnl::engine& engine() const { return *engine_; }

  std::string node_name_;
  int num_threads_ = 1;
  const dnnl::engine* engine_ = nullptr;
  size_t scratch_bytes_ = 0;
  dnnl::memory::desc scratch_md_;
};

// Wraps a tensor's data as a dnnl::memory (no copy).
inline dnnl::memory Wrap(const dnnl::memory::desc& md, const dnnl::engine& eng, const Tensor& t) {
  return dnnl::memory(md, eng, const_cast<void*>(t.raw()));
}

// A primitive with one source and one destination (eltwise, softmax, pooling, reduction).
template <typename Prim>
class SrcDstKernel final : public DnnlKernel {
 public:
  using DnnlKernel::DnnlKernel;
  Prim prim;
  dnnl::memory::desc src_md, dst_md;

 protected:
  void Execute(std::span<const Tensor> in, std::span<Tensor> out, dnnl::stream& s,
               std::unordered_map<int, dnnl::memory>& args) const override {
    args[DNNL_ARG_SRC] = Wrap(src_md, engine(), in[0]);
    args[DNNL_ARG_DST] = Wrap(dst_md, engine(), out[0]);
    prim.execute(s, args);
  }
};

// Primitive attributes every CPU kernel uses: user scratchpad.
dnnl::primitive_attr BaseAttr();

std::string NodeContext(const ir::Node& node);

}  // namespace fk::engine::cpu
