// Per-GPU context, execution slots, and the host<->device staging of CudaKernel::Run.
#include "engine/cuda/context.h"

#include <algorithm>
#include <map>

#include "engine/cuda/cast.cuh"
#include "engine/cuda/cuda_kernel.h"

namespace fk::engine::cuda {

namespace {

class CudaRawAllocator final : public RawAllocator {
 public:
  explicit CudaRawAllocator(int device) : device_(device) {}
  Result<void*> Allocate(size_t bytes) override {
    void* p = nullptr;
    cudaSetDevice(device_);
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t fr = 0, tot = 0;
      cudaMemGetInfo(&fr, &tot);
      return ResourceExhausted(std::string("cudaMalloc(") + std::to_string(bytes) +
                               ") failed: " + cudaGetErrorString(e) + " (" + std::to_string(fr) +
                               " of " + std::to_string(tot) + " bytes free on the card)");
    }
    return p;
  }
  void Free(void* p) override {
    cudaSetDevice(device_);
    cudaFree(p);
  }

 private:
  int device_;
};

}  // namespace

MemoryPool& ExecContext::pool() const { return dev->pool(); }

Result<void*> ExecContext::Scratch(size_t bytes) {
  // Best fit among the recycled blocks of this slot.
  size_t best = reusable.size();
  for (size_t i = 0; i < reusable.size(); ++i)
    if (reusable[i].bytes() >= bytes && (best == reusable.size() || reusable[i].bytes() < reusable[best].bytes()))
      best = i;
  if (best < reusable.size()) {
    PoolBuffer b = std::move(reusable[best]);
    reusable.erase(reusable.begin() + static_cast<std::ptrdiff_t>(best));
    void* p = b.get();
    scratch.push_back(std::move(b));
    return p;
  }
  FK_ASSIGN_OR_RETURN(PoolBuffer b, PoolBuffer::Make(&dev->pool(), bytes));
  void* p = b.get();
  scratch.push_back(std::move(b));
  return p;
}

void ExecContext::RecycleScratch() {
  for (auto& b : scratch) reusable.push_back(std::move(b));
  scratch.clear();
}

Result<DeviceContext*> DeviceContext::Get(int gpu_index) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<DeviceContext>> contexts;
  std::lock_guard<std::mutex> lock(mu);
  auto it = contexts.find(gpu_index);
  if (it != contexts.end()) return it->second.get();
  FK_ASSIGN_OR_RETURN(DeviceInfo info, CheckDeviceUsable(gpu_index));
  std::unique_ptr<DeviceContext> c(new DeviceContext());
  c->index_ = gpu_index;
  c->info_ = info;
  c->raw_ = std::make_unique<CudaRawAllocator>(gpu_index);
  c->pool_ = std::make_unique<MemoryPool>(c->raw_.get(), 0,
                                          "GPU " + std::to_string(gpu_index) + " memory pool");
  DeviceContext* raw = c.get();
  contexts[gpu_index] = std::move(c);
  return raw;
}

Result<std::unique_ptr<ExecContext>> DeviceContext::Acquire() {
  FK_CUDA_CHECK(cudaSetDevice(index_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      auto c = std::move(free_.back());
      free_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<ExecContext>();
  c->dev = this;
  FK_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  FK_CUDNN_CHECK(Dnn().cudnnCreate(&c->dnn));
  FK_CUDNN_CHECK(Dnn().cudnnSetStream(c->dnn, c->stream));
  FK_CUBLAS_CHECK(Blas().cublasCreate_v2(&c->blas));
  FK_CUBLAS_CHECK(Blas().cublasSetStream_v2(c->blas, c->stream));
  return c;
}

void DeviceContext::Release(std::unique_ptr<ExecContext> ctx) {
  // Work still queued may use scratch blocks: finish it before they return to the pool.
  cudaStreamSynchronize(ctx->stream);
  cudaGetLastError();
  ctx->scratch.clear();
  ctx->reusable.clear();
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(std::move(ctx));
}

// ---- CudaKernel ---------------------------------------------------------------------------------

Result<DeviceTensor> CudaKernel::Upload(const Tensor& t) {
  const bool half = elem_ == Elem::kF16 && t.dtype() == DType::kFloat32;
  std::vector<uint16_t> h;
  const void* src = t.raw();
  size_t bytes = t.nbytes();
  if (half) {  // host-side conversion, once per constant
    const int64_t n = t.num_elements();
    h.resize(static_cast<size_t>(n));
    const float* f = t.data<float>();
    for (int64_t i = 0; i < n; ++i) h[static_cast<size_t>(i)] = FloatToHalfBits(f[i]);
    src = h.data();
    bytes = h.size() * sizeof(uint16_t);
  }
  FK_ASSIGN_OR_RETURN(PoolBuffer b, PoolBuffer::Make(&dev_->pool(), std::max<size_t>(bytes, 1)));
  FK_CUDA_CHECK(cudaSetDevice(dev_->index()));
  if (bytes) FK_CUDA_CHECK(cudaMemcpy(b.get(), src, bytes, cudaMemcpyHostToDevice));
  DeviceTensor d{b.get(), t.dtype(), t.shape()};
  d.half = half;
  owned_.push_back(std::move(b));
  return d;
}

Status CudaKernel::Init(DeviceContext* dev, const ir::Graph& graph, const ir::Node& node,
                        const std::vector<bool>& skip) {
  dev_ = dev;
  consts_.assign(node.inputs.size(), DeviceTensor{});
  unused_.assign(node.inputs.size(), false);
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i] == ir::kNoValue) continue;
    if (i < skip.size() && skip[i]) {
      unused_[i] = true;
      continue;
    }
    const ir::Value& v = graph.value(node.inputs[i]);
    if (!v.is_constant()) continue;
    FK_ASSIGN_OR_RETURN(consts_[i], Upload(v.constant));
  }
  return OkStatus();
}

