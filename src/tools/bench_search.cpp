// facekit bench search — 1:N search speed and recall (docs/benchmarks/search.md).
//
// Data: random unit vectors with clustered structure (N/100 centres, items =
// centre + noise, normalised); queries are noisy copies of random gallery items,
// so top-1 is meaningful and top-10 lies inside a cluster. The reference for
// recall is exact fp32 search over the same data. The peer is FAISS IndexFlatIP
// on the same data in the same run.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "facekit/device.h"
#include "tools/commands.h"

#if defined(FK_GALLERY_ENABLED)
#include "gallery/search_index.h"
#endif
#if defined(FK_HAVE_FAISS)
#include <faiss/IndexFlat.h>
#endif

namespace fk::tools {

#if !defined(FK_GALLERY_ENABLED)
int BenchSearch(const Args&) {
  std::fprintf(stderr, "facekit bench search: this facekit was built without the gallery module\n");
  return 1;
}
#else

namespace {

using gallery::Hit;
using gallery::SearchIndex;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// Fast deterministic per-row normal samples (xoshiro-like + Box-Muller).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t Next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float Uniform() { return static_cast<float>((Next() >> 40) + 1) * (1.0f / 16777217.0f); }
  void Normals(float* out, int n, float sd) {
    for (int i = 0; i < n; i += 2) {
      const float u = Uniform(), v = Uniform();
      const float r = std::sqrt(-2.0f * std::log(u)) * sd;
      out[i] = r * std::cos(6.2831853f * v);
      if (i + 1 < n) out[i + 1] = r * std::sin(6.2831853f * v);
    }
  }
};

void Normalize(float* v, int d) {
  double s = 0;
  for (int i = 0; i < d; ++i) s += v[i] * v[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(s + 1e-30));
  for (int i = 0; i < d; ++i) v[i] *= inv;
}

// Row i of the synthetic gallery (deterministic in (i, seed)).
struct DataGen {
  int64_t n;
  int d;
  int64_t nclusters;
  std::vector<float> centres;
  DataGen(int64_t n_, int d_) : n(n_), d(d_), nclusters(std::max<int64_t>(16, n_ / 100)) {
    centres.resize(static_cast<size_t>(nclusters) * d);
#pragma omp parallel for
    for (int64_t c = 0; c < nclusters; ++c) {
      Rng r(1'000'000'007ull + static_cast<uint64_t>(c));
      r.Normals(centres.data() + c * d, d, 1.0f);
      Normalize(centres.data() + c * d, d);
    }
  }
  void Row(int64_t i, float* out) const {
    Rng r(static_cast<uint64_t>(i) * 7919 + 17);
    const int64_t c = static_cast<int64_t>(r.Next() % static_cast<uint64_t>(nclusters));
    r.Normals(out, d, 0.8f / std::sqrt(static_cast<float>(d)));
    for (int j = 0; j < d; ++j) out[j] += centres[c * d + j];
    Normalize(out, d);
  }
  void Rows(int64_t begin, int64_t count, float* out) const {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) Row(begin + i, out + i * d);
  }
  std::vector<float> Queries(int nq) const {
    std::vector<float> q(static_cast<size_t>(nq) * d);
    for (int i = 0; i < nq; ++i) {
      Rng r(999'983ull * (i + 1));
      Row(static_cast<int64_t>(r.Next() % static_cast<uint64_t>(n)), q.data() + static_cast<size_t>(i) * d);
      std::vector<float> noise(static_cast<size_t>(d));
      r.Normals(noise.data(), d, 0.5f / std::sqrt(static_cast<float>(d)));
      for (int j = 0; j < d; ++j) q[static_cast<size_t>(i) * d + j] += noise[j];
      Normalize(q.data() + static_cast<size_t>(i) * d, d);
    }
    return q;
  }
};

struct ModeResult {
  std::string mode, params;
  double build_s = 0, single_median_ms = 0, single_p99_ms = 0, batch64_qps = 0, bytes_per_template = 0;
  double recall1 = -1, recall10 = -1;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

void Recall(const std::vector<std::vector<Hit>>& got, const std::vector<std::vector<Hit>>& exact, ModeResult* r) {
  double r1 = 0, r10 = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].empty() && !exact[i].empty() && got[i][0].id == exact[i][0].id) r1 += 1;
    std::set<int64_t> e;
    for (const auto& h : exact[i]) e.insert(h.id);
    int c = 0;
    for (const auto& h : got[i]) c += e.count(h.id);
    r10 += exact[i].empty() ? 1.0 : static_cast<double>(c) / exact[i].size();
  }
  r->recall1 = r1 / got.size();
  r->recall10 = r10 / got.size();
}

