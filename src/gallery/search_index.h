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
// Approximate search: FAISS IndexIVFFlat (inner product) kept in step with adds and
// removes; trained when the index reaches the threshold (kAuto) or on BuildApprox().
//
// Thread safety: all const methods may run concurrently; Add/Remove/BuildApprox take
// an exclusive lock (std::shared_mutex) and may run while searches are in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
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

  SearchIndex(int dim, const IndexOptions& options);
  ~SearchIndex();

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

  // Trains and fills the FAISS IVF index now (Unsupported without FAISS).
  Status BuildApprox();

  // Top-k for nq queries (row-major [nq, dim], normalised here); results sorted by
  // score descending, ties by id ascending. `exact_only` bypasses the approximate
  // index.
  Status Search(const float* queries, int64_t nq, int k, std::vector<std::vector<Hit>>* out,
                bool exact_only = false) const;

  struct Storage;
  struct Approx;

 private:
  Status SearchExactSmall(const float* q, int k, std::vector<Hit>* out) const;
  Status SearchExactBatch(const float* q, int64_t nq, int k, std::vector<std::vector<Hit>>* out) const;
  Status BuildApproxLocked();

  int dim_;
  int stride_;
  IndexOptions options_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<Storage> st_;
  std::unique_ptr<Approx> approx_;
};

// Normalises v in place; false for a zero or non-finite vector.
bool NormalizeL2(float* v, int dim);

// Half-precision conversions (round to nearest even).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

}  // namespace fk::gallery
