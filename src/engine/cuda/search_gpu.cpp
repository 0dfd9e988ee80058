// GPU exact search: see search_gpu.h.
#include "engine/cuda/search_gpu.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <sstream>
#include <vector>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/device.h"
#include "engine/cuda/memory_pool.h"
#include "engine/cuda/search_topk.cuh"

namespace fk::engine::cuda {

namespace {

// cublasGemmEx is not in dynload.h's table (owned by the engine); it is looked up here in the
// library that LoadCublas() opened. (decltype(&cublasGemmEx) is ambiguous: the header adds an
// inline overload taking cudaDataType as compute type.)
using GemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                    const void*, const void*, cudaDataType, int, const void*, cudaDataType, int,
                                    const void*, void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);

Result<GemmExFn> LoadGemmEx() {
  static std::once_flag once;
  static GemmExFn fn = nullptr;
  static Status status;
  std::call_once(once, [] {
    auto api = LoadCublas();
    if (!api.ok()) {
      status = api.status();
      return;
    }
    const std::string& path = (*api)->path;
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
      const char* err = dlerror();
      status = Unavailable("cuBLAS at " + path + " could not be reopened: " + (err ? err : "?"));
      return;
    }
    fn = reinterpret_cast<GemmExFn>(dlsym(h, "cublasGemmEx"));
    if (!fn)
      status = Unavailable("cuBLAS at " + path + " lacks cublasGemmEx (facekit needs cuBLAS " +
                           std::to_string(CUBLAS_VER_MAJOR) + ".x; point LD_LIBRARY_PATH or FK_CUBLAS_LIBRARY at it)");
  });
  if (!status.ok()) return status;
  return fn;
}

constexpr int64_t kFirstChunkRows = 4096;
constexpr int64_t kMaxChunkRows = 262144;
constexpr int64_t kScoreElems = int64_t{1} << 24;   // fp32 scores per GEMM tile (64 MiB)
constexpr int64_t kQueryBlock = 128;                // queries per GEMM
constexpr int64_t kStageFloats = int64_t{4} << 20;  // Append staging (16 MiB)
constexpr int64_t kMaxRows = 0x7ffffffeLL;          // row numbers are int32 in the kernels

std::string MiB(size_t b) {
  std::ostringstream o;
  o << (b >> 20) << " MiB";
  return o.str();
}

}  // namespace

int GpuSearchMaxK() { return kSearchMaxK; }

struct DevBuf {
  void* p = nullptr;
  size_t bytes = 0;
};

struct GpuSearchIndex::Impl {
  struct Chunk {
    void* data = nullptr;
    int64_t start = 0, cap = 0;
  };
  // One caller's stream, cuBLAS handle and scratch.
  struct Slot {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    DevBuf qin, qconv, scores, cs, cp;
    void* hq = nullptr;  // pinned query staging
    size_t hq_bytes = 0;
    void* hr = nullptr;  // pinned results: k floats then k ints per query
    size_t hr_bytes = 0;
  };

  int dim = 0, stride = 0;
  size_t elem = 2;
  GpuSearchOptions o;
  DeviceInfo info;
  size_t limit = 0;
  GemmExFn gemm = nullptr;
  std::vector<Chunk> chunks;
  int64_t count = 0;
  mutable std::atomic<size_t> bytes{0};
  mutable std::mutex mu;
  mutable std::vector<std::unique_ptr<Slot>> free_slots;

  ~Impl() {
    cudaSetDevice(o.gpu_index);
    for (auto& s : free_slots) DestroySlot(s.get());
    free_slots.clear();
    FreeChunks(0);
    cudaGetLastError();
  }

  std::string Where() const { return "GPU search index on cuda:" + std::to_string(o.gpu_index); }

