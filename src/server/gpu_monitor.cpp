// GPU monitoring through NVML loaded at run time. See gpu_monitor.h for the contract.
//
// The few NVML types and functions used are declared here (ABI as in nvml.h of the 5xx
// drivers; every one is part of NVML's stable C ABI). Only init, shutdown, device count and
// handle lookup are required; every other function is optional: when the loaded library lacks
// it (or the driver answers NVML_ERROR_NOT_SUPPORTED) the field it fills is -1.
#include "server/gpu_monitor.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <initializer_list>
#include <mutex>
#include <numeric>
#include <thread>
#include <tuple>

namespace fk::server {
namespace {

// ---- NVML ABI subset ----------------------------------------------------------------------
using nvmlReturn_t = int;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;

constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr nvmlReturn_t kNvmlErrorNoPermission = 4;
constexpr nvmlReturn_t kNvmlErrorNotSupported = 3;
constexpr nvmlReturn_t kNvmlErrorDriverNotLoaded = 9;
constexpr nvmlReturn_t kNvmlErrorFunctionNotFound = 13;
constexpr nvmlReturn_t kNvmlErrorLibRmVersionMismatch = 18;
constexpr int kNvmlTemperatureGpu = 0;      // nvmlTemperatureSensors_t NVML_TEMPERATURE_GPU
constexpr int kNvmlClockSm = 1;             // nvmlClockType_t NVML_CLOCK_SM
constexpr unsigned kNvmlStringBuffer = 96;  // >= NVML_DEVICE_NAME_V2 / UUID_V2 / driver sizes

struct nvmlPciInfo_t {  // layout of nvmlDeviceGetPciInfo_v3
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
};
struct nvmlMemory_t {  // nvmlDeviceGetMemoryInfo (v1)
  unsigned long long total, free, used;
};
struct nvmlUtilization_t {
  unsigned int gpu, memory;
};

struct NvmlApi {
  void* lib = nullptr;
  std::string path;
  // Required.
  nvmlReturn_t (*Init)() = nullptr;                     // nvmlInit_v2 | nvmlInit
  nvmlReturn_t (*Shutdown)() = nullptr;                 // nvmlShutdown
  nvmlReturn_t (*DeviceGetCount)(unsigned*) = nullptr;  // _v2 | unversioned
  nvmlReturn_t (*DeviceGetHandleByIndex)(unsigned, nvmlDevice_t*) = nullptr;  // _v2 | unversioned
  // Optional.
  const char* (*ErrorString)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*SystemGetDriverVersion)(char*, unsigned) = nullptr;
  nvmlReturn_t (*SystemGetCudaDriverVersion)(int*) = nullptr;  // _v2 | unversioned
  nvmlReturn_t (*DeviceGetName)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*DeviceGetUUID)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*DeviceGetPciInfo)(nvmlDevice_t, nvmlPciInfo_t*) = nullptr;  // _v3 only
  nvmlReturn_t (*DeviceGetUtilizationRates)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*DeviceGetMemoryInfo)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*DeviceGetTemperature)(nvmlDevice_t, int, unsigned*) = nullptr;
  nvmlReturn_t (*DeviceGetPowerUsage)(nvmlDevice_t, unsigned*) = nullptr;            // mW
  nvmlReturn_t (*DeviceGetEnforcedPowerLimit)(nvmlDevice_t, unsigned*) = nullptr;    // mW
  nvmlReturn_t (*DeviceGetPowerManagementLimit)(nvmlDevice_t, unsigned*) = nullptr;  // mW
  nvmlReturn_t (*DeviceGetClockInfo)(nvmlDevice_t, int, unsigned*) = nullptr;        // MHz
  nvmlReturn_t (*DeviceGetMaxClockInfo)(nvmlDevice_t, int, unsigned*) = nullptr;     // MHz

  std::string Error(nvmlReturn_t r) const {
    const char* s = ErrorString ? ErrorString(r) : nullptr;
    return std::string(s ? s : "NVML error") + " (nvmlReturn_t " + std::to_string(r) + ")";
  }
};

template <typename Fn>
void Sym(void* lib, Fn& fn, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (void* p = dlsym(lib, n)) {
      fn = reinterpret_cast<Fn>(p);
      return;
    }
  }
}

