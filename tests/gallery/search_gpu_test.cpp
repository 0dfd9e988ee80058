// GPU exact search (IndexOptions::device.use_cuda, engine/cuda/search_gpu.*).
//
// Runs everywhere: device-setting validation, the no-GPU error path (Unavailable with the
// reason in a CUDA build, Unsupported in a build without CUDA), the CPU fallback, and the
// gallery open path. Needs a GPU (GTEST_SKIP "no GPU: <reason>" otherwise): the GPU mode
// against exact fp32 CPU search on random data (same top-10 ids up to near-ties, scores
// within the precision's tolerance), k up to 128 and beyond (CPU path), adds / removes across
// chunk boundaries, several query blocks and row tiles, concurrent searches while writing,
// the memory cap, and Gallery::Identify.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "gallery/search_index.h"
#include "gallery_test_support.h"

namespace fk::gallery {
namespace {

using testing_support::kModel;
using testing_support::OpenDb;
using testing_support::RandomUnit;
using testing_support::TempDir;

// Queries near gallery rows (so top-1 is clear) plus pure noise ones (near-ties everywhere).
std::vector<float> Queries(const std::vector<float>& g, int64_t n, int dim, int nq, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> q(static_cast<size_t>(nq) * dim);
  for (int i = 0; i < nq; ++i) {
    const int64_t r = static_cast<int64_t>(rng() % static_cast<uint32_t>(n));
    for (int j = 0; j < dim; ++j)
      q[static_cast<size_t>(i) * dim + j] =
          (i % 3 == 2 ? 0.0f : g[static_cast<size_t>(r) * dim + j]) + nd(rng) * 0.6f / std::sqrt(float(dim));
  }
  return q;
}

std::vector<int64_t> Ids(int64_t n, int64_t base = 0) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = base + 7 * i + 3;
  return v;
}

IndexOptions GpuOptions(const std::string& precision = "auto") {
  IndexOptions o;
  o.mode = SearchMode::kExact;
  o.device.use_cuda = true;
  o.device.precision = precision;
  return o;
}

// A usable GPU for search, or the reason there is none.
std::string NoGpuReason() {
  static const std::string reason = [] {
    auto r = SearchIndex::Create(16, GpuOptions());
    return r.ok() ? std::string() : r.status().ToString();
  }();
  return reason;
}

#define REQUIRE_GPU()                                              \
  do {                                                             \
    if (!NoGpuReason().empty()) GTEST_SKIP() << "no GPU: " << NoGpuReason(); \
  } while (0)

double Tolerance(const std::string& precision) { return precision == "fp32" ? 2e-5 : 3e-3; }

// GPU results vs CPU exact fp32: same ids except where the CPU scores of the differing ids
// are within `tol` of the k-th CPU score (near-ties), and position-wise scores within tol.
void ExpectSameTopK(const std::vector<Hit>& gpu, const std::vector<Hit>& cpu, double tol,
                    const std::unordered_map<int64_t, float>& cpu_score_of, const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  if (cpu.empty()) return;
  const float kth = cpu.back().score;
  std::set<int64_t> g, c;
  for (const auto& h : gpu) g.insert(h.id);
  for (const auto& h : cpu) c.insert(h.id);
  EXPECT_EQ(g.size(), gpu.size()) << what << ": duplicate ids";
  for (const auto& h : gpu) {
    if (c.count(h.id)) continue;
    auto it = cpu_score_of.find(h.id);
    ASSERT_NE(it, cpu_score_of.end()) << what << ": unknown id " << h.id;
    EXPECT_GE(it->second, kth - 2 * tol) << what << ": id " << h.id << " is not a near-tie of the k-th";
  }
  for (size_t j = 0; j < cpu.size(); ++j)
    EXPECT_NEAR(gpu[j].score, cpu[j].score, tol) << what << " rank " << j;
  for (size_t j = 1; j < gpu.size(); ++j) EXPECT_GE(gpu[j - 1].score, gpu[j].score) << what;
}

// Exact scores of every id for near-tie checks (brute force in double).
std::unordered_map<int64_t, float> AllScores(const std::vector<float>& g, const std::vector<int64_t>& ids, int dim,
                                             const float* q) {
  std::vector<float> qn(q, q + dim);
  NormalizeL2(qn.data(), dim);
  std::unordered_map<int64_t, float> m;
  for (size_t i = 0; i < ids.size(); ++i) {
    double s = 0;
    for (int j = 0; j < dim; ++j) s += static_cast<double>(g[i * dim + j]) * qn[j];
    m[ids[i]] = static_cast<float>(s);
  }
  return m;
}

// ---- runs everywhere -------------------------------------------------------------------------

TEST(GpuSearchConfig, RejectsBadDeviceSettingsBeforeProbing) {
  struct Case {
    const char* what;
    IndexOptions o;
  };
  std::vector<Case> cases;
  {
    IndexOptions o = GpuOptions();
    o.device.gpu_index = -1;
    cases.push_back({"gpu_index", o});
  }
  {
    IndexOptions o = GpuOptions("int4");
    cases.push_back({"precision", o});
  }
  {
    IndexOptions o = GpuOptions();
    o.device.gpu_memory_limit_fraction = 1.5;
    cases.push_back({"fraction", o});
  }
  {
    IndexOptions o = GpuOptions();
    o.device.gpu_memory_limit_bytes = -5;
    cases.push_back({"bytes", o});
  }
  {
    IndexOptions o = GpuOptions();
    o.mode = SearchMode::kApprox;
    o.device.allow_cpu_fallback = true;  // a configuration error is never "fallen back" from
    cases.push_back({"approx", o});
  }
  for (const auto& c : cases) {
    auto r = SearchIndex::Create(32, c.o);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.what << ": " << r.status().ToString();
    EXPECT_EQ(ValidateIndexDevice(c.o).code(), StatusCode::kInvalidArgument) << c.what;
  }
  EXPECT_TRUE(ValidateIndexDevice(GpuOptions("fp32")).ok());
  EXPECT_TRUE(ValidateIndexDevice(GpuOptions("tf32")).ok());
  EXPECT_TRUE(ValidateIndexDevice(GpuOptions("fp16")).ok());
  IndexOptions cpu;
  cpu.device.precision = "whatever";  // not looked at without use_cuda
  EXPECT_TRUE(ValidateIndexDevice(cpu).ok());
  EXPECT_TRUE(SearchIndex::Create(32, cpu).ok());
}

// No usable GPU here: a clear error naming the cause, never a crash; Add/Search on an index
// constructed directly report the same error.
TEST(GpuSearchConfig, NoGpuGivesTheReason) {
  if (NoGpuReason().empty()) GTEST_SKIP() << "a GPU is usable here: the no-GPU path is not reachable";
  auto r = SearchIndex::Create(64, GpuOptions());
  ASSERT_FALSE(r.ok());
#ifdef FK_GALLERY_CUDA
  EXPECT_TRUE(r.status().code() == StatusCode::kUnavailable || r.status().code() == StatusCode::kFailedPrecondition)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("GPU exact search on cuda:0"), std::string::npos) << r.status().message();
  // The device layer's reason: driver / device / cuBLAS.
  const std::string m = r.status().message();
  EXPECT_TRUE(m.find("driver") != std::string::npos || m.find("device") != std::string::npos ||
              m.find("cuBLAS") != std::string::npos)
      << m;
#else
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find("built without CUDA"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("-DFK_CUDA=ON"), std::string::npos) << r.status().message();
#endif
  SearchIndex direct(64, GpuOptions());
  EXPECT_EQ(direct.device_status().code(), r.status().code());
  auto g = RandomUnit(10, 64, 1);
  auto ids = Ids(10);
  EXPECT_EQ(direct.Add(ids.data(), g.data(), 10).code(), r.status().code());
  std::vector<std::vector<Hit>> out;
  EXPECT_EQ(direct.Search(g.data(), 1, 5, &out).code(), r.status().code());
  EXPECT_FALSE(direct.on_gpu());
  EXPECT_EQ(direct.GpuMemoryBytes(), 0u);
}

