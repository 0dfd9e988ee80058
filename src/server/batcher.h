// Dynamic (continuous) batching of photos for the processing server: photos of concurrent
// requests are gathered into one batch call of the face pipeline
// (FaceEngine::ProcessBatch runs the landmark model and the recognizer once for all faces of
// all photos), so the models see large batches under load and single photos when idle.
//
// Batching decision (PhotoBatcher::WorkerLoop, every branch commented there): a worker that
// becomes free takes the queued photos at once when there are `max_batch` of them; otherwise
// it waits until the OLDEST queued photo has waited `max_delay` (or `max_batch` have
// arrived), then takes what is there (up to max_batch). With `max_delay` 0 it never waits:
// whatever queued while the previous batch ran forms the next batch (continuous batching).
// `workers` batches may run at once (e.g. one per GPU stream); on a CPU one worker whose
// model runs use all cores is best.
//
// Ownership: Process() blocks until the photo's batch is done, so the caller's Image is only
// borrowed (by pointer) for that time; the batcher never copies pixels.
//
// Thread-safety: Process() and Stats() may be called from any number of threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "facekit/face.h"
#include "facekit/image.h"
#include "facekit/status.h"

namespace fk::server {

struct BatcherOptions {
  int max_batch = 16;                          // photos per pipeline call (>= 1; 1 = no batching)
  std::chrono::microseconds max_delay{2000};   // longest extra wait of the oldest photo (>= 0)
  int workers = 1;                             // batches processed at once (>= 1)
  Status Validate() const;
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

class PhotoBatcher {
 public:
  // The pipeline call: results[i] for photos[i] (FaceEngine::ProcessBatch's contract).
  using BatchFn = std::function<std::vector<Result<std::vector<Face>>>(std::span<const Image* const>)>;

  static Result<std::unique_ptr<PhotoBatcher>> Create(BatchFn fn, BatcherOptions options);
  // A batcher over FaceEngine::ProcessBatch. `engine` must outlive the batcher.
  static Result<std::unique_ptr<PhotoBatcher>> ForEngine(const FaceEngine& engine, BatcherOptions options);
  ~PhotoBatcher();  // Stop()
  PhotoBatcher(const PhotoBatcher&) = delete;
  PhotoBatcher& operator=(const PhotoBatcher&) = delete;

  // Faces of `image` (as FaceEngine::Process), computed in a batch with other callers'
  // photos. Unavailable after Stop().
  Result<std::vector<Face>> Process(const Image& image);

  // Finishes the photos already queued, then ends the workers; later Process() calls fail.
  void Stop();

  BatcherStats Stats() const;
  const BatcherOptions& options() const { return options_; }

 private:
  struct Item {
    const Image* image = nullptr;
    std::chrono::steady_clock::time_point enqueued;
    Result<std::vector<Face>> result{std::vector<Face>()};
    bool done = false;
  };

  PhotoBatcher(BatchFn fn, BatcherOptions options);
  void WorkerLoop();

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

}  // namespace fk::server