// Loads the library and its symbols; on failure returns false and sets *why.
bool LoadNvml(NvmlApi* api, std::string* why) {
  const char* env = std::getenv("FK_NVML_LIBRARY");
  const bool overridden = env && *env;
  const std::string path = overridden ? env : "libnvidia-ml.so.1";
  dlerror();
  api->lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!api->lib) {
    const char* e = dlerror();
    const std::string detail = e ? e : "dlopen failed";
    if (overridden) {
      *why = "NVML unavailable: cannot load FK_NVML_LIBRARY=" + path + " (" + detail +
             "); point it at the driver's libnvidia-ml.so.1 or unset it";
    } else {
      *why = "NVML unavailable: libnvidia-ml.so.1 not found (" + detail +
             "). The NVIDIA driver is not installed or its libraries are not on the loader path "
             "(in a container: run with --gpus all / the NVIDIA container toolkit). Check that "
             "nvidia-smi works, or set FK_NVML_LIBRARY=/full/path/to/libnvidia-ml.so.1";
    }
    return false;
  }
  api->path = path;
  void* l = api->lib;
  Sym(l, api->Init, {"nvmlInit_v2", "nvmlInit"});
  Sym(l, api->Shutdown, {"nvmlShutdown"});
  Sym(l, api->DeviceGetCount, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
  Sym(l, api->DeviceGetHandleByIndex,
      {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
  Sym(l, api->ErrorString, {"nvmlErrorString"});
  Sym(l, api->SystemGetDriverVersion, {"nvmlSystemGetDriverVersion"});
  Sym(l, api->SystemGetCudaDriverVersion,
      {"nvmlSystemGetCudaDriverVersion_v2", "nvmlSystemGetCudaDriverVersion"});
  Sym(l, api->DeviceGetName, {"nvmlDeviceGetName"});
  Sym(l, api->DeviceGetUUID, {"nvmlDeviceGetUUID"});
  Sym(l, api->DeviceGetPciInfo, {"nvmlDeviceGetPciInfo_v3"});
  Sym(l, api->DeviceGetUtilizationRates, {"nvmlDeviceGetUtilizationRates"});
  Sym(l, api->DeviceGetMemoryInfo, {"nvmlDeviceGetMemoryInfo"});
  Sym(l, api->DeviceGetTemperature, {"nvmlDeviceGetTemperature"});
  Sym(l, api->DeviceGetPowerUsage, {"nvmlDeviceGetPowerUsage"});
  Sym(l, api->DeviceGetEnforcedPowerLimit, {"nvmlDeviceGetEnforcedPowerLimit"});
  Sym(l, api->DeviceGetPowerManagementLimit, {"nvmlDeviceGetPowerManagementLimit"});
  Sym(l, api->DeviceGetClockInfo, {"nvmlDeviceGetClockInfo"});
  Sym(l, api->DeviceGetMaxClockInfo, {"nvmlDeviceGetMaxClockInfo"});
  std::string missing;
  if (!api->Init) missing += " nvmlInit_v2";
  if (!api->Shutdown) missing += " nvmlShutdown";
  if (!api->DeviceGetCount) missing += " nvmlDeviceGetCount_v2";
  if (!api->DeviceGetHandleByIndex) missing += " nvmlDeviceGetHandleByIndex_v2";
  if (!missing.empty()) {
    *why = "NVML unavailable: " + path + " lacks" + missing +
           ": not an NVML library, or a driver too old (install a current NVIDIA driver)";
    // The library stays loaded (see ~Impl): harmless, and dlclose of driver libraries is
    // better avoided.
    return false;
  }
  return true;
}

std::string InitHint(nvmlReturn_t r) {
  switch (r) {
    case kNvmlErrorDriverNotLoaded:
      return ": the NVIDIA kernel driver is not loaded (check nvidia-smi; in a container run "
             "with --gpus all / the NVIDIA container toolkit)";
    case kNvmlErrorNoPermission:
      return ": no permission to open /dev/nvidia* (add the user to the group owning them)";
    case kNvmlErrorLibRmVersionMismatch:
      return ": libnvidia-ml and the loaded kernel module are different driver versions "
             "(reboot, or reload the nvidia module, after a driver upgrade)";
    default:
      return ": check that nvidia-smi works";
  }
}

bool IEqualPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

VisibleDeviceEntry ParseEntry(std::string_view item) {
  VisibleDeviceEntry e;
  e.text = std::string(item);
  const bool digits =
      !item.empty() && item.size() <= 9 &&
      std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) {
    e.kind = VisibleDeviceEntry::Kind::kIndex;
    e.index = std::atoi(e.text.c_str());
  } else if (item.size() > 4 && IEqualPrefix(item, "GPU-")) {
    e.kind = VisibleDeviceEntry::Kind::kUuid;
  }
  return e;
}

// A value for JSON: null when not reported.
template <typename T>
nlohmann::json Num(T v) {
  return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v);
}