// allow_cpu_fallback: the index works on the CPU, says why, and answers like the CPU index.
TEST(GpuSearchConfig, CpuFallbackAnswersLikeTheCpu) {
  if (NoGpuReason().empty()) GTEST_SKIP() << "a GPU is usable here: nothing falls back";
  const int dim = 40;
  const int64_t n = 3000;
  auto g = RandomUnit(n, dim, 2);
  auto ids = Ids(n);
  IndexOptions o = GpuOptions();
  o.device.allow_cpu_fallback = true;
  auto fb = SearchIndex::Create(dim, o);
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();
  EXPECT_FALSE((*fb)->on_gpu());
  EXPECT_EQ((*fb)->DeviceDescription().rfind("cpu (GPU search unavailable", 0), 0u) << (*fb)->DeviceDescription();
  IndexOptions c;
  c.mode = SearchMode::kExact;
  SearchIndex cpu(dim, c);
  ASSERT_TRUE((*fb)->Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE(cpu.Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE((*fb)->Remove(ids[17]).ok());
  ASSERT_TRUE(cpu.Remove(ids[17]).ok());
  auto q = Queries(g, n, dim, 9, 3);
  std::vector<std::vector<Hit>> a, b;
  ASSERT_TRUE((*fb)->Search(q.data(), 9, 10, &a).ok());
  ASSERT_TRUE(cpu.Search(q.data(), 9, 10, &b).ok());
  for (int i = 0; i < 9; ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    for (size_t j = 0; j < a[i].size(); ++j) {
      EXPECT_EQ(a[i][j].id, b[i][j].id);
      EXPECT_EQ(a[i][j].score, b[i][j].score);
    }
  }
}

// The gallery passes the device settings through: opening fails with the reason, or falls
// back and says so.
TEST(GpuSearchConfig, GalleryOpenReportsTheDevice) {
  TempDir dir;
  auto db = OpenDb(dir.File("g.db"));
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->CreateGallery({"staff", kModel.model_id, kModel.model_version, 32}).ok());
  {
    auto cpu = db->OpenGallery("staff");
    ASSERT_TRUE(cpu.ok());
    EXPECT_EQ((*cpu)->index_device(), "cpu");
  }
  IndexOptions bad = GpuOptions("int4");
  EXPECT_EQ(db->OpenGallery("staff", bad).status().code(), StatusCode::kInvalidArgument);
  auto h = db->OpenGallery("staff", GpuOptions());
  if (NoGpuReason().empty()) {
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ((*h)->index_device().rfind("cuda:0", 0), 0u) << (*h)->index_device();
  } else {
    ASSERT_FALSE(h.ok());
    EXPECT_NE(h.status().code(), StatusCode::kOk);
    IndexOptions fb = GpuOptions();
    fb.device.allow_cpu_fallback = true;
    auto f = db->OpenGallery("staff", fb);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_NE((*f)->index_device().find("GPU search unavailable"), std::string::npos) << (*f)->index_device();
  }
}

// ---- needs a GPU ---------------------------------------------------------------------------------

class GpuSearchTest : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

// Odd sizes and dimensions, single queries and a batch, against exact fp32 on the CPU.
TEST_P(GpuSearchTest, MatchesCpuExactFp32) {
  REQUIRE_GPU();
  const auto [precision, dim] = GetParam();
  const int64_t n = 20000 + 37;  // several GPU chunks (4096, 8192, 16384 rows)
  auto g = RandomUnit(n, dim, 11);
  auto ids = Ids(n);
  auto gi = SearchIndex::Create(dim, GpuOptions(precision));
  ASSERT_TRUE(gi.ok()) << gi.status().ToString();
  ASSERT_TRUE((*gi)->on_gpu());
  IndexOptions c;
  c.mode = SearchMode::kExact;
  SearchIndex cpu(dim, c);
  ASSERT_TRUE((*gi)->Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE(cpu.Add(ids.data(), g.data(), n).ok());
  EXPECT_GT((*gi)->GpuMemoryBytes(), static_cast<size_t>(n) * dim * (precision == "fp32" ? 4 : 2));
  EXPECT_NE((*gi)->DeviceDescription().find(std::to_string(n) + " rows"), std::string::npos)
      << (*gi)->DeviceDescription();
  const int nq = 37;
  auto q = Queries(g, n, dim, nq, 5);
  const double tol = Tolerance(precision);
  std::vector<std::unordered_map<int64_t, float>> exact;
  for (int i = 0; i < nq; ++i) exact.push_back(AllScores(g, ids, dim, q.data() + i * dim));
  for (int k : {1, 10, 100, 128}) {
    std::vector<std::vector<Hit>> a, b;
    ASSERT_TRUE((*gi)->Search(q.data(), nq, k, &a).ok());
    ASSERT_TRUE(cpu.Search(q.data(), nq, k, &b).ok());
    for (int i = 0; i < nq; ++i)
      ExpectSameTopK(a[i], b[i], tol, exact[i],
                     precision + " k=" + std::to_string(k) + " batch query " + std::to_string(i));
    for (int i = 0; i < 4; ++i) {  // one at a time (another GEMM shape: compare with tolerance)
      std::vector<std::vector<Hit>> one;
      ASSERT_TRUE((*gi)->Search(q.data() + i * dim, 1, k, &one).ok());
      ExpectSameTopK(one[0], b[i], tol, exact[i], precision + " k=" + std::to_string(k) + " single " +
                                                      std::to_string(i));
    }
  }
  // The near-duplicate queries find their row first, with the same top-1 as the CPU.
  std::vector<std::vector<Hit>> a, b;
  ASSERT_TRUE((*gi)->Search(q.data(), nq, 1, &a).ok());
  ASSERT_TRUE(cpu.Search(q.data(), nq, 1, &b).ok());
  for (int i = 0; i < nq; i += 3) EXPECT_EQ(a[i][0].id, b[i][0].id) << i;
}

INSTANTIATE_TEST_SUITE_P(GpuSearchPrecisions, GpuSearchTest,
                         ::testing::Combine(::testing::Values("auto", "fp32", "tf32"),
                                            ::testing::Values(128, 512, 1000)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_d" + std::to_string(std::get<1>(info.param));
                         });

// k above the GPU's limit, fewer rows than k, an empty index.
TEST(GpuSearch, SmallAndLargeK) {
  REQUIRE_GPU();
  const int dim = 64;
  auto gi = SearchIndex::Create(dim, GpuOptions());
  ASSERT_TRUE(gi.ok());
  auto g = RandomUnit(500, dim, 21);
  auto ids = Ids(500);
  std::vector<std::vector<Hit>> r;
  ASSERT_TRUE((*gi)->Search(g.data(), 2, 10, &r).ok());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].empty());
  ASSERT_TRUE((*gi)->Add(ids.data(), g.data(), 5).ok());
  ASSERT_TRUE((*gi)->Search(g.data(), 1, 10, &r).ok());
  ASSERT_EQ(r[0].size(), 5u);  // fewer rows than k
  EXPECT_EQ(r[0][0].id, ids[0]);
  EXPECT_NEAR(r[0][0].score, 1.0f, 2e-3);
  ASSERT_TRUE((*gi)->Add(ids.data() + 5, g.data() + 5 * dim, 495).ok());
  IndexOptions c;
  c.mode = SearchMode::kExact;
  SearchIndex cpu(dim, c);
  ASSERT_TRUE(cpu.Add(ids.data(), g.data(), 500).ok());
  std::vector<std::vector<Hit>> a, b;
  const int big = SearchIndex::GpuMaxK() + 72;  // served from the CPU rows
  ASSERT_TRUE((*gi)->Search(g.data() + 3 * dim, 1, big, &a).ok());
  ASSERT_TRUE(cpu.Search(g.data() + 3 * dim, 1, big, &b).ok());
  ASSERT_EQ(a[0].size(), static_cast<size_t>(big));
  for (int j = 0; j < big; ++j) EXPECT_EQ(a[0][j].id, b[0][j].id);
  EXPECT_EQ((*gi)->BuildApprox().code(), StatusCode::kFailedPrecondition);
}