  // Device memory with the cap checked first; ResourceExhausted with the numbers.
  Status DevMalloc(void** p, size_t n) const {
    const size_t before = bytes.fetch_add(n);
    if (limit && before + n > limit) {
      bytes.fetch_sub(n);
      return ResourceExhausted(Where() + ": a " + std::to_string(n) + "-byte buffer does not fit the memory cap of " +
                               std::to_string(limit) + " bytes (" + std::to_string(before) +
                               " in use): raise gpu_memory_limit_bytes / gpu_memory_limit_fraction, search fewer "
                               "queries at once, or use a smaller gallery per GPU");
    }
    cudaError_t e = cudaMalloc(p, n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      bytes.fetch_sub(n);
      size_t fr = 0, tot = 0;
      cudaMemGetInfo(&fr, &tot);
      cudaGetLastError();
      *p = nullptr;
      return ResourceExhausted(Where() + ": cudaMalloc(" + std::to_string(n) + ") failed: " + cudaGetErrorString(e) +
                               " (" + std::to_string(fr) + " of " + std::to_string(tot) +
                               " bytes free on the card; this index holds " + std::to_string(before) +
                               "). Free the GPU (nvidia-smi), or use fp16 rows (half the memory)");
    }
    return OkStatus();
  }
  void DevFreeRaw(void* p, size_t n) const {
    if (!p) return;
    cudaFree(p);
    bytes.fetch_sub(n);
  }
  Status Ensure(DevBuf* b, size_t n) const {
    if (b->bytes >= n) return OkStatus();
    DevFreeRaw(b->p, b->bytes);
    b->p = nullptr;
    b->bytes = 0;
    FK_RETURN_IF_ERROR(DevMalloc(&b->p, n));
    b->bytes = n;
    return OkStatus();
  }
  Status EnsureHost(void** p, size_t* have, size_t n) const {
    if (*have >= n) return OkStatus();
    if (*p) cudaFreeHost(*p);
    *p = nullptr;
    *have = 0;
    cudaError_t e = cudaMallocHost(p, n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      *p = nullptr;
      return ResourceExhausted(Where() + ": cudaMallocHost(" + std::to_string(n) + ") failed: " +
                               cudaGetErrorString(e));
    }
    *have = n;
    return OkStatus();
  }

  void DestroySlot(Slot* s) const {
    if (s->stream) cudaStreamSynchronize(s->stream);
    for (DevBuf* b : {&s->qin, &s->qconv, &s->scores, &s->cs, &s->cp}) {
      DevFreeRaw(b->p, b->bytes);
      *b = DevBuf{};
    }
    if (s->hq) cudaFreeHost(s->hq);
    if (s->hr) cudaFreeHost(s->hr);
    s->hq = s->hr = nullptr;
    if (s->blas && Blas().cublasDestroy_v2) Blas().cublasDestroy_v2(s->blas);
    if (s->stream) cudaStreamDestroy(s->stream);
    s->blas = nullptr;
    s->stream = nullptr;
    cudaGetLastError();
  }

  Result<std::unique_ptr<Slot>> TakeSlot() const {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!free_slots.empty()) {
        auto s = std::move(free_slots.back());
        free_slots.pop_back();
        return s;
      }
    }
    auto s = std::make_unique<Slot>();
    Status st = [&]() -> Status {
      FK_CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
      FK_CUBLAS_CHECK(Blas().cublasCreate_v2(&s->blas));
      FK_CUBLAS_CHECK(Blas().cublasSetStream_v2(s->blas, s->stream));
      FK_CUBLAS_CHECK(Blas().cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH));
      return OkStatus();
    }();
    if (!st.ok()) {
      DestroySlot(s.get());
      return st.WithContext(Where());
    }
    return s;
  }
  void GiveSlot(std::unique_ptr<Slot> s) const {
    // Whatever was queued (also after an error) finishes before the scratch is reused.
    cudaStreamSynchronize(s->stream);
    cudaGetLastError();
    std::lock_guard<std::mutex> lock(mu);
    free_slots.push_back(std::move(s));
  }

  int64_t Capacity() const { return chunks.empty() ? 0 : chunks.back().start + chunks.back().cap; }
  size_t RowBytes() const { return static_cast<size_t>(stride) * elem; }
  const Chunk& ChunkOf(int64_t pos) const {
    auto it = std::upper_bound(chunks.begin(), chunks.end(), pos,
                               [](int64_t p, const Chunk& c) { return p < c.start; });
    return *(it - 1);
  }
  uint8_t* RowPtr(int64_t pos) const {
    const Chunk& c = ChunkOf(pos);
    return static_cast<uint8_t*>(c.data) + static_cast<size_t>(pos - c.start) * RowBytes();
  }
  void FreeChunks(size_t from) {
    while (chunks.size() > from) {
      DevFreeRaw(chunks.back().data, static_cast<size_t>(chunks.back().cap) * RowBytes());
      chunks.pop_back();
    }
  }
};

