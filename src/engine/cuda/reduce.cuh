// Reductions (Sum/Mean/Max/Min/Prod) over any set of axes (host-only launcher). One thread
// per output element; the reduced sub-space is walked with its input strides.
#pragma once
#include <cstdint>
#include "engine/cuda/binary.cuh"  // kMaxRank
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

enum class ReduceKind : int { kSum, kMean, kMax, kMin, kProd };

struct ReduceDesc {
  ReduceKind kind = ReduceKind::kSum;
  int keep_rank = 0, red_rank = 0;
  int64_t keep_dims[kMaxRank] = {}, keep_strides[kMaxRank] = {};
  int64_t red_dims[kMaxRank] = {}, red_strides[kMaxRank] = {};
  int64_t out_n = 1, red_n = 1;
};

// x and y have storage `e`; the accumulator is fp32.
Status LaunchReduce(const void* x, void* y, const ReduceDesc& d, Elem e, void* stream);

}  // namespace fk::engine::cuda
