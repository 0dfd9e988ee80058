// JobScheduler: global and per-user concurrency limits, bounded queues, timeouts, fairness,
// shutdown. Real threads; no timing assertions beyond "a wait ends".
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/scheduler.h"

namespace fk::server {
namespace {

using namespace std::chrono_literals;

SchedulerLimits Limits(int global, int per_user, int queue = 1000, int queue_user = 1000, int timeout_ms = 20000) {
  SchedulerLimits l;
  l.max_concurrent = global;
  l.max_per_user = per_user;
  l.max_queue = queue;
  l.max_queue_per_user = queue_user;
  l.queue_timeout = std::chrono::milliseconds(timeout_ms);
  return l;
}

TEST(SchedulerLimits, ValidateNamesTheKey) {
  EXPECT_TRUE(Limits(4, 2).Validate().ok());
  auto l = Limits(0, 1);
  EXPECT_NE(l.Validate().message().find("max_concurrent"), std::string::npos);
  l = Limits(1, 0);
  EXPECT_NE(l.Validate().message().find("max_per_user"), std::string::npos);
  l = Limits(1, 1, 0, 0, 0);
  EXPECT_NE(l.Validate().message().find("queue_timeout_ms"), std::string::npos);
}

// Many threads of 3 users hammer the scheduler; the running counts observed inside the jobs
// never exceed the global or the per-user limit, and every job eventually runs.
TEST(JobScheduler, NeverExceedsGlobalOrPerUserLimits) {
  JobScheduler s(Limits(3, 2));
  std::atomic<int> running{0}, max_running{0};
  std::atomic<int> per_user[3] = {0, 0, 0};
  std::atomic<int> max_per_user{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 24; ++t) {
    threads.emplace_back([&, t] {
      const int u = t % 3;
      for (int i = 0; i < 5; ++i) {
        auto slot = s.Acquire("user" + std::to_string(u));
        ASSERT_TRUE(slot.ok()) << slot.status().ToString();
        const int r = ++running;
        const int pu = ++per_user[u];
        int m = max_running.load();
        while (r > m && !max_running.compare_exchange_weak(m, r)) {}
        m = max_per_user.load();
        while (pu > m && !max_per_user.compare_exchange_weak(m, pu)) {}
        std::this_thread::sleep_for(2ms);  // long enough for jobs to overlap, even under TSan
        --per_user[u];
        --running;
        ++done;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), 24 * 5);
  EXPECT_LE(max_running.load(), 3);
  EXPECT_LE(max_per_user.load(), 2);
  EXPECT_GE(max_running.load(), 2);  // the limit was actually reached under this load
  const SchedulerStats st = s.Stats();
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.queued, 0);
  EXPECT_EQ(st.admitted, 24 * 5);
  EXPECT_TRUE(st.users.empty());
}

TEST(JobScheduler, FullQueueIsRefusedAtOnce) {
  JobScheduler s(Limits(1, 1, /*queue=*/1, /*queue_user=*/1));
  auto a = s.Acquire("alice");
  ASSERT_TRUE(a.ok());
  // One waiter fills the queue...
  std::thread waiter([&] {
    auto b = s.Acquire("bob");
    EXPECT_TRUE(b.ok());
  });
  while (s.Stats().queued < 1) std::this_thread::sleep_for(1ms);
  // ...so the next job is refused with ResourceExhausted, not queued.
  auto c = s.Acquire("carol");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("max_queue"), std::string::npos);
  a->Release();
  waiter.join();
  EXPECT_EQ(s.Stats().rejected_full, 1);
}

TEST(JobScheduler, PerUserQueueLimit) {
  JobScheduler s(Limits(4, 1, /*queue=*/100, /*queue_user=*/1));
  auto a = s.Acquire("alice");
  ASSERT_TRUE(a.ok());
  std::thread waiter([&] { EXPECT_TRUE(s.Acquire("alice").ok()); });
  while (s.Stats().queued < 1) std::this_thread::sleep_for(1ms);
  auto again = s.Acquire("alice");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(again.status().message().find("max_per_user"), std::string::npos);
  // Another user is not affected by alice's limit: a global slot is free.
  auto bob = s.Acquire("bob");
  EXPECT_TRUE(bob.ok());
  a->Release();
  waiter.join();
}

TEST(JobScheduler, WaitingTooLongIsUnavailable) {
  JobScheduler s(Limits(1, 1, 10, 10, /*timeout_ms=*/50));
  auto a = s.Acquire("alice");
  ASSERT_TRUE(a.ok());
  auto b = s.Acquire("bob");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(b.status().message().find("queue_timeout_ms"), std::string::npos);
  const SchedulerStats st = s.Stats();
  EXPECT_EQ(st.timed_out, 1);
  EXPECT_EQ(st.queued, 0);
  // The timed-out waiter left no trace: the next job of bob runs when alice is done.
  a->Release();
  EXPECT_TRUE(s.Acquire("bob").ok());
}

// With the single slot busy, alice queues 6 jobs and then bob 2: as the slot frees, users
// take turns, so bob's jobs do not wait behind all of alice's.
TEST(JobScheduler, UsersAreServedRoundRobin) {
  JobScheduler s(Limits(1, 1));
  auto hold = s.Acquire("holder");
  ASSERT_TRUE(hold.ok());
  std::mutex mu;
  std::vector<std::string> order;
  std::vector<std::thread> threads;
  auto job = [&](const std::string& user) {
    auto slot = s.Acquire(user);
    ASSERT_TRUE(slot.ok());
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(user);
  };
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back(job, "alice");
    while (s.Stats().queued < i + 1) std::this_thread::sleep_for(1ms);
  }
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back(job, "bob");
    while (s.Stats().queued < 7 + i) std::this_thread::sleep_for(1ms);
  }
  hold->Release();
  for (auto& t : threads) t.join();
  ASSERT_EQ(order.size(), 8u);
  // Both of bob's jobs are among the first four to run.
  int bob_in_first_four = 0;
  for (int i = 0; i < 4; ++i) bob_in_first_four += order[i] == "bob";
  EXPECT_EQ(bob_in_first_four, 2) << "order: " << order[0] << " " << order[1] << " " << order[2] << " " << order[3];
}