// The physical GPU behind one CUDA-visible index; identity fields read once at Create.
struct Device {
  nvmlDevice_t handle = nullptr;
  std::string name, uuid, pci_bus_id;
  bool has_pci = false;
  unsigned domain = 0, bus = 0, device = 0;
  int max_sm_clock_mhz = -1;
};

struct Reading {  // one sampler tick, per visible GPU
  std::vector<double> util;
  std::vector<int64_t> mem;
};

}  // namespace

// ---- CUDA_VISIBLE_DEVICES -------------------------------------------------------------------

VisibleDevices ParseCudaVisibleDevices(const char* value) {
  VisibleDevices v;
  if (value == nullptr) return v;
  v.all = false;
  const std::string_view s(value);
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string_view::npos) comma = s.size();
    VisibleDeviceEntry e = ParseEntry(Trim(s.substr(pos, comma - pos)));
    if (e.kind == VisibleDeviceEntry::Kind::kInvalid) {
      v.ignored = std::string(Trim(s.substr(pos)));
      break;
    }
    v.entries.push_back(std::move(e));
    pos = comma + 1;
  }
  return v;
}

std::vector<int> ResolveVisibleDevices(const VisibleDevices& v,
                                       const std::vector<std::string>& uuids, std::string* note) {
  const int n = static_cast<int>(uuids.size());
  std::vector<int> out;
  if (v.all) {
    out.resize(n);
    std::iota(out.begin(), out.end(), 0);
    return out;
  }
  std::string why;
  for (const VisibleDeviceEntry& e : v.entries) {
    int pos = -1;
    if (e.kind == VisibleDeviceEntry::Kind::kIndex) {
      if (e.index < n) {
        pos = e.index;
      } else {
        why = "'" + e.text + "' is out of range (" + std::to_string(n) + " GPU(s))";
      }
    } else {  // kUuid: a complete UUID or a unique prefix, case-insensitive
      int matches = 0;
      for (int i = 0; i < n; ++i) {
        if (IEqualPrefix(uuids[i], e.text)) {
          pos = i;
          ++matches;
        }
      }
      if (matches == 0) why = "'" + e.text + "' matches no GPU UUID";
      if (matches > 1) {
        why = "'" + e.text + "' is ambiguous (prefix of " + std::to_string(matches) + " GPU UUIDs)";
        pos = -1;
      }
    }
    if (pos >= 0 && std::find(out.begin(), out.end(), pos) != out.end()) {
      // A repeat is treated like an invalid entry (CUDA's handling of repeats is not
      // documented; listing a GPU twice is a configuration mistake either way).
      why = "'" + e.text + "' names a GPU already listed";
      pos = -1;
    }
    if (pos < 0) break;
    out.push_back(pos);
  }
  if (why.empty() && !v.ignored.empty()) {
    why = "'" + v.ignored.substr(0, v.ignored.find(',')) +
          "' is neither a GPU ordinal nor a GPU-<uuid>";
  }
  if (note && !why.empty()) {
    *note = "CUDA_VISIBLE_DEVICES entry " + why +
            ": it and the entries after it are ignored, as CUDA does";
  }
  return out;
}

// ---- GpuMonitor -----------------------------------------------------------------------------

struct GpuMonitor::Impl {
  NvmlApi api;
  bool initialized = false;  // nvmlInit succeeded (Shutdown owed)
  std::string reason;        // non-empty: unavailable
  std::string note;
  std::string driver_version;
  int cuda_driver_version = 0;
  std::vector<Device> devices;  // CUDA-visible, in CUDA order

  // Sampler.
  mutable std::mutex control_mu;  // serialises Start/Stop; guards `thread`
  std::thread thread;
  mutable std::mutex window_mu;
  std::condition_variable cv;
  bool stop = false;
  std::deque<Reading> window;
  int window_cap = 0;

  void Open();
  GpuReport Read() const;
  void Stop();

