// Search index: exact kernels vs a brute-force reference, compressed precision
// recall, mutation while searching, approximate methods (IVF-int8, FAISS IVF-flat,
// FAISS HNSW) recall vs exact, tombstones, the automatic switch and retrain.
#include "gallery/search_index.h"
#include "gallery_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>

namespace fk::gallery {
namespace {

using testing_support::RandomUnit;

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
      if (prec == VectorPrecision::kFloat32) {
        EXPECT_EQ(got[i][0].id, want[0].id);
      }
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
    if (i % 2) {
      ASSERT_TRUE(idx.Remove(100000 + i - 1).ok());
    }
    if (i % 3 == 0) {
      ASSERT_TRUE(idx.Remove(1 + i).ok());
    }
  }
  while (searches < 5) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(idx.size(), 5000 + 3000 - 1500 - 1000);
}

// Clustered unit vectors: `nc` centres, items = centre + N(0, sd) per coordinate.
std::vector<float> Clustered(int64_t n, int dim, int nc, float sd, uint32_t seed) {
  auto centres = RandomUnit(nc, dim, seed);
  std::mt19937 rng(seed + 1);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> g(static_cast<size_t>(n) * dim);
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < dim; ++j) g[i * dim + j] = centres[(i % nc) * dim + j] + nd(rng);
    NormalizeL2(g.data() + i * dim, dim);
  }
  return g;
}

std::vector<int64_t> Iota(int64_t n, int64_t base = 0) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = base + i;
  return ids;
}

struct RecallResult {
  double r1 = 0, r10 = 0, max_score_err = 0;
};

// Recall@1 / @10 of idx's approximate search against its exact search, on noisy
// copies of gallery items; also the largest score difference on ids both return.
RecallResult MeasureRecall(const SearchIndex& idx, const std::vector<float>& g, int dim, int nq, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> qn(0.0f, 0.05f);
  const int64_t n = static_cast<int64_t>(g.size()) / dim;
  RecallResult r;
  for (int t = 0; t < nq; ++t) {
    const int64_t src = (static_cast<int64_t>(t) * 7919) % n;
    std::vector<float> q(g.begin() + src * dim, g.begin() + (src + 1) * dim);
    for (auto& x : q) x += qn(rng);
    std::vector<std::vector<Hit>> a, e;
    EXPECT_TRUE(idx.Search(q.data(), 1, 10, &a).ok());
    EXPECT_TRUE(idx.Search(q.data(), 1, 10, &e, /*exact_only=*/true).ok());
    if (a[0].empty()) continue;
    r.r1 += a[0][0].id == e[0][0].id;
    int common = 0;
    for (const auto& h : a[0])
      for (const auto& x : e[0])
        if (h.id == x.id) {
          ++common;
          r.max_score_err = std::max(r.max_score_err, static_cast<double>(std::fabs(h.score - x.score)));
        }
    r.r10 += common / 10.0;
    for (size_t j = 1; j < a[0].size(); ++j) EXPECT_GE(a[0][j - 1].score, a[0][j].score);
  }
  r.r1 /= nq;
  r.r10 /= nq;
  return r;
}

// facekit's IVF-int8 on clustered data, for each storage precision (fp32/fp16 rows
// re-rank the candidates, so their scores are the exact ones; int8 has no re-rank).
TEST(SearchIndexTest, IvfInt8RecallOnClusteredData) {
  const int dim = 96;
  const int64_t n = 30000;
  auto g = Clustered(n, dim, 300, 0.1f, 21);
  auto ids = Iota(n, 5);
  double auto_r10 = 0;
  for (auto prec : {VectorPrecision::kFloat32, VectorPrecision::kFloat16, VectorPrecision::kInt8}) {
    IndexOptions o;
    o.precision = prec;
    o.mode = SearchMode::kApprox;
    o.approx_method = ApproxMethod::kIvfInt8;
    o.ivf_nprobe = 0;  // automatic
    SearchIndex idx(dim, o);
    ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
    ASSERT_TRUE(idx.BuildApprox().ok());
    ASSERT_TRUE(idx.approximate());
    // nlist = round(sqrt(30000)) = 173, nprobe = ceil(3 sqrt(173)) = 40
    EXPECT_EQ(idx.ApproxDescription().rfind("ivf-int8 nlist=173 nprobe=40", 0), 0u) << idx.ApproxDescription();
    const auto r = MeasureRecall(idx, g, dim, 200, 22);
    EXPECT_GE(r.r1, 0.98) << "precision " << static_cast<int>(prec);
    EXPECT_GE(r.r10, 0.9) << "precision " << static_cast<int>(prec);
    if (prec == VectorPrecision::kFloat32) auto_r10 = r.r10;
    if (prec != VectorPrecision::kInt8) {
      EXPECT_LT(r.max_score_err, 1e-5) << "re-ranked scores are the exact ones";
    }
  }
  // Visiting one list of 173 must lose recall: the test can tell a working IVF from a broken one.
  IndexOptions o;
  o.mode = SearchMode::kApprox;
  o.ivf_nprobe = 1;
  SearchIndex idx(dim, o);
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE(idx.BuildApprox().ok());
  const auto r1 = MeasureRecall(idx, g, dim, 200, 22);
  EXPECT_LT(r1.r10, auto_r10 - 0.02) << "nprobe=1 should lose recall against the automatic nprobe";
}

