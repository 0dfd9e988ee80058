// nvJPEG loaded at run time (engine/cuda/jpeg_decoder.h).
#include "engine/cuda/jpeg_decoder.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <mutex>
#include <vector>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device.h"
#include "engine/cuda/dynload.h"

namespace fk::engine::cuda {

namespace {

// The part of nvJPEG 13's C API used here, as nvjpeg.h declares it (the header is on the GPU
// machines, not on the development VM; scripts/gpu/nvjpeg_probe.cu builds against the real one).
namespace nvj {
constexpr int kMaxComponent = 4;                 // NVJPEG_MAX_COMPONENT
constexpr int kSuccess = 0;                      // NVJPEG_STATUS_SUCCESS
constexpr int kBadJpeg = 3;                      // NVJPEG_STATUS_BAD_JPEG
constexpr int kJpegNotSupported = 4;             // NVJPEG_STATUS_JPEG_NOT_SUPPORTED
constexpr int kAllocatorFailure = 5;             // NVJPEG_STATUS_ALLOCATOR_FAILURE
constexpr int kImplementationNotSupported = 9;   // NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED
constexpr int kBackendDefault = 0;               // NVJPEG_BACKEND_DEFAULT
constexpr int kBackendHardware = 3;              // NVJPEG_BACKEND_HARDWARE
constexpr int kOutputRgbi = 5;                   // NVJPEG_OUTPUT_RGBI
constexpr int kMajorVersion = 0, kMinorVersion = 1, kPatchLevel = 2;  // libraryPropertyType
struct Image {                                   // nvjpegImage_t
  unsigned char* channel[kMaxComponent];
  size_t pitch[kMaxComponent];
};
using Handle = struct HandleOpaque*;             // nvjpegHandle_t
using State = struct StateOpaque*;               // nvjpegJpegState_t
// Enums travel as int (their underlying type in the C ABI).
using CreateExFn = int (*)(int backend, void* dev_allocator, void* pinned_allocator, unsigned flags, Handle* handle);
using DestroyFn = int (*)(Handle);
using StateCreateFn = int (*)(Handle, State*);
using StateDestroyFn = int (*)(State);
using GetImageInfoFn = int (*)(Handle, const unsigned char* data, size_t length, int* components, int* subsampling,
                               int* widths, int* heights);
using DecodeFn = int (*)(Handle, State, const unsigned char* data, size_t length, int output_format, Image* dst,
                         cudaStream_t stream);
using BatchedInitializeFn = int (*)(Handle, State, int batch_size, int max_cpu_threads, int output_format);
using DecodeBatchedFn = int (*)(Handle, State, const unsigned char* const* data, const size_t* lengths, Image* dsts,
                                cudaStream_t stream);
using GetPropertyFn = int (*)(int type, int* value);
}  // namespace nvj

struct Api {
  nvj::CreateExFn nvjpegCreateEx = nullptr;
  nvj::DestroyFn nvjpegDestroy = nullptr;
  nvj::StateCreateFn nvjpegJpegStateCreate = nullptr;
  nvj::StateDestroyFn nvjpegJpegStateDestroy = nullptr;
  nvj::GetImageInfoFn nvjpegGetImageInfo = nullptr;
  nvj::DecodeFn nvjpegDecode = nullptr;
  nvj::BatchedInitializeFn nvjpegDecodeBatchedInitialize = nullptr;
  nvj::DecodeBatchedFn nvjpegDecodeBatched = nullptr;
  nvj::GetPropertyFn nvjpegGetProperty = nullptr;
  std::string path, version;
};

Result<const Api*> LoadNvjpeg() {
  static std::once_flag once;
  static Api api;
  static Status status;
  std::call_once(once, [] {
    const std::string so = "libnvjpeg.so." + std::to_string(CUDART_VERSION / 1000);
    std::string path, errors;
    void* h = OpenLibrary("FK_NVJPEG_LIBRARY", {so, "libnvjpeg.so"}, &path, &errors);
    if (!h) {
      status = Unavailable("nvJPEG is not loadable (" + so + " not found): tried" + errors +
                           "\n  fix: install nvJPEG for CUDA " + std::to_string(CUDART_VERSION / 1000) +
                           " (the CUDA toolkit's libnvjpeg, or NVIDIA's nvidia-nvjpeg pip wheel) and add its "
                           "folder to LD_LIBRARY_PATH (currently " + LdLibraryPath() +
                           "), or set FK_NVJPEG_LIBRARY=/full/path/" + so);
      return;
    }
    std::string missing;
    auto sym = [&](const char* name) {
      void* f = dlsym(h, name);
      if (!f) missing += std::string(" ") + name;
      return f;
    };
    api.nvjpegCreateEx = reinterpret_cast<nvj::CreateExFn>(sym("nvjpegCreateEx"));
    api.nvjpegDestroy = reinterpret_cast<nvj::DestroyFn>(sym("nvjpegDestroy"));
    api.nvjpegJpegStateCreate = reinterpret_cast<nvj::StateCreateFn>(sym("nvjpegJpegStateCreate"));
    api.nvjpegJpegStateDestroy = reinterpret_cast<nvj::StateDestroyFn>(sym("nvjpegJpegStateDestroy"));
    api.nvjpegGetImageInfo = reinterpret_cast<nvj::GetImageInfoFn>(sym("nvjpegGetImageInfo"));
    api.nvjpegDecode = reinterpret_cast<nvj::DecodeFn>(sym("nvjpegDecode"));
    api.nvjpegDecodeBatchedInitialize =
        reinterpret_cast<nvj::BatchedInitializeFn>(sym("nvjpegDecodeBatchedInitialize"));
    api.nvjpegDecodeBatched = reinterpret_cast<nvj::DecodeBatchedFn>(sym("nvjpegDecodeBatched"));
    api.nvjpegGetProperty = reinterpret_cast<nvj::GetPropertyFn>(sym("nvjpegGetProperty"));
    if (!missing.empty()) {
      status = Unavailable("nvJPEG at " + path + " lacks symbols:" + missing +
                           " (facekit needs the nvJPEG of CUDA " + std::to_string(CUDART_VERSION / 1000) + ")");
      return;
    }
    int v[3] = {0, 0, 0};
    api.nvjpegGetProperty(nvj::kMajorVersion, &v[0]);
    api.nvjpegGetProperty(nvj::kMinorVersion, &v[1]);
    api.nvjpegGetProperty(nvj::kPatchLevel, &v[2]);
    api.version = std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
    api.path = path;
  });
  if (!status.ok()) return status;
  return &api;
}

Status NvjpegError(int s, const char* call) {
  const std::string m = std::string("nvJPEG error ") + std::to_string(s) + " in " + call;
  if (s == nvj::kBadJpeg) return InvalidArgument(m + ": the data is not a JPEG nvJPEG can parse");
  if (s == nvj::kJpegNotSupported || s == nvj::kImplementationNotSupported)
    return Unsupported(m + ": this JPEG (e.g. progressive, or an unusual subsampling) is not supported by this "
                           "backend; decode it on the CPU");
  if (s == nvj::kAllocatorFailure) return ResourceExhausted(m + ": out of GPU or pinned memory");
  return Internal(m);
}

#define FK_NVJPEG_CHECK(expr)                                 \
  do {                                                        \
    const int fk_s_ = (expr);                                 \
    if (fk_s_ != nvj::kSuccess) return NvjpegError(fk_s_, #expr); \
  } while (0)

}  // namespace

struct GpuJpegDecoder::Impl {
  const Api* api = nullptr;
  int gpu = 0;
  Backend backend = Backend::kHardware;
  nvj::Handle handle = nullptr;
  std::string gpu_name;
  // A decode's state, stream and output buffer; pooled (one per concurrent caller).
  struct Slot {
    nvj::State state = nullptr;
    cudaStream_t stream = nullptr;
    unsigned char* dev = nullptr;
    size_t bytes = 0;
    int batch_size = 0;  // what nvjpegDecodeBatchedInitialize was last called with (0: not yet)
  };
  mutable std::mutex mu;
  mutable std::vector<Slot*> idle;
  mutable std::vector<std::unique_ptr<Slot>> slots;

