// Image decoding: JPEG (libjpeg-turbo), PNG (libpng), WebP (libwebp).
//
// libjpeg and libpng report errors by longjmp. Each decoder's setjmp lives in a function
// whose only objects with destructors are constructed before setjmp and outlive the jump
// (the output vector belongs to the caller), so no destructor is ever skipped. Warnings
// and errors are never printed: messages are captured and returned in the Status.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "facekit/image.h"
#include "vision/image_ops.h"

#if __has_include(<jpeglib.h>)
#define FK_VISION_JPEG 1
#include <jerror.h>
#include <jpeglib.h>
#endif
#if __has_include(<png.h>)
#define FK_VISION_PNG 1
#include <png.h>
#endif
#if __has_include(<webp/decode.h>)
#define FK_VISION_WEBP 1
#include <webp/decode.h>
#endif

namespace fk {
namespace {

std::string Dims(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

Status CheckPixels(const std::string& name, const char* fmt, int64_t w, int64_t h,
                   const DecodeOptions& opt) {
  if (w <= 0 || h <= 0)
    return DataLoss(name + ": " + fmt + " header declares an empty image (" + Dims(w, h) + ")");
  if (opt.max_pixels > 0 && w * h > opt.max_pixels)
    return ResourceExhausted(name + ": " + fmt + " image is " + Dims(w, h) + " (" +
                             std::to_string(w * h) + " pixels), over the decoder limit of " +
                             std::to_string(opt.max_pixels) +
                             " pixels (DecodeOptions.max_pixels); refusing to decode it");
  return OkStatus();
}

// Converts RGBA rows to RGB according to the alpha mode.
void RgbaToRgb(const uint8_t* rgba, uint8_t* rgb, int n, AlphaMode mode) {
  for (int i = 0; i < n; ++i, rgba += 4, rgb += 3) {
    const unsigned a = rgba[3];
    switch (mode) {
      case AlphaMode::kDrop:
        rgb[0] = rgba[0], rgb[1] = rgba[1], rgb[2] = rgba[2];
        break;
      case AlphaMode::kBlendOnBlack:
        for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>((rgba[c] * a + 127) / 255);
        break;
      case AlphaMode::kBlendOnWhite:
        for (int c = 0; c < 3; ++c)
          rgb[c] = static_cast<uint8_t>((rgba[c] * a + 255 * (255 - a) + 127) / 255);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// EXIF orientation from an APP1 payload ("Exif\0\0" + TIFF). Returns 1 when absent/invalid.
int ParseExifOrientation(const uint8_t* p, size_t n) {
  if (n < 6 + 8 || std::memcmp(p, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* t = p + 6;
  const size_t tn = n - 6;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') {
    le = true;
  } else if (t[0] == 'M' && t[1] == 'M') {
    le = false;
  } else {
    return 1;
  }
  auto u16 = [&](size_t off) -> uint32_t {
    return le ? (t[off] | (t[off + 1] << 8)) : ((t[off] << 8) | t[off + 1]);
  };
  auto u32 = [&](size_t off) -> uint32_t {
    return le ? (uint32_t{t[off]} | (uint32_t{t[off + 1]} << 8) | (uint32_t{t[off + 2]} << 16) |
                 (uint32_t{t[off + 3]} << 24))
              : ((uint32_t{t[off]} << 24) | (uint32_t{t[off + 1]} << 16) |
                 (uint32_t{t[off + 2]} << 8) | uint32_t{t[off + 3]});
  };
  if (u16(2) != 42) return 1;
  const size_t ifd = u32(4);
  if (ifd + 2 > tn) return 1;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > tn) return 1;
    if (u16(e) != 0x0112) continue;
    const uint32_t type = u16(e + 2);
    uint32_t v;
    if (type == 3) {
      v = u16(e + 8);  // SHORT, left-justified in the value field
    } else if (type == 4) {
      v = u32(e + 8);  // LONG (non-standard but seen)
    } else {
      return 1;
    }
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
  }
  return 1;
}

// ---------------------------------------------------------------------------------------
#ifdef FK_VISION_JPEG
struct JpegErr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErr*>(cinfo->err);
  cinfo->err->format_message(cinfo, e->message);
  longjmp(e->jump, 1);
}

void JpegEmitMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* e = reinterpret_cast<JpegErr*>(cinfo->err);
  cinfo->err->num_warnings++;
  // Premature end of data: libjpeg would pad with grey; we treat the file as truncated.
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
    e->truncated = true;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->jump, 1);
  }
  // Other warnings (e.g. extraneous bytes before a marker) are common in photos that
  // display fine; they are ignored.
}

struct JpegResult {
  int width = 0, height = 0;   // decoded (after DCT scaling)
  int full_w = 0, full_h = 0;  // as in the header
  int orientation = 1;
  bool too_big = false;
  bool failed = false;
  bool truncated = false;
  char message[JMSG_LENGTH_MAX] = {0};
};

// Decodes straight into `img` (caller-owned, rows of width * 3 bytes: no intermediate buffer
// and copy — for a 2048-px photo that was two extra passes over 9 MB). Only trivially
// destructible locals after setjmp.
void DecodeJpegRaw(const uint8_t* data, size_t size, const DecodeOptions& opt, Image* img,
                   std::vector<uint8_t>* row_buf, JpegResult* res) {
  jpeg_decompress_struct cinfo;
  JpegErr err;
  std::memset(&err, 0, sizeof(err));
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = JpegErrorExit;
  err.pub.emit_message = JpegEmitMessage;
  if (setjmp(err.jump)) {
    res->failed = true;
    res->truncated = err.truncated;
    std::memcpy(res->message, err.message, sizeof(res->message));
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  if (opt.apply_exif_orientation) jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  res->full_w = static_cast<int>(cinfo.image_width);
  res->full_h = static_cast<int>(cinfo.image_height);
  if (opt.max_pixels > 0 && int64_t{res->full_w} * res->full_h > opt.max_pixels) {
    res->too_big = true;
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  if (opt.apply_exif_orientation) {
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
      if (m->marker == JPEG_APP0 + 1) {
        const int o = ParseExifOrientation(m->data, m->data_length);
        if (o != 1) {
          res->orientation = o;
          break;
        }
      }
    }
  }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // grayscale -> RGB is done by libjpeg-turbo
  // DCT-domain downscaling: the smallest scale whose longer side is still >= the target.
  int target = 0;
  if (opt.target_max_side > 0) target = opt.target_max_side;
  if (opt.max_side > 0) target = target > 0 ? std::min(target, opt.max_side) : opt.max_side;
  if (target > 0) {
    const int full_side = std::max(res->full_w, res->full_h);
    for (int denom : {8, 4, 2}) {
      if ((full_side + denom - 1) / denom >= target) {
        cinfo.scale_num = 1;
        cinfo.scale_denom = static_cast<unsigned>(denom);
        break;
      }
    }
  }
  // The caller's decoder (e.g. nvJPEG on a GPU) for the pixels at full size; libjpeg-turbo when
  // it refuses or fails. CMYK stays on libjpeg-turbo (its ink conversion is below).
  if (opt.jpeg_pixels && !cmyk) {
    Image full = Image::Uninitialized(res->full_w, res->full_h);
    if (opt.jpeg_pixels(std::span<const uint8_t>(data, size), full.row(0), static_cast<int64_t>(full.stride())).ok()) {
      res->width = res->full_w;
      res->height = res->full_h;
      *img = std::move(full);
      jpeg_destroy_decompress(&cinfo);
      return;
    }
  }
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width), h = static_cast<int>(cinfo.output_height);
  const int nc = cinfo.output_components;
  res->width = w;
  res->height = h;
  *img = Image::Uninitialized(w, h);  // every row is written below
  row_buf->resize(static_cast<size_t>(w) * nc);
  const bool adobe = cinfo.saw_Adobe_marker;
  while (cinfo.output_scanline < cinfo.output_height) {
    const int y = static_cast<int>(cinfo.output_scanline);
    uint8_t* dst = img->row(y);
    if (nc == 3) {
      JSAMPROW row = dst;
      jpeg_read_scanlines(&cinfo, &row, 1);
    } else {
      JSAMPROW row = row_buf->data();
      jpeg_read_scanlines(&cinfo, &row, 1);
      if (nc == 4) {
        // Adobe (Photoshop) CMYK JPEGs store inverted inks: value = 255 - ink. Without the
        // Adobe marker the values are plain inks.
        for (int x = 0; x < w; ++x) {
          const uint8_t* s = row + 4 * x;
          unsigned c = s[0], m = s[1], yy = s[2], k = s[3];
          if (!adobe) c = 255 - c, m = 255 - m, yy = 255 - yy, k = 255 - k;
          dst[3 * x] = static_cast<uint8_t>((c * k + 127) / 255);
          dst[3 * x + 1] = static_cast<uint8_t>((m * k + 127) / 255);
          dst[3 * x + 2] = static_cast<uint8_t>((yy * k + 127) / 255);
        }
      } else {  // 1 component (should not happen with JCS_RGB output)
        for (int x = 0; x < w; ++x) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
}

Result<Image> DecodeJpeg(std::span<const uint8_t> data, const DecodeOptions& opt,
                         const std::string& name, int* orientation) {
  Image img;
  std::vector<uint8_t> row_buf;
  JpegResult res;
  DecodeJpegRaw(data.data(), data.size(), opt, &img, &row_buf, &res);
  if (res.too_big) FK_RETURN_IF_ERROR(CheckPixels(name, "JPEG", res.full_w, res.full_h, opt));
  if (res.failed) {
    if (res.truncated)
      return DataLoss(name + ": JPEG file is truncated (" + std::string(res.message) + ")");
    return DataLoss(name + ": corrupt JPEG (" + std::string(res.message) + ")");
  }
  FK_RETURN_IF_ERROR(CheckPixels(name, "JPEG", res.full_w, res.full_h, opt));
  img.set_source_size(res.full_w, res.full_h);
  *orientation = res.orientation;
  return img;
}
#endif  // FK_VISION_JPEG

// ---------------------------------------------------------------------------------------
#ifdef FK_VISION_PNG
struct PngCtx {
  const uint8_t* data;
  size_t size;
  size_t pos;
  jmp_buf jump;
  char message[256];
  bool truncated;
};

void PngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* c = static_cast<PngCtx*>(png_get_io_ptr(png));
  if (n > c->size - c->pos) {
    c->truncated = true;
    png_error(png, "unexpected end of data");
  }
  std::memcpy(out, c->data + c->pos, n);
  c->pos += n;
}

void PngError(png_structp png, png_const_charp msg) {
  auto* c = static_cast<PngCtx*>(png_get_error_ptr(png));
  std::snprintf(c->message, sizeof(c->message), "%s", msg ? msg : "unknown libpng error");
  longjmp(c->jump, 1);
}

void PngWarning(png_structp, png_const_charp) {}

struct PngResult {
  int width = 0, height = 0;
  bool too_big = false;
  bool failed = false;
  bool truncated = false;
  char message[256] = {0};
};

void DecodePngRaw(const uint8_t* data, size_t size, const DecodeOptions& opt,
                  std::vector<uint8_t>* rgba, std::vector<png_bytep>* rows, PngResult* res) {
  PngCtx ctx;
  std::memset(&ctx, 0, sizeof(ctx));
  ctx.data = data;
  ctx.size = size;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, PngError, PngWarning);
  if (!png) {
    res->failed = true;
    std::snprintf(res->message, sizeof(res->message), "out of memory");
    return;
  }
  png_infop info = nullptr;
  if (setjmp(ctx.jump)) {
    res->failed = true;
    res->truncated = ctx.truncated;
    std::memcpy(res->message, ctx.message, sizeof(res->message));
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return;
  }
  info = png_create_info_struct(png);
  if (!info) png_error(png, "out of memory");
  png_set_read_fn(png, &ctx, PngRead);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  res->width = static_cast<int>(w);
  res->height = static_cast<int>(h);
  if (opt.max_pixels > 0 && int64_t{w} * h > opt.max_pixels) {
    res->too_big = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return;
  }
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (depth == 16) png_set_scale_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_filler(png, 0xFF, PNG_FILLER_AFTER);  // no-op when the image already has alpha
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<size_t>(w) * 4)
    png_error(png, "unexpected row layout");
  rgba->resize(static_cast<size_t>(w) * h * 4);
  rows->resize(h);
  for (png_uint_32 y = 0; y < h; ++y) (*rows)[y] = rgba->data() + static_cast<size_t>(y) * w * 4;
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
}

Result<Image> DecodePng(std::span<const uint8_t> data, const DecodeOptions& opt,
                        const std::string& name) {
  std::vector<uint8_t> rgba;
  std::vector<png_bytep> rows;
  PngResult res;
  DecodePngRaw(data.data(), data.size(), opt, &rgba, &rows, &res);
  if (res.too_big) FK_RETURN_IF_ERROR(CheckPixels(name, "PNG", res.width, res.height, opt));
  if (res.failed) {
    if (res.truncated)
      return DataLoss(name + ": PNG file is truncated (" + std::string(res.message) + ")");
    return DataLoss(name + ": corrupt PNG (" + std::string(res.message) + ")");
  }
  FK_RETURN_IF_ERROR(CheckPixels(name, "PNG", res.width, res.height, opt));
  Image img(res.width, res.height);
  for (int y = 0; y < res.height; ++y)
    RgbaToRgb(rgba.data() + static_cast<size_t>(y) * res.width * 4, img.row(y), res.width,
              opt.alpha);
  return img;
}
#endif  // FK_VISION_PNG

// ---------------------------------------------------------------------------------------
#ifdef FK_VISION_WEBP
Result<Image> DecodeWebp(std::span<const uint8_t> data, const DecodeOptions& opt,
                         const std::string& name) {
  WebPBitstreamFeatures f;
  const VP8StatusCode st = WebPGetFeatures(data.data(), data.size(), &f);
  if (st == VP8_STATUS_NOT_ENOUGH_DATA) return DataLoss(name + ": WebP file is truncated");
  if (st == VP8_STATUS_UNSUPPORTED_FEATURE)
    return Unsupported(name + ": WebP feature not supported by libwebp");
  if (st != VP8_STATUS_OK)
    return DataLoss(name + ": corrupt WebP (header status " + std::to_string(st) + ")");
  if (f.has_animation)
    return Unsupported(name + ": animated WebP is not supported (extract a frame first)");
  FK_RETURN_IF_ERROR(CheckPixels(name, "WebP", f.width, f.height, opt));
  const int w = f.width, h = f.height;
  Image img(w, h);
  if (f.has_alpha) {
    std::vector<uint8_t> rgba(static_cast<size_t>(w) * h * 4);
    if (!WebPDecodeRGBAInto(data.data(), data.size(), rgba.data(), rgba.size(), w * 4))
      return DataLoss(name + ": corrupt or truncated WebP (decoding failed)");
    for (int y = 0; y < h; ++y)
      RgbaToRgb(rgba.data() + static_cast<size_t>(y) * w * 4, img.row(y), w, opt.alpha);
  } else {
    if (!WebPDecodeRGBInto(data.data(), data.size(), img.data(), img.stride() * h,
                           static_cast<int>(img.stride())))
      return DataLoss(name + ": corrupt or truncated WebP (decoding failed)");
  }
  return img;
}
#endif  // FK_VISION_WEBP

std::string DescribeUnknown(std::span<const uint8_t> d) {
  auto starts = [&](const char* s, size_t off = 0) {
    const size_t n = std::strlen(s);
    return d.size() >= off + n && std::memcmp(d.data() + off, s, n) == 0;
  };
  if (starts("GIF87a") || starts("GIF89a")) return "GIF";
  if (starts("BM")) return "BMP";
  if (starts("II*") || starts("MM")) {
    if (d.size() >= 4 &&
        ((d[0] == 'I' && d[2] == 42 && d[3] == 0) || (d[0] == 'M' && d[2] == 0 && d[3] == 42)))
      return "TIFF";
  }
  if (starts("ftypheic", 4) || starts("ftypheix", 4) || starts("ftypmif1", 4)) return "HEIF/HEIC";
  if (starts("ftypavif", 4)) return "AVIF";
  if (starts("%PDF")) return "PDF";
  if (d.size() >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 1 && d[3] == 0) return "ICO";
  return "";
}

}  // namespace