  ~Impl() {
    Stop();
    if (initialized) api.Shutdown();
    // libnvidia-ml stays mapped (no dlclose): NVML is reference-counted by init/shutdown, and
    // unloading driver libraries in a running process is a known source of trouble.
  }
};

void GpuMonitor::Impl::Open() {
  if (!LoadNvml(&api, &reason)) return;
  nvmlReturn_t r = api.Init();
  if (r != kNvmlSuccess) {
    reason = "NVML unavailable: nvmlInit failed: " + api.Error(r) + InitHint(r) + " [library " +
             api.path + "]";
    return;
  }
  initialized = true;

  char buf[kNvmlStringBuffer];
  if (api.SystemGetDriverVersion && api.SystemGetDriverVersion(buf, sizeof buf) == kNvmlSuccess) {
    driver_version = buf;
  }
  if (api.SystemGetCudaDriverVersion) {
    int v = 0;
    if (api.SystemGetCudaDriverVersion(&v) == kNvmlSuccess) cuda_driver_version = v;
  }

  unsigned count = 0;
  r = api.DeviceGetCount(&count);
  if (r != kNvmlSuccess) {
    reason = "NVML unavailable: nvmlDeviceGetCount failed: " + api.Error(r);
    return;
  }
  std::vector<Device> all;
  std::string lost;
  for (unsigned i = 0; i < count; ++i) {
    Device d;
    r = api.DeviceGetHandleByIndex(i, &d.handle);
    if (r != kNvmlSuccess) {
      // An inaccessible GPU (fallen off the bus, blocked by cgroups) is not visible to CUDA
      // either; it is left out and reported in the note.
      lost += (lost.empty() ? "" : "; ") + std::string("NVML device ") + std::to_string(i) + ": " +
              api.Error(r);
      continue;
    }
    if (api.DeviceGetName && api.DeviceGetName(d.handle, buf, sizeof buf) == kNvmlSuccess)
      d.name = buf;
    if (api.DeviceGetUUID && api.DeviceGetUUID(d.handle, buf, sizeof buf) == kNvmlSuccess)
      d.uuid = buf;
    nvmlPciInfo_t pci{};
    if (api.DeviceGetPciInfo && api.DeviceGetPciInfo(d.handle, &pci) == kNvmlSuccess) {
      pci.busId[sizeof pci.busId - 1] = '\0';
      d.pci_bus_id = pci.busId;
      d.has_pci = true;
      d.domain = pci.domain;
      d.bus = pci.bus;
      d.device = pci.device;
    }
    unsigned mhz = 0;
    if (api.DeviceGetMaxClockInfo &&
        api.DeviceGetMaxClockInfo(d.handle, kNvmlClockSm, &mhz) == kNvmlSuccess) {
      d.max_sm_clock_mhz = static_cast<int>(mhz);
    }
    all.push_back(std::move(d));
  }
  if (!lost.empty()) note = "inaccessible GPU(s) left out: " + lost;
  if (all.empty()) {
    reason = "no GPU: NVML (driver " + (driver_version.empty() ? "?" : driver_version) +
             ") sees no usable NVIDIA GPU" + (lost.empty() ? "" : " (" + lost + ")");
    return;
  }

  // CUDA's default order. NVML enumerates by PCI bus id. CUDA's default is
  // CUDA_DEVICE_ORDER=FASTEST_FIRST (fastest GPU first, ties in PCI bus order) unless
  // CUDA_DEVICE_ORDER=PCI_BUS_ID; ranking "fastest" needs the CUDA runtime, so PCI bus id order
  // is the documented approximation: exact with PCI_BUS_ID or identical GPUs (servers).
  const bool sortable =
      std::all_of(all.begin(), all.end(), [](const Device& d) { return d.has_pci; });
  if (sortable) {
    std::stable_sort(all.begin(), all.end(), [](const Device& a, const Device& b) {
      return std::tie(a.domain, a.bus, a.device) < std::tie(b.domain, b.bus, b.device);
    });
  }

  const char* cvd = std::getenv("CUDA_VISIBLE_DEVICES");
  std::vector<std::string> uuids;
  for (const Device& d : all) uuids.push_back(d.uuid);
  std::string cvd_note;
  const std::vector<int> visible =
      ResolveVisibleDevices(ParseCudaVisibleDevices(cvd), uuids, &cvd_note);
  for (int p : visible) devices.push_back(all[p]);
  if (!cvd_note.empty()) note += (note.empty() ? "" : "; ") + cvd_note;
  if (devices.empty()) {
    reason = "no GPU visible: CUDA_VISIBLE_DEVICES='" + std::string(cvd ? cvd : "") +
             "' selects none of the " + std::to_string(all.size()) + " GPU(s) NVML sees" +
             (cvd_note.empty() ? "" : " (" + cvd_note + ")") + "; unset it, or list ordinals 0.." +
             std::to_string(all.size() - 1) + " or UUIDs from nvidia-smi -L";
  }
}

