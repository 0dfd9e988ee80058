// Per-GPU state (internal, includes CUDA headers): the memory pool and a set of execution
// slots (stream + cuDNN handle + cuBLAS handle). A run takes a slot for its duration, so
// several threads can run on one GPU concurrently, each on its own stream.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device.h"
#include "engine/cuda/memory_pool.h"

namespace fk::engine::cuda {

class DeviceContext;

struct ExecContext {
  DeviceContext* dev = nullptr;
  cudaStream_t stream = nullptr;
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  MemoryPool& pool() const;
  // Scratch memory for the duration of the run (returned to the pool when the slot is).
  // Reuses a recycled block of this slot when one is large enough.
  Result<void*> Scratch(size_t bytes);
  // Makes the scratch handed out so far reusable by work enqueued LATER on this slot's stream
  // (stream order makes that safe; the blocks do not return to the shared pool, where another
  // stream could take them, until Release has synchronised). The graph runner calls it after
  // each node so a whole-graph run needs the largest scratch of one node, not the sum.
  void RecycleScratch();
  std::vector<PoolBuffer> scratch;
  std::vector<PoolBuffer> reusable;
};

class DeviceContext {
 public:
  // The context of visible GPU `gpu_index`, created on first use (probes the device, loads
  // cuDNN and cuBLAS). Unavailable with the device layer's message when not usable.
  static Result<DeviceContext*> Get(int gpu_index);

  int index() const { return index_; }
  const DeviceInfo& info() const { return info_; }
  MemoryPool& pool() { return *pool_; }

  // A slot for one run (created on demand; reused). Makes this GPU current on the thread.
  Result<std::unique_ptr<ExecContext>> Acquire();
  void Release(std::unique_ptr<ExecContext> ctx);

 private:
  DeviceContext() = default;
  int index_ = 0;
  DeviceInfo info_;
  std::unique_ptr<RawAllocator> raw_;
  std::unique_ptr<MemoryPool> pool_;
  std::mutex mu_;
  std::vector<std::unique_ptr<ExecContext>> free_;
};

// RAII: acquires a slot and gives it back.
class SlotGuard {
 public:
  explicit SlotGuard(DeviceContext* dev) : dev_(dev) {}
  ~SlotGuard() {
    if (ctx_) dev_->Release(std::move(ctx_));
  }
  Status Acquire() {
    auto r = dev_->Acquire();
    if (!r.ok()) return r.status();
    ctx_ = std::move(r).value();
    return OkStatus();
  }
  ExecContext& ctx() { return *ctx_; }

 private:
  DeviceContext* dev_;
  std::unique_ptr<ExecContext> ctx_;
};

}  // namespace fk::engine::cuda
