// Dynamic (continuous) batching: items (photos) of concurrent callers are gathered into one
// batch call, so the models see large batches under load and single photos when idle. Two
// users: the processing server (FaceEngine::FinishBatch on DetectedPhotos: ONE landmark run
// and ONE recognizer run for all faces of all photos) and FaceEngine's detector batching
// (FaceConfig::detect_batching: one detector run over the regions of several callers' photos).
//
// Batching decision (DynamicBatcher::WorkerLoop, every branch commented there): a worker that
// becomes free takes the queued photos at once when there are `max_batch` of them; otherwise
// it waits until the OLDEST queued photo has waited `max_delay` (or `max_batch` have
// arrived), then takes what is there (up to max_batch). With `max_delay` 0 it never waits:
// whatever queued while the previous batch ran forms the next batch (continuous batching).
// `workers` batches may run at once (e.g. one per GPU stream); on a CPU one worker whose
// model runs use all cores is best.
//
// Ownership: Process() blocks until the item's batch is done, so the caller's item is only
// borrowed (by pointer) for that time; the batch function may modify it (In non-const); the
// batcher never copies it.
//
// Thread-safety: Process() and Stats() may be called from any number of threads.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "facekit/status.h"

namespace fk {

struct BatcherOptions {
  int max_batch = 16;                          // photos per pipeline call (>= 1; 1 = no batching)
  std::chrono::microseconds max_delay{2000};   // longest extra wait of the oldest photo (>= 0)
  int workers = 1;                             // batches processed at once (>= 1)
  // `what` names the config section in the message ("batching.max_batch must be ...").
  Status Validate(const std::string& what = "batching") const;
};

struct BatcherStats {
  int64_t batches = 0;
  int64_t photos = 0;
  double mean_batch = 0;          // photos / batches
  int max_batch_seen = 0;
  std::vector<int64_t> histogram;  // histogram[s] = batches of s photos (index 0 unused)
  double busy_s = 0;               // worker time inside the pipeline, summed over workers
  double mean_queue_ms = 0;        // from Process() to the start of its batch
  int queued = 0;                  // photos waiting now
};

template <typename In, typename Out>
class DynamicBatcher {
 public:
  // The batch call: results[i] for items[i].
  using BatchFn = std::function<std::vector<Result<Out>>(std::span<In* const>)>;

  static Result<std::unique_ptr<DynamicBatcher>> Create(BatchFn fn, BatcherOptions options) {
    FK_RETURN_IF_ERROR(options.Validate());
    if (!fn) return InvalidArgument("batcher: no batch function");
    return std::unique_ptr<DynamicBatcher>(new DynamicBatcher(std::move(fn), options));
  }
  ~DynamicBatcher() { Stop(); }
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // The result for `item`, computed in a batch with other callers' items. Unavailable after
  // Stop().
  Result<Out> Process(In& item) {
    Item it;
    it.in = &item;
    it.enqueued = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    if (stop_) return Unavailable("the server is shutting down (batcher stopped); retry later");
    queue_.push_back(&it);
    // One worker is enough to look at the queue; it wakes another when it leaves work behind.
    work_cv_.notify_one();
    done_cv_.wait(lock, [&] { return it.done; });
    return std::move(it.result);
  }

  // Several items of one caller at once (a batch request): all are queued together (so they
  // fill batches right away) and the call returns when every one is done; results[i] for
  // items[i]. Unavailable for each after Stop().
  std::vector<Result<Out>> ProcessAll(std::span<In* const> items) {
    std::vector<Item> its(items.size());
    std::vector<Result<Out>> out;
    out.reserve(items.size());
    std::unique_lock<std::mutex> lock(mu_);
    if (stop_) {
      for (size_t i = 0; i < items.size(); ++i)
        out.push_back(Unavailable("the server is shutting down (batcher stopped); retry later"));
      return out;
    }
    const auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < items.size(); ++i) {
      its[i].in = items[i];
      its[i].enqueued = now;
      queue_.push_back(&its[i]);
    }
    work_cv_.notify_all();
    done_cv_.wait(lock, [&] { return std::all_of(its.begin(), its.end(), [](const Item& it) { return it.done; }); });
    for (Item& it : its) out.push_back(std::move(it.result));
    return out;
  }