namespace {
// Takes a slot for one call and gives it back (after synchronising its stream).
class SlotHold {
 public:
  explicit SlotHold(const GpuSearchIndex::Impl* impl) : impl_(impl) {}
  ~SlotHold() {
    if (slot_) impl_->GiveSlot(std::move(slot_));
  }
  Status Take() {
    auto r = impl_->TakeSlot();
    if (!r.ok()) return r.status();
    slot_ = std::move(r).value();
    return OkStatus();
  }
  GpuSearchIndex::Impl::Slot& operator*() const { return *slot_; }
  GpuSearchIndex::Impl::Slot* operator->() const { return slot_.get(); }

 private:
  const GpuSearchIndex::Impl* impl_;
  std::unique_ptr<GpuSearchIndex::Impl::Slot> slot_;
};
}  // namespace

GpuSearchIndex::GpuSearchIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuSearchIndex::~GpuSearchIndex() = default;

Result<std::unique_ptr<GpuSearchIndex>> GpuSearchIndex::Create(int dim, const GpuSearchOptions& options) {
  if (dim < 1 || dim > 65536) return InvalidArgument("GPU search: dimension must be 1..65536, got " + std::to_string(dim));
  if (options.gpu_index < 0) return InvalidArgument("GPU search: gpu_index must be >= 0");
  if (options.memory_limit_bytes < 0 || options.memory_limit_fraction < 0 || options.memory_limit_fraction > 1)
    return InvalidArgument("GPU search: memory limits must be >= 0 (fraction <= 1)");
  const std::string where = "GPU exact search on cuda:" + std::to_string(options.gpu_index);
  auto info = ProbeDevice(options.gpu_index);
  if (!info.ok()) return info.status().WithContext(where);
  auto gemm = LoadGemmEx();
  if (!gemm.ok()) return gemm.status().WithContext(where);
  auto impl = std::make_unique<Impl>();
  impl->dim = dim;
  impl->stride = (dim + 31) / 32 * 32;
  impl->o = options;
  impl->elem = options.half ? 2 : 4;
  impl->info = *info;
  impl->info.cublas_version = CUBLAS_VERSION;
  impl->gemm = *gemm;
  impl->limit = EffectivePoolLimit(options.memory_limit_bytes, options.memory_limit_fraction, info->total_memory);
  {
    cudaError_t e = cudaSetDevice(options.gpu_index);
    if (e != cudaSuccess) return CudaError(e, "cudaSetDevice", __FILE__, __LINE__).WithContext(where);
  }
  // Smoke test: a stream, a cuBLAS handle and one conversion kernel (fails here, with the
  // architecture hint, when the binary has no kernel image for this GPU).
  Status st = [&]() -> Status {
    SlotHold slot(impl.get());
    FK_RETURN_IF_ERROR(slot.Take());
    FK_RETURN_IF_ERROR(impl->Ensure(&slot->qin, sizeof(float) * static_cast<size_t>(dim)));
    FK_RETURN_IF_ERROR(impl->Ensure(&slot->qconv, impl->RowBytes()));
    FK_CUDA_CHECK(cudaMemsetAsync(slot->qin.p, 0, sizeof(float) * static_cast<size_t>(dim), slot->stream));
    FK_RETURN_IF_ERROR(LaunchSearchConvertRows(static_cast<const float*>(slot->qin.p), 1, dim, slot->qconv.p,
                                               impl->stride, options.half, slot->stream));
    FK_CUDA_CHECK(cudaStreamSynchronize(slot->stream));
    return OkStatus();
  }();
  if (!st.ok()) return st.WithContext(where);
  return std::unique_ptr<GpuSearchIndex>(new GpuSearchIndex(std::move(impl)));
}