// Runs single queries (timed one by one) and batch-64; returns single-query results.
template <typename SearchFn>
std::vector<std::vector<Hit>> Measure(SearchFn search, const std::vector<float>& q, int nq_single, int nbatch, int d,
                                      ModeResult* r) {
  std::vector<std::vector<Hit>> results(static_cast<size_t>(nq_single));
  std::vector<double> lat;
  std::vector<std::vector<Hit>> one;
  search(q.data(), 1, &one);  // warm-up
  for (int i = 0; i < nq_single; ++i) {
    auto t0 = Clock::now();
    search(q.data() + static_cast<size_t>(i) * d, 1, &one);
    lat.push_back(Ms(t0, Clock::now()));
    results[static_cast<size_t>(i)] = one[0];
  }
  r->single_median_ms = Percentile(lat, 0.5);
  r->single_p99_ms = Percentile(lat, 0.99);
  std::vector<std::vector<Hit>> batch;
  auto t0 = Clock::now();
  for (int b = 0; b < nbatch; ++b) search(q.data() + static_cast<size_t>(b % 2) * 64 * d, 64, &batch);
  r->batch64_qps = 64.0 * nbatch / (Ms(t0, Clock::now()) / 1000.0);
  return results;
}

std::string Machine() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  const double gib = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE) / (1 << 30);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s, %ld cores, %.0f GiB RAM", model.c_str(), cores, gib);
  return buf;
}

std::vector<int64_t> ParseList(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) v.push_back(std::stoll(x));
  return v;
}

// Which rows to run and the approximate-index overrides (--modes, --nprobe, ...).
struct BenchConfig {
  std::set<std::string> modes;
  int nprobe = 0, nlist = 0, rerank = 0, hnsw_ef = 0;
  int64_t hnsw_max_n = 0;
  int gpu_index = 0;  // --device cuda:N (exact-gpu rows)
  bool Has(const std::string& m) const { return modes.count(m) != 0; }
};

const char* const kAllModes[] = {"exact-fp32",     "exact-fp16",     "exact-int8", "ivf-int8+rr-fp32",
                                 "ivf-int8+rr-fp16", "ivf-int8",     "faiss-ivf-flat", "faiss-hnsw",
                                 "faiss-flat",     "exact-gpu",      "exact-gpu-fp32"};

