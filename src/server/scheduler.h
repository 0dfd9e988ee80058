// Admission control of the processing server: a global limit on jobs in flight, a limit per
// user (API key), bounded waiting queues and a queue timeout. Independent of HTTP and of the
// face pipeline (Triton-style: scheduling is separate from the transport).
//
// Policy (every branch is in Dispatch(), scheduler.cpp):
// - a job runs when fewer than `max_concurrent` jobs run in total and fewer than
//   `max_per_user` of its user's jobs run;
// - otherwise it waits in its user's FIFO; when a slot frees, users with waiting jobs are
//   served round robin (one job per user per turn), so one user's burst cannot starve others;
// - a job that would make the total queue exceed `max_queue`, or its user's exceed
//   `max_queue_per_user`, is refused at once: ResourceExhausted (HTTP 429 + Retry-After);
// - a job that waited `queue_timeout` without a slot gives up: Unavailable (HTTP 503);
// - after Shutdown() every waiting and new job gets Unavailable; running jobs finish.
//
// Thread-safety: every member may be called from any thread. A Slot is a move-only RAII
// handle; the job runs while it is alive and its destructor frees the slot.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "facekit/status.h"

namespace fk::server {

struct SchedulerLimits {
  int max_concurrent = 64;      // jobs running at once, all users (>= 1)
  int max_per_user = 16;        // jobs running at once for one user (>= 1)
  int max_queue = 1024;         // jobs waiting, all users (>= 0)
  int max_queue_per_user = 256; // jobs waiting for one user (>= 0)
  std::chrono::milliseconds queue_timeout{30000};  // longest wait for a slot (> 0)
  Status Validate() const;
};

struct UserLoad {
  std::string user;
  int running = 0;
  int queued = 0;
};

struct SchedulerStats {
  int running = 0;
  int queued = 0;
  int64_t admitted = 0;          // jobs that got a slot
  int64_t rejected_full = 0;     // refused: queue full (429)
  int64_t timed_out = 0;         // gave up waiting (503)
  int64_t refused_shutdown = 0;  // refused or woken by Shutdown()
  double max_wait_ms = 0;        // longest wait of an admitted job
  std::vector<UserLoad> users;   // users with running or queued jobs
};

class JobScheduler {
 public:
  explicit JobScheduler(SchedulerLimits limits);
  ~JobScheduler();
  JobScheduler(const JobScheduler&) = delete;
  JobScheduler& operator=(const JobScheduler&) = delete;

  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept : owner_(o.owner_), user_(std::move(o.user_)) { o.owner_ = nullptr; }
    Slot& operator=(Slot&& o) noexcept;
    ~Slot() { Release(); }
    void Release();
    double waited_ms() const { return waited_ms_; }

   private:
    friend class JobScheduler;
    JobScheduler* owner_ = nullptr;
    std::string user_;
    double waited_ms_ = 0;
  };

  // Blocks until `user`'s job may run (see the policy above). `user_limit` > 0 replaces
  // limits.max_per_user for this user (an API key's own limit). Errors: ResourceExhausted
  // (queue full), Unavailable (waited too long, or shutting down).
  Result<Slot> Acquire(const std::string& user, int user_limit = 0);

  // Refuses new jobs and wakes every waiting one with Unavailable; running jobs keep their
  // slots. WaitIdle() then blocks until they have finished (or `timeout` passed; false).
  void Shutdown();
  bool WaitIdle(std::chrono::milliseconds timeout);

  SchedulerStats Stats() const;
  const SchedulerLimits& limits() const { return limits_; }

 private:
  struct Waiter {
    std::string user;
    bool granted = false;
    bool refused = false;
    std::condition_variable cv;
  };
  struct UserState {
    int running = 0;
    int limit = 0;  // 0: limits.max_per_user
    std::deque<std::shared_ptr<Waiter>> waiting;
  };

  void ReleaseSlot(const std::string& user);
  void Dispatch();  // requires mu_ held
  int UserLimit(const UserState& u) const { return u.limit > 0 ? u.limit : limits_.max_per_user; }
  bool CanRun(const UserState& u) const { return running_ < limits_.max_concurrent && u.running < UserLimit(u); }

  const SchedulerLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<std::string, UserState> users_;
  std::deque<std::string> turn_;  // users with waiting jobs, in round-robin order (each once)
  int running_ = 0;
  int queued_ = 0;
  bool shutdown_ = false;
  int64_t admitted_ = 0, rejected_full_ = 0, timed_out_ = 0, refused_shutdown_ = 0;
  double max_wait_ms_ = 0;
};

}  // namespace fk::server
