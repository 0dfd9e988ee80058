// In-memory search index over L2-normalised vectors (internal to fk_gallery; used
// by Gallery and by `facekit bench search`).
//
// Storage: rows in fixed-size blocks (kBlockRows rows each, stride padded to 32
// elements with zeros) in fp32, fp16 or int8 + per-row scale. Removal swaps the last
// row into the hole, so the blocks stay dense.
//
// Exact search:
//   - fewer than 4 queries: one pass over the blocks (OpenMP across blocks), an
//     AVX-512 dot kernel (runtime dispatch; scalar fallback) scoring 4 rows at a
//     time, a per-thread k-heap, merged at the end;
//   - 4 or more queries: per block, sgemm (OpenBLAS; the block is widened to fp32
//     first for fp16/int8) then a k-heap per query.
// Approximate search (IndexOptions::approx_method), kept in step with adds and removes;
// built when the index reaches the threshold (kAuto) or on BuildApprox(), rebuilt when
// the index grows 4x past its build size:
//   - kIvfInt8: own IVF (spherical k-means centroids, int8 codes per list, AVX-512
//     scan of the nprobe best lists, candidates re-scored with the exact rows);
//   - kFaissIvfFlat: FAISS IndexIVFFlat (inner product);
//   - kFaissHnsw: FAISS IndexHNSWFlat (inner product); a removed template becomes a
//     tombstone filtered at search, the graph is rebuilt when a quarter is dead.
//
// GPU exact search (IndexOptions::device.use_cuda; engine/cuda/search_gpu.h): every added
// row is also appended to a copy on the GPU (fp16 or fp32), at the same position; Remove
// swap-removes there too. Searches with k <= GpuMaxK() run there (cuBLAS GEMM + top-k
// kernels), others and the CPU fallback on the CPU rows. No approximate index is built while
// the GPU copy is in use. A CUDA error while updating the copy drops it: later searches fail
// with that error, or run on the CPU with a warning under device.allow_cpu_fallback.
//
// Thread safety: all const methods may run concurrently; Add/Remove/BuildApprox take
// an exclusive lock (std::shared_mutex) and may run while searches are in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "facekit/gallery.h"

namespace fk::gallery {

struct Hit {
  int64_t id = 0;
  float score = 0.0f;
};

class SearchIndex {
 public:
  static constexpr int kBlockRows = 4096;

  // Validates the device settings and, with options.device.use_cuda, sets up the GPU copy:
  // InvalidArgument (bad device settings, kApprox with a GPU), Unsupported (built without
  // CUDA), Unavailable (no driver / GPU / cuBLAS; the reason) unless allow_cpu_fallback.
  static Result<std::unique_ptr<SearchIndex>> Create(int dim, const IndexOptions& options);
  // Same, for callers that check device_status() themselves; an index whose device setup
  // failed answers Add/Search with that status.
  SearchIndex(int dim, const IndexOptions& options);
  ~SearchIndex();

  // OK, or why the requested GPU setup failed (never set with allow_cpu_fallback).
  const Status& device_status() const { return device_status_; }
  // True while searches run on the GPU copy.
  bool on_gpu() const;
  // "cpu", or the GPU copy's description; with the fallback warning when there is one.
  std::string DeviceDescription() const;
  // Bytes the GPU copy holds on the device (0 without one).
  size_t GpuMemoryBytes() const;
  // Largest k served by the GPU (larger k search the CPU rows).
  static int GpuMaxK();

  int dim() const { return dim_; }
  const IndexOptions& options() const { return options_; }
  int64_t size() const;
  bool approximate() const;
  bool Contains(int64_t id) const;
  // Bytes held for vectors (exact storage + FAISS index if built).
  size_t MemoryBytes() const;

  // Adds n vectors (row-major [n, dim]); they are L2-normalised here. AlreadyExists
  // for an id already present (nothing is added then); InvalidArgument for a zero
  // or non-finite vector.
  Status Add(const int64_t* ids, const float* vectors, int64_t n);
  Status Remove(int64_t id);  // NotFound
  void Clear();

  // Builds the approximate index now (Unsupported for a FAISS method without FAISS).
  Status BuildApprox();

  // Top-k for nq queries (row-major [nq, dim], normalised here); results sorted by
  // score descending, ties by id ascending. `exact_only` bypasses the approximate
  // index.
  Status Search(const float* queries, int64_t nq, int k, std::vector<std::vector<Hit>>* out,
                bool exact_only = false) const;

  // "ivf-int8 nlist=1000 nprobe=95 rerank=40" etc.; "exact" when none is built.
  std::string ApproxDescription() const;

  struct Storage;
  struct Approx;
  struct Gpu;

 private:
  Status AttachGpu();
  bool GpuActiveLocked() const;
  void DropGpuLocked(const Status& why);
  Status SearchGpu(const float* qn, int64_t nq, int k, std::vector<std::vector<Hit>>* out) const;
  void WarnOnce(const std::string& what) const;
  Status ApproxAddLocked(const int64_t* ids, const float* norm, int64_t n);
  Status SearchApprox(const float* qn, int64_t nq, int k, std::vector<std::vector<Hit>>* out) const;
  void SearchIvf8(const float* qn, int k, std::vector<Hit>* out, bool parallel) const;
  Status SearchExactSmall(const float* q, int k, std::vector<Hit>* out) const;
  Status SearchExactBatch(const float* q, int64_t nq, int k, std::vector<std::vector<Hit>>* out) const;
  Status BuildApproxLocked();

  int dim_;
  int stride_;
  IndexOptions options_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<Storage> st_;
  std::unique_ptr<Approx> approx_;
  std::unique_ptr<Gpu> gpu_;
  Status device_status_;
};

// Device settings of an index (IndexOptions::device) checked without probing the GPU:
// InvalidArgument for a negative gpu_index or limit, a fraction > 1, a precision other than
// auto/fp16/fp32/tf32, or SearchMode::kApprox together with use_cuda.
Status ValidateIndexDevice(const IndexOptions& options);

// Whether this build has the approximate method (FAISS ones need FAISS), and its name.
bool ApproxMethodAvailable(ApproxMethod m);
const char* ApproxMethodName(ApproxMethod m);

// Normalises v in place; false for a zero or non-finite vector.
bool NormalizeL2(float* v, int dim);

// Half-precision conversions (round to nearest even).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

}  // namespace fk::gallery