std::vector<ModeResult> RunConfig(int64_t n, int d, bool quick, const BenchConfig& cfg) {
  std::vector<ModeResult> out;
  DataGen gen(n, d);
  auto tg = Clock::now();
  std::vector<float> data(static_cast<size_t>(n) * d);
  gen.Rows(0, n, data.data());
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = i;
  std::fprintf(stderr, "  N=%lld D=%d: data %.1fs\n", static_cast<long long>(n), d, Ms(tg, Clock::now()) / 1000);
  const double work = static_cast<double>(n) * d;
  const int nq_single = static_cast<int>(std::clamp(4e9 / work, quick ? 10.0 : 30.0, quick ? 50.0 : 300.0));
  const int nbatch = static_cast<int>(std::clamp(2e9 / work, 1.0, 20.0));
  const auto queries = gen.Queries(std::max(nq_single, 128));
  std::vector<std::vector<Hit>> exact;
  if (!cfg.Has("exact-fp32")) {  // the recall reference is needed anyway (untimed)
    IndexOptions o;
    o.mode = SearchMode::kExact;
    SearchIndex ref(d, o);
    (void)ref.Add(ids.data(), data.data(), n);
    exact.resize(static_cast<size_t>(nq_single));
    for (int i = 0; i < nq_single; i += 64) {
      std::vector<std::vector<Hit>> part;
      (void)ref.Search(queries.data() + static_cast<size_t>(i) * d, std::min(64, nq_single - i), 10, &part);
      std::copy(part.begin(), part.end(), exact.begin() + i);
    }
  }
  // gpu_precision non-empty: the exact-gpu rows (IndexOptions::device, docs/gallery.md).
  auto run_index = [&](const std::string& name, VectorPrecision p, SearchMode m,
                       ApproxMethod method = ApproxMethod::kIvfInt8, const std::string& gpu_precision = "") {
    if (!cfg.Has(name)) return;
    if (method == ApproxMethod::kFaissHnsw && cfg.hnsw_max_n > 0 && n > cfg.hnsw_max_n) {
      std::fprintf(stderr, "    %-16s skipped (N > --hnsw-max-n %lld)\n", name.c_str(),
                   static_cast<long long>(cfg.hnsw_max_n));
      return;
    }
    ModeResult r;
    r.mode = name;
    IndexOptions o;
    o.precision = p;
    o.mode = m == SearchMode::kApprox ? SearchMode::kExact : m;
    o.approx_method = method;
    o.ivf_nprobe = cfg.nprobe;  // 0: the automatic rule
    o.ivf_nlist = cfg.nlist;
    o.ivf_rerank = cfg.rerank;
    if (cfg.hnsw_ef > 0) o.hnsw_ef_search = cfg.hnsw_ef;
    if (!gpu_precision.empty()) {
      o.device.use_cuda = true;
      o.device.gpu_index = cfg.gpu_index;
      o.device.precision = gpu_precision;
    }
    auto t0 = Clock::now();
    SearchIndex idx(d, o);
    if (!idx.device_status().ok()) {
      std::fprintf(stderr, "    %-16s skipped: %s\n", name.c_str(), idx.device_status().ToString().c_str());
      return;
    }
    if (const Status st = idx.Add(ids.data(), data.data(), n); !st.ok()) {
      std::fprintf(stderr, "    %-16s skipped: adding %lld templates failed: %s\n", name.c_str(),
                   static_cast<long long>(n), st.ToString().c_str());
      return;
    }
    if (m == SearchMode::kApprox) {
      const Status st = idx.BuildApprox();
      if (!st.ok()) {
        std::fprintf(stderr, "    %-16s skipped: %s\n", name.c_str(), st.ToString().c_str());
        return;
      }
    }
    r.build_s = Ms(t0, Clock::now()) / 1000;
    r.params = idx.ApproxDescription();
    r.bytes_per_template = static_cast<double>(idx.MemoryBytes()) / n;
    if (!gpu_precision.empty()) {  // GPU rows: device memory per template, the device in params
      r.bytes_per_template = static_cast<double>(idx.GpuMemoryBytes()) / n;
      r.params = idx.DeviceDescription() + " (bytes/template: GPU memory; the CPU rows are kept too)";
    }
    Status search_error;
    auto res = Measure(
        [&](const float* q, int64_t nq, std::vector<std::vector<Hit>>* o2) {
          const Status st = idx.Search(q, nq, 10, o2);
          if (!st.ok() && search_error.ok()) search_error = st;
        },
        queries, nq_single, nbatch, d, &r);
    if (!search_error.ok()) {
      std::fprintf(stderr, "    %-16s FAILED: %s\n", name.c_str(), search_error.ToString().c_str());
      r.params = "FAILED: " + search_error.ToString();
    }
    if (exact.empty()) exact = res;  // fp32 exact runs first: it is the reference
    Recall(res, exact, &r);
    std::fprintf(stderr, "    %-16s single %.3f ms  batch64 %.0f q/s  recall@1 %.3f @10 %.3f  %.0f B/tpl  build %.1fs  %s\n",
                 name.c_str(), r.single_median_ms, r.batch64_qps, r.recall1, r.recall10, r.bytes_per_template,
                 r.build_s, r.params.c_str());
    out.push_back(r);
  };
  run_index("exact-fp32", VectorPrecision::kFloat32, SearchMode::kExact);
  run_index("exact-fp16", VectorPrecision::kFloat16, SearchMode::kExact);
  run_index("exact-int8", VectorPrecision::kInt8, SearchMode::kExact);
  run_index("ivf-int8+rr-fp32", VectorPrecision::kFloat32, SearchMode::kApprox, ApproxMethod::kIvfInt8);
  run_index("ivf-int8+rr-fp16", VectorPrecision::kFloat16, SearchMode::kApprox, ApproxMethod::kIvfInt8);
  run_index("ivf-int8", VectorPrecision::kInt8, SearchMode::kApprox, ApproxMethod::kIvfInt8);
  run_index("exact-gpu", VectorPrecision::kFloat16, SearchMode::kExact, ApproxMethod::kIvfInt8, "fp16");
  run_index("exact-gpu-fp32", VectorPrecision::kFloat32, SearchMode::kExact, ApproxMethod::kIvfInt8, "fp32");
#ifdef FK_HAVE_FAISS
  run_index("faiss-ivf-flat", VectorPrecision::kFloat32, SearchMode::kApprox, ApproxMethod::kFaissIvfFlat);
  run_index("faiss-hnsw", VectorPrecision::kFloat32, SearchMode::kApprox, ApproxMethod::kFaissHnsw);
  if (cfg.Has("faiss-flat")) {
    ModeResult r;
    r.mode = "peer:faiss-flat-ip";
    auto t0 = Clock::now();
    faiss::IndexFlatIP flat(d);
    flat.add(n, data.data());
    r.build_s = Ms(t0, Clock::now()) / 1000;
    r.bytes_per_template = 4.0 * d;
    auto res = Measure(
        [&](const float* q, int64_t nq, std::vector<std::vector<Hit>>* o2) {
          std::vector<float> dist(static_cast<size_t>(nq) * 10);
          std::vector<faiss::Index::idx_t> lab(static_cast<size_t>(nq) * 10);
          flat.search(nq, q, 10, dist.data(), lab.data());
          o2->assign(static_cast<size_t>(nq), {});
          for (int64_t i = 0; i < nq; ++i)
            for (int j = 0; j < 10; ++j)
              if (lab[i * 10 + j] >= 0) (*o2)[static_cast<size_t>(i)].push_back({lab[i * 10 + j], dist[i * 10 + j]});
        },
        queries, nq_single, nbatch, d, &r);
    Recall(res, exact, &r);
    std::fprintf(stderr, "    %-16s single %.3f ms  batch64 %.0f q/s  recall@1 %.3f\n", r.mode.c_str(),
                 r.single_median_ms, r.batch64_qps, r.recall1);
    out.push_back(r);
  }
#endif
  return out;
}

