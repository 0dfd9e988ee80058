// Search index: exact kernels vs a brute-force reference, compressed precision
// recall, mutation while searching, FAISS IVF recall.
#include "gallery/search_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>

namespace fk::gallery {
namespace {

std::vector<float> RandomUnit(int64_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (auto& x : v) x = nd(rng);
  for (int64_t i = 0; i < n; ++i) NormalizeL2(v.data() + i * dim, dim);
  return v;
}

// Reference: sorted top-k by brute force in double.
std::vector<Hit> BruteForce(const std::vector<float>& g, const std::vector<int64_t>& ids, int dim, const float* q, int k) {
  std::vector<Hit> all;
  for (size_t i = 0; i < ids.size(); ++i) {
    double s = 0;
    for (int j = 0; j < dim; ++j) s += static_cast<double>(g[i * dim + j]) * q[j];
    all.push_back({ids[i], static_cast<float>(s)});
  }
  std::sort(all.begin(), all.end(), [](const Hit& a, const Hit& b) { return a.score > b.score; });
  all.resize(std::min<size_t>(all.size(), static_cast<size_t>(k)));
  return all;
}

TEST(HalfTest, RoundTripAndRounding) {
  for (float f : {0.0f, 1.0f, -2.5f, 0.1f, 65504.0f, 6.1e-5f, 3e-7f}) {
    const float back = HalfToFloat(FloatToHalf(f));
    EXPECT_NEAR(back, f, std::fabs(f) * 1e-3 + 1e-7) << f;
  }
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e6f))));
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
}

class ExactPrecisionTest : public ::testing::TestWithParam<std::tuple<VectorPrecision, int>> {};