// The GPU copy follows every add / remove (swap with the last row) across chunk boundaries,
// and Clear; the CPU exact index with the same operations is the reference.
TEST(GpuSearch, FollowsAddsAndRemoves) {
  REQUIRE_GPU();
  const int dim = 96;
  const int64_t total = 30000;
  auto g = RandomUnit(total, dim, 31);
  auto ids = Ids(total, 100);
  auto gi = SearchIndex::Create(dim, GpuOptions());
  ASSERT_TRUE(gi.ok());
  IndexOptions c;
  c.mode = SearchMode::kExact;
  SearchIndex cpu(dim, c);
  std::mt19937 rng(7);
  std::vector<int64_t> live;
  int64_t next = 0;
  auto q = Queries(g, total, dim, 24, 9);
  auto check = [&](const std::string& when) {
    ASSERT_EQ((*gi)->size(), cpu.size()) << when;
    std::vector<std::vector<Hit>> a, b;
    ASSERT_TRUE((*gi)->Search(q.data(), 24, 10, &a).ok()) << when;
    ASSERT_TRUE(cpu.Search(q.data(), 24, 10, &b).ok()) << when;
    std::unordered_map<int64_t, float> scores;
    for (int i = 0; i < 24; ++i) {
      std::vector<float> qn(q.begin() + i * dim, q.begin() + (i + 1) * dim);
      NormalizeL2(qn.data(), dim);
      std::unordered_map<int64_t, float> m;
      for (int64_t id : live) {
        const int64_t row = (id - 100 - 3) / 7;
        double s = 0;
        for (int j = 0; j < dim; ++j) s += static_cast<double>(g[row * dim + j]) * qn[j];
        m[id] = static_cast<float>(s);
      }
      ExpectSameTopK(a[i], b[i], 3e-3, m, when + " query " + std::to_string(i));
    }
  };
  // Batches of odd sizes crossing 4096 / 12288 / 28672 (chunk ends).
  for (int64_t batch : {1, 4095, 2, 8190, 17, 12000}) {
    ASSERT_TRUE((*gi)->Add(ids.data() + next, g.data() + next * dim, batch).ok());
    ASSERT_TRUE(cpu.Add(ids.data() + next, g.data() + next * dim, batch).ok());
    for (int64_t i = next; i < next + batch; ++i) live.push_back(ids[i]);
    next += batch;
  }
  check("after adds");
  // Remove the last row, the first row, and random ones (each a swap with the last row).
  for (int r = 0; r < 9000; ++r) {
    size_t at = r == 0 ? live.size() - 1 : r == 1 ? 0 : rng() % live.size();
    const int64_t id = live[at];
    ASSERT_TRUE((*gi)->Remove(id).ok());
    ASSERT_TRUE(cpu.Remove(id).ok());
    live[at] = live.back();
    live.pop_back();
  }
  check("after removes");
  ASSERT_TRUE((*gi)->on_gpu()) << (*gi)->DeviceDescription();
  ASSERT_TRUE((*gi)->Add(ids.data() + next, g.data() + next * dim, total - next).ok());
  ASSERT_TRUE(cpu.Add(ids.data() + next, g.data() + next * dim, total - next).ok());
  for (int64_t i = next; i < total; ++i) live.push_back(ids[i]);
  check("after re-adding");
  (*gi)->Clear();
  cpu.Clear();
  live.clear();
  std::vector<std::vector<Hit>> a;
  ASSERT_TRUE((*gi)->Search(q.data(), 1, 10, &a).ok());
  EXPECT_TRUE(a[0].empty());
  ASSERT_TRUE((*gi)->Add(ids.data(), g.data(), 1000).ok());
  ASSERT_TRUE(cpu.Add(ids.data(), g.data(), 1000).ok());
  for (int64_t i = 0; i < 1000; ++i) live.push_back(ids[i]);
  check("after clear + add");
}