// 10M templates, int8 only; data generated in chunks so the fp32 copy never exists.
std::vector<ModeResult> Run10M(int64_t n, int d) {
  DataGen gen(n, d);
  IndexOptions o;
  o.precision = VectorPrecision::kInt8;
  o.mode = SearchMode::kExact;
  SearchIndex idx(d, o);
  const int nq = 30;
  const auto queries = gen.Queries(128);
  const int64_t chunk = 1 << 20;
  std::vector<float> buf(static_cast<size_t>(chunk) * d);
  std::vector<int64_t> ids(static_cast<size_t>(chunk));
  // Exact reference, accumulated chunk by chunk.
  std::vector<std::vector<Hit>> exact(nq);
  auto t0 = Clock::now();
  for (int64_t b = 0; b < n; b += chunk) {
    const int64_t c = std::min(chunk, n - b);
    gen.Rows(b, c, buf.data());
    for (int64_t i = 0; i < c; ++i) ids[static_cast<size_t>(i)] = b + i;
    (void)idx.Add(ids.data(), buf.data(), c);
    IndexOptions exact_opts;  // the reference must be exact (the default kAuto would build IVF above 200k)
    exact_opts.mode = SearchMode::kExact;
    SearchIndex part(d, exact_opts);
    (void)part.Add(ids.data(), buf.data(), c);
    std::vector<std::vector<Hit>> pr;
    (void)part.Search(queries.data(), nq, 10, &pr);
    for (int q = 0; q < nq; ++q) {
      exact[q].insert(exact[q].end(), pr[q].begin(), pr[q].end());
      std::sort(exact[q].begin(), exact[q].end(), [](const Hit& a, const Hit& b2) { return a.score > b2.score; });
      exact[q].resize(std::min<size_t>(10, exact[q].size()));
    }
  }
  ModeResult r;
  r.mode = "exact-int8";
  r.build_s = Ms(t0, Clock::now()) / 1000;
  r.bytes_per_template = static_cast<double>(idx.MemoryBytes()) / n;
  auto res = Measure([&](const float* q, int64_t k, std::vector<std::vector<Hit>>* o2) { (void)idx.Search(q, k, 10, o2); },
                     queries, nq, 1, d, &r);
  Recall(res, exact, &r);
  std::fprintf(stderr, "    %-16s single %.3f ms  batch64 %.0f q/s  recall@1 %.3f @10 %.3f  %.0f B/tpl\n",
               r.mode.c_str(), r.single_median_ms, r.batch64_qps, r.recall1, r.recall10, r.bytes_per_template);
  return {r};
}

}  // namespace

