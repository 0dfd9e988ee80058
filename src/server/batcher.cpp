#include "server/batcher.h"

#include <algorithm>

namespace fk::server {

Status BatcherOptions::Validate() const {
  if (max_batch < 1) return InvalidArgument("batching.max_batch must be >= 1, got " + std::to_string(max_batch));
  if (max_batch > 4096) return InvalidArgument("batching.max_batch must be <= 4096, got " + std::to_string(max_batch));
  if (max_delay.count() < 0)
    return InvalidArgument("batching.max_delay_us must be >= 0, got " + std::to_string(max_delay.count()));
  if (workers < 1 || workers > 64) return InvalidArgument("batching.workers must be 1..64, got " + std::to_string(workers));
  return OkStatus();
}

Result<std::unique_ptr<PhotoBatcher>> PhotoBatcher::Create(BatchFn fn, BatcherOptions options) {
  FK_RETURN_IF_ERROR(options.Validate());
  if (!fn) return InvalidArgument("batcher: no batch function");
  return std::unique_ptr<PhotoBatcher>(new PhotoBatcher(std::move(fn), options));
}

Result<std::unique_ptr<PhotoBatcher>> PhotoBatcher::ForEngine(const FaceEngine& engine, BatcherOptions options) {
  const FaceEngine* e = &engine;
  return Create([e](std::span<const Image* const> photos) { return e->ProcessBatch(photos); }, options);
}

PhotoBatcher::PhotoBatcher(BatchFn fn, BatcherOptions options)
    : fn_(std::move(fn)), options_(options), histogram_(static_cast<size_t>(options.max_batch) + 1, 0) {
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

PhotoBatcher::~PhotoBatcher() { Stop(); }

void PhotoBatcher::Stop() {
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

Result<std::vector<Face>> PhotoBatcher::Process(const Image& image) {
  Item item;
  item.image = &image;
  item.enqueued = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return Unavailable("the server is shutting down (batcher stopped); retry later");
  queue_.push_back(&item);
  // One worker is enough to look at the queue; it wakes the others when it leaves work behind.
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return item.done; });
  return std::move(item.result);
}

void PhotoBatcher::WorkerLoop() {
  using Clock = std::chrono::steady_clock;
  const size_t max_batch = static_cast<size_t>(options_.max_batch);
  std::vector<Item*> batch;
  std::vector<const Image*> photos;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // Idle: wait for work (or the stop signal with nothing left to do).
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and drained
    // Fewer than max_batch queued and not stopping: wait for more photos, at most until the
    // oldest one has waited max_delay. A full batch, stop, or the deadline ends the wait.
    if (queue_.size() < max_batch && !stop_ && options_.max_delay.count() > 0) {
      const auto deadline = queue_.front()->enqueued + options_.max_delay;
      work_cv_.wait_until(lock, deadline, [&] { return stop_ || queue_.empty() || queue_.size() >= max_batch; });
      if (queue_.empty()) continue;  // another worker took them meanwhile
    }
    // Take up to max_batch photos, oldest first.
    const size_t n = std::min(queue_.size(), max_batch);
    batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    // Photos left behind: let another (idle) worker start on them now.
    if (!queue_.empty()) work_cv_.notify_one();
    const auto t0 = Clock::now();
    double queue_ms = 0;
    for (Item* it : batch) queue_ms += std::chrono::duration<double, std::milli>(t0 - it->enqueued).count();
    lock.unlock();

    photos.clear();
    for (Item* it : batch) photos.push_back(it->image);
    std::vector<Result<std::vector<Face>>> results = fn_(photos);
    const double busy = std::chrono::duration<double>(Clock::now() - t0).count();

    lock.lock();
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i < results.size()) batch[i]->result = std::move(results[i]);
      else batch[i]->result = Internal("batcher: the pipeline returned " + std::to_string(results.size()) +
                                       " results for " + std::to_string(batch.size()) + " photos");
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

BatcherStats PhotoBatcher::Stats() const {
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

}  // namespace fk::server