// Staged run (host tensors). With half storage, float32 inputs are uploaded as float and cast to
// half on the device, float32 outputs cast back to float before the D2H copy.
Status CudaKernel::Run(std::span<const Tensor> inputs, std::span<Tensor> outputs, void*) const {
  const bool half = elem_ == Elem::kF16;
  SlotGuard guard(dev_);
  FK_RETURN_IF_ERROR(guard.Acquire());
  ExecContext& ctx = guard.ctx();
  std::vector<PoolBuffer> bufs;
  std::vector<DeviceTensor> din(inputs.size()), dout(outputs.size());
  Status st;
  for (size_t i = 0; i < inputs.size() && st.ok(); ++i) {
    if (IsConstInput(i)) {
      din[i] = consts_[i];
      continue;
    }
    const Tensor& t = inputs[i];
    if (i < unused_.size() && unused_[i]) continue;
    din[i].dtype = t.dtype();
    din[i].shape = t.shape();
    if (t.empty()) continue;
    auto b = PoolBuffer::Make(&dev_->pool(), t.nbytes());
    if (!b.ok()) { st = b.status(); break; }
    din[i].data = b->get();
    if (t.nbytes()) {
      cudaError_t e = cudaMemcpyAsync(din[i].data, t.raw(), t.nbytes(), cudaMemcpyHostToDevice, ctx.stream);
      if (e != cudaSuccess) st = CudaError(e, "cudaMemcpyAsync(H2D)", __FILE__, __LINE__);
    }
    bufs.push_back(std::move(b).value());
    if (st.ok() && half && t.dtype() == DType::kFloat32) {
      auto hb = PoolBuffer::Make(&dev_->pool(), std::max<size_t>(static_cast<size_t>(t.num_elements()) * 2, 1));
      if (!hb.ok()) { st = hb.status(); break; }
      st = LaunchCast(din[i].data, Elem::kF32, hb->get(), Elem::kF16, t.num_elements(), ctx.stream);
      din[i].data = hb->get();
      din[i].half = true;
      bufs.push_back(std::move(hb).value());
    }
  }
  for (size_t o = 0; o < outputs.size() && st.ok(); ++o) {
    dout[o].dtype = outputs[o].dtype();
    dout[o].shape = outputs[o].shape();
    dout[o].half = half && outputs[o].dtype() == DType::kFloat32;
    auto b = PoolBuffer::Make(&dev_->pool(), std::max<size_t>(dout[o].nbytes(), 1));
    if (!b.ok()) { st = b.status(); break; }
    dout[o].data = b->get();
    bufs.push_back(std::move(b).value());
  }
  if (st.ok()) st = RunDevice(din, dout, ctx);
  for (size_t o = 0; o < outputs.size() && st.ok(); ++o) {
    if (!outputs[o].nbytes()) continue;
    const void* src = dout[o].data;
    if (dout[o].half) {
      auto fb = PoolBuffer::Make(&dev_->pool(), outputs[o].nbytes());
      if (!fb.ok()) { st = fb.status(); break; }
      st = LaunchCast(dout[o].data, Elem::kF16, fb->get(), Elem::kF32, outputs[o].num_elements(), ctx.stream);
      if (!st.ok()) break;
      src = fb->get();
      bufs.push_back(std::move(fb).value());
    }
    cudaError_t e = cudaMemcpyAsync(outputs[o].raw(), src, outputs[o].nbytes(),
                                    cudaMemcpyDeviceToHost, ctx.stream);
    if (e != cudaSuccess) st = CudaError(e, "cudaMemcpyAsync(D2H)", __FILE__, __LINE__);
  }
  // Always drain the stream before the staging buffers go back to the pool.
  cudaError_t e = cudaStreamSynchronize(ctx.stream);
  if (st.ok() && e != cudaSuccess) st = CudaError(e, "cudaStreamSynchronize", __FILE__, __LINE__);
  return st;
}

}  // namespace fk::engine::cuda
