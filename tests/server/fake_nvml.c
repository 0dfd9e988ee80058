/* A fake libnvidia-ml for tests/server/gpu_monitor_test.cpp: two GPUs, fixed readings.
 *
 * Loaded by GpuMonitor through FK_NVML_LIBRARY. Implements only part of NVML on purpose:
 * the power functions are absent (the monitor must report power as -1, not fail), and GPU
 * temperature is NOT_SUPPORTED on the second GPU.
 *   FK_FAKE_NVML_SWAP=1        enumerate the GPUs in reverse PCI order (NVML order != CUDA order)
 *   FK_FAKE_NVML_INIT_ERROR=N  nvmlInit_v2 returns N
 * Test hooks (found with dlsym): fk_fake_nvml_set_util, fk_fake_nvml_init_count. */
#include <stdlib.h>
#include <string.h>

#define FAKE_EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
enum { OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3, INSUFFICIENT_SIZE = 7 };

typedef struct {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;
typedef struct {
  unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
  unsigned int gpu, memory;
} nvmlUtilization_t;

typedef struct {
  const char* name;
  const char* uuid;
  const char* bus_id;
  unsigned bus;
  unsigned long long mem_total, mem_used;
  unsigned util_gpu, util_mem;
  int temperature; /* < 0: NOT_SUPPORTED */
  unsigned sm_clock, max_sm_clock;
} FakeGpu;

/* In PCI bus order. */
static FakeGpu g_gpus[2] = {
    {"Fake GPU Alpha", "GPU-aaaaaaaa-1111-2222-3333-444444444444", "00000000:17:00.0", 0x17,
     40ull << 30, 1ull << 30, 25, 10, 41, 1410, 1410},
    {"Fake GPU Beta", "GPU-bbbbbbbb-5555-6666-7777-888888888888", "00000000:65:00.0", 0x65,
     80ull << 30, 2ull << 30, 75, 30, -1, 1755, 1980},
};
static int g_init_count = 0;

static FakeGpu* Gpu(void* handle) {
  if (g_init_count <= 0) return NULL;
  if (handle == &g_gpus[0] || handle == &g_gpus[1]) return (FakeGpu*)handle;
  return NULL;
}

static nvmlReturn_t CopyString(const char* s, char* out, unsigned len) {
  if (!out) return INVALID_ARGUMENT;
  if (strlen(s) + 1 > len) return INSUFFICIENT_SIZE;
  strcpy(out, s);
  return OK;
}

FAKE_EXPORT void fk_fake_nvml_set_util(unsigned pci_order_index, unsigned util_gpu) {
  if (pci_order_index < 2)
    __atomic_store_n(&g_gpus[pci_order_index].util_gpu, util_gpu, __ATOMIC_RELAXED);
}
FAKE_EXPORT int fk_fake_nvml_init_count(void) { return g_init_count; }

FAKE_EXPORT nvmlReturn_t nvmlInit_v2(void) {
  const char* e = getenv("FK_FAKE_NVML_INIT_ERROR");
  if (e && *e) return atoi(e);
  ++g_init_count;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlShutdown(void) {
  if (g_init_count <= 0) return UNINITIALIZED;
  --g_init_count;
  return OK;
}
FAKE_EXPORT const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case OK:
      return "Success";
    case UNINITIALIZED:
      return "Uninitialized";
    case NOT_SUPPORTED:
      return "Not Supported";
    case 9:
      return "Driver Not Loaded";
    default:
      return "Unknown Error";
  }
}
FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* v, unsigned len) {
  return g_init_count > 0 ? CopyString("999.01.02", v, len) : UNINITIALIZED;
}
FAKE_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* v) {
  if (g_init_count <= 0) return UNINITIALIZED;
  *v = 13000;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* n) {
  if (g_init_count <= 0) return UNINITIALIZED;
  *n = 2;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, void** handle) {
  if (g_init_count <= 0) return UNINITIALIZED;
  if (i >= 2) return INVALID_ARGUMENT;
  const char* swap = getenv("FK_FAKE_NVML_SWAP");
  if (swap && strcmp(swap, "1") == 0) i = 1 - i;
  *handle = &g_gpus[i];
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(void* h, char* out, unsigned len) {
  FakeGpu* g = Gpu(h);
  return g ? CopyString(g->name, out, len) : UNINITIALIZED;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(void* h, char* out, unsigned len) {
  FakeGpu* g = Gpu(h);
  return g ? CopyString(g->uuid, out, len) : UNINITIALIZED;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(void* h, nvmlPciInfo_t* pci) {
  FakeGpu* g = Gpu(h);
  if (!g) return UNINITIALIZED;
  memset(pci, 0, sizeof *pci);
  strncpy(pci->busId, g->bus_id, sizeof pci->busId - 1);
  strncpy(pci->busIdLegacy, g->bus_id + 4, sizeof pci->busIdLegacy - 1);
  pci->bus = g->bus;
  pci->pciDeviceId = 0x233010de;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(void* h, nvmlMemory_t* m) {
  FakeGpu* g = Gpu(h);
  if (!g) return UNINITIALIZED;
  m->total = g->mem_total;
  m->used = g->mem_used;
  m->free = g->mem_total - g->mem_used;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(void* h, nvmlUtilization_t* u) {
  FakeGpu* g = Gpu(h);
  if (!g) return UNINITIALIZED;
  u->gpu = __atomic_load_n(&g->util_gpu, __ATOMIC_RELAXED); /* set by the test thread */
  u->memory = g->util_mem;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(void* h, int sensor, unsigned* t) {
  FakeGpu* g = Gpu(h);
  if (!g) return UNINITIALIZED;
  if (sensor != 0) return INVALID_ARGUMENT;
  if (g->temperature < 0) return NOT_SUPPORTED;
  *t = (unsigned)g->temperature;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(void* h, int type, unsigned* mhz) {
  FakeGpu* g = Gpu(h);
  if (!g) return UNINITIALIZED;
  if (type != 1) return NOT_SUPPORTED; /* only NVML_CLOCK_SM */
  *mhz = g->sm_clock;
  return OK;
}
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(void* h, int type, unsigned* mhz) {
  FakeGpu* g = Gpu(h);
  if (!g) return UNINITIALIZED;
  if (type != 1) return NOT_SUPPORTED;
  *mhz = g->max_sm_clock;
  return OK;
}
