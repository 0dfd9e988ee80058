// A size-bucketed memory pool with a hard limit (host-only header, header-only logic so it is
// unit-tested without a GPU: tests inject a fake RawAllocator).
//
// Policy:
//  - Requests are rounded up to a size class: 256-byte granularity below 4 KiB, then 4 classes
//    per power of two (waste <= 25%). Each class has a free list.
//  - Acquire takes a cached block of the class if there is one; otherwise it makes ONE raw
//    allocation (cudaMalloc) of the class size. Release returns the block to its free list; the
//    pool never frees per request, so steady-state runs make no raw allocation at all.
//  - Limit: bytes_reserved (cached + in use) never exceeds limit_bytes (0 = unlimited). When a
//    new block would exceed it, cached blocks of other classes are freed first (Trim); if that
//    is not enough, Acquire returns ResourceExhausted with the numbers. A raw allocation failure
//    (the card is full) also trims and retries once before failing.
//  - Thread-safe (one mutex; requests are few per run: one per tensor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "facekit/status.h"

namespace fk::engine::cuda {

// The raw allocator the pool draws from (cudaMalloc/cudaFree in production).
class RawAllocator {
 public:
  virtual ~RawAllocator() = default;
  virtual Result<void*> Allocate(size_t bytes) = 0;
  virtual void Free(void* p) = 0;
};

struct PoolStats {
  size_t bytes_in_use = 0;     // handed out
  size_t bytes_cached = 0;     // in free lists
  size_t peak_reserved = 0;    // max of in_use + cached
  size_t raw_allocations = 0;  // calls to RawAllocator::Allocate that succeeded
  size_t raw_frees = 0;
  size_t acquires = 0;
  size_t bytes_reserved() const { return bytes_in_use + bytes_cached; }
};

class MemoryPool {
 public:
  // `raw` must outlive the pool. limit_bytes 0 = no limit.
  MemoryPool(RawAllocator* raw, size_t limit_bytes, std::string label = "GPU memory pool")
      : raw_(raw), limit_(limit_bytes), label_(std::move(label)) {}
  ~MemoryPool() { ReleaseAll(); }
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  static size_t SizeClass(size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes <= 4096) return (bytes + 255) / 256 * 256;
    size_t p = 4096;
    while (p * 2 < bytes) p *= 2;  // p < bytes <= 2p
    const size_t step = p / 4;
    return (bytes + step - 1) / step * step;
  }