int64_t GpuSearchIndex::size() const { return impl_->count; }
size_t GpuSearchIndex::device_bytes() const { return impl_->bytes.load(); }

std::string GpuSearchIndex::Describe() const {
  const Impl& m = *impl_;
  std::ostringstream o;
  o << "cuda:" << m.o.gpu_index << " " << m.info.name << " (cc " << m.info.cc_major << "." << m.info.cc_minor << "), "
    << (m.o.half ? "fp16 rows / fp32 accumulate" : (m.o.tf32 ? "fp32 rows / tf32 math" : "fp32 rows / fp32 math"))
    << ", " << m.count << " rows in " << m.chunks.size() << " chunks, " << MiB(m.bytes.load()) << " on the GPU";
  return o.str();
}

Status GpuSearchIndex::Append(const float* rows, int64_t n) {
  Impl& m = *impl_;
  if (n <= 0) return OkStatus();
  if (m.count + n > kMaxRows)
    return ResourceExhausted(m.Where() + ": at most " + std::to_string(kMaxRows) + " rows per GPU index");
  FK_CUDA_CHECK(cudaSetDevice(m.o.gpu_index));
  SlotHold slot(&m);
  FK_RETURN_IF_ERROR(slot.Take());
  // Capacity: new chunks (doubling, zeroed) until the rows fit; existing rows never move.
  const size_t had = m.chunks.size();
  while (m.Capacity() < m.count + n) {
    Impl::Chunk c;
    c.start = m.Capacity();
    c.cap = m.chunks.empty() ? kFirstChunkRows : std::min(kMaxChunkRows, m.chunks.back().cap * 2);
    const size_t b = static_cast<size_t>(c.cap) * m.RowBytes();
    Status st = m.DevMalloc(&c.data, b);
    if (st.ok()) {
      cudaError_t e = cudaMemsetAsync(c.data, 0, b, slot->stream);
      if (e != cudaSuccess) {
        m.DevFreeRaw(c.data, b);
        st = CudaError(e, "cudaMemsetAsync(chunk)", __FILE__, __LINE__);
      }
    }
    if (!st.ok()) {
      cudaStreamSynchronize(slot->stream);
      m.FreeChunks(had);
      cudaGetLastError();
      return st.WithContext("adding " + std::to_string(n) + " rows to the GPU index (" + std::to_string(m.count) +
                            " rows)");
    }
    m.chunks.push_back(c);
  }
  const int64_t piece_max = std::max<int64_t>(1, kStageFloats / m.dim);
  FK_RETURN_IF_ERROR(m.Ensure(&slot->qin, sizeof(float) * static_cast<size_t>(std::min(n, piece_max) * m.dim)));
  for (int64_t i = 0; i < n;) {
    const int64_t pos = m.count + i;
    const Impl::Chunk& c = m.ChunkOf(pos);
    const int64_t piece = std::min({n - i, piece_max, c.start + c.cap - pos});
    FK_CUDA_CHECK(cudaMemcpyAsync(slot->qin.p, rows + static_cast<size_t>(i) * m.dim,
                                  sizeof(float) * static_cast<size_t>(piece * m.dim), cudaMemcpyHostToDevice,
                                  slot->stream));
    FK_RETURN_IF_ERROR(LaunchSearchConvertRows(static_cast<const float*>(slot->qin.p), piece, m.dim, m.RowPtr(pos),
                                               m.stride, m.o.half, slot->stream));
    i += piece;
  }
  FK_CUDA_CHECK(cudaStreamSynchronize(slot->stream));
  m.count += n;
  return OkStatus();
}

