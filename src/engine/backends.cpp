// The explicit table of backends compiled into this build.
#include "engine/backend.h"
#include "engine/ref/ref_backend.h"
#ifdef FK_HAVE_DNNL
#include "engine/cpu/cpu_backend.h"
#endif
#ifdef FK_HAVE_CUDA
#include "engine/cuda/cuda_backend.h"
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

}  // namespace fk::engine