  ~Impl() {
    if (api) {
      cudaSetDevice(gpu);
      for (auto& s : slots) {
        if (s->state) api->nvjpegJpegStateDestroy(s->state);
        if (s->stream) cudaStreamDestroy(s->stream);
        if (s->dev) cudaFree(s->dev);
      }
      if (handle) api->nvjpegDestroy(handle);
    }
  }

  Result<Slot*> Take() const {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        Slot* s = idle.back();
        idle.pop_back();
        return s;
      }
    }
    auto s = std::make_unique<Slot>();
    FK_NVJPEG_CHECK(api->nvjpegJpegStateCreate(handle, &s->state));
    FK_CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    std::lock_guard<std::mutex> lock(mu);
    slots.push_back(std::move(s));
    return slots.back().get();
  }
  void Give(Slot* s) const {
    std::lock_guard<std::mutex> lock(mu);
    idle.push_back(s);
  }

  // The slot's device buffer holds at least `bytes` (grown, never shrunk).
  static Status Reserve(Slot* s, size_t bytes) {
    if (bytes <= s->bytes) return OkStatus();
    if (s->dev) cudaFree(s->dev);
    s->dev = nullptr;
    s->bytes = 0;
    FK_CUDA_CHECK(cudaMalloc(&s->dev, bytes));
    s->bytes = bytes;
    return OkStatus();
  }

