// Kernels of the GPU exact search (host-only launcher header; the kernels are in
// search_topk.cu). Used by engine/cuda/search_gpu.cpp only.
//
// Top-k in two stages, both by one kernel (TopKKernel in the .cu):
//  1. per (query, segment of seg_len scores): the k best (score, row) of the segment;
//  2. per query: the k best of a list of (score, row) pairs (the running top-k of the query
//     followed by the segment results), written in place at the start of the list.
// Inside a block: threads append the items above the current k-th best score to a shared
// buffer; a full buffer is bitonic-sorted together with the current top (at most 2048
// entries), which gives the new top and threshold. Ties: lower row first. Missing entries
// (fewer than k items) are (-inf, -1).
#pragma once

#include <cstdint>

#include "facekit/status.h"

namespace fk::engine::cuda {

constexpr int kSearchMaxK = 128;     // largest k the kernels handle
constexpr int kSearchSegment = 4096;  // scores per stage-1 block

// fp32 rows [n, dim] (row-major, dense) -> dst rows [n, stride] (fp16 when `half`, else
// fp32); columns >= dim are not written.
Status LaunchSearchConvertRows(const float* src, int64_t n, int dim, void* dst, int stride, bool half,
                               void* stream);

// Stage 1. scores: [nq][ld] fp32; items [0, n) of each row. Block (s, q) writes the k best
// of items [s*seg_len, min(n, (s+1)*seg_len)) with row number pos_base + item to
// out_score/out_pos[q * out_ld + (out_slot0 + s) * k + j], j < k, best first.
Status LaunchSearchTopKScores(const float* scores, int64_t nq, int64_t n, int64_t ld, int seg_len, int k,
                              int32_t pos_base, float* out_score, int32_t* out_pos, int64_t out_ld,
                              int64_t out_slot0, void* stream);

// Stage 2. For each query q < nq: the k best of the pairs at [q*ld + first, q*ld + first + count)
// written to [q*ld, q*ld + k) (the output may overlap the input: one block per query reads
// everything before it writes).
Status LaunchSearchTopKPairs(float* score, int32_t* pos, int64_t nq, int64_t ld, int64_t first, int64_t count,
                             int k, void* stream);

}  // namespace fk::engine::cuda
