// CUDA device probing, run-time loading of cuDNN/cuBLAS, vendor error conversion.
#include "engine/cuda/device.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "engine/cuda/cuda_common.h"

namespace fk::engine::cuda {

// ---- error conversion --------------------------------------------------------------------

Status CudaError(cudaError_t e, const char* call, const char* file, int line) {
  std::ostringstream m;
  m << "CUDA error " << cudaGetErrorName(e) << " (" << cudaGetErrorString(e) << ") in " << call
    << " at " << file << ":" << line;
  if (e == cudaErrorMemoryAllocation) {
    m << "; the GPU is out of memory: lower the batch size or gpu_memory_limit, or free the GPU "
         "(nvidia-smi lists the processes using it)";
    return ResourceExhausted(m.str());
  }
  if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorInvalidDeviceFunction)
    m << "; this facekit was compiled for other GPU architectures: rebuild with "
         "-DCMAKE_CUDA_ARCHITECTURES=<your GPU's compute capability, e.g. 90 for H100>";
  return Internal(m.str());
}

Status CudnnError(cudnnStatus_t s, const char* call, const char* file, int line) {
  std::ostringstream m;
  const char* txt = Dnn().cudnnGetErrorString ? Dnn().cudnnGetErrorString(s) : "?";
  m << "cuDNN error " << static_cast<int>(s) << " (" << txt << ") in " << call << " at " << file
    << ":" << line;
  if (s == CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
    m << "; a cuDNN sub-library (libcudnn_cnn.so.9, libcudnn_ops.so.9, libcudnn_engines_*.so.9) "
         "could not be loaded: put the folder holding all libcudnn*.so.9 files on "
         "LD_LIBRARY_PATH";
  if (s == CUDNN_STATUS_ALLOC_FAILED) return ResourceExhausted(m.str());
  return Internal(m.str());
}

Status CublasError(cublasStatus_t s, const char* call, const char* file, int line) {
  std::ostringstream m;
  const char* txt = Blas().cublasGetStatusString ? Blas().cublasGetStatusString(s) : "?";
  m << "cuBLAS error " << static_cast<int>(s) << " (" << txt << ") in " << call << " at " << file
    << ":" << line;
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return ResourceExhausted(m.str());
  if (s == CUBLAS_STATUS_NOT_INITIALIZED)
    m << "; cuBLAS could not initialise (driver problem, or GPU memory exhausted)";
  return Internal(m.str());
}

// ---- dynamic loading -----------------------------------------------------------------------

// Tries `env` (a full path), then each name on the loader path, then each name in the
// well-known CUDA folders. Returns the handle and sets *path; on failure *errors lists
// every attempt.
void* OpenLibrary(const char* env, const std::vector<std::string>& names, std::string* path,
                  std::string* errors) {
  std::vector<std::string> tries;
  if (const char* e = std::getenv(env); e && *e) tries.push_back(e);
  for (const auto& n : names) tries.push_back(n);
  for (const char* dir : {"/usr/local/cuda/lib64/", "/usr/local/cuda/targets/x86_64-linux/lib/"})
    for (const auto& n : names) tries.push_back(std::string(dir) + n);
  for (const auto& t : tries) {
    dlerror();
    if (void* h = dlopen(t.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      *path = t;
      return h;
    }
    const char* err = dlerror();
    *errors += "\n    " + t + ": " + (err ? err : "not found");
  }
  return nullptr;
}

std::string LdLibraryPath() {
  const char* e = std::getenv("LD_LIBRARY_PATH");
  return e && *e ? e : "(unset)";
}

namespace {

struct Loaded {
  std::once_flag once;
  Status status;
};

CudnnApi g_cudnn;
CublasApi g_cublas;

}  // namespace

const CudnnApi& Dnn() { return g_cudnn; }
const CublasApi& Blas() { return g_cublas; }

Result<const CudnnApi*> LoadCudnn() {
  static Loaded l;
  std::call_once(l.once, [] {
    const std::string so = "libcudnn.so." + std::to_string(CUDNN_MAJOR);
    std::string path, errors;
    void* h = OpenLibrary("FK_CUDNN_LIBRARY", {so, "libcudnn.so"}, &path, &errors);
    if (!h) {
      l.status = Unavailable(
          "cuDNN is not loadable (" + so + " not found): tried" + errors +
          "\n  fix: add the folder holding " + so +
          " to LD_LIBRARY_PATH (currently " + LdLibraryPath() +
          "), e.g. for NVIDIA's pip wheel: export LD_LIBRARY_PATH=$(python3 -c \"import "
          "nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))\")/lib:"
          "$LD_LIBRARY_PATH; or set FK_CUDNN_LIBRARY=/full/path/" + so +
          "; or install cuDNN " + std::to_string(CUDNN_MAJOR) + ".x for CUDA " +
          std::to_string(CUDART_VERSION / 1000));
      return;
    }
    std::string missing;
#define FK_SYM_(f)                                                           \
  g_cudnn.f = reinterpret_cast<decltype(g_cudnn.f)>(dlsym(h, #f));           \
  if (!g_cudnn.f) missing += std::string(" ") + #f;
    FK_CUDNN_FUNCS(FK_SYM_)
#undef FK_SYM_
    if (!missing.empty()) {
      l.status = Unavailable("cuDNN at " + path + " lacks symbols:" + missing +
                             " (facekit needs cuDNN " + std::to_string(CUDNN_MAJOR) +
                             ".x; point LD_LIBRARY_PATH or FK_CUDNN_LIBRARY at it)");
      return;
    }
    const size_t v = g_cudnn.cudnnGetVersion();
    if (v / 10000 != CUDNN_MAJOR) {
      l.status = Unavailable("cuDNN at " + path + " is version " + std::to_string(v) +
                             ", facekit was built with cuDNN " + std::to_string(CUDNN_VERSION) +
                             ": install cuDNN " + std::to_string(CUDNN_MAJOR) +
                             ".x or put it first on LD_LIBRARY_PATH");
      return;
    }
    g_cudnn.path = path;
  });
  if (!l.status.ok()) return l.status;
  return &g_cudnn;
}

Result<const CublasApi*> LoadCublas() {
  static Loaded l;
  std::call_once(l.once, [] {
    const std::string so = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    std::string path, errors;
    void* h = OpenLibrary("FK_CUBLAS_LIBRARY", {so}, &path, &errors);
    if (!h) {
      l.status = Unavailable(
          "cuBLAS is not loadable (" + so + " and its dependency libcublasLt.so." +
          std::to_string(CUBLAS_VER_MAJOR) + "): tried" + errors +
          "\n  fix: add the CUDA " + std::to_string(CUBLAS_VER_MAJOR) +
          " library folder to LD_LIBRARY_PATH (currently " + LdLibraryPath() +
          "), e.g. export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH, or for "
          "NVIDIA's pip wheel the nvidia/cublas/lib folder of site-packages");
      return;
    }
    std::string missing;
#define FK_SYM_(f)                                                           \
  g_cublas.f = reinterpret_cast<decltype(g_cublas.f)>(dlsym(h, #f));         \
  if (!g_cublas.f) missing += std::string(" ") + #f;
    FK_CUBLAS_FUNCS(FK_SYM_)
    FK_SYM_(cublasGemmEx)
#undef FK_SYM_
    if (!missing.empty()) {
      l.status = Unavailable("cuBLAS at " + path + " lacks symbols:" + missing);
      return;
    }
    g_cublas.path = path;
  });
  if (!l.status.ok()) return l.status;
  return &g_cublas;
}

Status EnsureCudnn() { return LoadCudnn().status(); }
Status EnsureCublas() { return LoadCublas().status(); }

// ---- device probe ----------------------------------------------------------------------------

std::string CudaVersionString(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::string VisibleDevicesEnv() {
  const char* e = std::getenv("CUDA_VISIBLE_DEVICES");
  return e ? std::string("\"") + e + "\"" : "(unset)";
}

std::string DeviceInfo::ToString() const {
  std::ostringstream o;
  o << "GPU " << index << ": " << name << " (compute capability " << cc_major << "." << cc_minor
    << ", " << multiprocessors << " SMs, " << (total_memory >> 20) << " MiB total, "
    << (free_memory >> 20) << " MiB free); driver supports CUDA "
    << CudaVersionString(driver_version) << ", runtime CUDA " << CudaVersionString(runtime_version);
  if (cudnn_version) o << ", cuDNN " << cudnn_version;
  if (cublas_version) o << ", cuBLAS " << cublas_version;
  return o.str();
}

Result<int> DeviceCount() {
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  if (drv == 0)
    return Unavailable(
        "no NVIDIA driver: libcuda.so.1 could not be loaded. Install the NVIDIA driver "
        "(supporting CUDA >= " + CudaVersionString(rt) + "); check with `nvidia-smi`");
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();  // clear the sticky-free error so later calls start clean
  if (e == cudaErrorInsufficientDriver || drv < rt)
    return Unavailable("the NVIDIA driver is too old for this facekit: the driver supports CUDA " +
                       CudaVersionString(drv) + ", facekit's CUDA runtime is " +
                       CudaVersionString(rt) + ". Upgrade the driver (or rebuild facekit with a "
                       "CUDA toolkit <= " + CudaVersionString(drv) + ")");
  if (e == cudaErrorStubLibrary)
    return Unavailable("the CUDA driver library found is a stub (libcuda.so from the toolkit's "
                       "stubs folder): remove .../lib64/stubs from LD_LIBRARY_PATH and install "
                       "the real NVIDIA driver");
  if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0))
    return Unavailable("no CUDA device visible (CUDA_VISIBLE_DEVICES=" + VisibleDevicesEnv() +
                       "): check `nvidia-smi -L`, and unset CUDA_VISIBLE_DEVICES or set it to an "
                       "existing GPU id");
  if (e == cudaErrorSystemDriverMismatch)
    return Unavailable("the NVIDIA kernel module and the user-space driver (libcuda) have "
                       "different versions: reboot, or reinstall the driver so both match");
  if (e != cudaSuccess)
    return Unavailable(std::string("CUDA initialisation failed: ") + cudaGetErrorName(e) + " (" +
                       cudaGetErrorString(e) + "); driver CUDA " + CudaVersionString(drv) +
                       ", runtime " + CudaVersionString(rt) +
                       ", CUDA_VISIBLE_DEVICES=" + VisibleDevicesEnv());
  return n;
}

namespace {
// $FK_CUDA_SYNC=spin|yield|block: how a host thread waits for the GPU (cudaSetDeviceFlags on the
// device's primary context; the runtime overwrites the flags of an initialised context). Unset =
// the runtime's auto, which spins while the process has fewer contexts than cores: every thread
// in cudaStreamSynchronize then holds a core. A/B for servers (docs/cuda.md).
void ApplySyncFlags() {
  const char* e = std::getenv("FK_CUDA_SYNC");
  if (!e || !*e) return;
  const std::string v = e;
  const unsigned f = v == "spin"    ? cudaDeviceScheduleSpin
                     : v == "yield" ? cudaDeviceScheduleYield
                     : v == "block" ? cudaDeviceScheduleBlockingSync
                                    : cudaDeviceScheduleAuto;
  const cudaError_t r = cudaSetDeviceFlags(f);
  if (r != cudaSuccess) {
    cudaGetLastError();
    std::fprintf(stderr, "facekit: FK_CUDA_SYNC=%s not applied: cudaSetDeviceFlags: %s\n", e, cudaGetErrorString(r));
  }
}
}  // namespace

Result<DeviceInfo> ProbeDevice(int gpu_index) {
  FK_ASSIGN_OR_RETURN(int n, DeviceCount());
  if (gpu_index < 0 || gpu_index >= n)
    return Unavailable("gpu_index " + std::to_string(gpu_index) + " does not exist: " +
                       std::to_string(n) + " CUDA device(s) visible (indices 0.." +
                       std::to_string(n - 1) + ", counted among CUDA_VISIBLE_DEVICES=" +
                       VisibleDevicesEnv() + ")");
  DeviceInfo info;
  info.index = gpu_index;
  cudaDriverGetVersion(&info.driver_version);
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaDeviceProp p{};
  cudaError_t e = cudaGetDeviceProperties(&p, gpu_index);
  if (e != cudaSuccess)
    return Unavailable(std::string("cannot query GPU ") + std::to_string(gpu_index) + ": " +
                       cudaGetErrorString(e));
  info.name = p.name;
  info.cc_major = p.major;
  info.cc_minor = p.minor;
  info.multiprocessors = p.multiProcessorCount;
  info.total_memory = static_cast<int64_t>(p.totalGlobalMem);
  int prev = 0;
  cudaGetDevice(&prev);
  if (cudaSetDevice(gpu_index) == cudaSuccess) {
    ApplySyncFlags();
    size_t fr = 0, tot = 0;
    e = cudaMemGetInfo(&fr, &tot);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return Unavailable("GPU " + std::to_string(gpu_index) + " (" + info.name +
                         ") cannot be used: " + cudaGetErrorName(e) + " (" +
                         cudaGetErrorString(e) + "); it may be in exclusive-process mode and "
                         "used by another process, or in a bad state (see nvidia-smi)");
    }
    info.free_memory = static_cast<int64_t>(fr);
    cudaSetDevice(prev);
  }
  return info;
}

Result<DeviceInfo> CheckDeviceUsable(int gpu_index) {
  FK_ASSIGN_OR_RETURN(DeviceInfo info, ProbeDevice(gpu_index));
  FK_ASSIGN_OR_RETURN(const CudnnApi* dnn, LoadCudnn());
  FK_ASSIGN_OR_RETURN(const CublasApi* blas, LoadCublas());
  info.cudnn_version = static_cast<int64_t>(dnn->cudnnGetVersion());
  (void)blas;
  info.cublas_version = CUBLAS_VERSION;  // queried via a handle only when one exists
  return info;
}

}  // namespace fk::engine::cuda
