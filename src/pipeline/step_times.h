// Where a FaceEngine's time goes, step by step: wall and calling-thread CPU milliseconds, calls
// and items (photos, regions or faces) summed over every thread that ran the step
// (FaceEngine::StepTimes(): `eval speed --steps`, the server's GET /status). The engine binds its
// counters to the calling thread at each entry point (StepScope::Bind); the stages record into
// whatever is bound (nothing when no engine bound it: a stage used alone costs one branch).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "facekit/face.h"

namespace fk::pipeline {

enum class Step : int {
  kDecode,       // JPEG/PNG/WebP decoding (both passes)
  kDetectInput,  // the detector's regions resized to its input (FaceDetector::PrepareInput)
  kDetectRun,    // detector model runs and their decoding (keypoint pass included)
  kMeshCrop,     // facemesh's rotated crops (warps)
  kMeshRun,      // facemesh model runs and their decoding
  kEmbedCrop,    // the recognizers' aligned chips (warps, flipped views)
  kEmbedRun,     // recognizer model runs and the templates
  kAttrCrop,     // the attribute models' crops and their resizes
  kAttrRun,      // attribute model runs
  kQuality,      // the quality estimate (chip, blur, exposure)
  kCount,
};
const char* StepName(Step s);

class StepCounters {
 public:
  void Add(Step s, int64_t wall_ns, int64_t cpu_ns, int64_t items) {
    Slot& c = slots_[static_cast<size_t>(s)];
    c.wall_ns.fetch_add(wall_ns, std::memory_order_relaxed);
    c.cpu_ns.fetch_add(cpu_ns, std::memory_order_relaxed);
    c.calls.fetch_add(1, std::memory_order_relaxed);
    c.items.fetch_add(items, std::memory_order_relaxed);
  }
  std::vector<StepTime> Snapshot() const;

 private:
  struct Slot {
    std::atomic<int64_t> wall_ns{0}, cpu_ns{0}, calls{0}, items{0};
  };
  std::array<Slot, static_cast<size_t>(Step::kCount)> slots_;
};

// Records one step into the counters bound to this thread (if any) when it goes out of scope.
class StepScope {
 public:
  StepScope(Step s, int64_t items);
  ~StepScope();
  StepScope(const StepScope&) = delete;
  StepScope& operator=(const StepScope&) = delete;
  // Binds `c` to the calling thread until the returned guard goes (restores what was bound).
  class Binding {
   public:
    explicit Binding(StepCounters* c);
    ~Binding();
    Binding(const Binding&) = delete;
    Binding& operator=(const Binding&) = delete;

   private:
    StepCounters* prev_;
  };
  static StepCounters* Bound();

 private:
  StepCounters* c_;
  Step s_;
  int64_t items_;
  std::chrono::steady_clock::time_point t0_;
  int64_t cpu0_ = 0;
};

}  // namespace fk::pipeline
