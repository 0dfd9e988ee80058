// Test-only image generators and encoders (libjpeg, libpng, libwebp) for the vision tests.
// They write the exotic variants (CMYK, YCCK, grayscale, progressive, EXIF, palette,
// 16-bit, interlaced, alpha) that the library's own encoders do not produce.
#pragma once

// clang-format off
#include <cstdio>  // before jpeglib.h, which uses FILE and size_t
#include <jpeglib.h>
// clang-format on
#include <png.h>
#include <webp/encode.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "facekit/image.h"

namespace fk::testing_images {

// A smooth colour pattern with 16x16 blocks of distinct colours (survives JPEG well).
inline Image BlockPattern(int w, int h) {
  Image img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.at(x, y);
      p[0] = static_cast<uint8_t>(((x / 16) * 67 + 20) % 256);
      p[1] = static_cast<uint8_t>(((y / 16) * 89 + 40) % 256);
      p[2] = static_cast<uint8_t>(((x / 16 + y / 16) * 37 + 60) % 256);
    }
  return img;
}

// Pseudo-random pixels (for exact lossless round trips).
inline Image NoiseImage(int w, int h, uint32_t seed = 1) {
  Image img(w, h);
  uint32_t s = seed;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < 3 * w; ++x) {
      s = s * 1664525u + 1013904223u;
      img.row(y)[x] = static_cast<uint8_t>(s >> 24);
    }
  return img;
}

inline int MaxAbsDiff(const Image& a, const Image& b) {
  if (a.width() != b.width() || a.height() != b.height()) return 1 << 20;
  int m = 0;
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < 3 * a.width(); ++x)
      m = std::max(m, std::abs(int(a.row(y)[x]) - int(b.row(y)[x])));
  return m;
}

inline double MeanAbsDiff(const Image& a, const Image& b) {
  double s = 0;
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < 3 * a.width(); ++x) s += std::abs(int(a.row(y)[x]) - int(b.row(y)[x]));
  return s / (3.0 * a.width() * a.height());
}

// The payload of an APP1 Exif segment with one IFD0 entry: Orientation (0x0112) = value.
inline std::vector<uint8_t> ExifOrientationBlock(int orientation, bool little_endian) {
  std::vector<uint8_t> b = {'E', 'x', 'i', 'f', 0, 0};
  auto put16 = [&](uint16_t v) {
    if (little_endian) {
      b.push_back(v & 0xFF), b.push_back(v >> 8);
    } else {
      b.push_back(v >> 8), b.push_back(v & 0xFF);
    }
  };
  auto put32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i)
      b.push_back(little_endian ? (v >> (8 * i)) & 0xFF : (v >> (8 * (3 - i))) & 0xFF);
  };
  b.push_back(little_endian ? 'I' : 'M');
  b.push_back(little_endian ? 'I' : 'M');
  put16(42);
  put32(8);  // IFD0 offset
  put16(2);  // two entries: an unrelated one first
  put16(0x010F), put16(2), put32(4), b.insert(b.end(), {'A', 'B', 'C', 0});  // Make = "ABC"
  put16(0x0112), put16(3), put32(1), put16(static_cast<uint16_t>(orientation)), put16(0);
  put32(0);  // next IFD
  return b;
}

struct JpegSpec {
  J_COLOR_SPACE in_space = JCS_RGB;        // JCS_RGB (3 comps), JCS_GRAYSCALE (1), JCS_CMYK (4)
  J_COLOR_SPACE jpeg_space = JCS_UNKNOWN;  // override the stored colour space (e.g. JCS_YCCK)
  bool progressive = false;
  int quality = 95;
  int exif_orientation = 0;  // 0 = no EXIF block
  bool exif_little_endian = false;
};

// Encodes `comps`-channel interleaved pixels (w*h*comps bytes).
inline std::vector<uint8_t> EncodeJpegRaw(const uint8_t* pixels, int w, int h, int comps,
                                          const JpegSpec& spec) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = comps;
  cinfo.in_color_space = spec.in_space;
  jpeg_set_defaults(&cinfo);
  if (spec.jpeg_space != JCS_UNKNOWN) jpeg_set_colorspace(&cinfo, spec.jpeg_space);
  jpeg_set_quality(&cinfo, spec.quality, TRUE);
  if (spec.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  if (spec.exif_orientation) {
    const auto exif = ExifOrientationBlock(spec.exif_orientation, spec.exif_little_endian);
    jpeg_write_marker(&cinfo, JPEG_APP0 + 1, exif.data(), static_cast<unsigned>(exif.size()));
  }
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row =
        const_cast<JSAMPROW>(pixels + static_cast<size_t>(cinfo.next_scanline) * w * comps);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

inline std::vector<uint8_t> EncodeJpegRgb(const Image& img, const JpegSpec& spec = {}) {
  std::vector<uint8_t> px(static_cast<size_t>(img.width()) * img.height() * 3);
  for (int y = 0; y < img.height(); ++y)
    std::memcpy(&px[size_t(y) * img.width() * 3], img.row(y), img.width() * 3);
  return EncodeJpegRaw(px.data(), img.width(), img.height(), 3, spec);
}

struct PngSpec {
  int color_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<png_color> palette;      // for PNG_COLOR_TYPE_PALETTE
  std::vector<png_byte> trns_palette;  // palette alpha (tRNS)
};

inline void PngVecWrite(png_structp png, png_bytep data, png_size_t n) {
  auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  v->insert(v->end(), data, data + n);
}
inline void PngVecFlush(png_structp) {}

// `rows` are raw PNG rows (already in the bit depth / channel layout of the spec;
// 16-bit samples big-endian).
inline std::vector<uint8_t> EncodePngRaw(const std::vector<std::vector<uint8_t>>& rows, int w,
                                         const PngSpec& spec) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return {};
  }
  png_set_write_fn(png, &out, PngVecWrite, PngVecFlush);
  png_set_IHDR(png, info, w, static_cast<png_uint_32>(rows.size()), spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty())
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  if (!spec.trns_palette.empty())
    png_set_tRNS(png, info, spec.trns_palette.data(), static_cast<int>(spec.trns_palette.size()),
                 nullptr);
  png_write_info(png, info);
  std::vector<png_bytep> ptrs;
  for (const auto& r : rows) ptrs.push_back(const_cast<png_bytep>(r.data()));
  png_write_image(png, ptrs.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace fk::testing_images