  Result<Size> ImageSize(std::span<const uint8_t> jpeg) const {
    if (jpeg.size() < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8)
      return InvalidArgument("nvJPEG: the data is not a JPEG (no SOI marker)");
    int components = 0, subsampling = 0, widths[nvj::kMaxComponent] = {}, heights[nvj::kMaxComponent] = {};
    FK_NVJPEG_CHECK(api->nvjpegGetImageInfo(handle, jpeg.data(), jpeg.size(), &components, &subsampling, widths, heights));
    if (widths[0] < 1 || heights[0] < 1) return InvalidArgument("nvJPEG: the JPEG has no pixels");
    return Size{widths[0], heights[0]};
  }

  Status DecodeIn(Slot* s, std::span<const uint8_t> jpeg, uint8_t* dst, int64_t stride) const {
    FK_ASSIGN_OR_RETURN(const Size size, ImageSize(jpeg));
    const int w = size.width, h = size.height;
    if (!dst || stride < int64_t{w} * 3)
      return InvalidArgument("nvJPEG: the destination holds rows of " + std::to_string(stride) +
                             " bytes, the JPEG's are " + std::to_string(int64_t{w} * 3));
    FK_RETURN_IF_ERROR(Reserve(s, static_cast<size_t>(w) * h * 3));
    nvj::Image out{};
    out.channel[0] = s->dev;
    out.pitch[0] = static_cast<size_t>(w) * 3;
    if (backend == Backend::kHardware) {
      // The hardware engines are reached through the batched API (a batch of one here).
      if (s->batch_size != 1) {
        s->batch_size = 0;
        FK_NVJPEG_CHECK(api->nvjpegDecodeBatchedInitialize(handle, s->state, 1, 1, nvj::kOutputRgbi));
        s->batch_size = 1;
      }
      const unsigned char* data = jpeg.data();
      const size_t length = jpeg.size();
      FK_NVJPEG_CHECK(api->nvjpegDecodeBatched(handle, s->state, &data, &length, &out, s->stream));
    } else {
      FK_NVJPEG_CHECK(api->nvjpegDecode(handle, s->state, jpeg.data(), jpeg.size(), nvj::kOutputRgbi, &out, s->stream));
    }
    FK_CUDA_CHECK(cudaMemcpy2DAsync(dst, static_cast<size_t>(stride), s->dev, out.pitch[0], out.pitch[0],
                                    static_cast<size_t>(h), cudaMemcpyDeviceToHost, s->stream));
    FK_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    return OkStatus();
  }
};

GpuJpegDecoder::GpuJpegDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuJpegDecoder::~GpuJpegDecoder() = default;

Result<std::unique_ptr<GpuJpegDecoder>> GpuJpegDecoder::Create(int gpu_index, Backend backend) {
  FK_ASSIGN_OR_RETURN(const DeviceInfo info, ProbeDevice(gpu_index));
  FK_ASSIGN_OR_RETURN(const Api* api, LoadNvjpeg());
  auto impl = std::make_unique<Impl>();
  impl->gpu = gpu_index;
  impl->backend = backend;
  impl->gpu_name = info.name;
  FK_CUDA_CHECK(cudaSetDevice(gpu_index));
  const int b = backend == Backend::kHardware ? nvj::kBackendHardware : nvj::kBackendDefault;
  const int s = api->nvjpegCreateEx(b, nullptr, nullptr, 0, &impl->handle);
  if (s != nvj::kSuccess)
    return Unavailable("nvJPEG " + api->version + " (" + api->path + "): the " +
                       (backend == Backend::kHardware ? std::string("hardware") : std::string("default")) +
                       " backend is not available on GPU " + std::to_string(gpu_index) + " (" + info.name +
                       "), nvjpegCreateEx returned " + std::to_string(s) +
                       (backend == Backend::kHardware ? "; the JPEG engines exist on A100, H100 and later: use the "
                                                        "default backend elsewhere"
                                                      : ""));
  impl->api = api;
  return std::unique_ptr<GpuJpegDecoder>(new GpuJpegDecoder(std::move(impl)));
}