// kAuto: exact below the threshold, IVF-int8 from the Add that crosses it, retrained
// when the index grows 4x past its build size; kExact never builds one.
TEST(SearchIndexTest, AutoSwitchesToIvfInt8AtThreshold) {
  const int dim = 32;
  auto g = Clustered(10000, dim, 100, 0.1f, 31);
  auto ids = Iota(10000);
  IndexOptions o;
  o.approx_threshold = 2000;
  SearchIndex idx(dim, o);
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), 1999).ok());
  EXPECT_FALSE(idx.approximate());
  EXPECT_EQ(idx.ApproxDescription(), "exact");
  ASSERT_TRUE(idx.Add(ids.data() + 1999, g.data() + 1999 * dim, 1).ok());
  EXPECT_TRUE(idx.approximate());
  EXPECT_EQ(idx.ApproxDescription().rfind("ivf-int8 nlist=45 ", 0), 0u) << idx.ApproxDescription();  // sqrt(2000)
  ASSERT_TRUE(idx.Add(ids.data() + 2000, g.data() + 2000 * dim, 6000).ok());  // 8000 = 4x: not yet
  EXPECT_EQ(idx.ApproxDescription().rfind("ivf-int8 nlist=45 ", 0), 0u) << idx.ApproxDescription();
  ASSERT_TRUE(idx.Add(ids.data() + 8000, g.data() + 8000 * dim, 1).ok());  // 8001 > 4x: retrained
  EXPECT_EQ(idx.ApproxDescription().rfind("ivf-int8 nlist=89 ", 0), 0u) << idx.ApproxDescription();
  // Every item is still found (nothing lost by the retrain).
  std::vector<std::vector<Hit>> r;
  for (int64_t i = 0; i < 8001; i += 97) {
    ASSERT_TRUE(idx.Search(g.data() + i * dim, 1, 1, &r).ok());
    EXPECT_EQ(r[0][0].id, i);
  }
  IndexOptions ex;
  ex.mode = SearchMode::kExact;
  ex.approx_threshold = 10;
  SearchIndex exact(dim, ex);
  ASSERT_TRUE(exact.Add(ids.data(), g.data(), 5000).ok());
  EXPECT_FALSE(exact.approximate());
}