// More rows than one score tile and more queries than one query block (several GEMMs and
// running top-k merges per query).
TEST(GpuSearch, TilesAndQueryBlocks) {
  REQUIRE_GPU();
  const int dim = 64;
  const int64_t n = 600000;
  auto g = RandomUnit(n, dim, 41);
  auto ids = Ids(n);
  auto gi = SearchIndex::Create(dim, GpuOptions("fp32"));
  ASSERT_TRUE(gi.ok());
  IndexOptions c;
  c.mode = SearchMode::kExact;
  SearchIndex cpu(dim, c);
  ASSERT_TRUE((*gi)->Add(ids.data(), g.data(), n).ok());
  ASSERT_TRUE(cpu.Add(ids.data(), g.data(), n).ok());
  const int nq = 300;
  auto q = Queries(g, n, dim, nq, 43);
  std::vector<std::vector<Hit>> a, b;
  ASSERT_TRUE((*gi)->Search(q.data(), nq, 20, &a).ok());
  ASSERT_TRUE(cpu.Search(q.data(), nq, 20, &b).ok());
  int same = 0;
  for (int i = 0; i < nq; ++i) {
    ASSERT_EQ(a[i].size(), 20u);
    for (int j = 0; j < 20; ++j) EXPECT_NEAR(a[i][j].score, b[i][j].score, 2e-5) << i << " " << j;
    same += a[i][0].id == b[i][0].id;
  }
  EXPECT_GE(same, nq - 2);  // fp32 math: only exact ties could differ
}