Status GpuSearchIndex::RemoveSwapLast(int64_t pos) {
  Impl& m = *impl_;
  if (pos < 0 || pos >= m.count)
    return InvalidArgument(m.Where() + ": row " + std::to_string(pos) + " out of range (size " +
                           std::to_string(m.count) + ")");
  FK_CUDA_CHECK(cudaSetDevice(m.o.gpu_index));
  const int64_t last = m.count - 1;
  if (pos != last) {
    SlotHold slot(&m);
    FK_RETURN_IF_ERROR(slot.Take());
    FK_CUDA_CHECK(cudaMemcpyAsync(m.RowPtr(pos), m.RowPtr(last), m.RowBytes(), cudaMemcpyDeviceToDevice, slot->stream));
    FK_CUDA_CHECK(cudaStreamSynchronize(slot->stream));
  }
  m.count = last;
  // Free the last chunk once the one before it is at most half full (no thrash at a boundary).
  size_t keep = m.chunks.size();
  while (keep > 1 && m.count + m.chunks[keep - 2].cap / 2 <= m.chunks[keep - 1].start) --keep;
  m.FreeChunks(keep);
  return OkStatus();
}

void GpuSearchIndex::Clear() {
  cudaSetDevice(impl_->o.gpu_index);
  impl_->FreeChunks(0);
  impl_->count = 0;
  cudaGetLastError();
}

