// PhotoBatcher with a fake pipeline: results reach the right caller, batches form under
// concurrent load and respect max_batch, a lone photo is not held back forever, errors stay
// per photo, Stop() drains.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "common/batcher.h"

namespace fk {
namespace {

using namespace std::chrono_literals;
// Stand-ins for a photo and a face: the batcher only moves pointers and results.
struct Image {
  int w = 0;
  Image(int width, int) : w(width) {}
  int width() const { return w; }
};
struct Face {
  float score = 0.f;
};
using PhotoBatcher = DynamicBatcher<const Image, std::vector<Face>>;

// Fake pipeline: one face per photo whose score is the photo's width (so each caller can
// check it got its own answer); an image of width 13 fails. Records the batch sizes.
struct FakePipeline {
  std::mutex mu;
  std::vector<int> sizes;
  std::chrono::milliseconds work{0};
  std::vector<Result<std::vector<Face>>> operator()(std::span<const Image* const> photos) {
    {
      std::lock_guard<std::mutex> lock(mu);
      sizes.push_back(static_cast<int>(photos.size()));
    }
    std::this_thread::sleep_for(work);
    std::vector<Result<std::vector<Face>>> out;
    for (const Image* p : photos) {
      if (p->width() == 13) {
        out.push_back(InvalidArgument("bad photo"));
        continue;
      }
      Face f;
      f.score = static_cast<float>(p->width());
      out.push_back(std::vector<Face>{f});
    }
    return out;
  }
};

TEST(BatcherOptions, Validate) {
  BatcherOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.max_batch = 0;
  EXPECT_NE(o.Validate().message().find("max_batch"), std::string::npos);
  o = {};
  o.workers = 0;
  EXPECT_NE(o.Validate().message().find("workers"), std::string::npos);
  o = {};
  o.max_delay = std::chrono::microseconds(-1);
  EXPECT_NE(o.Validate().message().find("max_delay_us"), std::string::npos);
}

TEST(PhotoBatcher, ConcurrentCallersGetTheirOwnResultsInBatches) {
  FakePipeline fake;
  fake.work = 5ms;
  BatcherOptions o;
  o.max_batch = 8;
  o.max_delay = 20ms;
  auto b = PhotoBatcher::Create([&](std::span<const Image* const> p) { return fake(p); }, o);
  ASSERT_TRUE(b.ok());
  constexpr int kThreads = 16, kEach = 10;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const Image img(20 + t, 4);
      for (int i = 0; i < kEach; ++i) {
        auto faces = (*b)->Process(img);
        if (!faces.ok() || faces->size() != 1 || (*faces)[0].score != static_cast<float>(20 + t)) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const BatcherStats s = (*b)->Stats();
  EXPECT_EQ(s.photos, kThreads * kEach);
  int max_size = 0, total = 0;
  for (int n : fake.sizes) {
    max_size = std::max(max_size, n);
    total += n;
  }
  EXPECT_EQ(total, kThreads * kEach);
  EXPECT_LE(max_size, 8);
  EXPECT_EQ(max_size, 8);         // 16 closed-loop callers do fill batches of 8
  EXPECT_GT(s.mean_batch, 2.0);   // far from one photo per call
  EXPECT_EQ(s.max_batch_seen, max_size);
}

TEST(PhotoBatcher, ALonePhotoIsProcessedAfterTheDelay) {
  FakePipeline fake;
  BatcherOptions o;
  o.max_batch = 64;
  o.max_delay = 2ms;
  auto b = PhotoBatcher::Create([&](std::span<const Image* const> p) { return fake(p); }, o);
  ASSERT_TRUE(b.ok());
  const Image img(30, 4);
  auto faces = (*b)->Process(img);  // would hang if the batcher waited for a full batch
  ASSERT_TRUE(faces.ok());
  EXPECT_EQ(fake.sizes, std::vector<int>{1});
}

TEST(PhotoBatcher, MaxBatchOneMeansNoBatching) {
  FakePipeline fake;
  fake.work = 1ms;
  BatcherOptions o;
  o.max_batch = 1;
  auto b = PhotoBatcher::Create([&](std::span<const Image* const> p) { return fake(p); }, o);
  ASSERT_TRUE(b.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      const Image img(40, 4);
      for (int i = 0; i < 5; ++i) ASSERT_TRUE((*b)->Process(img).ok());
    });
  for (auto& th : threads) th.join();
  for (int n : fake.sizes) EXPECT_EQ(n, 1);
  EXPECT_EQ(fake.sizes.size(), 20u);
}

TEST(PhotoBatcher, AFailingPhotoDoesNotFailItsBatch) {
  FakePipeline fake;
  fake.work = 20ms;
  BatcherOptions o;
  o.max_batch = 4;
  o.max_delay = 50ms;
  auto b = PhotoBatcher::Create([&](std::span<const Image* const> p) { return fake(p); }, o);
  ASSERT_TRUE(b.ok());
  Status bad_status;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const Image img(t == 0 ? 13 : 50, 4);
      auto r = (*b)->Process(img);
      if (t == 0) bad_status = r.status();
      else if (r.ok()) ++good;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad_status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(good.load(), 3);
}

TEST(PhotoBatcher, StopDrainsThenRefuses) {
  FakePipeline fake;
  fake.work = 10ms;
  BatcherOptions o;
  o.max_batch = 2;
  o.max_delay = 0us;
  auto b = PhotoBatcher::Create([&](std::span<const Image* const> p) { return fake(p); }, o);
  ASSERT_TRUE(b.ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      const Image img(60, 4);
      if ((*b)->Process(img).ok()) ++ok;
    });
  while ((*b)->Stats().photos + (*b)->Stats().queued < 1) std::this_thread::sleep_for(1ms);
  for (auto& th : threads) th.join();
  (*b)->Stop();
  EXPECT_EQ(ok.load(), 6);
  const Image img(60, 4);
  EXPECT_EQ((*b)->Process(img).status().code(), StatusCode::kUnavailable);
}

// A batch request's photos are queued together: they fill batches of max_batch at once, each
// gets its own result (the failing one its error), and a concurrent single caller is served too.
TEST(PhotoBatcher, ProcessAllQueuesEveryItemTogether) {
  FakePipeline fake;
  fake.work = 2ms;
  BatcherOptions o;
  o.max_batch = 4;
  o.max_delay = 500ms;  // long: the lone caller must not start a batch of its own before ProcessAll queues
  auto b = PhotoBatcher::Create([&](std::span<const Image* const> p) { return fake(p); }, o);
  ASSERT_TRUE(b.ok());
  std::vector<Image> imgs;
  for (int i = 0; i < 10; ++i) imgs.emplace_back(i == 6 ? 13 : 100 + i, 4);
  std::vector<const Image*> ptrs;
  for (const Image& im : imgs) ptrs.push_back(&im);
  std::thread single([&] {
    const Image lone(7, 4);
    auto r = (*b)->Process(lone);
    EXPECT_TRUE(r.ok() && (*r)[0].score == 7.f);
  });
  const auto res = (*b)->ProcessAll(ptrs);
  single.join();
  ASSERT_EQ(res.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    if (i == 6) {
      EXPECT_EQ(res[i].status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(res[i].ok()) << i;
    EXPECT_EQ((*res[i])[0].score, static_cast<float>(100 + i));
  }
  EXPECT_EQ(fake.sizes.front(), 4);  // the first batch was full at once, not after the delay
  (*b)->Stop();
  const auto after = (*b)->ProcessAll(ptrs);
  EXPECT_EQ(after[0].status().code(), StatusCode::kUnavailable);
}

TEST(PhotoBatcher, SeveralWorkersRunBatchesAtOnce) {
  std::atomic<int> inside{0}, max_inside{0};
  BatcherOptions o;
  o.max_batch = 2;
  o.max_delay = 0us;
  o.workers = 3;
  auto b = PhotoBatcher::Create(
      [&](std::span<const Image* const> p) {
        const int n = ++inside;
        int m = max_inside.load();
        while (n > m && !max_inside.compare_exchange_weak(m, n)) {}
        std::this_thread::sleep_for(20ms);
        --inside;
        return std::vector<Result<std::vector<Face>>>(p.size(), std::vector<Face>());
      },
      o);
  ASSERT_TRUE(b.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&] {
      const Image img(8, 8);
      EXPECT_TRUE((*b)->Process(img).ok());
    });
  for (auto& th : threads) th.join();
  EXPECT_GE(max_inside.load(), 2);
  EXPECT_LE(max_inside.load(), 3);
}

}  // namespace
}  // namespace fk
