// Planning entry points of the CUDA ops (internal to engine/cuda; host code, CUDA types OK).
// One explicit table in cuda_backend.cpp maps IR ops to these.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/bias_act.cuh"
#include "engine/cuda/context.h"
#include "engine/cuda/cuda_kernel.h"

namespace fk::engine::cuda {

struct PlanArgs {
  const ir::Graph& graph;
  const ir::Node& node;
  const std::vector<TensorInfo>& in;
  const std::vector<TensorInfo>& out;
  DeviceContext* dev;
  std::string precision;  // fp32 | tf32 | fp16 (auto is resolved before a backend exists)
  Elem elem = Elem::kF32; // storage of this node's float tensors (kF16 only with fp16)
};

using KernelPtr = std::unique_ptr<CudaKernel>;

Result<KernelPtr> PlanConv(const PlanArgs& a);     // conv.cpp: Conv2D, DepthwiseConv2D
Result<KernelPtr> PlanMatMul(const PlanArgs& a);   // matmul.cpp
Result<KernelPtr> PlanSimple(const PlanArgs& a);   // cuda_ops.cpp: everything else

// Whether `node` is a supported case (attributes, dtypes, constant-ness), per planner.
bool SupportsConv(const ir::Graph& g, const ir::Node& n);
bool SupportsMatMul(const ir::Graph& g, const ir::Node& n);
bool SupportsSimple(const ir::Graph& g, const ir::Node& n);

// Activation parameters of a fused node. `alpha` is the device prelu alpha (may be null).
bool ActSupported(ir::Activation a);
ActParams ActFromNode(const ir::Node& n, const DeviceTensor* alpha);
// Prelu alpha input index of a fused node, or -1.
int PreluAlphaIndex(const ir::Node& n);

// True when every listed input of `n` is float32 (kNoValue inputs skipped).
bool AllFloat(const ir::Graph& g, const ir::Node& n, size_t first, size_t count);

}  // namespace fk::engine::cuda
