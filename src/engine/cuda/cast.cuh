// Element conversion between float and half storage, y[i] = x[i] (host-only launcher).
// Used by the graph runner at the model boundary (inputs after H2D, outputs before D2H), around
// host steps and around kernels that run in fp32 inside an fp16 graph; and by CudaKernel::Run.
#pragma once
#include <cstdint>
#include "engine/cuda/elem.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

// x and y must not overlap unless xe == ye (then a plain device copy is made when x != y).
Status LaunchCast(const void* x, Elem xe, void* y, Elem ye, int64_t n, void* stream);

// Host-side conversions (round to nearest even; used when uploading constants at Plan).
uint16_t FloatToHalfBits(float f);
float HalfBitsToFloat(uint16_t h);

}  // namespace fk::engine::cuda