TEST(JobScheduler, ShutdownWakesWaitersAndRefusesNewJobs) {
  JobScheduler s(Limits(1, 1));
  auto a = s.Acquire("alice");
  ASSERT_TRUE(a.ok());
  Status waiter_status;
  std::thread waiter([&] {
    auto b = s.Acquire("bob");
    waiter_status = b.ok() ? OkStatus() : b.status();
  });
  while (s.Stats().queued < 1) std::this_thread::sleep_for(1ms);
  s.Shutdown();
  waiter.join();
  EXPECT_EQ(waiter_status.code(), StatusCode::kUnavailable);
  auto c = s.Acquire("carol");
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  // The running job keeps its slot; WaitIdle returns once it is released.
  EXPECT_FALSE(s.WaitIdle(10ms));
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    a->Release();
  });
  EXPECT_TRUE(s.WaitIdle(10s));
  releaser.join();
}

// A key's own limit replaces max_per_user for that user only.
TEST(JobScheduler, PerUserLimitOverride) {
  JobScheduler s(Limits(8, 1, 100, 100, 40));
  std::vector<JobScheduler::Slot> held;
  for (int i = 0; i < 3; ++i) {
    auto a = s.Acquire("batch", /*user_limit=*/3);
    ASSERT_TRUE(a.ok()) << i;
    held.push_back(std::move(*a));
  }
  auto fourth = s.Acquire("batch", 3);  // over its own limit: waits, then times out
  EXPECT_EQ(fourth.status().code(), StatusCode::kUnavailable);
  auto bob = s.Acquire("bob");
  ASSERT_TRUE(bob.ok());
  auto bob2 = s.Acquire("bob");  // the default limit (1) still applies to others
  EXPECT_EQ(bob2.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.Stats().running, 4);
}

TEST(JobScheduler, SlotMoveKeepsOneRelease) {
  JobScheduler s(Limits(1, 1, 10, 10, 30));
  {
    auto a = s.Acquire("alice");
    ASSERT_TRUE(a.ok());
    JobScheduler::Slot moved = std::move(*a);
    EXPECT_EQ(s.Stats().running, 1);
  }  // both handles gone: released exactly once
  EXPECT_EQ(s.Stats().running, 0);
  EXPECT_TRUE(s.Acquire("bob").ok());
}

}  // namespace
}  // namespace fk::server