Result<Image> DecodeImage(std::span<const uint8_t> data, const DecodeOptions& opt,
                          const std::string& name) {
  if (data.empty()) return DataLoss(name + ": empty file (0 bytes), not an image");
  const ImageFormat fmt = SniffImageFormat(data);
  Result<Image> decoded = Unsupported("");
  int orientation = 1;
  switch (fmt) {
    case ImageFormat::kJpeg:
#ifdef FK_VISION_JPEG
      decoded = DecodeJpeg(data, opt, name, &orientation);
      break;
#else
      return Unsupported(name +
                         ": JPEG support was not built (libjpeg-turbo not found at build time)");
#endif
    case ImageFormat::kPng:
#ifdef FK_VISION_PNG
      decoded = DecodePng(data, opt, name);
      break;
#else
      return Unsupported(name + ": PNG support was not built (libpng not found at build time)");
#endif
    case ImageFormat::kWebp:
#ifdef FK_VISION_WEBP
      decoded = DecodeWebp(data, opt, name);
      break;
#else
      return Unsupported(name + ": WebP support was not built (libwebp not found at build time)");
#endif
    case ImageFormat::kUnknown: {
      const std::string kind = DescribeUnknown(data);
      if (!kind.empty())
        return Unsupported(name + ": " + kind +
                           " images are not supported; convert to JPEG, PNG or WebP");
      return Unsupported(name + ": not a JPEG, PNG or WebP image (unrecognised file signature, " +
                         std::to_string(data.size()) + " bytes)");
    }
  }
  if (!decoded.ok()) return decoded.status();
  Image img = std::move(decoded).value();
  if (orientation != 1) img = vision::ApplyExifOrientation(img, orientation);
  // source_width/height: the full-resolution size after orientation (the JPEG decoder set
  // it before DCT scaling; ApplyExifOrientation swaps it for 90-degree rotations).
  img.set_source_size(img.source_width(), img.source_height());
  if (opt.max_side > 0 && std::max(img.width(), img.height()) > opt.max_side) {
    const double s = static_cast<double>(opt.max_side) / std::max(img.width(), img.height());
    const int nw = std::max(1, static_cast<int>(std::lround(img.width() * s)));
    const int nh = std::max(1, static_cast<int>(std::lround(img.height() * s)));
    auto resized = vision::ResizeImage(img, nw, nh, vision::ResizeFilter::kArea);
    if (!resized.ok()) return resized.status().WithContext(name);
    Image out = std::move(resized).value();
    out.set_source_size(img.source_width(), img.source_height());
    img = std::move(out);
  }
  return img;
}

Result<Image> DecodeImageFile(const std::string& path, const DecodeOptions& opt) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return InvalidArgument(path + ": is a directory, not an image file");
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    FILE* probe = std::fopen(path.c_str(), "rb");
    if (!probe) {
      const int e = errno;
      if (e == ENOENT) return NotFound(path + ": no such image file");
      return IoError(path + ": cannot open image file (" + std::strerror(e) + ")");
    }
    std::fclose(probe);
    return IoError(path + ": cannot open image file");
  }
  f.seekg(0, std::ios::end);
  const std::streamoff size = f.tellg();
  if (size < 0) return IoError(path + ": cannot read image file (is it a directory?)");
  f.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size))
    return IoError(path + ": read failed after " + std::to_string(f.gcount()) + " of " +
                   std::to_string(size) + " bytes");
  return DecodeImage(bytes, opt, path);
}

}  // namespace fk
