#include <string>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/warp.cuh"

namespace fk::engine::cuda {

namespace {

// grid.y = job; threads over the job's box image pixels.
__global__ void BoxKernel(const WarpJob* __restrict__ jobs, int64_t max_pixels) {
  const WarpJob& j = jobs[blockIdx.y];
  if (!j.box_out) return;
  const int64_t n = int64_t{j.box_w} * j.box_h;
  for (int64_t p = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; p < n && p < max_pixels;
       p += int64_t{gridDim.x} * blockDim.x) {
    const int r = static_cast<int>(p / j.box_w), c = static_cast<int>(p % j.box_w);
    BoxPixel(j.photo, j.desc.x0, j.desc.y0, j.desc.x1, j.desc.y1, j.desc.box, c, r,
             j.box_out + p * 3);
  }
}

// grid.y = job; threads over the crop's pixels.
__global__ void WarpKernel(const WarpJob* __restrict__ jobs, int out_w, int out_h,
                           uint8_t* __restrict__ dst) {
  const WarpJob& j = jobs[blockIdx.y];
  const WarpSource src =
      j.box_out ? WarpSource{j.box_out, j.box_w, j.box_h, int64_t{j.box_w} * 3} : j.photo;
  const int64_t n = int64_t{out_w} * out_h;
  uint8_t* out = dst + int64_t{blockIdx.y} * n * 3;
  for (int64_t p = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; p < n;
       p += int64_t{gridDim.x} * blockDim.x) {
    const int i = static_cast<int>(p / out_w), jx = static_cast<int>(p % out_w);
    float v[3];
    const float border[3] = {j.desc.border, j.desc.border, j.desc.border};
    WarpPixel(src, j.desc.inv, border, j.desc.mirror ? out_w - 1 - jx : jx, i, v);
    out[p * 3] = WarpToByte(v[0]);
    out[p * 3 + 1] = WarpToByte(v[1]);
    out[p * 3 + 2] = WarpToByte(v[2]);
  }
}

constexpr int kWarpThreads = 256;

unsigned BlocksX(int64_t pixels) {
  const int64_t b = (pixels + kWarpThreads - 1) / kWarpThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 ? 65535 : b));
}

}  // namespace

Status LaunchBoxAverages(const WarpJob* jobs, int count, int64_t max_box_pixels, void* stream) {
  if (count <= 0 || max_box_pixels <= 0) return OkStatus();
  if (count > 65535)
    return Internal("box averages: " + std::to_string(count) +
                    " crops in one launch (at most 65535)");
  const dim3 grid(BlocksX(max_box_pixels), static_cast<unsigned>(count));
  BoxKernel<<<grid, kWarpThreads, 0, static_cast<cudaStream_t>(stream)>>>(jobs, max_box_pixels);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

Status LaunchWarps(const WarpJob* jobs, int count, int out_w, int out_h, uint8_t* dst,
                   void* stream) {
  if (count <= 0) return OkStatus();
  if (count > 65535)
    return Internal("warps: " + std::to_string(count) + " crops in one launch (at most 65535)");
  if (out_w < 1 || out_h < 1) return Internal("warps: empty crop size");
  const dim3 grid(BlocksX(int64_t{out_w} * out_h), static_cast<unsigned>(count));
  WarpKernel<<<grid, kWarpThreads, 0, static_cast<cudaStream_t>(stream)>>>(jobs, out_w, out_h, dst);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