Result<GpuJpegDecoder::Size> GpuJpegDecoder::ImageSize(std::span<const uint8_t> jpeg) const {
  return impl_->ImageSize(jpeg);
}

Status GpuJpegDecoder::DecodeInto(std::span<const uint8_t> jpeg, uint8_t* dst, int64_t stride) const {
  FK_CUDA_CHECK(cudaSetDevice(impl_->gpu));
  FK_ASSIGN_OR_RETURN(Impl::Slot * s, impl_->Take());
  const Status st = impl_->DecodeIn(s, jpeg, dst, stride);
  // A failed batched decode may leave the state mid-batch: initialise it again next time.
  if (!st.ok()) s->batch_size = 0;
  impl_->Give(s);
  return st;
}

std::vector<Status> GpuJpegDecoder::DecodeBatchInto(std::span<const Job> jobs) const {
  const size_t n = jobs.size();
  std::vector<Status> out(n);
  auto one_by_one = [&] {
    for (size_t i = 0; i < n; ++i) out[i] = DecodeInto(jobs[i].jpeg, jobs[i].dst, jobs[i].stride);
    return out;
  };
  if (impl_->backend != Backend::kHardware || n <= 1) return one_by_one();
  std::vector<Size> sizes(n);
  std::vector<size_t> offset(n);
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    auto sz = impl_->ImageSize(jobs[i].jpeg);
    if (!sz.ok() || !jobs[i].dst || jobs[i].stride < int64_t{sz->width} * 3) return one_by_one();  // errors per photo
    sizes[i] = *sz;
    offset[i] = total;
    total += (static_cast<size_t>(sz->width) * sz->height * 3 + 255) / 256 * 256;
  }
  if (const cudaError_t e = cudaSetDevice(impl_->gpu); e != cudaSuccess) {
    const Status st = CudaError(e, "cudaSetDevice", __FILE__, __LINE__);
    for (auto& o : out) o = st;
    return out;
  }
  auto slot = impl_->Take();
  if (!slot.ok()) {
    for (auto& o : out) o = slot.status();
    return out;
  }
  Impl::Slot* s = *slot;
  const Status st = [&]() -> Status {
    FK_RETURN_IF_ERROR(Impl::Reserve(s, total));
    std::vector<const unsigned char*> data(n);
    std::vector<size_t> lengths(n);
    std::vector<nvj::Image> imgs(n);
    for (size_t i = 0; i < n; ++i) {
      data[i] = jobs[i].jpeg.data();
      lengths[i] = jobs[i].jpeg.size();
      imgs[i] = nvj::Image{};
      imgs[i].channel[0] = s->dev + offset[i];
      imgs[i].pitch[0] = static_cast<size_t>(sizes[i].width) * 3;
    }
    if (s->batch_size != static_cast<int>(n)) {
      s->batch_size = 0;
      FK_NVJPEG_CHECK(impl_->api->nvjpegDecodeBatchedInitialize(impl_->handle, s->state, static_cast<int>(n), 1,
                                                                nvj::kOutputRgbi));
      s->batch_size = static_cast<int>(n);
    }
    FK_NVJPEG_CHECK(impl_->api->nvjpegDecodeBatched(impl_->handle, s->state, data.data(), lengths.data(), imgs.data(),
                                                    s->stream));
    for (size_t i = 0; i < n; ++i)
      FK_CUDA_CHECK(cudaMemcpy2DAsync(jobs[i].dst, static_cast<size_t>(jobs[i].stride), imgs[i].channel[0],
                                      imgs[i].pitch[0], imgs[i].pitch[0], static_cast<size_t>(sizes[i].height),
                                      cudaMemcpyDeviceToHost, s->stream));
    FK_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    return OkStatus();
  }();
  if (!st.ok()) s->batch_size = 0;
  impl_->Give(s);
  if (!st.ok()) return one_by_one();  // which photo failed: each on its own
  return out;
}

GpuJpegDecoder::Backend GpuJpegDecoder::backend() const { return impl_->backend; }

std::string GpuJpegDecoder::Describe() const {
  return "nvJPEG " + impl_->api->version + " (" + impl_->api->path + "), " +
         (impl_->backend == Backend::kHardware ? "hardware" : "default") + " backend, GPU " +
         std::to_string(impl_->gpu) + " (" + impl_->gpu_name + ")";
}

}  // namespace fk::engine::cuda
