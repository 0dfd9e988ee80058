// Image encoding (PNG, JPEG, WebP) and SaveImage.
#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "facekit/image.h"

#if __has_include(<jpeglib.h>)
#define FK_VISION_JPEG 1
#include <jpeglib.h>
#endif
#if __has_include(<png.h>)
#define FK_VISION_PNG 1
#include <png.h>
#endif
#if __has_include(<webp/encode.h>)
#define FK_VISION_WEBP 1
#include <webp/encode.h>
#endif

namespace fk {
namespace {

#ifdef FK_VISION_PNG
struct PngWriteCtx {
  std::vector<uint8_t>* out;
  jmp_buf jump;
  char message[256];
};

void PngWrite(png_structp png, png_bytep data, png_size_t n) {
  auto* c = static_cast<PngWriteCtx*>(png_get_io_ptr(png));
  c->out->insert(c->out->end(), data, data + n);
}
void PngFlush(png_structp) {}
void PngWriteError(png_structp png, png_const_charp msg) {
  auto* c = static_cast<PngWriteCtx*>(png_get_error_ptr(png));
  std::snprintf(c->message, sizeof(c->message), "%s", msg ? msg : "unknown libpng error");
  longjmp(c->jump, 1);
}
void PngWriteWarning(png_structp, png_const_charp) {}

// Returns false on error with the message in ctx. `out` is caller-owned.
bool EncodePngRaw(const Image& img, PngWriteCtx* ctx) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx, PngWriteError, PngWriteWarning);
  if (!png) return false;
  png_infop info = nullptr;
  if (setjmp(ctx->jump)) {
    png_destroy_write_struct(&png, info ? &info : nullptr);
    return false;
  }
  info = png_create_info_struct(png);
  if (!info) png_error(png, "out of memory");
  png_set_write_fn(png, ctx, PngWrite, PngFlush);
  png_set_IHDR(png, info, static_cast<png_uint_32>(img.width()),
               static_cast<png_uint_32>(img.height()), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 6);
  png_write_info(png, info);
  for (int y = 0; y < img.height(); ++y) png_write_row(png, const_cast<png_bytep>(img.row(y)));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}
#endif

#ifdef FK_VISION_JPEG
struct JpegWriteErr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};
void JpegWriteErrorExit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegWriteErr*>(cinfo->err);
  cinfo->err->format_message(cinfo, e->message);
  longjmp(e->jump, 1);
}
void JpegWriteEmit(j_common_ptr, int) {}

// On success *buf/*size hold a malloc'ed buffer owned by the caller.
bool EncodeJpegRaw(const Image& img, int quality, unsigned char** buf, unsigned long* size,
                   JpegWriteErr* err) {
  jpeg_compress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->pub);
  err->pub.error_exit = JpegWriteErrorExit;
  err->pub.emit_message = JpegWriteEmit;
  if (setjmp(err->jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, buf, size);
  cinfo.image_width = static_cast<JDIMENSION>(img.width());
  cinfo.image_height = static_cast<JDIMENSION>(img.height());
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, std::clamp(quality, 1, 100), TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(img.row(static_cast<int>(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}
#endif

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::vector<uint8_t>> EncodeImage(const Image& image, ImageFormat format, int quality) {
  if (image.empty()) return InvalidArgument("encode: the image is empty");
  switch (format) {
    case ImageFormat::kPng: {
#ifdef FK_VISION_PNG
      std::vector<uint8_t> out;
      PngWriteCtx ctx;
      std::memset(ctx.message, 0, sizeof(ctx.message));
      ctx.out = &out;
      if (!EncodePngRaw(image, &ctx))
        return Internal(std::string("PNG encoding failed: ") + ctx.message);
      return out;
#else
      return Unsupported("PNG support was not built (libpng not found at build time)");
#endif
    }
    case ImageFormat::kJpeg: {
#ifdef FK_VISION_JPEG
      unsigned char* buf = nullptr;
      unsigned long size = 0;
      JpegWriteErr err;
      std::memset(&err, 0, sizeof(err));
      const bool ok = EncodeJpegRaw(image, quality, &buf, &size, &err);
      std::vector<uint8_t> out;
      if (ok && buf) out.assign(buf, buf + size);
      std::free(buf);
      if (!ok) return Internal(std::string("JPEG encoding failed: ") + err.message);
      return out;
#else
      return Unsupported("JPEG support was not built (libjpeg-turbo not found at build time)");
#endif
    }
    case ImageFormat::kWebp: {
#ifdef FK_VISION_WEBP
      uint8_t* buf = nullptr;
      size_t n;
      if (quality > 100) {
        n = WebPEncodeLosslessRGB(image.data(), image.width(), image.height(),
                                  static_cast<int>(image.stride()), &buf);
      } else {
        n = WebPEncodeRGB(image.data(), image.width(), image.height(),
                          static_cast<int>(image.stride()),
                          static_cast<float>(std::clamp(quality, 1, 100)), &buf);
      }
      if (n == 0 || !buf) {
        WebPFree(buf);
        return Internal("WebP encoding failed (" + std::to_string(image.width()) + "x" +
                        std::to_string(image.height()) + "; WebP allows at most 16383 per side)");
      }
      std::vector<uint8_t> out(buf, buf + n);
      WebPFree(buf);
      return out;
#else
      return Unsupported("WebP support was not built (libwebp not found at build time)");
#endif
    }
    case ImageFormat::kUnknown:
      break;
  }
  return InvalidArgument("encode: unknown image format");
}

Status SaveImage(const std::string& path, const Image& image, int quality) {
  const size_t dot = path.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : Lower(path.substr(dot + 1));
  ImageFormat fmt;
  if (ext == "png") {
    fmt = ImageFormat::kPng;
  } else if (ext == "jpg" || ext == "jpeg") {
    fmt = ImageFormat::kJpeg;
  } else if (ext == "webp") {
    fmt = ImageFormat::kWebp;
  } else {
    return InvalidArgument(
        path + ": cannot tell the image format from the extension (use .png, .jpg or .webp)");
  }
  auto bytes = EncodeImage(image, fmt, quality);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return IoError(path + ": cannot open for writing (" + std::strerror(errno) + ")");
  f.write(reinterpret_cast<const char*>(bytes->data()),
          static_cast<std::streamsize>(bytes->size()));
  f.close();
  if (!f) return IoError(path + ": write failed (disk full?)");
  return OkStatus();
}

}  // namespace fk