GpuReport GpuMonitor::Impl::Read() const {
  GpuReport rep;
  rep.available = reason.empty();
  rep.reason = reason;
  rep.driver_version = driver_version;
  rep.cuda_driver_version = cuda_driver_version;
  if (!rep.available) return rep;
  rep.note = note;
  rep.gpus.reserve(devices.size());
  for (size_t i = 0; i < devices.size(); ++i) {
    const Device& d = devices[i];
    GpuSample s;
    s.index = static_cast<int>(i);
    s.name = d.name;
    s.uuid = d.uuid;
    s.pci_bus_id = d.pci_bus_id;
    s.max_sm_clock_mhz = d.max_sm_clock_mhz;
    // true on success; an unexpected error is kept (first one) in s.error.
    auto ok = [&](nvmlReturn_t r, const char* fn) {
      if (r == kNvmlSuccess) return true;
      if (r != kNvmlErrorNotSupported && r != kNvmlErrorFunctionNotFound && s.error.empty()) {
        s.error = std::string(fn) + ": " + api.Error(r);
      }
      return false;
    };
    nvmlUtilization_t u{};
    if (api.DeviceGetUtilizationRates &&
        ok(api.DeviceGetUtilizationRates(d.handle, &u), "nvmlDeviceGetUtilizationRates")) {
      s.util_gpu_pct = u.gpu;
      s.util_mem_pct = u.memory;
    } else {
      s.util_gpu_pct = s.util_mem_pct = -1;
    }
    nvmlMemory_t m{};
    if (api.DeviceGetMemoryInfo &&
        ok(api.DeviceGetMemoryInfo(d.handle, &m), "nvmlDeviceGetMemoryInfo")) {
      s.mem_used_bytes = static_cast<int64_t>(m.used);
      s.mem_total_bytes = static_cast<int64_t>(m.total);
    } else {
      s.mem_used_bytes = s.mem_total_bytes = -1;
    }
    unsigned v = 0;
    s.temperature_c =
        api.DeviceGetTemperature && ok(api.DeviceGetTemperature(d.handle, kNvmlTemperatureGpu, &v),
                                       "nvmlDeviceGetTemperature")
            ? static_cast<double>(v)
            : -1;
    s.power_w = api.DeviceGetPowerUsage &&
                        ok(api.DeviceGetPowerUsage(d.handle, &v), "nvmlDeviceGetPowerUsage")
                    ? v / 1000.0
                    : -1;
    s.power_limit_w = -1;
    if (api.DeviceGetEnforcedPowerLimit &&
        ok(api.DeviceGetEnforcedPowerLimit(d.handle, &v), "nvmlDeviceGetEnforcedPowerLimit")) {
      s.power_limit_w = v / 1000.0;
    } else if (api.DeviceGetPowerManagementLimit &&
               ok(api.DeviceGetPowerManagementLimit(d.handle, &v),
                  "nvmlDeviceGetPowerManagementLimit")) {
      s.power_limit_w = v / 1000.0;
    }
    s.sm_clock_mhz =
        api.DeviceGetClockInfo &&
                ok(api.DeviceGetClockInfo(d.handle, kNvmlClockSm, &v), "nvmlDeviceGetClockInfo")
            ? static_cast<int>(v)
            : -1;
    rep.gpus.push_back(std::move(s));
  }
  return rep;
}

void GpuMonitor::Impl::Stop() {
  {
    std::lock_guard<std::mutex> lk(window_mu);
    stop = true;
  }
  cv.notify_all();
  if (thread.joinable()) thread.join();
}

GpuMonitor::GpuMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuMonitor::~GpuMonitor() = default;

std::unique_ptr<GpuMonitor> GpuMonitor::Create() {
  auto impl = std::make_unique<Impl>();
  impl->Open();
  return std::unique_ptr<GpuMonitor>(new GpuMonitor(std::move(impl)));
}

GpuReport GpuMonitor::Sample() const { return impl_->Read(); }

