// The base of every CUDA kernel (host-only header).
//
// Two entry points:
//  - Kernel::Run (host tensors, today's executor): copies non-constant inputs to pool buffers,
//    runs RunDevice on a stream, copies outputs back, synchronises.
//  - RunDevice (device tensors): the device-resident interface. All data pointers are device
//    pointers on this kernel's GPU; work is enqueued on ctx's stream, not synchronised. Used by
//    CudaGraphRunner so a whole graph stays on the GPU (docs/cuda.md, "Device-resident runs").
// Constant inputs (weights, bias, axes...) are uploaded once at Plan and passed to RunDevice in
// place of the caller's (the caller may pass empty tensors for them).
//
// Storage (precision fp16, docs/cuda.md "Precision"): a kernel planned with elem() == kF16 reads
// and writes every float32 tensor as IEEE half (DeviceTensor::half), constants included
// (converted once at upload); int32 etc. are unchanged. Run() converts at its host boundary;
// the graph runner inserts casts where a value's storage and its consumer's differ.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/elem.h"
#include "engine/cuda/memory_pool.h"

namespace fk::engine::cuda {

struct DeviceTensor {
  void* data = nullptr;  // device pointer
  DType dtype = DType::kFloat32;
  Shape shape;
  bool half = false;  // dtype kFloat32 stored as IEEE half (2 bytes per element)
  Elem elem() const { return half ? Elem::kF16 : Elem::kF32; }
  size_t nbytes() const {
    return static_cast<size_t>(shape.num_elements()) * (half ? size_t{2} : DTypeSize(dtype));
  }
  template <typename T> T* as() const { return static_cast<T*>(data); }
};

struct ExecContext;  // stream + cuDNN/cuBLAS handles + pool (engine/cuda/context.h)
class DeviceContext;

class CudaKernel : public Kernel {
 public:
  Status Run(std::span<const Tensor> inputs, std::span<Tensor> outputs, void* workspace) const final;
  virtual Status RunDevice(std::span<const DeviceTensor> inputs, std::span<DeviceTensor> outputs,
                           ExecContext& ctx) const = 0;
  // Device tensor for input `i`: the uploaded constant if there is one, else `given`.
  const DeviceTensor& In(std::span<const DeviceTensor> given, size_t i) const {
    return (i < consts_.size() && consts_[i].data) ? consts_[i] : given[i];
  }
  bool IsConstInput(size_t i) const { return i < consts_.size() && consts_[i].data; }
  // Inputs RunDevice never reads (constants the kernel uploaded in its own layout at Plan).
  bool IsUnusedInput(size_t i) const { return i < unused_.size() && unused_[i]; }
  DeviceContext* device() const { return dev_; }
  // Storage of the float32 tensors this kernel reads and writes (set before Init).
  Elem elem() const { return elem_; }
  void set_elem(Elem e) { elem_ = e; }
  // Uploads every constant input of `node` (called by the backend after construction).
  // Inputs with skip[i] set are not uploaded (the kernel uploads its own form of them).
  Status Init(DeviceContext* dev, const ir::Graph& graph, const ir::Node& node,
              const std::vector<bool>& skip = {});

 protected:
  // Uploads an extra constant derived at Plan time (e.g. re-laid-out weights); a float32 tensor
  // is converted to half when elem() is kF16.
  Result<DeviceTensor> Upload(const Tensor& t);

 private:
  DeviceContext* dev_ = nullptr;
  Elem elem_ = Elem::kF32;
  std::vector<DeviceTensor> consts_;
  std::vector<bool> unused_;  // inputs RunDevice never reads (skipped constants)
  std::vector<PoolBuffer> owned_;
};

}  // namespace fk::engine::cuda
