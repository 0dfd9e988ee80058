// JPEG decoding with nvJPEG on the GPU machine, before facekit uses it (docs/cuda.md, "Next GPU
// session"): how fast each nvJPEG backend decodes the sample photos and how much CPU it takes per
// photo, next to the CPU decode. The development VM has no nvjpeg.h, so this is built and run on
// the GPU machine, by scripts/gpu/nvjpeg_probe.sh:
//   nvcc -O2 -std=c++17 nvjpeg_probe.cu -lnvjpeg -o nvjpeg_probe && ./nvjpeg_probe DIR [rounds]
// Prints one line per case: photos, wall ms per photo, process CPU ms per photo, photos/s.
#include <cuda_runtime.h>
#include <dirent.h>
#include <nvjpeg.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

#define CK(x)                                                                          \
  do {                                                                                 \
    const int e_ = static_cast<int>(x);                                                \
    if (e_ != 0) {                                                                     \
      std::fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #x, e_);     \
      return false;                                                                    \
    }                                                                                  \
  } while (0)

double Now(clockid_t c) {
  timespec t;
  clock_gettime(c, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

struct Photo {
  std::string name;
  std::vector<unsigned char> bytes;
  int w = 0, h = 0;
};

struct Out {
  unsigned char* dev = nullptr;
  size_t bytes = 0;
  nvjpegImage_t img{};
};

bool Prepare(nvjpegHandle_t h, Photo& p, Out& o) {
  int nc = 0, ws[NVJPEG_MAX_COMPONENT], hs[NVJPEG_MAX_COMPONENT];
  nvjpegChromaSubsampling_t ss;
  CK(nvjpegGetImageInfo(h, p.bytes.data(), p.bytes.size(), &nc, &ss, ws, hs));
  p.w = ws[0], p.h = hs[0];
  const size_t need = size_t(p.w) * p.h * 3;
  if (need > o.bytes) {
    if (o.dev) cudaFree(o.dev);
    CK(cudaMalloc(&o.dev, need));
    o.bytes = need;
  }
  o.img = nvjpegImage_t{};
  o.img.channel[0] = o.dev;
  o.img.pitch[0] = size_t(p.w) * 3;
  return true;
}

void Report(const char* what, int photos, double wall_ms, double cpu_ms) {
  std::printf("%-44s photos %4d  wall %7.3f ms/photo  cpu %7.3f ms/photo  %8.1f photos/s\n", what, photos,
              wall_ms / photos, cpu_ms / photos, photos * 1e3 / wall_ms);
  std::fflush(stdout);
}

// One thread, one image per nvjpegDecode call (the simple API), `backend`.
bool Single(std::vector<Photo>& photos, nvjpegBackend_t backend, const char* what, int rounds) {
  nvjpegHandle_t h;
  if (nvjpegCreateEx(backend, nullptr, nullptr, 0, &h) != NVJPEG_STATUS_SUCCESS) {
    std::printf("%-44s not available\n", what);
    return true;
  }
  nvjpegJpegState_t st;
  CK(nvjpegJpegStateCreate(h, &st));
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  Out o;
  for (auto& p : photos) {  // warm-up: one of each
    if (!Prepare(h, p, o)) return false;
    CK(nvjpegDecode(h, st, p.bytes.data(), p.bytes.size(), NVJPEG_OUTPUT_RGBI, &o.img, s));
    CK(cudaStreamSynchronize(s));
  }
  const double w0 = Now(CLOCK_MONOTONIC), c0 = Now(CLOCK_PROCESS_CPUTIME_ID);
  int n = 0;
  for (int r = 0; r < rounds; ++r)
    for (auto& p : photos) {
      if (!Prepare(h, p, o)) return false;
      CK(nvjpegDecode(h, st, p.bytes.data(), p.bytes.size(), NVJPEG_OUTPUT_RGBI, &o.img, s));
      CK(cudaStreamSynchronize(s));
      ++n;
    }
  Report(what, n, Now(CLOCK_MONOTONIC) - w0, Now(CLOCK_PROCESS_CPUTIME_ID) - c0);
  cudaFree(o.dev);
  nvjpegJpegStateDestroy(st);
  nvjpegDestroy(h);
  cudaStreamDestroy(s);
  return true;
}

// nvjpegDecodeBatched over `batch` photos per call (the sample photos repeated), `backend`.
bool Batched(std::vector<Photo>& photos, nvjpegBackend_t backend, int batch, const char* what, int rounds) {
  nvjpegHandle_t h;
  if (nvjpegCreateEx(backend, nullptr, nullptr, 0, &h) != NVJPEG_STATUS_SUCCESS) {
    std::printf("%-44s not available\n", what);
    return true;
  }
  nvjpegJpegState_t st;
  CK(nvjpegJpegStateCreate(h, &st));
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  std::vector<Out> outs(batch);
  std::vector<const unsigned char*> data(batch);
  std::vector<size_t> lens(batch);
  std::vector<nvjpegImage_t> imgs(batch);
  for (int i = 0; i < batch; ++i) {
    Photo& p = photos[i % photos.size()];
    if (!Prepare(h, p, outs[i])) return false;
    data[i] = p.bytes.data();
    lens[i] = p.bytes.size();
    imgs[i] = outs[i].img;
  }
  const nvjpegStatus_t init = nvjpegDecodeBatchedInitialize(h, st, batch, 1, NVJPEG_OUTPUT_RGBI);
  if (init != NVJPEG_STATUS_SUCCESS) {
    std::printf("%-44s batched initialize failed: %d\n", what, int(init));
    return true;
  }
  auto run = [&]() -> bool {
    CK(nvjpegDecodeBatched(h, st, data.data(), lens.data(), imgs.data(), s));
    CK(cudaStreamSynchronize(s));
    return true;
  };
  if (!run()) return false;  // warm-up
  const double w0 = Now(CLOCK_MONOTONIC), c0 = Now(CLOCK_PROCESS_CPUTIME_ID);
  for (int r = 0; r < rounds; ++r)
    if (!run()) return false;
  char label[96];
  std::snprintf(label, sizeof label, "%s batch %d", what, batch);
  Report(label, rounds * batch, Now(CLOCK_MONOTONIC) - w0, Now(CLOCK_PROCESS_CPUTIME_ID) - c0);
  // The first photo's pixels, for a sanity line (mean of the RGB bytes).
  std::vector<unsigned char> host(size_t(photos[0].w) * photos[0].h * 3);
  CK(cudaMemcpy(host.data(), outs[0].dev, host.size(), cudaMemcpyDeviceToHost));
  double sum = 0;
  for (unsigned char v : host) sum += v;
  std::printf("  %s: %dx%d, mean byte %.2f\n", photos[0].name.c_str(), photos[0].w, photos[0].h, sum / host.size());
  for (auto& o : outs) cudaFree(o.dev);
  nvjpegJpegStateDestroy(st);
  nvjpegDestroy(h);
  cudaStreamDestroy(s);
  return true;
}

// `threads` threads, each with its own handle and state, single-image decodes (the server's
// request threads would each decode their photo).
void Threads(std::vector<Photo>& photos, nvjpegBackend_t backend, int threads, const char* what, int rounds) {
  std::atomic<int> done{0}, failed{0};
  const double w0 = Now(CLOCK_MONOTONIC), c0 = Now(CLOCK_PROCESS_CPUTIME_ID);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      nvjpegHandle_t h;
      if (nvjpegCreateEx(backend, nullptr, nullptr, 0, &h) != NVJPEG_STATUS_SUCCESS) return (void)++failed;
      nvjpegJpegState_t st;
      nvjpegJpegStateCreate(h, &st);
      cudaStream_t s;
      cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
      Out o;
      std::vector<Photo> mine = photos;
      for (int r = 0; r < rounds; ++r)
        for (size_t i = 0; i < mine.size(); ++i) {
          Photo& p = mine[(i + t) % mine.size()];
          if (!Prepare(h, p, o) ||
              nvjpegDecode(h, st, p.bytes.data(), p.bytes.size(), NVJPEG_OUTPUT_RGBI, &o.img, s) !=
                  NVJPEG_STATUS_SUCCESS ||
              cudaStreamSynchronize(s) != cudaSuccess) {
            ++failed;
            return;
          }
          ++done;
        }
      cudaFree(o.dev);
      nvjpegJpegStateDestroy(st);
      nvjpegDestroy(h);
      cudaStreamDestroy(s);
    });
  for (auto& t : ts) t.join();
  char label[96];
  std::snprintf(label, sizeof label, "%s, %d threads%s", what, threads, failed ? " (FAILED)" : "");
  Report(label, done.load(), Now(CLOCK_MONOTONIC) - w0, Now(CLOCK_PROCESS_CPUTIME_ID) - c0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nvjpeg_probe DIR [rounds]\n");
    return 2;
  }
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 10;
  std::vector<Photo> photos;
  if (DIR* d = opendir(argv[1])) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 4 && n.substr(n.size() - 4) == ".jpg") {
        std::ifstream f(std::string(argv[1]) + "/" + n, std::ios::binary);
        photos.push_back({n, std::vector<unsigned char>(std::istreambuf_iterator<char>(f), {})});
      }
    }
    closedir(d);
  }
  std::sort(photos.begin(), photos.end(), [](const Photo& a, const Photo& b) { return a.name < b.name; });
  if (photos.empty()) {
    std::fprintf(stderr, "no .jpg under %s\n", argv[1]);
    return 2;
  }
  int ver[3] = {0, 0, 0};
  nvjpegGetProperty(MAJOR_VERSION, &ver[0]);
  nvjpegGetProperty(MINOR_VERSION, &ver[1]);
  nvjpegGetProperty(PATCH_LEVEL, &ver[2]);
  std::printf("nvJPEG %d.%d.%d, %zu photos, %d rounds\n", ver[0], ver[1], ver[2], photos.size(), rounds);
  cudaFree(nullptr);  // context
  bool ok = Single(photos, NVJPEG_BACKEND_DEFAULT, "nvjpegDecode, default backend", rounds) &&
            Single(photos, NVJPEG_BACKEND_HYBRID, "nvjpegDecode, hybrid (Huffman on CPU)", rounds) &&
            Single(photos, NVJPEG_BACKEND_GPU_HYBRID, "nvjpegDecode, GPU hybrid", rounds);
  for (int b : {8, 32, 64})
    ok = ok && Batched(photos, NVJPEG_BACKEND_HARDWARE, b, "nvjpegDecodeBatched, hardware", rounds);
  for (int b : {8, 64})
    ok = ok && Batched(photos, NVJPEG_BACKEND_GPU_HYBRID, b, "nvjpegDecodeBatched, GPU hybrid", rounds);
  for (int t : {4, 8, 16}) Threads(photos, NVJPEG_BACKEND_DEFAULT, t, "nvjpegDecode, default backend", rounds);
  return ok ? 0 : 1;
}