void GpuMonitor::StartSampling(std::chrono::milliseconds interval, int window) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> control(m.control_mu);
  m.Stop();
  if (!m.reason.empty()) return;
  interval = std::max(interval, std::chrono::milliseconds(1));
  {
    std::lock_guard<std::mutex> lk(m.window_mu);
    m.stop = false;
    m.window.clear();
    m.window_cap = std::max(window, 1);
  }
  m.thread = std::thread([&m, interval] {
    auto next = std::chrono::steady_clock::now();
    for (;;) {
      const GpuReport rep = m.Read();
      Reading reading;
      for (const GpuSample& s : rep.gpus) {
        reading.util.push_back(s.util_gpu_pct);
        reading.mem.push_back(s.mem_used_bytes);
      }
      std::unique_lock<std::mutex> lk(m.window_mu);
      m.window.push_back(std::move(reading));
      while (static_cast<int>(m.window.size()) > m.window_cap) m.window.pop_front();
      // Fixed cadence; after an overrun (slow driver call) restart from now.
      next += interval;
      const auto now = std::chrono::steady_clock::now();
      if (next < now) next = now;
      if (m.cv.wait_until(lk, next, [&m] { return m.stop; })) return;
    }
  });
}

void GpuMonitor::StopSampling() {
  std::lock_guard<std::mutex> control(impl_->control_mu);
  impl_->Stop();
}

bool GpuMonitor::sampling() const {
  // The thread is started and joined under control_mu, so joinable() == running.
  std::lock_guard<std::mutex> control(impl_->control_mu);
  return impl_->thread.joinable();
}

std::vector<GpuMonitor::Summary> GpuMonitor::WindowSummary() const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lk(m.window_mu);
  std::vector<Summary> out;
  if (m.window.empty()) return out;
  for (size_t g = 0; g < m.devices.size(); ++g) {
    Summary s{static_cast<int>(g), -1, -1, -1, 0};
    double sum = 0;
    for (const Reading& r : m.window) {
      if (g >= r.util.size()) continue;
      if (r.util[g] >= 0) {
        sum += r.util[g];
        s.max_util_pct = std::max(s.max_util_pct, r.util[g]);
        ++s.samples;
      }
      s.max_mem_used_bytes = std::max(s.max_mem_used_bytes, r.mem[g]);
    }
    if (s.samples > 0) s.mean_util_pct = sum / s.samples;
    out.push_back(s);
  }
  return out;
}

// ---- JSON -----------------------------------------------------------------------------------

nlohmann::json GpuReportToJson(const GpuReport& r) {
  nlohmann::json j;
  j["available"] = r.available;
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (!r.note.empty()) j["note"] = r.note;
  j["driver_version"] = r.driver_version;
  j["cuda_driver_version"] = r.cuda_driver_version;
  j["gpus"] = nlohmann::json::array();
  for (const GpuSample& s : r.gpus) {
    nlohmann::json g;
    g["index"] = s.index;
    g["name"] = s.name;
    g["uuid"] = s.uuid;
    g["pci_bus_id"] = s.pci_bus_id;
    g["util_gpu_pct"] = Num(s.util_gpu_pct);
    g["util_mem_pct"] = Num(s.util_mem_pct);
    g["mem_used_bytes"] = Num(s.mem_used_bytes);
    g["mem_total_bytes"] = Num(s.mem_total_bytes);
    g["temperature_c"] = Num(s.temperature_c);
    g["power_w"] = Num(s.power_w);
    g["power_limit_w"] = Num(s.power_limit_w);
    g["sm_clock_mhz"] = Num(s.sm_clock_mhz);
    g["max_sm_clock_mhz"] = Num(s.max_sm_clock_mhz);
    if (!s.error.empty()) g["error"] = s.error;
    j["gpus"].push_back(std::move(g));
  }
  return j;
}

nlohmann::json GpuWindowSummaryToJson(const std::vector<GpuMonitor::Summary>& v) {
  nlohmann::json j = nlohmann::json::array();
  for (const GpuMonitor::Summary& s : v) {
    j.push_back({{"index", s.index},
                 {"mean_util_pct", Num(s.mean_util_pct)},
                 {"max_util_pct", Num(s.max_util_pct)},
                 {"max_mem_used_bytes", Num(s.max_mem_used_bytes)},
                 {"samples", s.samples}});
  }
  return j;
}

}  // namespace fk::server
