// Strided gather ("walk"): y[i] = x[offset + sum_d idx_d(i) * step_d], i row-major over dims.
// One kernel serves StridedSlice, Slice, Transpose and DepthToSpace (host-only launcher; the
// CPU backend's SliceKernel walks the same way).
#pragma once
#include <cstdint>
#include "engine/cuda/binary.cuh"  // kMaxRank
#include "facekit/status.h"

namespace fk::engine::cuda {

struct WalkDesc {
  int rank = 0;
  int64_t dims[kMaxRank] = {};   // output dims walked, row-major
  int64_t steps[kMaxRank] = {};  // input elements per step of each dim (may be negative)
  int64_t offset = 0;            // input element of output element 0
};

// Copies elements of `elem_bytes` (1, 2, 4 or 8) bytes.
Status LaunchWalk(const void* x, void* y, const WalkDesc& d, size_t elem_bytes, void* stream);

}  // namespace fk::engine::cuda