int BenchSearch(const Args& args) {
  if (HasFlag(args, "--help")) {
    std::fprintf(stderr,
                 "usage: facekit bench search [--quick] [--sizes 10000,100000,1000000] [--dims 128,256,512,1024]\n"
                 "       [--big-dims 128,256,512] [--no-10m] [--10m-dims 128] [--out-dir docs/benchmarks] [--no-write]\n"
                 "       [--modes M1,M2,...] [--hnsw-max-n N] [--nprobe P] [--nlist L] [--rerank R] [--hnsw-ef E]\n"
                 "       [--device cuda[:N]]\n"
                 "modes (default all): exact-fp32 exact-fp16 exact-int8 ivf-int8+rr-fp32 ivf-int8+rr-fp16 ivf-int8\n"
                 "       faiss-ivf-flat faiss-hnsw faiss-flat (the FAISS IndexFlatIP peer)\n"
                 "       exact-gpu (cuBLAS, fp16 rows, fp32 accumulation) exact-gpu-fp32 (fp32 rows and math); skipped\n"
                 "       with the reason when no GPU is usable. Recall is always measured against exact fp32 on the CPU\n"
                 "       (computed untimed when exact-fp32 is not selected).\n"
                 "--device cuda[:N]: the GPU of the exact-gpu rows (default cuda:0).\n"
                 "--hnsw-max-n: skip faiss-hnsw above this N (default 100000; its build is slow on 2 cores).\n"
                 "--nprobe/--nlist/--rerank/--hnsw-ef: override the automatic approximate parameters.\n");
    return 2;
  }
  BenchConfig cfg;
  {
    std::stringstream ms(FlagValue(args, "--modes", ""));
    std::string m;
    while (std::getline(ms, m, ','))
      if (!m.empty()) cfg.modes.insert(m);
    if (cfg.modes.empty())
      for (const char* m2 : kAllModes) cfg.modes.insert(m2);
    for (const auto& m2 : cfg.modes)
      if (std::find_if(std::begin(kAllModes), std::end(kAllModes), [&](const char* a) { return m2 == a; }) ==
          std::end(kAllModes)) {
        std::fprintf(stderr, "facekit bench search: unknown mode '%s' (see --help)\n", m2.c_str());
        return 2;
      }
    cfg.nprobe = static_cast<int>(std::stol(FlagValue(args, "--nprobe", "0")));
    cfg.nlist = static_cast<int>(std::stol(FlagValue(args, "--nlist", "0")));
    cfg.rerank = static_cast<int>(std::stol(FlagValue(args, "--rerank", "0")));
    cfg.hnsw_ef = static_cast<int>(std::stol(FlagValue(args, "--hnsw-ef", "0")));
    cfg.hnsw_max_n = std::stoll(FlagValue(args, "--hnsw-max-n", "100000"));
    if (const std::string dev = FlagValue(args, "--device", ""); !dev.empty()) {
      auto dc = ParseDeviceFlag(dev);
      if (!dc.ok() || !dc->use_cuda) {
        std::fprintf(stderr, "facekit bench search: --device must be cuda or cuda:N (the GPU of the exact-gpu rows)%s%s\n",
                     dc.ok() ? "" : ": ", dc.ok() ? "" : dc.status().message().c_str());
        return 2;
      }
      cfg.gpu_index = dc->gpu_index;
    }
  }
  const bool quick = HasFlag(args, "--quick");
  auto sizes = ParseList(FlagValue(args, "--sizes", quick ? "10000,100000" : "10000,100000,1000000"));
  auto dims = ParseList(FlagValue(args, "--dims", quick ? "128,512" : "128,256,512,1024"));
  auto big_dims = ParseList(FlagValue(args, "--big-dims", quick ? "128" : "128,256,512"));
  const bool do10m = !quick && !HasFlag(args, "--no-10m");
  std::string cmdline = "facekit bench search";
  for (const auto& a : args) cmdline += " " + a;
  json j;
  j["machine"] = Machine();
  j["command"] = cmdline;
#ifdef _OPENMP
  j["threads"] = omp_get_max_threads();
#endif
  j["data"] = "clustered unit vectors (N/100 centres, item noise 0.8, query = item + noise 0.5, normalised)";
  j["results"] = json::array();
  std::string md;
  auto emit = [&](int64_t n, int d, const std::vector<ModeResult>& rs) {
    for (const auto& r : rs) {
      j["results"].push_back({{"n", n}, {"dim", d}, {"mode", r.mode}, {"build_s", r.build_s},
                              {"single_median_ms", r.single_median_ms}, {"single_p99_ms", r.single_p99_ms},
                              {"batch64_qps", r.batch64_qps}, {"bytes_per_template", r.bytes_per_template},
                              {"recall_at_1", r.recall1}, {"recall_at_10", r.recall10}, {"params", r.params}});
      char line[640];
      std::snprintf(line, sizeof line, "| %lld | %d | %s | %.3f | %.3f | %.0f | %.0f | %.3f | %.3f | %.1f | %s |\n",
                    static_cast<long long>(n), d, r.mode.c_str(), r.single_median_ms, r.single_p99_ms, r.batch64_qps,
                    r.bytes_per_template, r.recall1, r.recall10, r.build_s, r.params.c_str());
      md += line;
    }
  };
  auto t_all = Clock::now();
  const std::string dir = FlagValue(args, "--out-dir", "docs/benchmarks");
  // Written after every configuration, so a run cut short still leaves its results.
  auto write = [&](bool final_run) {
    j["total_s"] = Ms(t_all, Clock::now()) / 1000;
    j["complete"] = final_run;
    std::string doc = "# Search benchmark (`facekit bench search`)\n\n";
    doc += "Generated by `" + cmdline + "` on " + j["machine"].get<std::string>() + ".\n\n";
    doc += "Data: " + j["data"].get<std::string>() +
           ". Recall is measured against exact fp32 search on the same data (the fp32 row is the reference). "
           "Single-query latency: top-10, one query at a time (median and p99). Batch-64: queries per second with 64 "
           "queries per call. Bytes/template: memory held by the index per template. The peer is FAISS IndexFlatIP "
           "on the same data in the same run. See docs/gallery.md for the design.\n\n";
    doc += "| N | dim | mode | single ms (median) | single ms (p99) | batch-64 q/s | bytes/template | recall@1 | "
           "recall@10 | build s | parameters |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    doc += md;
    char tail[160];
    std::snprintf(tail, sizeof tail, "\n%s run time: %.0f s.\n", final_run ? "Total" : "PARTIAL (run not finished)",
                  j["total_s"].get<double>());
    doc += tail;
    if (final_run) std::printf("%s", doc.c_str());
    if (!HasFlag(args, "--no-write")) {
      std::ofstream(dir + "/search.json") << j.dump(2) << "\n";
      std::ofstream(dir + "/search.md") << doc;
      if (final_run) std::fprintf(stderr, "wrote %s/search.md and %s/search.json\n", dir.c_str(), dir.c_str());
    }
  };
  for (int64_t n : sizes) {
    for (int64_t d : (n >= 1000000 ? big_dims : dims)) {
      emit(n, static_cast<int>(d), RunConfig(n, static_cast<int>(d), quick, cfg));
      write(false);
    }
  }
  if (do10m && cfg.Has("exact-int8")) {
    for (int64_t d : ParseList(FlagValue(args, "--10m-dims", "128"))) {
      std::fprintf(stderr, "  N=10000000 D=%lld (int8 only)\n", static_cast<long long>(d));
      emit(10000000, static_cast<int>(d), Run10M(10000000, static_cast<int>(d)));
      write(false);
    }
  }
  write(true);
  return 0;
}

#endif

}  // namespace fk::tools
