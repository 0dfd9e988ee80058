// GpuMonitor: the CUDA_VISIBLE_DEVICES parser, the no-driver path, and a fake NVML
// (tests/server/fake_nvml.c, built as fk_fake_nvml) standing in for the driver.
#include "server/gpu_monitor.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fk::server {
namespace {

using Kind = VisibleDeviceEntry::Kind;
constexpr int64_t kGiB = int64_t{1} << 30;

std::vector<int> Resolve(const char* cvd, const std::vector<std::string>& uuids,
                         std::string* note = nullptr) {
  return ResolveVisibleDevices(ParseCudaVisibleDevices(cvd), uuids, note);
}

const std::vector<std::string> kFour = {"GPU-aa11", "GPU-aa22", "GPU-bb33", "GPU-cc44"};

// ---- CUDA_VISIBLE_DEVICES parser -----------------------------------------------------------

TEST(CudaVisibleDevices, UnsetMeansAllInDefaultOrder) {
  VisibleDevices v = ParseCudaVisibleDevices(nullptr);
  EXPECT_TRUE(v.all);
  EXPECT_TRUE(v.entries.empty());
  EXPECT_EQ(Resolve(nullptr, kFour), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(Resolve(nullptr, {}).empty());
}

TEST(CudaVisibleDevices, EmptyAndMinusOneHideEverything) {
  for (const char* s : {"", "-1", "-1,0", " "}) {
    SCOPED_TRACE(s);
    VisibleDevices v = ParseCudaVisibleDevices(s);
    EXPECT_FALSE(v.all);
    EXPECT_TRUE(v.entries.empty());
    EXPECT_TRUE(Resolve(s, kFour).empty());
  }
  std::string note;
  Resolve("-1", kFour, &note);
  EXPECT_NE(note.find("'-1'"), std::string::npos) << note;
  EXPECT_EQ(ParseCudaVisibleDevices("-1,0").ignored, "-1,0");
}

TEST(CudaVisibleDevices, IntegerList) {
  VisibleDevices v = ParseCudaVisibleDevices("2,3");
  ASSERT_EQ(v.entries.size(), 2u);
  EXPECT_EQ(v.entries[0].kind, Kind::kIndex);
  EXPECT_EQ(v.entries[0].index, 2);
  EXPECT_EQ(v.entries[1].index, 3);
  EXPECT_TRUE(v.ignored.empty());
  EXPECT_EQ(Resolve("2,3", kFour), (std::vector<int>{2, 3}));
  EXPECT_EQ(Resolve(" 3 , 0 ", kFour), (std::vector<int>{3, 0}));  // CUDA order = listed order
  std::string note;
  EXPECT_EQ(Resolve("1,0,", kFour, &note), (std::vector<int>{1, 0}));  // trailing comma
  EXPECT_TRUE(note.empty()) << note;
}

TEST(CudaVisibleDevices, StopsAtFirstInvalidEntry) {
  VisibleDevices v = ParseCudaVisibleDevices("1,abc,2");
  ASSERT_EQ(v.entries.size(), 1u);
  EXPECT_EQ(v.ignored, "abc,2");
  std::string note;
  EXPECT_EQ(Resolve("1,abc,2", kFour, &note), (std::vector<int>{1}));
  EXPECT_NE(note.find("'abc'"), std::string::npos) << note;

  for (const char* bad : {"1,-2,3", "1,2x,3", "1,+2,3", "1,99999999999,3", "1,MIG-123,3"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(Resolve(bad, kFour), (std::vector<int>{1}));
  }
  // Ordinal out of range: stops there too.
  note.clear();
  EXPECT_EQ(Resolve("0,7,1", kFour, &note), (std::vector<int>{0}));
  EXPECT_NE(note.find("'7' is out of range (4 GPU(s))"), std::string::npos) << note;
  // A repeated GPU is treated the same way.
  note.clear();
  EXPECT_EQ(Resolve("2,2,1", kFour, &note), (std::vector<int>{2}));
  EXPECT_NE(note.find("already listed"), std::string::npos) << note;
}

TEST(CudaVisibleDevices, UuidEntries) {
  VisibleDevices v = ParseCudaVisibleDevices("GPU-bb33,gpu-AA2");
  ASSERT_EQ(v.entries.size(), 2u);
  EXPECT_EQ(v.entries[0].kind, Kind::kUuid);
  EXPECT_EQ(v.entries[0].text, "GPU-bb33");
  EXPECT_EQ(Resolve("GPU-bb33,gpu-AA2", kFour), (std::vector<int>{2, 1}));  // case-insensitive
  EXPECT_EQ(Resolve("GPU-c", kFour), (std::vector<int>{3}));                // unique prefix
  EXPECT_EQ(Resolve("1,GPU-cc44", kFour), (std::vector<int>{1, 3}));        // mixed
  std::string note;
  EXPECT_TRUE(Resolve("GPU-aa", kFour, &note).empty());  // prefix of two GPUs: ambiguous
  EXPECT_NE(note.find("ambiguous"), std::string::npos) << note;
  note.clear();
  EXPECT_EQ(Resolve("3,GPU-ff", kFour, &note), (std::vector<int>{3}));
  EXPECT_NE(note.find("matches no GPU UUID"), std::string::npos) << note;
  EXPECT_EQ(Resolve("GPU-", kFour), std::vector<int>{});           // "GPU-" alone is no UUID
  EXPECT_EQ(Resolve("GPU-bb33,2", kFour), (std::vector<int>{2}));  // same GPU twice
}

// ---- environment helpers ---------------------------------------------------------------------

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// ---- no driver -------------------------------------------------------------------------------

TEST(GpuMonitor, WithoutDriverSaysWhy) {
  ScopedEnv lib("FK_NVML_LIBRARY", nullptr);
  if (void* h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(h);
    GTEST_SKIP() << "a real libnvidia-ml.so.1 is installed here";
  }
  auto mon = GpuMonitor::Create();
  ASSERT_NE(mon, nullptr);
  GpuReport r = mon->Sample();
  EXPECT_FALSE(r.available);
  EXPECT_TRUE(r.gpus.empty());
  EXPECT_NE(r.reason.find("libnvidia-ml.so.1 not found"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("FK_NVML_LIBRARY"), std::string::npos) << r.reason;  // the fix
  nlohmann::json j = GpuReportToJson(r);
  EXPECT_EQ(j["available"], false);
  EXPECT_EQ(j["reason"], r.reason);
  EXPECT_TRUE(j["gpus"].empty());
  // The sampler is a no-op.
  mon->StartSampling(std::chrono::milliseconds(1), 4);
  EXPECT_FALSE(mon->sampling());
  EXPECT_TRUE(mon->WindowSummary().empty());
  mon->StopSampling();
}

TEST(GpuMonitor, BadOverridePathSaysWhich) {
  ScopedEnv lib("FK_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1");
  GpuReport r = GpuMonitor::Create()->Sample();
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.reason.find("FK_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"), std::string::npos)
      << r.reason;
}

// ---- fake NVML -------------------------------------------------------------------------------

#ifdef FK_FAKE_NVML_PATH

class FakeNvml : public ::testing::Test {
 protected:
  void SetUp() override {
    // The monitor never dlcloses NVML, so this handle is the very library it uses.
    handle_ = dlopen(FK_FAKE_NVML_PATH, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << dlerror();
    set_util_ =
        reinterpret_cast<void (*)(unsigned, unsigned)>(dlsym(handle_, "fk_fake_nvml_set_util"));
    init_count_ = reinterpret_cast<int (*)()>(dlsym(handle_, "fk_fake_nvml_init_count"));
    ASSERT_TRUE(set_util_ && init_count_);
    set_util_(0, 25);
    set_util_(1, 75);
  }
  void TearDown() override {
    if (set_util_) {
      set_util_(0, 25);
      set_util_(1, 75);
    }
  }

  ScopedEnv lib_{"FK_NVML_LIBRARY", FK_FAKE_NVML_PATH};
  ScopedEnv cvd_{"CUDA_VISIBLE_DEVICES", nullptr};
  ScopedEnv swap_{"FK_FAKE_NVML_SWAP", nullptr};
  ScopedEnv init_error_{"FK_FAKE_NVML_INIT_ERROR", nullptr};
  void* handle_ = nullptr;
  void (*set_util_)(unsigned, unsigned) = nullptr;
  int (*init_count_)() = nullptr;
};

TEST_F(FakeNvml, ReportsEveryGpu) {
  const int before = init_count_();
  {
    auto mon = GpuMonitor::Create();
    EXPECT_EQ(init_count_(), before + 1);
    GpuReport r = mon->Sample();
    ASSERT_TRUE(r.available) << r.reason;
    EXPECT_TRUE(r.reason.empty());
    EXPECT_TRUE(r.note.empty()) << r.note;
    EXPECT_EQ(r.driver_version, "999.01.02");
    EXPECT_EQ(r.cuda_driver_version, 13000);
    ASSERT_EQ(r.gpus.size(), 2u);

    const GpuSample& a = r.gpus[0];
    EXPECT_EQ(a.index, 0);
    EXPECT_EQ(a.name, "Fake GPU Alpha");
    EXPECT_EQ(a.uuid, "GPU-aaaaaaaa-1111-2222-3333-444444444444");
    EXPECT_EQ(a.pci_bus_id, "00000000:17:00.0");
    EXPECT_EQ(a.util_gpu_pct, 25);
    EXPECT_EQ(a.util_mem_pct, 10);
    EXPECT_EQ(a.mem_total_bytes, 40 * kGiB);
    EXPECT_EQ(a.mem_used_bytes, 1 * kGiB);
    EXPECT_EQ(a.temperature_c, 41);
    EXPECT_EQ(a.sm_clock_mhz, 1410);
    EXPECT_EQ(a.max_sm_clock_mhz, 1410);
    // The fake has no power functions: -1, not a failure.
    EXPECT_EQ(a.power_w, -1);
    EXPECT_EQ(a.power_limit_w, -1);
    EXPECT_TRUE(a.error.empty()) << a.error;

    const GpuSample& b = r.gpus[1];
    EXPECT_EQ(b.index, 1);
    EXPECT_EQ(b.name, "Fake GPU Beta");
    EXPECT_EQ(b.mem_total_bytes, 80 * kGiB);
    EXPECT_EQ(b.mem_used_bytes, 2 * kGiB);
    EXPECT_EQ(b.util_gpu_pct, 75);
    EXPECT_EQ(b.temperature_c, -1);  // NVML_ERROR_NOT_SUPPORTED
    EXPECT_EQ(b.sm_clock_mhz, 1755);
    EXPECT_EQ(b.max_sm_clock_mhz, 1980);
    EXPECT_TRUE(b.error.empty()) << b.error;  // NOT_SUPPORTED is no error

    nlohmann::json j = GpuReportToJson(r);
    EXPECT_EQ(j["available"], true);
    EXPECT_FALSE(j.contains("reason"));
    EXPECT_EQ(j["driver_version"], "999.01.02");
    ASSERT_EQ(j["gpus"].size(), 2u);
    EXPECT_EQ(j["gpus"][0]["name"], "Fake GPU Alpha");
    EXPECT_EQ(j["gpus"][0]["mem_total_bytes"], 40 * kGiB);
    EXPECT_EQ(j["gpus"][0]["util_gpu_pct"], 25.0);
    EXPECT_TRUE(j["gpus"][0]["power_w"].is_null());
    EXPECT_TRUE(j["gpus"][1]["temperature_c"].is_null());
    EXPECT_EQ(j["gpus"][0]["temperature_c"], 41.0);
  }
  EXPECT_EQ(init_count_(), before);  // nvmlShutdown on destruction
}

TEST_F(FakeNvml, CudaVisibleDevicesIndex) {
  ScopedEnv cvd("CUDA_VISIBLE_DEVICES", "1");
  GpuReport r = GpuMonitor::Create()->Sample();
  ASSERT_TRUE(r.available) << r.reason;
  ASSERT_EQ(r.gpus.size(), 1u);
  EXPECT_EQ(r.gpus[0].index, 0);  // CUDA renumbers: gpu_index 0 is physical GPU 1
  EXPECT_EQ(r.gpus[0].name, "Fake GPU Beta");
  EXPECT_EQ(r.gpus[0].mem_total_bytes, 80 * kGiB);
  EXPECT_EQ(r.gpus[0].util_gpu_pct, 75);
}

TEST_F(FakeNvml, CudaVisibleDevicesUuidsSetTheOrder) {
  ScopedEnv cvd("CUDA_VISIBLE_DEVICES", "GPU-bbbbbbbb,GPU-aaaaaaaa-1111-2222-3333-444444444444");
  GpuReport r = GpuMonitor::Create()->Sample();
  ASSERT_TRUE(r.available) << r.reason;
  ASSERT_EQ(r.gpus.size(), 2u);
  EXPECT_EQ(r.gpus[0].index, 0);
  EXPECT_EQ(r.gpus[0].name, "Fake GPU Beta");
  EXPECT_EQ(r.gpus[1].index, 1);
  EXPECT_EQ(r.gpus[1].name, "Fake GPU Alpha");
}

TEST_F(FakeNvml, PartlyInvalidListKeepsThePrefixAndSaysSo) {
  ScopedEnv cvd("CUDA_VISIBLE_DEVICES", "0,7,1");
  GpuReport r = GpuMonitor::Create()->Sample();
  ASSERT_TRUE(r.available) << r.reason;
  ASSERT_EQ(r.gpus.size(), 1u);
  EXPECT_EQ(r.gpus[0].name, "Fake GPU Alpha");
  EXPECT_NE(r.note.find("'7' is out of range"), std::string::npos) << r.note;
  EXPECT_EQ(GpuReportToJson(r)["note"], r.note);
}

TEST_F(FakeNvml, NothingVisible) {
  for (const char* value : {"", "-1", "GPU-ffff"}) {
    SCOPED_TRACE(value);
    ScopedEnv cvd("CUDA_VISIBLE_DEVICES", value);
    GpuReport r = GpuMonitor::Create()->Sample();
    EXPECT_FALSE(r.available);
    EXPECT_TRUE(r.gpus.empty());
    EXPECT_NE(r.reason.find("CUDA_VISIBLE_DEVICES='" + std::string(value) + "'"), std::string::npos)
        << r.reason;
    EXPECT_NE(r.reason.find("none of the 2 GPU(s)"), std::string::npos) << r.reason;
    EXPECT_EQ(r.driver_version, "999.01.02");  // what is known is still reported
  }
}

TEST_F(FakeNvml, CudaOrderIsPciOrderWhateverNvmlEnumerates) {
  ScopedEnv swap("FK_FAKE_NVML_SWAP", "1");  // NVML lists Beta (bus 0x65) first
  GpuReport r = GpuMonitor::Create()->Sample();
  ASSERT_EQ(r.gpus.size(), 2u);
  EXPECT_EQ(r.gpus[0].name, "Fake GPU Alpha");
  EXPECT_EQ(r.gpus[1].name, "Fake GPU Beta");
  ScopedEnv cvd("CUDA_VISIBLE_DEVICES", "0");
  r = GpuMonitor::Create()->Sample();
  ASSERT_EQ(r.gpus.size(), 1u);
  EXPECT_EQ(r.gpus[0].name, "Fake GPU Alpha");
}

TEST_F(FakeNvml, InitFailureSaysWhy) {
  ScopedEnv err("FK_FAKE_NVML_INIT_ERROR", "9");  // NVML_ERROR_DRIVER_NOT_LOADED
  GpuReport r = GpuMonitor::Create()->Sample();
  EXPECT_FALSE(r.available);
  EXPECT_NE(r.reason.find("nvmlInit failed: Driver Not Loaded"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("kernel driver is not loaded"), std::string::npos) << r.reason;
}

// Polls `done` for up to 10 s (the sampler runs on its own thread).
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

TEST_F(FakeNvml, SamplerWindowSummary) {
  auto mon = GpuMonitor::Create();
  EXPECT_TRUE(mon->WindowSummary().empty());  // never started
  constexpr int kWindow = 4;
  mon->StartSampling(std::chrono::milliseconds(2), kWindow);
  EXPECT_TRUE(mon->sampling());
  ASSERT_TRUE(Eventually([&] {
    auto s = mon->WindowSummary();
    return s.size() == 2 && s[0].samples == kWindow;
  }));
  std::vector<GpuMonitor::Summary> s = mon->WindowSummary();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].index, 0);
  EXPECT_EQ(s[0].mean_util_pct, 25);
  EXPECT_EQ(s[0].max_util_pct, 25);
  EXPECT_EQ(s[0].max_mem_used_bytes, 1 * kGiB);
  EXPECT_EQ(s[1].index, 1);
  EXPECT_EQ(s[1].mean_util_pct, 75);
  EXPECT_EQ(s[1].max_mem_used_bytes, 2 * kGiB);
  EXPECT_LE(s[1].samples, kWindow);

  // A burst shows in max (and in the mean) while inside the window...
  set_util_(1, 95);
  ASSERT_TRUE(Eventually([&] { return mon->WindowSummary()[1].max_util_pct == 95; }));
  s = mon->WindowSummary();
  EXPECT_GT(s[1].mean_util_pct, 75);
  EXPECT_LE(s[1].mean_util_pct, 95);
  EXPECT_EQ(s[0].max_util_pct, 25);  // the other GPU is unaffected
  // ...and rolls out of it.
  set_util_(1, 75);
  ASSERT_TRUE(Eventually([&] { return mon->WindowSummary()[1].max_util_pct == 75; }));

  // Concurrent readers while sampling (run under TSan in the sanitizer build).
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(mon->Sample().gpus.size(), 2u);
        EXPECT_EQ(mon->WindowSummary().size(), 2u);
      }
    });
  }
  for (auto& th : readers) th.join();

  mon->StopSampling();
  EXPECT_FALSE(mon->sampling());
  EXPECT_EQ(mon->WindowSummary().size(), 2u);  // the window is kept after stopping
  nlohmann::json j = GpuWindowSummaryToJson(mon->WindowSummary());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["mean_util_pct"], 75.0);
  EXPECT_EQ(j[1]["max_mem_used_bytes"], 2 * kGiB);

  // Restart gives a fresh window; destruction while sampling stops the thread.
  mon->StartSampling(std::chrono::milliseconds(1), 2);
  ASSERT_TRUE(Eventually([&] {
    auto w = mon->WindowSummary();
    return !w.empty() && w[0].samples == 2;
  }));
  EXPECT_EQ(mon->WindowSummary()[0].samples, 2);
  mon.reset();
}

#endif  // FK_FAKE_NVML_PATH

}  // namespace
}  // namespace fk::server
