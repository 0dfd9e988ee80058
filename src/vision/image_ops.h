// Resampling, model-input preparation and simple image transforms.
//
// Coordinates: continuous, pixel (c, r) covers [c, c+1) x [r, r+1) (docs/conventions.md).
// Sampling rule shared by resize, crop+resize and warps: a sample point inside the image
// extent [0, W] x [0, H] interpolates with edge pixels replicated; outside it, the image is
// surrounded by `pad` pixels (so a box that extends past the image is padded, and the pad
// blends over one pixel at the image border).
#pragma once

#include <array>
#include <span>

#include "facekit/image.h"
#include "facekit/tensor.h"

namespace fk::vision {

enum class ResizeFilter {
  kAuto,      // bilinear; exact area averaging on an axis downscaled by more than 2x
  kBilinear,  // always bilinear (half-pixel centres, like TF half_pixel_centers / OpenCV)
  kArea,      // area averaging whenever an axis is downscaled (box filter), else bilinear
};

enum class ChannelOrder { kRGB, kBGR };

// How 8-bit pixels become model input: output channel k (after reordering to `order`)
// = pixel_value * scale[k] + offset[k], pixel_value in 0..255. Output is float32 NHWC.
struct Normalize {
  std::array<float, 3> scale = {1.f, 1.f, 1.f};
  std::array<float, 3> offset = {0.f, 0.f, 0.f};
  ChannelOrder order = ChannelOrder::kRGB;

  static Normalize Raw(ChannelOrder o = ChannelOrder::kRGB) {
    return {{1, 1, 1}, {0, 0, 0}, o};
  }                                                                // 0..255
  static Normalize ZeroOne(ChannelOrder o = ChannelOrder::kRGB) {  // 0..1
    return {{1 / 255.f, 1 / 255.f, 1 / 255.f}, {0, 0, 0}, o};
  }
  static Normalize MinusOneOne(ChannelOrder o = ChannelOrder::kRGB) {  // -1..1
    return {{2 / 255.f, 2 / 255.f, 2 / 255.f}, {-1, -1, -1}, o};
  }
  // (pixel - mean) / std per output channel.
  static Normalize MeanStd(std::array<float, 3> mean, std::array<float, 3> std,
                           ChannelOrder o = ChannelOrder::kRGB) {
    Normalize n;
    for (int k = 0; k < 3; ++k) {
      n.scale[k] = 1.f / std[k];
      n.offset[k] = -mean[k] / std[k];
    }
    n.order = o;
    return n;
  }
};

// 8-bit resize. Requires out_w, out_h >= 1 (InvalidArgument otherwise).
Result<Image> ResizeImage(const Image& src, int out_w, int out_h,
                          ResizeFilter filter = ResizeFilter::kAuto);
// Crop `box` (may extend past the image; outside is `pad`) and resize to out_w x out_h.
Result<Image> CropResizeImage(const Image& src, const BoxF& box, int out_w, int out_h, Rgb pad = {},
                              ResizeFilter filter = ResizeFilter::kAuto);

// Crop `box` and resize into float32 HWC at `dst` (out_h * out_w * 3 floats), normalised.
// `pad` is a pixel value (0..255) used outside the image, normalised like the pixels.
Status CropResizeInto(const Image& src, const BoxF& box, int out_w, int out_h,
                      const Normalize& norm, float* dst, float pad = 0.f,
                      ResizeFilter filter = ResizeFilter::kAuto);
// Same, returning a [1, out_h, out_w, 3] float32 tensor.
Result<Tensor> CropResizeToTensor(const Image& src, const BoxF& box, int out_w, int out_h,
                                  const Normalize& norm, float pad = 0.f,
                                  ResizeFilter filter = ResizeFilter::kAuto);
// Whole image resized to [1, out_h, out_w, 3] (aspect not kept).
Result<Tensor> ResizeToTensor(const Image& src, int out_w, int out_h, const Normalize& norm,
                              ResizeFilter filter = ResizeFilter::kAuto);
// Image -> [1, H, W, 3] float32 at its own size.
Tensor ImageToTensor(const Image& src, const Normalize& norm);

// Integer box downscale by `factor` >= 1 on both axes: output pixel (c, r) is the mean of
// source pixels [c*f, c*f+f) x [r*f, r*f+f) clipped to the image (ceil(W/f) x ceil(H/f); the
// last column/row averages what is there, so a point x maps to x / f up to the partial edge).
// A cheap working copy of a large photo for the detector. Keeps source_width/height.
Image DownscaleBox(const Image& src, int factor);
// The same over the pixel rectangle [x0, x1) x [y0, y1) of `src` (clipped to it): output pixel
// (c, r) averages [x0 + c*f, x0 + c*f + f) x [y0 + r*f, ...) clipped to the rectangle. Empty
// when the rectangle is. Source size not set (a crop).
Image DownscaleBoxRegion(const Image& src, int x0, int y0, int x1, int y1, int factor);

// Mirror left-right. A point x maps to width - x (exact in facekit coordinates).
Image FlipHorizontal(const Image& src);
// Applies an EXIF orientation (1..8) so the result is upright; other values return a copy.
Image ApplyExifOrientation(const Image& src, int orientation);

}  // namespace fk::vision
