// Exact inner-product search on an NVIDIA GPU (host-only header: no CUDA types; the gallery's
// SearchIndex uses it for IndexOptions::device.use_cuda, see docs/gallery.md "GPU exact search").
//
// The matrix of (L2-normalised) rows lives on the GPU in fp16 or fp32, in chunks whose capacity
// doubles from 4096 to 262144 rows (appending never re-uploads or moves existing rows; a chunk
// is allocated only when the previous ones are full). Row numbers are dense, 0..size()-1, and
// follow the caller's own storage: RemoveSwapLast(pos) moves the last row into `pos`, exactly
// like the CPU storage of SearchIndex, so one position means the same template in both.
//
// Search: queries converted to the storage type on the GPU, per tile of rows one
// cublasGemmEx (fp16 x fp16 -> fp32 with fp32 accumulation, or fp32 / TF32), then the top-k
// kernels of search_topk.cu (per-segment top-k, merged into a running top-k per query).
// k <= kSearchMaxK (128).
//
// Thread safety: Search() may run from several threads at once (each call takes its own
// stream + cuBLAS handle + scratch, created on demand and reused). Append/RemoveSwapLast/Clear
// must not run concurrently with anything else (SearchIndex holds its write lock).
// Errors: Status values with the CUDA/cuBLAS call and message; never aborts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "facekit/status.h"

namespace fk::engine::cuda {

struct GpuSearchOptions {
  int gpu_index = 0;
  bool half = true;   // fp16 storage and GEMM inputs (fp32 accumulation); false: fp32 storage
  bool tf32 = false;  // fp32 storage only: allow TF32 tensor-op math (else exact fp32 products)
  int64_t memory_limit_bytes = 0;   // cap on the device memory this index holds (0 = none)
  double memory_limit_fraction = 0;  // cap as a fraction of the card's memory (0 = none)
};

int GpuSearchMaxK();

class GpuSearchIndex {
 public:
  // Probes the GPU (driver, device gpu_index) and cuBLAS (cublasGemmEx), creates a stream and
  // a cuBLAS handle and runs one tiny kernel (so a binary built for another architecture fails
  // here). Unavailable with the reason (no driver / no device / cuBLAS not loadable ...);
  // InvalidArgument for a bad dim or options.
  static Result<std::unique_ptr<GpuSearchIndex>> Create(int dim, const GpuSearchOptions& options);
  ~GpuSearchIndex();
  GpuSearchIndex(const GpuSearchIndex&) = delete;
  GpuSearchIndex& operator=(const GpuSearchIndex&) = delete;

  int64_t size() const;
  size_t device_bytes() const;  // chunks + scratch held on the GPU
  // "cuda:0 NVIDIA H100 80GB HBM3 (cc 9.0), fp16 rows / fp32 accumulate, 1000000 rows, 1953 MiB"
  std::string Describe() const;

  // Appends n rows (row-major [n, dim] fp32, already normalised) as rows size()..size()+n-1.
  // On error nothing is added (ResourceExhausted when the GPU or the memory cap is full).
  Status Append(const float* rows, int64_t n);
  // Moves the last row into `pos` and drops the last row.
  Status RemoveSwapLast(int64_t pos);
  // Drops every row and frees the chunks.
  void Clear();

  // Top-k of nq queries (row-major [nq, dim] fp32, normalised): out_pos / out_score [nq * k],
  // best first (ties: lower row first); -1 / -inf where fewer than k rows exist.
  Status Search(const float* queries, int64_t nq, int k, int32_t* out_pos, float* out_score) const;

  struct Impl;

 private:
  explicit GpuSearchIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fk::engine::cuda
