// facekit — images in and out.
//
// An Image is 8-bit RGB, interleaved (HWC), rows top to bottom, `stride` bytes per row
// (stride >= 3 * width). Decoding always yields this form whatever the file held
// (grayscale, CMYK/YCCK, palette, 16-bit, alpha), with the EXIF orientation applied.
//
// Coordinates (docs/conventions.md): continuous image coordinates put the top-left
// corner of the top-left pixel at (0, 0) and its centre at (0.5, 0.5); pixel (col c,
// row r) covers [c, c+1) x [r, r+1). x grows to the right (image left = small x), y grows
// down. A model's normalised output u in [0, 1] maps to u * width.
//
// Thread-safety: all functions here are reentrant; an Image is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "facekit/status.h"

namespace fk {

struct Point2f {
  float x = 0.f;
  float y = 0.f;
};

// Axis-aligned box in continuous image coordinates: [x0, x1) x [y0, y1).
struct BoxF {
  float x0 = 0.f, y0 = 0.f, x1 = 0.f, y1 = 0.f;
  float width() const { return x1 - x0; }
  float height() const { return y1 - y0; }
};

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

class Image {
 public:
  Image() = default;
  // Allocates width x height RGB pixels (stride = 3 * width), all set to `fill`.
  Image(int width, int height, Rgb fill = {});
  // Allocates width x height RGB pixels whose values are unspecified: for code that writes
  // every pixel right away (decoders, resamplers) and should not pay for a fill first.
  static Image Uninitialized(int width, int height);

  bool empty() const { return width_ <= 0 || height_ <= 0; }
  int width() const { return width_; }
  int height() const { return height_; }
  size_t stride() const { return stride_; }  // bytes per row
  int64_t num_pixels() const { return int64_t{width_} * height_; }

  uint8_t* row(int y) { return pixels_.data() + static_cast<size_t>(y) * stride_; }
  const uint8_t* row(int y) const { return pixels_.data() + static_cast<size_t>(y) * stride_; }
  uint8_t* at(int x, int y) { return row(y) + 3 * static_cast<size_t>(x); }
  const uint8_t* at(int x, int y) const { return row(y) + 3 * static_cast<size_t>(x); }
  uint8_t* data() { return pixels_.data(); }
  const uint8_t* data() const { return pixels_.data(); }

  // Size of the image as stored in its file after the EXIF orientation was applied,
  // before any downscaling by the decoder (DCT scaling, max_side). Coordinates in this
  // image times (source_width / width) are coordinates in the full-size photo.
  // Equal to width/height for images not made by the decoder.
  int source_width() const { return source_width_ ? source_width_ : width_; }
  int source_height() const { return source_height_ ? source_height_ : height_; }
  void set_source_size(int w, int h) {
    source_width_ = w;
    source_height_ = h;
  }

 private:
  int width_ = 0;
  int height_ = 0;
  size_t stride_ = 0;
  int source_width_ = 0;
  int source_height_ = 0;
  // Default-initialising allocator: resize() leaves bytes unset (the constructors fill).
  template <typename T>
  struct NoInitAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
      using other = NoInitAllocator<U>;
    };
    NoInitAllocator() = default;
    template <typename U>
    NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
    template <typename U>
    void construct(U* p) noexcept {
      ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... A>
    void construct(U* p, A&&... a) {
      ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
    }
  };
  std::vector<uint8_t, NoInitAllocator<uint8_t>> pixels_;
};

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp };
const char* ImageFormatName(ImageFormat f);
// Format from the first bytes of the data (magic numbers), never from a file name.
ImageFormat SniffImageFormat(std::span<const uint8_t> data);

// How an alpha channel (PNG, WebP) becomes RGB.
enum class AlphaMode {
  kBlendOnBlack,  // rgb * alpha / 255: transparent areas become black (default)
  kBlendOnWhite,  // rgb * a + 255 * (1 - a)
  kDrop,          // alpha ignored: the stored colour of transparent pixels is kept
};

struct DecodeOptions {
  // Longer side of the result; larger images are downscaled with an area (box) filter to
  // fit, aspect kept. 0 = no limit.
  int max_side = 2048;
  // Hint: the caller needs no more than about this many pixels on the longer side. A JPEG
  // is then decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose longer side is still
  // >= target_max_side (cheap; other formats ignore it). 0 = full resolution.
  int target_max_side = 0;
  // Hard limit on width * height as declared in the file header, checked before any
  // pixel memory is allocated (decompression bombs) -> ResourceExhausted.
  int64_t max_pixels = 100'000'000;
  bool apply_exif_orientation = true;  // JPEG EXIF tag 0x0112 (values 1..8)
  AlphaMode alpha = AlphaMode::kBlendOnBlack;
  // Optional: decodes a JPEG's pixels at full size into `dst` (rows of `stride` bytes, RGB, no
  // EXIF orientation) instead of libjpeg-turbo, e.g. on a GPU (FaceConfig::gpu_decode). Called
  // after the header is read (size, max_pixels and orientation as usual), so the result is at
  // full resolution whatever target_max_side says. Unsupported (or any error) -> libjpeg-turbo.
  std::function<Status(std::span<const uint8_t> jpeg, uint8_t* dst, int64_t stride)> jpeg_pixels = nullptr;
};

// Errors (the message always names the file, or "<memory>" for DecodeImage):
//   NotFound (no such file), IoError (unreadable), DataLoss (empty, corrupt or truncated),
//   Unsupported (GIF, BMP, TIFF, HEIC... or unknown bytes), ResourceExhausted (max_pixels).
// Never prints to stderr, never aborts on bad input.
Result<Image> DecodeImageFile(const std::string& path, const DecodeOptions& options = {});
Result<Image> DecodeImage(std::span<const uint8_t> data, const DecodeOptions& options = {},
                          const std::string& name = "<memory>");

// Encoding. `quality` is for JPEG (1..100) and lossy WebP (1..100; 101 = lossless WebP).
Result<std::vector<uint8_t>> EncodeImage(const Image& image, ImageFormat format, int quality = 92);
// Format from the extension: .png, .jpg/.jpeg, .webp (case-insensitive).
Status SaveImage(const std::string& path, const Image& image, int quality = 92);

}  // namespace fk