// Several threads searching at once (each on its own stream and scratch) get the answers of
// one thread; then a reader runs while a writer adds and removes: no errors, removed ids
// never come back, the fixed item is always found.
TEST(GpuSearch, ConcurrentSearchesWhileWriting) {
  REQUIRE_GPU();
  const int dim = 128;
  const int64_t n = 20000;
  auto g = RandomUnit(n + 5000, dim, 51);
  auto ids = Ids(n + 5000);
  auto gi = SearchIndex::Create(dim, GpuOptions());
  ASSERT_TRUE(gi.ok());
  SearchIndex& idx = **gi;
  ASSERT_TRUE(idx.Add(ids.data(), g.data(), n).ok());
  {
    auto q = Queries(g, n, dim, 64, 53);
    std::vector<std::vector<Hit>> want;
    ASSERT_TRUE(idx.Search(q.data(), 64, 10, &want).ok());
    std::atomic<int> differ{0}, failed{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
      ts.emplace_back([&] {
        for (int rep = 0; rep < 20; ++rep) {
          std::vector<std::vector<Hit>> got;
          if (!idx.Search(q.data(), 64, 10, &got).ok()) {
            ++failed;
            continue;
          }
          // cuBLAS may pick other GEMM implementations while several streams are active, so
          // scores may differ in the last bits: ranks compared by score, top-1 by id when clear.
          for (int i = 0; i < 64; ++i) {
            if (got[i].size() != want[i].size()) {
              ++differ;
              continue;
            }
            for (size_t j = 0; j < want[i].size(); ++j)
              if (std::fabs(got[i][j].score - want[i][j].score) > 1e-4f) ++differ;
            if (want[i][0].score - want[i][1].score > 1e-3f && got[i][0].id != want[i][0].id) ++differ;
          }
        }
      });
    for (auto& t : ts) t.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(differ.load(), 0);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, searches{0};
  std::vector<std::thread> readers;  // one reader: std::shared_mutex may starve writers behind several
  for (int t = 0; t < 1; ++t)
    readers.emplace_back([&, t] {
      while (!stop) {
        std::vector<std::vector<Hit>> r;
        const int nq = (searches + t) % 2 == 0 ? 1 : 16;
        std::vector<float> q;
        for (int i = 0; i < nq; ++i) q.insert(q.end(), g.begin(), g.begin() + dim);  // row 0, never removed
        if (!idx.Search(q.data(), nq, 10, &r).ok()) {
          ++bad;
          continue;
        }
        for (const auto& hits : r)
          if (hits.empty() || hits[0].id != ids[0] || hits[0].score < 0.998f) ++bad;
        ++searches;
      }
    });
  for (int64_t i = 0; i < 5000; ++i) {
    ASSERT_TRUE(idx.Add(ids.data() + n + i, g.data() + (n + i) * dim, 1).ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(idx.Remove(ids[1 + i]).ok());
    }
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(searches.load(), 0);
  EXPECT_TRUE(idx.on_gpu());
  std::vector<std::vector<Hit>> r;
  for (int64_t i = 0; i < 5000; i += 2) {  // removed: never found as the best match of themselves
    ASSERT_TRUE(idx.Search(g.data() + (1 + i) * dim, 1, 1, &r).ok());
    EXPECT_NE(r[0][0].id, ids[1 + i]);
  }
}

// The memory cap: an add that does not fit fails with ResourceExhausted and adds nothing.
TEST(GpuSearch, MemoryCap) {
  REQUIRE_GPU();
  const int dim = 256;
  IndexOptions o = GpuOptions();
  o.device.gpu_memory_limit_bytes = 8 << 20;  // 8 MiB: ~16k fp16 rows of 256 minus scratch
  auto gi = SearchIndex::Create(dim, o);
  ASSERT_TRUE(gi.ok()) << gi.status().ToString();
  auto g = RandomUnit(40000, dim, 61);
  auto ids = Ids(40000);
  ASSERT_TRUE((*gi)->Add(ids.data(), g.data(), 4000).ok());
  Status s = (*gi)->Add(ids.data() + 4000, g.data() + 4000 * dim, 36000);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("memory cap"), std::string::npos) << s.message();
  EXPECT_EQ((*gi)->size(), 4000);
  EXPECT_TRUE((*gi)->on_gpu());
  std::vector<std::vector<Hit>> r;
  ASSERT_TRUE((*gi)->Search(g.data() + 10 * dim, 1, 3, &r).ok());
  EXPECT_EQ(r[0][0].id, ids[10]);
}

// Identify on a GPU gallery gives the CPU gallery's answers.
TEST(GpuSearch, GalleryIdentify) {
  REQUIRE_GPU();
  TempDir dir;
  auto db = OpenDb(dir.File("g.db"));
  ASSERT_TRUE(db);
  const int dim = 128;
  ASSERT_TRUE(db->CreateGallery({"staff", kModel.model_id, kModel.model_version, dim}).ok());
  auto cpu = db->OpenGallery("staff");
  ASSERT_TRUE(cpu.ok());
  auto g = RandomUnit(400, dim, 71);
  for (int s = 0; s < 200; ++s) {
    std::vector<TemplateInput> t(2);
    t[0].vector.assign(g.begin() + (2 * s) * dim, g.begin() + (2 * s + 1) * dim);
    t[1].vector.assign(g.begin() + (2 * s + 1) * dim, g.begin() + (2 * s + 2) * dim);
    ASSERT_TRUE((*cpu)->Enroll("p" + std::to_string(s), kModel, t).ok());
  }
  auto gpu = db->OpenGallery("staff", GpuOptions());
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  EXPECT_EQ((*gpu)->index_device().rfind("cuda:0", 0), 0u);
  for (int s = 0; s < 200; s += 13) {
    std::vector<float> probe(g.begin() + (2 * s) * dim, g.begin() + (2 * s + 1) * dim);
    auto a = (*gpu)->Identify(probe, kModel, 5);
    auto b = (*cpu)->Identify(probe, kModel, 5);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size());
    EXPECT_EQ((*a)[0].external_id, "p" + std::to_string(s));
    for (size_t j = 0; j < a->size(); ++j) EXPECT_NEAR((*a)[j].score, (*b)[j].score, 3e-3);
  }
}

}  // namespace
}  // namespace fk::gallery
