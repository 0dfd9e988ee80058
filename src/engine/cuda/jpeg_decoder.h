// JPEG decoding on an NVIDIA GPU with nvJPEG (host-only header: no CUDA or nvJPEG types).
//
// libnvjpeg.so.<CUDA major> is loaded at run time ($FK_NVJPEG_LIBRARY, the loader path, then
// /usr/local/cuda/lib64), as cuDNN and cuBLAS are (engine/cuda/dynload.h): the development VM's
// toolkit has no nvJPEG, the GPU machines have it. The declarations used are written out in
// jpeg_decoder.cpp from nvJPEG 13's nvjpeg.h.
//
// Backends: kHardware = the GPU's JPEG engines (A100, H100, ...; baseline JPEGs; measured on an
// H100 at 3,590 photos/s for 0.28 ms of CPU per photo in batches of 64, docs/benchmarks/crops-gpu.md),
// kDefault = nvJPEG's choice (Huffman decoding on the CPU, the rest on the GPU; ~1.8 ms per photo).
//
// Not used by the face pipeline yet: the next step is to batch decodes across requests and keep
// the photo on the device for Model::RunWarps (docs/cuda.md, "Next GPU session").
//
// Thread safety: Decode() may run from several threads at once (each call takes a decode state,
// stream and device buffer from a pool, created on demand and reused). Errors are Status values
// naming the nvJPEG / CUDA call; a JPEG the backend cannot decode (e.g. progressive on the
// hardware engines) is Unsupported, so a caller can fall back to the CPU decoder.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facekit/status.h"

namespace fk::engine::cuda {

class GpuJpegDecoder {
 public:
  enum class Backend { kHardware, kDefault };
  // Unavailable (with the fix) when nvJPEG cannot be loaded, the GPU is not usable, or the
  // backend is not supported on this GPU.
  static Result<std::unique_ptr<GpuJpegDecoder>> Create(int gpu_index, Backend backend);
  ~GpuJpegDecoder();

  struct Size {
    int width = 0, height = 0;
  };
  // The size of `jpeg` at full resolution (from its header; no decoding).
  Result<Size> ImageSize(std::span<const uint8_t> jpeg) const;
  // Decodes `jpeg` at full size (EXIF orientation not applied) and downloads the interleaved RGB
  // rows to `dst` (host memory, ImageSize() rows of `stride` >= 3 * width bytes; e.g. a
  // facekit::Image). InvalidArgument for data that is not a JPEG or a stride too small,
  // Unsupported for a JPEG this backend cannot decode.
  Status DecodeInto(std::span<const uint8_t> jpeg, uint8_t* dst, int64_t stride) const;
  // Several JPEGs in one nvjpegDecodeBatched call on the hardware backend (the engines decode the
  // batch together: 0.28 ms of CPU per photo at 64 on an H100 against ~1.8 ms one by one); one by
  // one on the default backend. results[i] for jobs[i]; a batch nvJPEG refuses is retried photo
  // by photo, so a bad photo fails alone.
  struct Job {
    std::span<const uint8_t> jpeg;
    uint8_t* dst = nullptr;
    int64_t stride = 0;
  };
  std::vector<Status> DecodeBatchInto(std::span<const Job> jobs) const;

  Backend backend() const;
  std::string Describe() const;  // library path, version, backend, GPU

 private:
  struct Impl;
  explicit GpuJpegDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fk::engine::cuda