  Result<void*> Acquire(size_t bytes) {
    const size_t cls = SizeClass(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.acquires;
    auto& fl = free_[cls];
    if (!fl.empty()) {
      void* p = fl.back();
      fl.pop_back();
      stats_.bytes_cached -= cls;
      stats_.bytes_in_use += cls;
      live_[p] = cls;
      return p;
    }
    if (limit_ && stats_.bytes_reserved() + cls > limit_) TrimLocked();
    if (limit_ && stats_.bytes_reserved() + cls > limit_)
      return ResourceExhausted(
          label_ + " limit exceeded: a " + std::to_string(bytes) + "-byte buffer (" +
          std::to_string(cls) + " with rounding) does not fit: " +
          std::to_string(stats_.bytes_in_use) + " bytes in use, limit " + std::to_string(limit_) +
          " bytes. Raise gpu_memory_limit_bytes / gpu_memory_limit_fraction or lower the batch "
          "size");
    auto r = raw_->Allocate(cls);
    if (!r.ok()) {
      TrimLocked();
      r = raw_->Allocate(cls);
      if (!r.ok())
        return ResourceExhausted(label_ + ": allocating " + std::to_string(cls) +
                                 " bytes failed with " + std::to_string(stats_.bytes_in_use) +
                                 " bytes already in use: " + r.status().message() +
                                 ". Lower the batch size or set a gpu memory limit below what "
                                 "other processes leave free");
    }
    ++stats_.raw_allocations;
    stats_.bytes_in_use += cls;
    if (stats_.bytes_reserved() > stats_.peak_reserved) stats_.peak_reserved = stats_.bytes_reserved();
    live_[*r] = cls;
    return *r;
  }

  // Returns a block obtained from Acquire. Unknown pointers are a bug (FK_ASSERT).
  void Release(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(p);
    FK_ASSERT(it != live_.end());
    const size_t cls = it->second;
    live_.erase(it);
    stats_.bytes_in_use -= cls;
    stats_.bytes_cached += cls;
    free_[cls].push_back(p);
  }

  // Frees every cached (not in use) block.
  void Trim() {
    std::lock_guard<std::mutex> lock(mu_);
    TrimLocked();
  }

  // Frees the cached blocks and restarts the peak from what is in use now (per-model peaks in a
  // benchmark that loads models one after another).
  void ResetPeak() {
    std::lock_guard<std::mutex> lock(mu_);
    TrimLocked();
    stats_.peak_reserved = stats_.bytes_reserved();
  }

  PoolStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  size_t limit() const {
    std::lock_guard<std::mutex> lock(mu_);
    return limit_;
  }
  // Changes the limit (0 = none). Does not free blocks in use; trims the cache if over.
  void set_limit(size_t limit_bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = limit_bytes;
    if (limit_ && stats_.bytes_reserved() > limit_) TrimLocked();
  }

 private:
  void TrimLocked() {
    for (auto& [cls, fl] : free_) {
      for (void* p : fl) {
        raw_->Free(p);
        ++stats_.raw_frees;
        stats_.bytes_cached -= cls;
      }
      fl.clear();
    }
  }
  void ReleaseAll() {
    std::lock_guard<std::mutex> lock(mu_);
    TrimLocked();
    for (auto& [p, cls] : live_) {  // leaked by a caller: free anyway at shutdown
      raw_->Free(p);
      ++stats_.raw_frees;
    }
    live_.clear();
  }

  RawAllocator* raw_;
  size_t limit_;
  std::string label_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  std::unordered_map<void*, size_t> live_;
  PoolStats stats_;
};

// RAII handle on a pool block.
class PoolBuffer {
 public:
  PoolBuffer() = default;
  PoolBuffer(MemoryPool* pool, void* p, size_t bytes) : pool_(pool), p_(p), bytes_(bytes) {}
  ~PoolBuffer() { reset(); }
  PoolBuffer(PoolBuffer&& o) noexcept : pool_(o.pool_), p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
  PoolBuffer& operator=(PoolBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = o.pool_;
      p_ = o.p_;
      bytes_ = o.bytes_;
      o.p_ = nullptr;
    }
    return *this;
  }
  PoolBuffer(const PoolBuffer&) = delete;
  PoolBuffer& operator=(const PoolBuffer&) = delete;

  static Result<PoolBuffer> Make(MemoryPool* pool, size_t bytes) {
    FK_ASSIGN_OR_RETURN(void* p, pool->Acquire(bytes));
    return PoolBuffer(pool, p, bytes);
  }
  void* get() const { return p_; }
  size_t bytes() const { return bytes_; }
  void reset() {
    if (p_ && pool_) pool_->Release(p_);
    p_ = nullptr;
  }

 private:
  MemoryPool* pool_ = nullptr;
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Effective pool limit from the config fields (0 = unlimited): the smaller of the byte cap and
// fraction * total_memory among those set.
inline size_t EffectivePoolLimit(int64_t limit_bytes, double limit_fraction, int64_t total_memory) {
  size_t lim = 0;
  if (limit_bytes > 0) lim = static_cast<size_t>(limit_bytes);
  if (limit_fraction > 0 && total_memory > 0) {
    const size_t f = static_cast<size_t>(limit_fraction * static_cast<double>(total_memory));
    if (lim == 0 || f < lim) lim = f;
  }
  return lim;
}

}  // namespace fk::engine::cuda
