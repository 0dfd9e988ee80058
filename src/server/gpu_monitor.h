// GPU monitoring for the processing server: utilisation, memory, temperature, power and clocks
// of each CUDA-visible GPU, read through NVML (the library behind nvidia-smi).
//
// NVML is loaded at run time (dlopen "libnvidia-ml.so.1", or the full path in
// $FK_NVML_LIBRARY): facekit has no link dependency on the NVIDIA driver and no NVML header is
// needed to build it. On a machine without the driver the monitor still exists; its reports say
// `available = false` and why, so /status and the benchmark can print the reason.
//
// Which GPUs: the ones CUDA would show this process, in CUDA order. NVML enumerates every
// physical GPU regardless of CUDA_VISIBLE_DEVICES, so the monitor applies
// CUDA_VISIBLE_DEVICES itself (see ParseCudaVisibleDevices / ResolveVisibleDevices below).
// GpuSample::index is therefore the same number as `gpu_index` in facekit's config.
//
// Thread-safety: Sample(), WindowSummary() and the free functions are safe to call from any
// thread at any time. StartSampling()/StopSampling() may be called from any thread too (they
// serialise on an internal mutex). Destroying the monitor stops the sampler; it must not race
// with other calls on the same object.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace fk::server {

// One reading of one GPU. Measurements the driver does not report (function missing from the
// loaded NVML, NVML_ERROR_NOT_SUPPORTED, e.g. power on some boards, or a read error) are -1;
// GpuReportToJson writes them as null.
struct GpuSample {
  int index = 0;  // CUDA-visible index (what gpu_index means in facekit config)
  std::string name, uuid, pci_bus_id;         // uuid "GPU-…"; pci_bus_id "00000000:01:00.0"
  double util_gpu_pct = 0, util_mem_pct = 0;  // nvmlDeviceGetUtilizationRates, last sample period
  int64_t mem_used_bytes = 0, mem_total_bytes = 0;           // nvmlDeviceGetMemoryInfo
  double temperature_c = 0, power_w = 0, power_limit_w = 0;  // -1 when not reported
  int sm_clock_mhz = 0, max_sm_clock_mhz = 0;                // nvmlDeviceGetClockInfo (SM)
  std::string error;  // first unexpected NVML error while reading this GPU ("" when none)
};

struct GpuReport {
  bool available = false;
  // When !available: what is missing and how to fix it (libnvidia-ml.so.1 not found; the NVML
  // init error; no device visible with CUDA_VISIBLE_DEVICES=...). When available: "".
  std::string reason;
  // When available: non-fatal remarks, e.g. CUDA_VISIBLE_DEVICES entries that were ignored.
  std::string note;
  std::string driver_version;   // nvmlSystemGetDriverVersion, e.g. "580.65.06"
  int cuda_driver_version = 0;  // nvmlSystemGetCudaDriverVersion, e.g. 13000 (= 13.0)
  std::vector<GpuSample> gpus;  // the CUDA-visible GPUs, in CUDA order (gpus[i].index == i)
};

class GpuMonitor {
 public:
  // Never fails: an unavailable NVML gives a monitor whose reports say why. Loads NVML, calls
  // nvmlInit and resolves CUDA_VISIBLE_DEVICES once (CUDA itself reads it once per process, at
  // cuInit). $FK_NVML_LIBRARY (full path) overrides the library searched.
  static std::unique_ptr<GpuMonitor> Create();
  ~GpuMonitor();
  GpuMonitor(const GpuMonitor&) = delete;
  GpuMonitor& operator=(const GpuMonitor&) = delete;

  // One fresh reading; thread-safe. Costs ~8 NVML calls per GPU (not timed on a real driver
  // here): fine per /status request; use the sampler for continuous monitoring.
  GpuReport Sample() const;

  // Optional background sampler: one thread that calls Sample() every `interval` and keeps the
  // last `window` readings (interval is clamped to >= 1 ms, window to >= 1). Calling it while
  // running restarts it with the new settings and an empty window. A no-op when NVML is
  // unavailable. StopSampling() joins the thread; the window is kept until the next start.
  void StartSampling(std::chrono::milliseconds interval, int window);
  void StopSampling();
  bool sampling() const;

  // Per GPU (CUDA index order), over the readings in the window: mean / max GPU utilisation and
  // max memory used. `samples` counts readings where the utilisation was reported (others are
  // skipped; mean/max are -1 when samples == 0). Empty when the sampler never ran or NVML is
  // unavailable. For /status and the benchmark's "GPU saturated?" column.
  struct Summary {
    int index;
    double mean_util_pct, max_util_pct;
    int64_t max_mem_used_bytes;
    int samples;
  };
  std::vector<Summary> WindowSummary() const;

 private:
  struct Impl;
  explicit GpuMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// {"available":…, "reason":…, "note":…, "driver_version":…, "cuda_driver_version":…,
//  "gpus":[{"index":0,"name":…,"uuid":…,"pci_bus_id":…,"util_gpu_pct":…,"util_mem_pct":…,
//           "mem_used_bytes":…,"mem_total_bytes":…,"temperature_c":…,"power_w":…,
//           "power_limit_w":…,"sm_clock_mhz":…,"max_sm_clock_mhz":…}]}
// Unreported (-1) measurements are null; "reason"/"note"/"error" are omitted when empty.
nlohmann::json GpuReportToJson(const GpuReport& r);
// [{"index":0,"mean_util_pct":…,"max_util_pct":…,"max_mem_used_bytes":…,"samples":…}, …]
nlohmann::json GpuWindowSummaryToJson(const std::vector<GpuMonitor::Summary>& s);

// ---- CUDA_VISIBLE_DEVICES (pure functions, exposed for tests) ----------------------------

// One comma-separated entry of CUDA_VISIBLE_DEVICES.
struct VisibleDeviceEntry {
  enum class Kind { kIndex, kUuid, kInvalid };
  Kind kind = Kind::kInvalid;
  int index = -1;    // kIndex: a CUDA ordinal (>= 0)
  std::string text;  // the entry as written, surrounding whitespace removed
};

struct VisibleDevices {
  bool all = true;  // variable unset: every GPU, in CUDA's default order
  // The entries up to, but not including, the first kInvalid one (CUDA ignores everything from
  // the first invalid entry on). "" and "-1" give all=false and no entries: no GPU visible.
  std::vector<VisibleDeviceEntry> entries;
  std::string ignored;  // the tail dropped from the first invalid entry on ("" when none)
};

// `value` is getenv("CUDA_VISIBLE_DEVICES") (nullptr = unset). Entries: a decimal ordinal
// ("2"), or a GPU UUID, complete or any unique prefix, with its "GPU-" prefix ("GPU-8c1e",
// as nvidia-smi -L prints it). Anything else (negative or non-numeric text, MIG-… instance
// UUIDs, which this monitor does not map) is invalid and ends the list.
VisibleDevices ParseCudaVisibleDevices(const char* value);

// Maps parsed entries onto the physical GPUs. `uuids` are the GPUs' UUIDs in CUDA's default
// order (the monitor uses PCI bus id order, see gpu_monitor.cpp). Returns positions into
// `uuids`, in CUDA order. As CUDA does, resolution stops at the first entry that names no GPU
// (ordinal >= uuids.size(), UUID prefix matching none or several GPUs) or repeats one already
// listed; `note` (if given) then receives what was dropped and why.
std::vector<int> ResolveVisibleDevices(const VisibleDevices& v,
                                       const std::vector<std::string>& uuids,
                                       std::string* note = nullptr);

}  // namespace fk::server
