// Step counters of a FaceEngine (step_times.h).
#include "pipeline/step_times.h"

#include <ctime>

namespace fk::pipeline {
namespace {

thread_local StepCounters* t_bound = nullptr;

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

const char* StepName(Step s) {
  switch (s) {
    case Step::kDecode:
      return "decode";
    case Step::kDetectInput:
      return "detect_input";
    case Step::kDetectRun:
      return "detect_run";
    case Step::kMeshCrop:
      return "mesh_crop";
    case Step::kMeshRun:
      return "mesh_run";
    case Step::kEmbedCrop:
      return "embed_crop";
    case Step::kEmbedRun:
      return "embed_run";
    case Step::kAttrCrop:
      return "attributes_crop";
    case Step::kAttrRun:
      return "attributes_run";
    case Step::kQuality:
      return "quality";
    case Step::kCount:
      break;
  }
  return "?";
}

std::vector<StepTime> StepCounters::Snapshot() const {
  std::vector<StepTime> out;
  for (int i = 0; i < static_cast<int>(Step::kCount); ++i) {
    const Slot& c = slots_[static_cast<size_t>(i)];
    StepTime t;
    t.step = StepName(static_cast<Step>(i));
    t.wall_ms = 1e-6 * static_cast<double>(c.wall_ns.load(std::memory_order_relaxed));
    t.cpu_ms = 1e-6 * static_cast<double>(c.cpu_ns.load(std::memory_order_relaxed));
    t.calls = c.calls.load(std::memory_order_relaxed);
    t.items = c.items.load(std::memory_order_relaxed);
    out.push_back(std::move(t));
  }
  return out;
}

StepScope::StepScope(Step s, int64_t items) : c_(t_bound), s_(s), items_(items) {
  if (!c_) return;
  t0_ = std::chrono::steady_clock::now();
  cpu0_ = ThreadCpuNs();
}

StepScope::~StepScope() {
  if (!c_) return;
  const int64_t wall =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_)
          .count();
  c_->Add(s_, wall, ThreadCpuNs() - cpu0_, items_);
}

StepScope::Binding::Binding(StepCounters* c) : prev_(t_bound) { t_bound = c; }
StepScope::Binding::~Binding() { t_bound = prev_; }
StepCounters* StepScope::Bound() { return t_bound; }

}  // namespace fk::pipeline