// Adds and removes while other threads search the approximate index: removed ids
// never come back once Remove returned, added ones are found, nothing fails.
void MutateWhileSearchingApprox(ApproxMethod method) {
  const int dim = 48;
  const int64_t n = 6000;
  auto g = Clustered(n + 3000, dim, 60, 0.12f, 41);
  auto ids = Iota(n + 3000);
  IndexOptions o;
  o.mode = SearchMode::kApprox;
  o.approx_method = method;
  o.threads = 1;
  SearchIndex idx(dim, o);
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE(idx.BuildApprox().ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, searches{0};
  std::vector<std::thread> readers;  // one reader: std::shared_mutex may starve writers behind several
  for (int t = 0; t < 1; ++t)
    readers.emplace_back([&] {
      while (!stop) {
        std::vector<std::vector<Hit>> r;
        // Item 0 is never removed: always found first, with score ~1.
        if (!idx.Search(g.data(), 1, 5, &r).ok() || r[0].empty() || r[0][0].id != 0 || r[0][0].score < 0.999f) ++bad;
        ++searches;
      }
    });
  for (int64_t i = 0; i < 3000; ++i) {
    const int64_t id = n + i;
    ASSERT_TRUE(idx.Add(&id, g.data() + id * dim, 1).ok());
    if (i % 3 == 0) {
      const int64_t victim = 1 + i;  // an original item
      ASSERT_TRUE(idx.Remove(victim).ok());
      std::vector<std::vector<Hit>> r;
      ASSERT_TRUE(idx.Search(g.data() + victim * dim, 1, 10, &r).ok());
      for (const auto& h : r[0]) ASSERT_NE(h.id, victim) << "removed template returned";
    }
    if (i % 50 == 0) {
      std::vector<std::vector<Hit>> r;
      ASSERT_TRUE(idx.Search(g.data() + id * dim, 1, 1, &r).ok());
      EXPECT_EQ(r[0][0].id, id) << "added template not found";
    }
  }
  while (searches < 10) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(idx.size(), n + 3000 - 1000);
  EXPECT_TRUE(idx.approximate());
}

TEST(SearchIndexTest, IvfInt8MutationWhileSearching) { MutateWhileSearchingApprox(ApproxMethod::kIvfInt8); }

#ifdef FK_HAVE_FAISS
TEST(SearchIndexTest, FaissHnswMutationWhileSearching) { MutateWhileSearchingApprox(ApproxMethod::kFaissHnsw); }

TEST(SearchIndexTest, FaissHnswRecallTombstonesAndRebuild) {
  const int dim = 64;
  const int64_t n = 8000;
  auto g = Clustered(n, dim, 80, 0.1f, 51);
  auto ids = Iota(n, 100);
  IndexOptions o;
  o.mode = SearchMode::kApprox;
  o.approx_method = ApproxMethod::kFaissHnsw;
  SearchIndex idx(dim, o);
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE(idx.BuildApprox().ok());
  EXPECT_EQ(idx.ApproxDescription().rfind("faiss-hnsw M=32", 0), 0u) << idx.ApproxDescription();
  auto r = MeasureRecall(idx, g, dim, 200, 52);
  EXPECT_GE(r.r1, 0.97);
  EXPECT_GE(r.r10, 0.9);
  EXPECT_LT(r.max_score_err, 1e-4);
  // Tombstones: remove a whole cluster's worth of near neighbours of item 0 (ids
  // 100 + 80 j, same centre): they must never be returned, k hits still come back.
  for (int64_t j = 1; j < 60; ++j) ASSERT_TRUE(idx.Remove(100 + 80 * j).ok());
  std::vector<std::vector<Hit>> res;
  ASSERT_TRUE(idx.Search(g.data(), 1, 10, &res).ok());
  ASSERT_EQ(res[0].size(), 10u);
  EXPECT_EQ(res[0][0].id, 100);
  for (const auto& h : res[0]) EXPECT_TRUE(h.id == 100 || (h.id - 100) % 80 != 0 || (h.id - 100) / 80 >= 60) << h.id;
  EXPECT_NE(idx.ApproxDescription().find(" tombstones=59"), std::string::npos) << idx.ApproxDescription();
  const size_t before = idx.MemoryBytes();
  // Re-adding a removed id with another vector: the new vector answers for it.
  int64_t back = 100 + 80;
  ASSERT_TRUE(idx.Add(&back, g.data() + 5 * dim, 1).ok());
  ASSERT_TRUE(idx.Search(g.data() + 5 * dim, 1, 2, &res).ok());
  EXPECT_TRUE(res[0][0].id == back || res[0][0].id == 105);
  EXPECT_NEAR(res[0][0].score, 1.0f, 1e-5);
  // Past a quarter dead (2001 of 8001) the graph is rebuilt from the storage: the
  // tombstones are gone (only the ~130 removed after the rebuild remain), memory drops.
  for (int64_t i = 1000; i < 3100; ++i) {
    if (i % 80 != 0) {
      ASSERT_TRUE(idx.Remove(100 + i).ok());
    }
  }
  const std::string desc = idx.ApproxDescription();
  const auto at = desc.find(" tombstones=");
  ASSERT_NE(at, std::string::npos) << desc;
  EXPECT_LT(std::stol(desc.substr(at + 12)), 500) << desc;
  EXPECT_LT(idx.MemoryBytes(), before);
  r = MeasureRecall(idx, std::vector<float>(g.begin() + 3100 * dim, g.end()), dim, 100, 53);
  EXPECT_GE(r.r1, 0.97);
}
#endif

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
  o.approx_method = ApproxMethod::kFaissIvfFlat;
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
