// Device selection (include/facekit/device.h). Built in every configuration; the GPU probe
// is compiled in only with FK_HAVE_CUDA.
#include "facekit/device.h"

#include <cctype>

#include "engine/backend.h"
#ifdef FK_HAVE_CUDA
#include "engine/cuda/device.h"
#endif

namespace fk {

namespace {

const char kBuiltWithoutCuda[] =
    "this facekit was built without CUDA (rebuild with -DFK_CUDA=ON on a machine with the CUDA "
    "toolkit and cuDNN, see docs/cuda.md)";

std::string CpuBackendName() { return engine::GetBackend("cpu") ? "cpu" : "ref"; }

}  // namespace

bool BuiltWithCuda() {
#ifdef FK_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

Result<DeviceConfig> ParseDeviceFlag(const std::string& flag) {
  std::string f;
  for (char c : flag) f += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  DeviceConfig c;
  if (f == "cpu") return c;
  const auto bad = [&] {
    return InvalidArgument("bad device '" + flag +
                           "': expected cpu, cuda, or cuda:N with N the index among visible GPUs "
                           "(e.g. cuda:1)");
  };
  std::string rest;
  if (f.rfind("cuda", 0) == 0) rest = f.substr(4);
  else if (f.rfind("gpu", 0) == 0) rest = f.substr(3);
  else return bad();
  c.use_cuda = true;
  if (rest.empty()) return c;
  if (rest[0] != ':' || rest.size() < 2 || rest.size() > 4) return bad();
  int idx = 0;
  for (size_t i = 1; i < rest.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(rest[i]))) return bad();
    idx = idx * 10 + (rest[i] - '0');
  }
  c.gpu_index = idx;
  return c;
}

Status ValidateDeviceConfig(const DeviceConfig& c) {
  if (c.gpu_index < 0)
    return InvalidArgument("gpu_index must be >= 0 (got " + std::to_string(c.gpu_index) + ")");
  if (c.gpu_memory_limit_bytes < 0)
    return InvalidArgument("gpu_memory_limit_bytes must be >= 0 (got " +
                           std::to_string(c.gpu_memory_limit_bytes) + ")");
  if (!(c.gpu_memory_limit_fraction >= 0 && c.gpu_memory_limit_fraction <= 1))
    return InvalidArgument("gpu_memory_limit_fraction must be in [0, 1] (got " +
                           std::to_string(c.gpu_memory_limit_fraction) +
                           "); use e.g. 0.5 for half of the card");
  if (c.precision != "auto" && c.precision != "fp32" && c.precision != "tf32" &&
      c.precision != "fp16")
    return InvalidArgument("precision must be one of auto, fp32, tf32, fp16 (got '" + c.precision +
                           "')");
  return OkStatus();
}

Result<std::string> ResolveBackend(const DeviceConfig& config, std::string* warning) {
  FK_RETURN_IF_ERROR(ValidateDeviceConfig(config));
  if (!config.use_cuda) return CpuBackendName();
  Status why;
#ifdef FK_HAVE_CUDA
  if (!engine::GetBackend("cuda")) {
    why = Internal("the cuda backend is compiled in but not registered in engine/backends.cpp");
  } else {
    auto usable = engine::cuda::CheckDeviceUsable(config.gpu_index);
    if (usable.ok()) return std::string("cuda");
    why = usable.status();
  }
#else
  why = Unavailable(kBuiltWithoutCuda);
#endif
  if (config.allow_cpu_fallback) {
    if (warning)
      *warning = "GPU not usable, running on the CPU (allow_cpu_fallback=1): " + why.message();
    return CpuBackendName();
  }
  return why.WithContext("device cuda:" + std::to_string(config.gpu_index));
}

Result<std::string> DescribeGpu(int gpu_index) {
#ifdef FK_HAVE_CUDA
  FK_ASSIGN_OR_RETURN(auto info, engine::cuda::CheckDeviceUsable(gpu_index));
  return info.ToString();
#else
  (void)gpu_index;
  return Unavailable(kBuiltWithoutCuda);
#endif
}

}  // namespace fk
