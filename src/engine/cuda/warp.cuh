// Face crops cut on the device (Model::RunWarps on a cuda model): the photos are uploaded once
// per run, the antialias box averages and the bilinear warps run as kernels, and the 8-bit crops
// land in the buffer LaunchPixelsToFloat normalises into the model input. The arithmetic is
// engine/warp_sample.h's, the host reference, so the crops equal vision::WarpAffine's bit for bit.
#pragma once

#include <cstdint>

#include "engine/warp_sample.h"
#include "facekit/status.h"

namespace fk::engine::cuda {

// One crop as the kernels read it (device pointers).
struct WarpJob {
  WarpSource photo;            // the uploaded photo
  uint8_t* box_out = nullptr;  // its box-averaged region (desc.box > 1), else null
  int box_w = 0, box_h = 0;    // size of box_out
  WarpDesc desc;
};

// For every job with a box: box_out = the box average of its region (max_box_pixels: the largest
// box_w * box_h). Then for every job n: dst[n] = the out_w x out_h x 3 crop. `jobs` is in device
// memory, `count` jobs.
Status LaunchBoxAverages(const WarpJob* jobs, int count, int64_t max_box_pixels, void* stream);
Status LaunchWarps(const WarpJob* jobs, int count, int out_w, int out_h, uint8_t* dst,
                   void* stream);

}  // namespace fk::engine::cuda