// Odd dimensions (not a multiple of 16/32) and a size that is not a multiple of
// the block size or of 4, single and batched queries.
TEST_P(ExactPrecisionTest, MatchesBruteForce) {
  const auto [prec, dim] = GetParam();
  const int64_t n = SearchIndex::kBlockRows + 1237;
  auto g = RandomUnit(n, dim, 1);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = 1000 + 3 * i;
  IndexOptions o;
  o.precision = prec;
  o.mode = SearchMode::kExact;
  SearchIndex idx(dim, o);
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
  EXPECT_EQ(idx.size(), n);
  const int nq = 9;
  auto q = RandomUnit(nq, dim, 2);
  const float tol = prec == VectorPrecision::kFloat32 ? 1e-4f : prec == VectorPrecision::kFloat16 ? 2e-3f : 2e-2f;
  for (int64_t batch : {int64_t{1}, int64_t{nq}}) {
    std::vector<std::vector<Hit>> got;
    for (int64_t start = 0; start < nq; start += batch) {
      std::vector<std::vector<Hit>> part;
      ASSERT_TRUE(idx.Search(q.data() + start * dim, std::min<int64_t>(batch, nq - start), 10, &part).ok());
      got.insert(got.end(), part.begin(), part.end());
    }
    for (int i = 0; i < nq; ++i) {
      auto want = BruteForce(g, ids, dim, q.data() + i * dim, 10);
      ASSERT_EQ(got[i].size(), 10u);
      for (int j = 0; j < 10; ++j) EXPECT_NEAR(got[i][j].score, want[j].score, tol) << "q" << i << " rank " << j;
      if (prec == VectorPrecision::kFloat32) EXPECT_EQ(got[i][0].id, want[0].id);
      for (int j = 1; j < 10; ++j) EXPECT_GE(got[i][j - 1].score, got[i][j].score);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, ExactPrecisionTest,
                         ::testing::Combine(::testing::Values(VectorPrecision::kFloat32, VectorPrecision::kFloat16,
                                                              VectorPrecision::kInt8),
                                            ::testing::Values(13, 128, 200)));

TEST(SearchIndexTest, NoisyCopyFoundAtRank1InAllPrecisions) {
  const int dim = 128;
  const int64_t n = 20000;
  auto g = RandomUnit(n, dim, 3);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;
  for (auto prec : {VectorPrecision::kFloat32, VectorPrecision::kFloat16, VectorPrecision::kInt8}) {
    IndexOptions o;
    o.precision = prec;
    SearchIndex idx(dim, o);
    ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
    std::mt19937 rng(4);
    std::normal_distribution<float> nd(0.0f, 0.03f);
    int hits = 0;
    for (int t = 0; t < 50; ++t) {
      const int64_t src = (t * 397) % n;
      std::vector<float> q(g.begin() + src * dim, g.begin() + (src + 1) * dim);
      for (auto& x : q) x += nd(rng);
      std::vector<std::vector<Hit>> r;
      ASSERT_TRUE(idx.Search(q.data(), 1, 1, &r).ok());
      hits += r[0][0].id == src;
    }
    EXPECT_EQ(hits, 50) << "precision " << static_cast<int>(prec);
  }
}

TEST(SearchIndexTest, AddRemoveAndErrors) {
  const int dim = 16;
  SearchIndex idx(dim, {});
  auto g = RandomUnit(10, dim, 5);
  std::vector<int64_t> ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), 10).ok());
  EXPECT_EQ(idx.Add(ids.data(), g.data(), 1).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(idx.size(), 10);
  std::vector<float> zero(dim, 0.0f);
  int64_t id11 = 11;
  EXPECT_EQ(idx.Add(&id11, zero.data(), 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(idx.Remove(42).code(), StatusCode::kNotFound);
  ASSERT_TRUE(idx.Remove(3).ok());
  EXPECT_FALSE(idx.Contains(3));
  std::vector<std::vector<Hit>> r;
  ASSERT_TRUE(idx.Search(g.data() + 2 * dim, 1, 10, &r).ok());  // the removed vector itself
  EXPECT_EQ(r[0].size(), 9u);
  for (const auto& h : r[0]) EXPECT_NE(h.id, 3);
  ASSERT_TRUE(idx.Search(g.data() + 9 * dim, 1, 1, &r).ok());  // vector 10 moved into the hole
  EXPECT_EQ(r[0][0].id, 10);
  EXPECT_NEAR(r[0][0].score, 1.0f, 1e-5);
  EXPECT_EQ(idx.Search(g.data(), 1, 0, &r).code(), StatusCode::kInvalidArgument);
}

TEST(SearchIndexTest, MutationWhileSearching) {
  const int dim = 64;
  IndexOptions o;
  o.threads = 1;
  SearchIndex idx(dim, o);
  auto base = RandomUnit(5000, dim, 6);
  std::vector<int64_t> ids(5000);
  for (int i = 0; i < 5000; ++i) ids[i] = i;
  ASSERT_TRUE(idx.Add(ids.data(), base.data(), 5000).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, searches{0};
  std::thread reader([&] {
    while (!stop) {
      std::vector<std::vector<Hit>> r;
      // Item 0 is never removed: always found with score ~1.
      if (!idx.Search(base.data(), 1, 5, &r).ok() || r[0].empty() || r[0][0].id != 0) ++bad;
      ++searches;
    }
  });
  auto extra = RandomUnit(3000, dim, 7);
  for (int i = 0; i < 3000; ++i) {
    int64_t id = 100000 + i;
    ASSERT_TRUE(idx.Add(&id, extra.data() + i * dim, 1).ok());
    if (i % 2) ASSERT_TRUE(idx.Remove(100000 + i - 1).ok());
    if (i % 3 == 0) ASSERT_TRUE(idx.Remove(1 + i).ok());
  }
  while (searches < 5) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(idx.size(), 5000 + 3000 - 1500 - 1000);
}

#ifdef FK_HAVE_FAISS
TEST(SearchIndexTest, FaissIvfRecallOnClusteredData) {
  const int dim = 32;
  const int64_t n = 20000;
  // Clustered data: 200 centres, items near them; queries are noisy copies of items.
  auto centres = RandomUnit(200, dim, 8);
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 0.15f);
  std::vector<float> g(static_cast<size_t>(n) * dim);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    ids[static_cast<size_t>(i)] = i;
    for (int j = 0; j < dim; ++j) g[i * dim + j] = centres[(i % 200) * dim + j] + nd(rng);
    NormalizeL2(g.data() + i * dim, dim);
  }
  IndexOptions o;
  o.mode = SearchMode::kAuto;
  o.approx_threshold = 10000;
  o.ivf_nprobe = 16;
  SearchIndex idx(dim, o);
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE(idx.approximate());
  std::normal_distribution<float> qn(0.0f, 0.02f);
  int agree = 0;
  const int nq = 200;
  for (int t = 0; t < nq; ++t) {
    std::vector<float> q(g.begin() + (t * 97) * dim, g.begin() + (t * 97 + 1) * dim);
    for (auto& x : q) x += qn(rng);
    std::vector<std::vector<Hit>> a, e;
    ASSERT_TRUE(idx.Search(q.data(), 1, 1, &a).ok());
    ASSERT_TRUE(idx.Search(q.data(), 1, 1, &e, /*exact_only=*/true).ok());
    agree += !a[0].empty() && a[0][0].id == e[0][0].id;
  }
  EXPECT_GE(agree, nq * 95 / 100);
  // Removal reaches the FAISS index too.
  ASSERT_TRUE(idx.Remove(0).ok());
  std::vector<std::vector<Hit>> r;
  ASSERT_TRUE(idx.Search(g.data(), 1, 3, &r).ok());
  for (const auto& h : r[0]) EXPECT_NE(h.id, 0);
}
#endif

}  // namespace
}  // namespace fk::gallery
