#include "server/scheduler.h"

#include <algorithm>

namespace fk::server {

Status SchedulerLimits::Validate() const {
  if (max_concurrent < 1) return InvalidArgument("limits.max_concurrent must be >= 1, got " + std::to_string(max_concurrent));
  if (max_per_user < 1) return InvalidArgument("limits.max_per_user must be >= 1, got " + std::to_string(max_per_user));
  if (max_queue < 0) return InvalidArgument("limits.max_queue must be >= 0, got " + std::to_string(max_queue));
  if (max_queue_per_user < 0)
    return InvalidArgument("limits.max_queue_per_user must be >= 0, got " + std::to_string(max_queue_per_user));
  if (queue_timeout.count() <= 0)
    return InvalidArgument("limits.queue_timeout_ms must be > 0, got " + std::to_string(queue_timeout.count()));
  return OkStatus();
}

JobScheduler::JobScheduler(SchedulerLimits limits) : limits_(limits) {}

JobScheduler::~JobScheduler() {
  Shutdown();
  WaitIdle(std::chrono::milliseconds(0));
}

JobScheduler::Slot& JobScheduler::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    user_ = std::move(o.user_);
    waited_ms_ = o.waited_ms_;
    o.owner_ = nullptr;
  }
  return *this;
}

void JobScheduler::Slot::Release() {
  if (owner_) {
    owner_->ReleaseSlot(user_);
    owner_ = nullptr;
  }
}

Result<JobScheduler::Slot> JobScheduler::Acquire(const std::string& user, int user_limit) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  if (shutdown_) {
    ++refused_shutdown_;
    return Unavailable("the server is shutting down; retry on another instance or later");
  }
  UserState& u = users_[user];
  u.limit = user_limit;
  Slot slot;
  slot.user_ = user;
  // Fast path: a free slot and nobody of this user ahead in the queue (FIFO per user).
  if (u.waiting.empty() && CanRun(u)) {
    ++u.running;
    ++running_;
    ++admitted_;
    slot.owner_ = this;
    return slot;
  }
  // Must wait: bounded queues first.
  if (queued_ >= limits_.max_queue) {
    ++rejected_full_;
    if (u.running == 0 && u.waiting.empty()) users_.erase(user);
    return ResourceExhausted("server busy: " + std::to_string(queued_) + " jobs are queued (limits.max_queue = " +
                             std::to_string(limits_.max_queue) + "); retry later");
  }
  if (static_cast<int>(u.waiting.size()) >= limits_.max_queue_per_user) {
    ++rejected_full_;
    return ResourceExhausted("too many jobs of this user: " + std::to_string(u.running) + " running, " +
                             std::to_string(u.waiting.size()) + " queued (per-user limit " +
                             std::to_string(UserLimit(u)) + (u.limit > 0 ? " from the API key" : " = limits.max_per_user") +
                             ", limits.max_queue_per_user = " +
                             std::to_string(limits_.max_queue_per_user) + "); retry later");
  }
  auto w = std::make_shared<Waiter>();
  w->user = user;
  if (u.waiting.empty()) turn_.push_back(user);
  u.waiting.push_back(w);
  ++queued_;
  const auto deadline = t0 + limits_.queue_timeout;
  while (!w->granted && !w->refused) {
    if (w->cv.wait_until(lock, deadline) == std::cv_status::timeout && !w->granted && !w->refused) {
      // Gave up: leave the user's queue (and the turn order if it was the last one waiting).
      UserState& us = users_[user];
      auto it = std::find(us.waiting.begin(), us.waiting.end(), w);
      if (it != us.waiting.end()) us.waiting.erase(it);
      --queued_;
      if (us.waiting.empty()) turn_.erase(std::remove(turn_.begin(), turn_.end(), user), turn_.end());
      if (us.running == 0 && us.waiting.empty()) users_.erase(user);
      ++timed_out_;
      return Unavailable("server overloaded: no slot within " + std::to_string(limits_.queue_timeout.count()) +
                         " ms (limits.queue_timeout_ms); retry later");
    }
  }
  if (w->refused) {
    ++refused_shutdown_;
    return Unavailable("the server is shutting down; retry on another instance or later");
  }
  // Granted by Dispatch(), which already counted the slot as running.
  slot.owner_ = this;
  slot.waited_ms_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  max_wait_ms_ = std::max(max_wait_ms_, slot.waited_ms_);
  return slot;
}

void JobScheduler::ReleaseSlot(const std::string& user) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = users_.find(user);
  if (it != users_.end()) {
    --it->second.running;
    if (it->second.running == 0 && it->second.waiting.empty()) users_.erase(it);
  }
  --running_;
  Dispatch();
  if (running_ == 0) idle_cv_.notify_all();
}

// Hands free slots to waiting jobs. Round robin over `turn_`: the user at the front gets one
// job started if its own limit allows, then goes to the back (if it still has waiting jobs);
// users at their own limit are skipped this round (they stay in the ring and are served when
// one of their jobs finishes). Stops when the global limit is reached or nobody can run.
void JobScheduler::Dispatch() {
  size_t skipped = 0;  // consecutive users that could not run: a full lap of them = done
  while (running_ < limits_.max_concurrent && !turn_.empty() && skipped < turn_.size()) {
    const std::string user = turn_.front();
    turn_.pop_front();
    UserState& u = users_[user];
    if (u.waiting.empty()) continue;  // (defensive) nothing left for this user
    if (!CanRun(u)) {
      turn_.push_back(user);
      ++skipped;
      continue;
    }
    skipped = 0;
    std::shared_ptr<Waiter> w = u.waiting.front();
    u.waiting.pop_front();
    --queued_;
    ++u.running;
    ++running_;
    ++admitted_;
    w->granted = true;
    w->cv.notify_one();
    if (!u.waiting.empty()) turn_.push_back(user);
  }
}

void JobScheduler::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  for (auto& [name, u] : users_) {
    for (auto& w : u.waiting) {
      w->refused = true;
      w->cv.notify_one();
    }
    queued_ -= static_cast<int>(u.waiting.size());
    u.waiting.clear();
  }
  turn_.clear();
  for (auto it = users_.begin(); it != users_.end();) it = it->second.running == 0 ? users_.erase(it) : std::next(it);
}

bool JobScheduler::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return running_ == 0; });
}

SchedulerStats JobScheduler::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s;
  s.running = running_;
  s.queued = queued_;
  s.admitted = admitted_;
  s.rejected_full = rejected_full_;
  s.timed_out = timed_out_;
  s.refused_shutdown = refused_shutdown_;
  s.max_wait_ms = max_wait_ms_;
  for (const auto& [name, u] : users_)
    if (u.running > 0 || !u.waiting.empty()) s.users.push_back({name, u.running, static_cast<int>(u.waiting.size())});
  return s;
}

}  // namespace fk::server
