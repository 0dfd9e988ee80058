// CUDA device layer (host-only header: no CUDA types, usable from every translation unit of
// a CUDA build). Probes the driver, runtime, visible devices, cuDNN and cuBLAS, and turns every
// failure into an fk::Status a user can act on (docs/cuda.md has the troubleshooting table).
//
// cuDNN and cuBLAS are loaded at run time (dlopen, engine/cuda/dynload.h) and the CUDA runtime
// is linked statically, so a facekit binary built with CUDA starts and runs on the CPU on a
// machine with no GPU, no driver and no cuDNN.
#pragma once

#include <cstdint>
#include <string>

#include "facekit/status.h"

namespace fk::engine::cuda {

struct DeviceInfo {
  int index = 0;                 // among visible devices
  std::string name;              // "NVIDIA H100 80GB HBM3"
  int cc_major = 0, cc_minor = 0;
  int64_t total_memory = 0;      // bytes
  int64_t free_memory = 0;       // bytes, at probe time
  int multiprocessors = 0;
  int driver_version = 0;        // CUDA version the driver supports, e.g. 13000
  int runtime_version = 0;       // CUDA runtime facekit was built with, e.g. 13000
  int64_t cudnn_version = 0;     // e.g. 91900 (0 if not loaded)
  int cublas_version = 0;        // e.g. 130100 (0 if not loaded)
  bool tensor_cores() const { return cc_major >= 7; }
  std::string ToString() const;
};

// "13.0" from 13000.
std::string CudaVersionString(int v);
// The value of CUDA_VISIBLE_DEVICES, or "(unset)".
std::string VisibleDevicesEnv();

// Number of visible devices; Unavailable with the reason (no driver, driver too old for this
// runtime with both versions, stub driver, no device visible with CUDA_VISIBLE_DEVICES).
Result<int> DeviceCount();

// Probes device `gpu_index` (runtime + device only; no cuDNN/cuBLAS).
Result<DeviceInfo> ProbeDevice(int gpu_index);

// Loads cuDNN (and checks its major version matches the one facekit was built with) /
// cuBLAS. Results are cached for the process. Unavailable naming the library and the
// LD_LIBRARY_PATH fix on failure.
Status EnsureCudnn();
Status EnsureCublas();

// Everything the "cuda" backend needs on `gpu_index`: device, cuDNN, cuBLAS. The returned
// info includes library versions. Cheap after the first call for a given index.
Result<DeviceInfo> CheckDeviceUsable(int gpu_index);

}  // namespace fk::engine::cuda
