// The explicit table of backends compiled into this build.
#include "engine/backend.h"
#include "engine/ref/ref_backend.h"
#ifdef FK_HAVE_DNNL
#include "engine/cpu/cpu_backend.h"
#endif
#ifdef FK_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/device.h"
#endif

namespace fk::engine {

const Backend* GetBackend(const std::string& name) {
  if (name == "ref") return RefBackend();
#ifdef FK_HAVE_DNNL
  if (name == "cpu") return CpuBackend();
#endif
#ifdef FK_HAVE_CUDA
  if (name == "cuda") return CudaBackend();
#endif
  return nullptr;
}

std::vector<std::string> AvailableBackends() {
  std::vector<std::string> v{"ref"};
#ifdef FK_HAVE_DNNL
  v.push_back("cpu");
#endif
#ifdef FK_HAVE_CUDA
  v.push_back("cuda");
#endif
  return v;
}

Result<const Backend*> GetCudaBackend(int gpu_index, const std::string& precision,
                                      int64_t memory_limit_bytes, double memory_limit_fraction) {
#ifdef FK_HAVE_CUDA
  FK_ASSIGN_OR_RETURN(cuda::DeviceInfo info, cuda::CheckDeviceUsable(gpu_index));
  CudaBackendOptions o;
  o.gpu_index = gpu_index;
  o.precision = precision;
  if (precision == "auto") o.precision = info.cc_major >= 8 ? "tf32" : "fp32";
  FK_ASSIGN_OR_RETURN(const Backend* b, CudaBackendFor(o));
  // The pool is per GPU and process-wide: a Load that sets a limit changes it for every model on
  // that GPU; a Load without one leaves the current limit alone.
  if (memory_limit_bytes > 0 || memory_limit_fraction > 0)
    FK_RETURN_IF_ERROR(SetCudaMemoryLimit(gpu_index, memory_limit_bytes, memory_limit_fraction));
  return b;
#else
  (void)gpu_index;
  (void)precision;
  (void)memory_limit_bytes;
  (void)memory_limit_fraction;
  return Unavailable(
      "this facekit was built without CUDA (rebuild with -DFK_CUDA=ON on a machine with the CUDA "
      "toolkit and cuDNN, see docs/cuda.md)");
#endif
}

Result<int> CudaComputeCapability(int gpu_index) {
#ifdef FK_HAVE_CUDA
  FK_ASSIGN_OR_RETURN(cuda::DeviceInfo info, cuda::CheckDeviceUsable(gpu_index));
  return info.cc_major * 10 + info.cc_minor;
#else
  (void)gpu_index;
  return Unavailable("this facekit was built without CUDA");
#endif
}

}  // namespace fk::engine
