// Image storage and format sniffing.
#include "facekit/image.h"

#include <cstring>

namespace fk {

Image::Image(int width, int height, Rgb fill) {
  if (width <= 0 || height <= 0) return;
  width_ = width;
  height_ = height;
  stride_ = static_cast<size_t>(width) * 3;
  pixels_.resize(stride_ * static_cast<size_t>(height));
  if (fill.r == fill.g && fill.g == fill.b) {
    std::memset(pixels_.data(), fill.r, pixels_.size());
  } else {
    for (size_t i = 0; i < pixels_.size(); i += 3) {
      pixels_[i] = fill.r;
      pixels_[i + 1] = fill.g;
      pixels_[i + 2] = fill.b;
    }
  }
}

Image Image::Uninitialized(int width, int height) {
  Image img;
  if (width <= 0 || height <= 0) return img;
  img.width_ = width;
  img.height_ = height;
  img.stride_ = static_cast<size_t>(width) * 3;
  img.pixels_.resize(img.stride_ * static_cast<size_t>(height));  // default-init: no fill
  return img;
}

const char* ImageFormatName(ImageFormat f) {
  switch (f) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

ImageFormat SniffImageFormat(std::span<const uint8_t> d) {
  if (d.size() >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::kJpeg;
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (d.size() >= 8 && std::memcmp(d.data(), kPng, 8) == 0) return ImageFormat::kPng;
  if (d.size() >= 12 && std::memcmp(d.data(), "RIFF", 4) == 0 &&
      std::memcmp(d.data() + 8, "WEBP", 4) == 0)
    return ImageFormat::kWebp;
  return ImageFormat::kUnknown;
}

}  // namespace fk