Status GpuSearchIndex::Search(const float* queries, int64_t nq, int k, int32_t* out_pos, float* out_score) const {
  const Impl& m = *impl_;
  if (k < 1 || k > kSearchMaxK)
    return InvalidArgument(m.Where() + ": k must be 1.." + std::to_string(kSearchMaxK) + ", got " + std::to_string(k));
  if (nq < 0) return InvalidArgument(m.Where() + ": negative query count");
  std::fill(out_pos, out_pos + nq * k, -1);
  std::fill(out_score, out_score + nq * k, -INFINITY);
  if (nq == 0 || m.count == 0) return OkStatus();
  FK_CUDA_CHECK(cudaSetDevice(m.o.gpu_index));
  SlotHold slot(&m);
  FK_RETURN_IF_ERROR(slot.Take());
  const int64_t qblock = std::min<int64_t>(nq, kQueryBlock);
  int64_t tile = (kScoreElems / qblock) / kSearchSegment * kSearchSegment;
  tile = std::clamp<int64_t>(tile, kSearchSegment, kMaxChunkRows);
  const int64_t nseg_max = (tile + kSearchSegment - 1) / kSearchSegment;
  const int64_t ld = (1 + nseg_max) * k;  // per query: running top-k, then one slot per segment
  const size_t qb_sz = static_cast<size_t>(qblock);
  FK_RETURN_IF_ERROR(m.Ensure(&slot->qin, qb_sz * m.dim * sizeof(float)));
  FK_RETURN_IF_ERROR(m.Ensure(&slot->qconv, qb_sz * m.RowBytes()));
  FK_RETURN_IF_ERROR(m.Ensure(&slot->scores, qb_sz * static_cast<size_t>(tile) * sizeof(float)));
  FK_RETURN_IF_ERROR(m.Ensure(&slot->cs, qb_sz * static_cast<size_t>(ld) * sizeof(float)));
  FK_RETURN_IF_ERROR(m.Ensure(&slot->cp, qb_sz * static_cast<size_t>(ld) * sizeof(int32_t)));
  FK_RETURN_IF_ERROR(m.EnsureHost(&slot->hq, &slot->hq_bytes, qb_sz * m.dim * sizeof(float)));
  FK_RETURN_IF_ERROR(m.EnsureHost(&slot->hr, &slot->hr_bytes, qb_sz * static_cast<size_t>(k) * 8));
  const cudaDataType dt = m.o.half ? CUDA_R_16F : CUDA_R_32F;
  const cublasComputeType_t ct = (!m.o.half && m.o.tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const float one = 1.0f, zero = 0.0f;
  auto* cs = static_cast<float*>(slot->cs.p);
  auto* cp = static_cast<int32_t*>(slot->cp.p);
  auto* hs = static_cast<float*>(slot->hr);
  auto* hp = reinterpret_cast<int32_t*>(hs + qb_sz * k);
  for (int64_t q0 = 0; q0 < nq; q0 += qblock) {
    const int64_t qb = std::min(qblock, nq - q0);
    std::memcpy(slot->hq, queries + static_cast<size_t>(q0) * m.dim, static_cast<size_t>(qb) * m.dim * sizeof(float));
    FK_CUDA_CHECK(cudaMemcpyAsync(slot->qin.p, slot->hq, static_cast<size_t>(qb) * m.dim * sizeof(float),
                                  cudaMemcpyHostToDevice, slot->stream));
    FK_RETURN_IF_ERROR(LaunchSearchConvertRows(static_cast<const float*>(slot->qin.p), qb, m.dim, slot->qconv.p,
                                               m.stride, m.o.half, slot->stream));
    bool first = true;
    for (const Impl::Chunk& c : m.chunks) {
      const int64_t rows = std::min(c.cap, m.count - c.start);
      if (rows <= 0) break;
      for (int64_t r0 = 0; r0 < rows; r0 += tile) {
        const int64_t tr = std::min(tile, rows - r0);
        const int64_t ldc = (tr + 7) / 8 * 8;  // <= tile (a multiple of 4096); aligned rows for tensor ops
        // Column-major view: S^T [tr x qb] = X_tile^T(op T of [dim x tr], ld stride) * Q^T [dim x qb];
        // S is then row-major [qb][ldc]: the scores of one query are contiguous.
        FK_CUBLAS_CHECK(m.gemm(slot->blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(tr), static_cast<int>(qb), m.dim,
                               &one, static_cast<const uint8_t*>(c.data) + static_cast<size_t>(r0) * m.RowBytes(), dt,
                               m.stride, slot->qconv.p, dt, m.stride, &zero, slot->scores.p, CUDA_R_32F,
                               static_cast<int>(ldc), ct, CUBLAS_GEMM_DEFAULT));
        const int64_t nseg = (tr + kSearchSegment - 1) / kSearchSegment;
        FK_RETURN_IF_ERROR(LaunchSearchTopKScores(static_cast<const float*>(slot->scores.p), qb, tr, ldc, kSearchSegment,
                                                  k, static_cast<int32_t>(c.start + r0), cs, cp, ld, 1, slot->stream));
        FK_RETURN_IF_ERROR(LaunchSearchTopKPairs(cs, cp, qb, ld, first ? k : 0, (first ? nseg : nseg + 1) * k, k,
                                                 slot->stream));
        first = false;
      }
    }
    FK_CUDA_CHECK(cudaMemcpy2DAsync(hs, sizeof(float) * k, cs, sizeof(float) * ld, sizeof(float) * k,
                                    static_cast<size_t>(qb), cudaMemcpyDeviceToHost, slot->stream));
    FK_CUDA_CHECK(cudaMemcpy2DAsync(hp, sizeof(int32_t) * k, cp, sizeof(int32_t) * ld, sizeof(int32_t) * k,
                                    static_cast<size_t>(qb), cudaMemcpyDeviceToHost, slot->stream));
    FK_CUDA_CHECK(cudaStreamSynchronize(slot->stream));
    for (int64_t i = 0; i < qb * k; ++i) {
      const int32_t p = hp[i];
      const bool valid = p >= 0 && p < m.count;
      out_pos[q0 * k + i] = valid ? p : -1;
      out_score[q0 * k + i] = valid ? hs[i] : -INFINITY;
    }
  }
  return OkStatus();
}

}  // namespace fk::engine::cuda