  // Finishes the items already queued, then ends the workers; later Process() calls fail.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_ && workers_.empty()) return;
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
    std::lock_guard<std::mutex> lock(mu_);
    workers_.clear();
  }

  BatcherStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    BatcherStats s;
    s.batches = batches_;
    s.photos = photos_;
    s.mean_batch = batches_ ? static_cast<double>(photos_) / batches_ : 0;
    s.histogram = histogram_;
    for (size_t i = 1; i < histogram_.size(); ++i)
      if (histogram_[i]) s.max_batch_seen = static_cast<int>(i);
    s.busy_s = busy_s_;
    s.mean_queue_ms = photos_ ? queue_ms_sum_ / photos_ : 0;
    s.queued = static_cast<int>(queue_.size());
    return s;
  }
  const BatcherOptions& options() const { return options_; }

 private:
  struct Item {
    In* in = nullptr;
    std::chrono::steady_clock::time_point enqueued;
    Result<Out> result{Internal("batcher: no result")};
    bool done = false;
  };

  DynamicBatcher(BatchFn fn, BatcherOptions options)
      : fn_(std::move(fn)), options_(options), histogram_(static_cast<size_t>(options.max_batch) + 1, 0) {
    for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  }

  void WorkerLoop() {
    using Clock = std::chrono::steady_clock;
    const size_t max_batch = static_cast<size_t>(options_.max_batch);
    std::vector<Item*> batch;
    std::vector<In*> ins;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      // Idle: wait for work (or the stop signal with nothing left to do).
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and drained
      // Fewer than max_batch queued and not stopping: wait for more items, at most until the
      // oldest one has waited max_delay. A full batch, stop, or the deadline ends the wait.
      if (queue_.size() < max_batch && !stop_ && options_.max_delay.count() > 0) {
        const auto deadline = queue_.front()->enqueued + options_.max_delay;
        work_cv_.wait_until(lock, deadline, [&] { return stop_ || queue_.empty() || queue_.size() >= max_batch; });
        if (queue_.empty()) continue;  // another worker took them meanwhile
      }
      // Take up to max_batch items, oldest first.
      const size_t n = std::min(queue_.size(), max_batch);
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      // Items left behind: let another (idle) worker start on them now.
      if (!queue_.empty()) work_cv_.notify_one();
      const auto t0 = Clock::now();
      double queue_ms = 0;
      for (Item* it : batch) queue_ms += std::chrono::duration<double, std::milli>(t0 - it->enqueued).count();
      lock.unlock();

      ins.clear();
      for (Item* it : batch) ins.push_back(it->in);
      std::vector<Result<Out>> results = fn_(ins);
      const double busy = std::chrono::duration<double>(Clock::now() - t0).count();

      lock.lock();
      for (size_t i = 0; i < batch.size(); ++i) {
        if (i < results.size()) batch[i]->result = std::move(results[i]);
        else batch[i]->result = Internal("batcher: the pipeline returned " + std::to_string(results.size()) +
                                         " results for " + std::to_string(batch.size()) + " items");
        batch[i]->done = true;
      }
      ++batches_;
      photos_ += static_cast<int64_t>(n);
      ++histogram_[n];
      busy_s_ += busy;
      queue_ms_sum_ += queue_ms;
      done_cv_.notify_all();
    }
  }

  const BatchFn fn_;
  const BatcherOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // workers: items arrived / stop
  std::condition_variable done_cv_;  // callers: their item is done
  std::deque<Item*> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
  // stats (under mu_)
  int64_t batches_ = 0, photos_ = 0;
  std::vector<int64_t> histogram_;
  double busy_s_ = 0, queue_ms_sum_ = 0;
};

}  // namespace fk
