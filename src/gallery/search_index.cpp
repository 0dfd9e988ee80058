// In-memory search index: see search_index.h.
#include "gallery/search_index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <queue>
#include <string>
#include <utility>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FK_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef FK_GALLERY_CUDA
#include "engine/cuda/search_gpu.h"  // plain C++ interface (no CUDA types)
#endif
#ifdef FK_HAVE_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/IDSelector.h>
#endif
#if defined(__x86_64__)
// GCC 12 warns inside its own _mm512_reduce_* helpers (false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define FK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))
#define FK_HAVE_X86 1
#endif

namespace fk::gallery {

// ---------------------------------------------------------------- helpers ----

bool NormalizeL2(float* v, int dim) {
  double s = 0.0;
  for (int i = 0; i < dim; ++i) {
    if (!std::isfinite(v[i])) return false;
    s += static_cast<double>(v[i]) * v[i];
  }
  if (!(s > 1e-30) || !std::isfinite(s)) return false;
  const float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int i = 0; i < dim; ++i) v[i] *= inv;
  return true;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      int e = -1;
      do { ++e; mant <<= 1; } while (!(mant & 0x400u));
      x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

namespace {

constexpr int kInt8QueryMax = 16383;
// Below this many stored elements a single-query scan stays on one thread: the
// fork/join costs more than it saves (and hurts badly on a loaded machine).
constexpr int64_t kParallelMinElems = int64_t{8} << 20;  // query quantisation range (no int32 overflow up to 8192 dims)

size_t ElemBytes(VectorPrecision p) {
  return p == VectorPrecision::kFloat32 ? 4 : p == VectorPrecision::kFloat16 ? 2 : 1;
}

bool HaveAvx512() {
#ifdef FK_HAVE_X86
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return ok;
#else
  return false;
#endif
}

// A query prepared for one precision: fp32 (padded) for fp32/fp16 rows; int16 +
// scale for int8 rows.
struct PreparedQuery {
  std::vector<float> f;
  std::vector<int16_t> i16;
  float scale = 1.0f;
};

// ---- scalar kernels: score rows [0, n) of a block ----
void ScoreF32Scalar(const float* q, const float* x, int n, int stride, float* out) {
  for (int r = 0; r < n; ++r) {
    const float* row = x + static_cast<size_t>(r) * stride;
    float s = 0.0f;
    for (int j = 0; j < stride; ++j) s += q[j] * row[j];
    out[r] = s;
  }
}
void ScoreF16Scalar(const float* q, const uint16_t* x, int n, int stride, float* out) {
  for (int r = 0; r < n; ++r) {
    const uint16_t* row = x + static_cast<size_t>(r) * stride;
    float s = 0.0f;
    for (int j = 0; j < stride; ++j) s += q[j] * HalfToFloat(row[j]);
    out[r] = s;
  }
}
void ScoreI8Scalar(const int16_t* q, float qs, const int8_t* x, const float* xs, int n, int stride,
                   float* out) {
  for (int r = 0; r < n; ++r) {
    const int8_t* row = x + static_cast<size_t>(r) * stride;
    int32_t s = 0;
    for (int j = 0; j < stride; ++j) s += static_cast<int32_t>(q[j]) * row[j];
    out[r] = static_cast<float>(s) * qs * xs[r];
  }
}

#ifdef FK_HAVE_X86
// ---- AVX-512 kernels: 4 rows at a time; stride is a multiple of 32 ----
FK_AVX512 void ScoreF32Avx512(const float* q, const float* x, int n, int stride, float* out) {
  int r = 0;
  for (; r + 4 <= n; r += 4) {
    const float* x0 = x + static_cast<size_t>(r) * stride;
    const float* x1 = x0 + stride;
    const float* x2 = x1 + stride;
    const float* x3 = x2 + stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < stride; j += 16) {
      const __m512 qv = _mm512_loadu_ps(q + j);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + j), qv, a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x1 + j), qv, a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x2 + j), qv, a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x3 + j), qv, a3);
    }
    out[r] = _mm512_reduce_add_ps(a0);
    out[r + 1] = _mm512_reduce_add_ps(a1);
    out[r + 2] = _mm512_reduce_add_ps(a2);
    out[r + 3] = _mm512_reduce_add_ps(a3);
  }
  for (; r < n; ++r) {
    const float* x0 = x + static_cast<size_t>(r) * stride;
    __m512 a0 = _mm512_setzero_ps();
    for (int j = 0; j < stride; j += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x0 + j), _mm512_loadu_ps(q + j), a0);
    out[r] = _mm512_reduce_add_ps(a0);
  }
}

FK_AVX512 inline __m512 LoadHalf16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

FK_AVX512 void ScoreF16Avx512(const float* q, const uint16_t* x, int n, int stride, float* out) {
  int r = 0;
  for (; r + 4 <= n; r += 4) {
    const uint16_t* x0 = x + static_cast<size_t>(r) * stride;
    const uint16_t* x1 = x0 + stride;
    const uint16_t* x2 = x1 + stride;
    const uint16_t* x3 = x2 + stride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < stride; j += 16) {
      const __m512 qv = _mm512_loadu_ps(q + j);
      a0 = _mm512_fmadd_ps(LoadHalf16(x0 + j), qv, a0);
      a1 = _mm512_fmadd_ps(LoadHalf16(x1 + j), qv, a1);
      a2 = _mm512_fmadd_ps(LoadHalf16(x2 + j), qv, a2);
      a3 = _mm512_fmadd_ps(LoadHalf16(x3 + j), qv, a3);
    }
    out[r] = _mm512_reduce_add_ps(a0);
    out[r + 1] = _mm512_reduce_add_ps(a1);
    out[r + 2] = _mm512_reduce_add_ps(a2);
    out[r + 3] = _mm512_reduce_add_ps(a3);
  }
  for (; r < n; ++r) {
    const uint16_t* x0 = x + static_cast<size_t>(r) * stride;
    __m512 a0 = _mm512_setzero_ps();
    for (int j = 0; j < stride; j += 16) a0 = _mm512_fmadd_ps(LoadHalf16(x0 + j), _mm512_loadu_ps(q + j), a0);
    out[r] = _mm512_reduce_add_ps(a0);
  }
}

FK_AVX512 inline __m512i MaddI8(const int8_t* p, __m512i qv, __m512i acc) {
  const __m512i xv = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_add_epi32(acc, _mm512_madd_epi16(xv, qv));
}

FK_AVX512 void ScoreI8Avx512(const int16_t* q, float qs, const int8_t* x, const float* xs, int n, int stride,
                             float* out) {
  int r = 0;
  for (; r + 4 <= n; r += 4) {
    const int8_t* x0 = x + static_cast<size_t>(r) * stride;
    const int8_t* x1 = x0 + stride;
    const int8_t* x2 = x1 + stride;
    const int8_t* x3 = x2 + stride;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < stride; j += 32) {
      const __m512i qv = _mm512_loadu_si512(q + j);
      a0 = MaddI8(x0 + j, qv, a0);
      a1 = MaddI8(x1 + j, qv, a1);
      a2 = MaddI8(x2 + j, qv, a2);
      a3 = MaddI8(x3 + j, qv, a3);
    }
    out[r] = static_cast<float>(_mm512_reduce_add_epi32(a0)) * qs * xs[r];
    out[r + 1] = static_cast<float>(_mm512_reduce_add_epi32(a1)) * qs * xs[r + 1];
    out[r + 2] = static_cast<float>(_mm512_reduce_add_epi32(a2)) * qs * xs[r + 2];
    out[r + 3] = static_cast<float>(_mm512_reduce_add_epi32(a3)) * qs * xs[r + 3];
  }
  for (; r < n; ++r) {
    const int8_t* x0 = x + static_cast<size_t>(r) * stride;
    __m512i a0 = _mm512_setzero_si512();
    for (int j = 0; j < stride; j += 32) a0 = MaddI8(x0 + j, _mm512_loadu_si512(q + j), a0);
    out[r] = static_cast<float>(_mm512_reduce_add_epi32(a0)) * qs * xs[r];
  }
}
#endif

// Runtime-dispatched kernels (AVX-512 when the CPU has it).
void ScoreF32(const float* q, const float* x, int n, int stride, float* out) {
#ifdef FK_HAVE_X86
  if (HaveAvx512()) return ScoreF32Avx512(q, x, n, stride, out);
#endif
  ScoreF32Scalar(q, x, n, stride, out);
}
void ScoreI8(const int16_t* q, float qs, const int8_t* x, const float* xs, int n, int stride, float* out) {
#ifdef FK_HAVE_X86
  if (HaveAvx512()) return ScoreI8Avx512(q, qs, x, xs, n, stride, out);
#endif
  ScoreI8Scalar(q, qs, x, xs, n, stride, out);
}

// Symmetric int8 code of a normalised vector (dim values written); returns the scale.
float QuantizeI8(const float* v, int dim, int8_t* out) {
  float m = 0.0f;
  for (int j = 0; j < dim; ++j) m = std::max(m, std::fabs(v[j]));
  const float s = m > 0 ? m / 127.0f : 1.0f;
  for (int j = 0; j < dim; ++j) out[j] = static_cast<int8_t>(std::clamp(std::lround(v[j] / s), -127L, 127L));
  return s;
}

// int16 probe for the int8 kernels (stride values, zero padded).
void QuantizeQueryI16(const float* qn, int dim, int stride, std::vector<int16_t>* out, float* scale) {
  float m = 0.0f;
  for (int j = 0; j < dim; ++j) m = std::max(m, std::fabs(qn[j]));
  *scale = m > 0 ? m / kInt8QueryMax : 1.0f;
  out->assign(static_cast<size_t>(stride), 0);
  for (int j = 0; j < dim; ++j)
    (*out)[j] = static_cast<int16_t>(std::clamp(std::lround(qn[j] / *scale), -32767L, 32767L));
}

// Min-heap of the k best (score, position) seen so far.
class TopK {
 public:
  explicit TopK(int k) : k_(k) { heap_.reserve(static_cast<size_t>(k) + 1); }
  float threshold() const { return static_cast<int>(heap_.size()) < k_ ? -INFINITY : heap_.front().first; }
  void Push(float s, int64_t pos) {
    if (static_cast<int>(heap_.size()) < k_) {
      heap_.emplace_back(s, pos);
      std::push_heap(heap_.begin(), heap_.end(), Cmp);
    } else if (s > heap_.front().first) {
      std::pop_heap(heap_.begin(), heap_.end(), Cmp);
      heap_.back() = {s, pos};
      std::push_heap(heap_.begin(), heap_.end(), Cmp);
    }
  }
  void PushScores(const float* s, int n, int64_t base) {
    float th = threshold();
    for (int i = 0; i < n; ++i)
      if (s[i] > th) {
        Push(s[i], base + i);
        th = threshold();
      }
  }
  const std::vector<std::pair<float, int64_t>>& items() const { return heap_; }

 private:
  static bool Cmp(const std::pair<float, int64_t>& a, const std::pair<float, int64_t>& b) {
    return a.first > b.first;
  }
  int k_;
  std::vector<std::pair<float, int64_t>> heap_;
};

void SortHits(std::vector<Hit>* hits) {
  std::sort(hits->begin(), hits->end(), [](const Hit& a, const Hit& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  });
}

}  // namespace

// ---------------------------------------------------------------- storage ----

struct SearchIndex::Storage {
  struct Block {
    uint8_t* data = nullptr;  // kBlockRows * stride * elem bytes, 64-byte aligned, zeroed
    std::vector<float> scale;  // int8 only
    ~Block() { std::free(data); }
  };
  VectorPrecision precision;
  int dim, stride;
  size_t row_bytes;
  std::vector<std::unique_ptr<Block>> blocks;
  std::vector<int64_t> pos_to_id;
  std::unordered_map<int64_t, int64_t> id_to_pos;

  int64_t size() const { return static_cast<int64_t>(pos_to_id.size()); }

  uint8_t* RowPtr(int64_t pos) {
    return blocks[static_cast<size_t>(pos / kBlockRows)]->data + static_cast<size_t>(pos % kBlockRows) * row_bytes;
  }
  float& Scale(int64_t pos) { return blocks[static_cast<size_t>(pos / kBlockRows)]->scale[pos % kBlockRows]; }

  bool Grow() {
    auto b = std::make_unique<Block>();
    const size_t bytes = static_cast<size_t>(kBlockRows) * row_bytes;
    b->data = static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!b->data) return false;
    std::memset(b->data, 0, bytes);
    if (precision == VectorPrecision::kInt8) b->scale.assign(kBlockRows, 0.0f);
    blocks.push_back(std::move(b));
    return true;
  }

  // Writes a normalised vector into row `pos`.
  void Write(int64_t pos, const float* v) {
    uint8_t* row = RowPtr(pos);
    std::memset(row, 0, row_bytes);
    if (precision == VectorPrecision::kFloat32) {
      std::memcpy(row, v, sizeof(float) * static_cast<size_t>(dim));
    } else if (precision == VectorPrecision::kFloat16) {
      auto* h = reinterpret_cast<uint16_t*>(row);
      for (int j = 0; j < dim; ++j) h[j] = FloatToHalf(v[j]);
    } else {
      Scale(pos) = QuantizeI8(v, dim, reinterpret_cast<int8_t*>(row));
    }
  }

  void Move(int64_t from, int64_t to) {
    std::memcpy(RowPtr(to), RowPtr(from), row_bytes);
    if (precision == VectorPrecision::kInt8) Scale(to) = Scale(from);
  }

  // Row as fp32 (dim values).
  void Read(int64_t pos, float* out) {
    const uint8_t* row = RowPtr(pos);
    if (precision == VectorPrecision::kFloat32) {
      std::memcpy(out, row, sizeof(float) * static_cast<size_t>(dim));
    } else if (precision == VectorPrecision::kFloat16) {
      auto* h = reinterpret_cast<const uint16_t*>(row);
      for (int j = 0; j < dim; ++j) out[j] = HalfToFloat(h[j]);
    } else {
      auto* q = reinterpret_cast<const int8_t*>(row);
      const float s = Scale(pos);
      for (int j = 0; j < dim; ++j) out[j] = q[j] * s;
    }
  }

  PreparedQuery Prepare(const float* qn) const {
    PreparedQuery p;
    if (precision == VectorPrecision::kInt8) {
      QuantizeQueryI16(qn, dim, stride, &p.i16, &p.scale);
    } else {
      p.f.assign(static_cast<size_t>(stride), 0.0f);
      std::memcpy(p.f.data(), qn, sizeof(float) * static_cast<size_t>(dim));
    }
    return p;
  }

  // Scores the first n rows of block b against a prepared query.
  void ScoreBlock(const PreparedQuery& q, size_t b, int n, float* out) const {
    const Block& blk = *blocks[b];
#ifdef FK_HAVE_X86
    if (HaveAvx512()) {
      switch (precision) {
        case VectorPrecision::kFloat32:
          return ScoreF32Avx512(q.f.data(), reinterpret_cast<const float*>(blk.data), n, stride, out);
        case VectorPrecision::kFloat16:
          return ScoreF16Avx512(q.f.data(), reinterpret_cast<const uint16_t*>(blk.data), n, stride, out);
        case VectorPrecision::kInt8:
          return ScoreI8Avx512(q.i16.data(), q.scale, reinterpret_cast<const int8_t*>(blk.data), blk.scale.data(),
                               n, stride, out);
      }
    }
#endif
    switch (precision) {
      case VectorPrecision::kFloat32:
        return ScoreF32Scalar(q.f.data(), reinterpret_cast<const float*>(blk.data), n, stride, out);
      case VectorPrecision::kFloat16:
        return ScoreF16Scalar(q.f.data(), reinterpret_cast<const uint16_t*>(blk.data), n, stride, out);
      case VectorPrecision::kInt8:
        return ScoreI8Scalar(q.i16.data(), q.scale, reinterpret_cast<const int8_t*>(blk.data), blk.scale.data(), n,
                             stride, out);
    }
  }

  // Score of the row at `pos` (re-ranking of approximate candidates).
  float ScoreRow(const PreparedQuery& q, int64_t pos) const {
    const size_t b = static_cast<size_t>(pos / kBlockRows);
    const int r = static_cast<int>(pos % kBlockRows);
    const Block& blk = *blocks[b];
    const uint8_t* row = blk.data + static_cast<size_t>(r) * row_bytes;
    float s = 0.0f;
    switch (precision) {
      case VectorPrecision::kFloat32:
        ScoreF32(q.f.data(), reinterpret_cast<const float*>(row), 1, stride, &s);
        break;
      case VectorPrecision::kFloat16:
#ifdef FK_HAVE_X86
        if (HaveAvx512()) {
          ScoreF16Avx512(q.f.data(), reinterpret_cast<const uint16_t*>(row), 1, stride, &s);
          break;
        }
#endif
        ScoreF16Scalar(q.f.data(), reinterpret_cast<const uint16_t*>(row), 1, stride, &s);
        break;
      case VectorPrecision::kInt8:
        ScoreI8(q.i16.data(), q.scale, reinterpret_cast<const int8_t*>(row), &blk.scale[static_cast<size_t>(r)], 1,
                stride, &s);
        break;
    }
    return s;
  }

  // Block b widened to fp32 [n, stride] (scaled for int8).
  void Widen(size_t b, int n, float* out) const {
    const Block& blk = *blocks[b];
    const size_t cnt = static_cast<size_t>(n) * stride;
    if (precision == VectorPrecision::kFloat16) {
      auto* h = reinterpret_cast<const uint16_t*>(blk.data);
#ifdef FK_HAVE_X86
      if (HaveAvx512()) {
        WidenF16Avx512(h, cnt, out);
        return;
      }
#endif
      for (size_t i = 0; i < cnt; ++i) out[i] = HalfToFloat(h[i]);
    } else if (precision == VectorPrecision::kInt8) {
      auto* q = reinterpret_cast<const int8_t*>(blk.data);
      for (int r = 0; r < n; ++r) {
        const float s = blk.scale[r];
        const int8_t* row = q + static_cast<size_t>(r) * stride;
        float* o = out + static_cast<size_t>(r) * stride;
        for (int j = 0; j < stride; ++j) o[j] = row[j] * s;
      }
    }
  }

#ifdef FK_HAVE_X86
  FK_AVX512 static void WidenF16Avx512(const uint16_t* h, size_t cnt, float* out) {
    for (size_t i = 0; i < cnt; i += 16) _mm512_storeu_ps(out + i, LoadHalf16(h + i));
  }
#endif
};

// ------------------------------------------------------------- IVF-int8 ----
// facekit's own inverted-file index (ApproxMethod::kIvfInt8): nlist unit centroids
// (spherical k-means), each list holding its members' int8 codes (the same codes and
// kernels as the int8 exact storage), scales and ids contiguously. A query scores the
// centroids (fp32), scans the nprobe best lists with the int8 kernel and re-scores the
// best candidates with the exact rows of the storage.
namespace {

struct IvfInt8 {
  struct List {
    std::vector<int8_t> codes;  // size() * stride, zero padded
    std::vector<float> scales;
    std::vector<int64_t> ids;
    int size() const { return static_cast<int>(ids.size()); }
  };
  int dim = 0, stride = 0, nlist = 0;
  std::vector<float> centroids;  // nlist x stride, unit length, zero padded
  std::vector<List> lists;
  std::unordered_map<int64_t, std::pair<int32_t, int32_t>> where;  // id -> (list, slot)

  void Append(int l, int64_t id, const float* v) {
    List& L = lists[static_cast<size_t>(l)];
    const size_t at = L.ids.size();
    L.codes.resize((at + 1) * static_cast<size_t>(stride), 0);
    L.scales.push_back(QuantizeI8(v, dim, L.codes.data() + at * stride));
    L.ids.push_back(id);
    where[id] = {l, static_cast<int32_t>(at)};
  }

  // Swap-with-last inside the list (O(dim)).
  bool Remove(int64_t id) {
    auto it = where.find(id);
    if (it == where.end()) return false;
    const auto [l, slot] = it->second;
    where.erase(it);
    List& L = lists[static_cast<size_t>(l)];
    const int last = L.size() - 1;
    if (slot != last) {
      std::memcpy(L.codes.data() + static_cast<size_t>(slot) * stride, L.codes.data() + static_cast<size_t>(last) * stride,
                  static_cast<size_t>(stride));
      L.scales[static_cast<size_t>(slot)] = L.scales[static_cast<size_t>(last)];
      L.ids[static_cast<size_t>(slot)] = L.ids[static_cast<size_t>(last)];
      where[L.ids[static_cast<size_t>(slot)]] = {l, slot};
    }
    L.codes.resize(static_cast<size_t>(last) * stride);
    L.scales.pop_back();
    L.ids.pop_back();
    return true;
  }

  size_t Bytes() const {
    size_t b = centroids.capacity() * sizeof(float) + where.size() * (sizeof(int64_t) * 2 + 16);
    for (const auto& L : lists)
      b += L.codes.capacity() + L.scales.capacity() * sizeof(float) + L.ids.capacity() * sizeof(int64_t);
    return b;
  }
};

// For each of n rows (row-major, `dim` apart) the centroid with the largest dot product.
void AssignNearest(const float* x, int64_t n, int dim, const float* cent, int nlist, int stride, int32_t* out) {
  if (n < 64) {  // a few enrolments: no BLAS / thread start-up
    std::vector<float> q(static_cast<size_t>(stride), 0.0f), sc(static_cast<size_t>(nlist));
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(q.data(), x + static_cast<size_t>(i) * dim, sizeof(float) * dim);
      ScoreF32(q.data(), cent, nlist, stride, sc.data());
      out[i] = static_cast<int32_t>(std::max_element(sc.begin(), sc.end()) - sc.begin());
    }
    return;
  }
#ifdef FK_HAVE_OPENBLAS
  constexpr int64_t kChunk = 2048;
  std::vector<float> sc(static_cast<size_t>(kChunk) * nlist);
  for (int64_t b = 0; b < n; b += kChunk) {
    const int64_t c = std::min(kChunk, n - b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(c), nlist, dim, 1.0f,
                x + static_cast<size_t>(b) * dim, dim, cent, stride, 0.0f, sc.data(), nlist);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int64_t i = 0; i < c; ++i) {
      const float* r = sc.data() + static_cast<size_t>(i) * nlist;
      out[b + i] = static_cast<int32_t>(std::max_element(r, r + nlist) - r);
    }
  }
#else
#ifdef _OPENMP
#pragma omp parallel
#endif
  {
    std::vector<float> q(static_cast<size_t>(stride), 0.0f), sc(static_cast<size_t>(nlist));
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(q.data(), x + static_cast<size_t>(i) * dim, sizeof(float) * dim);
      ScoreF32(q.data(), cent, nlist, stride, sc.data());
      out[i] = static_cast<int32_t>(std::max_element(sc.begin(), sc.end()) - sc.begin());
    }
  }
#endif
}

// Spherical k-means (inner product, unit centroids) on nt sample rows.
void TrainCentroids(const float* sample, int64_t nt, int dim, int stride, int nlist, int iters,
                    std::vector<float>* cent) {
  cent->assign(static_cast<size_t>(nlist) * stride, 0.0f);
  for (int c = 0; c < nlist; ++c)  // deterministic, spread-out seeds
    std::memcpy(cent->data() + static_cast<size_t>(c) * stride, sample + static_cast<size_t>(c * nt / nlist) * dim,
                sizeof(float) * dim);
  std::vector<int32_t> assign(static_cast<size_t>(nt));
  std::vector<double> sums(static_cast<size_t>(nlist) * dim);
  std::vector<int64_t> counts(static_cast<size_t>(nlist));
  for (int it = 0; it < iters; ++it) {
    AssignNearest(sample, nt, dim, cent->data(), nlist, stride, assign.data());
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (int64_t i = 0; i < nt; ++i) {
      const int c = assign[static_cast<size_t>(i)];
      ++counts[static_cast<size_t>(c)];
      double* sp = sums.data() + static_cast<size_t>(c) * dim;
      const float* xp = sample + static_cast<size_t>(i) * dim;
      for (int j = 0; j < dim; ++j) sp[j] += xp[j];
    }
    for (int c = 0; c < nlist; ++c) {
      float* cp = cent->data() + static_cast<size_t>(c) * stride;
      if (counts[static_cast<size_t>(c)] == 0) {  // empty: re-seed from a pseudo-random sample row
        const int64_t i = (static_cast<int64_t>(c) * 7919 + static_cast<int64_t>(it) * 104729) % nt;
        std::memcpy(cp, sample + static_cast<size_t>(i) * dim, sizeof(float) * dim);
        continue;
      }
      const double* sp = sums.data() + static_cast<size_t>(c) * dim;
      for (int j = 0; j < dim; ++j) cp[j] = static_cast<float>(sp[j]);
      if (!NormalizeL2(cp, dim)) std::memcpy(cp, sample, sizeof(float) * dim);
    }
  }
}

// Automatic IVF parameters (docs/gallery.md): nlist ~ sqrt(N); nprobe grows with
// sqrt(nlist) so the scanned fraction shrinks slowly as the gallery grows.
int AutoNlist(int64_t n) {
  const int nl = static_cast<int>(std::clamp<double>(std::round(std::sqrt(static_cast<double>(n))), 1, 65536));
  return static_cast<int>(std::min<int64_t>(nl, std::max<int64_t>(1, n / 8)));
}
int AutoNprobe(int nlist) {
  return std::min(nlist, std::max(8, static_cast<int>(std::ceil(3.0 * std::sqrt(static_cast<double>(nlist))))));
}

}  // namespace

#ifdef FK_HAVE_FAISS
namespace {
// FAISS HNSW with template ids and tombstones (HNSW graphs cannot delete).
struct HnswIndex {
  std::unique_ptr<faiss::IndexHNSWFlat> index;
  std::vector<int64_t> label_to_id;  // FAISS label (insertion order) -> template id
  std::vector<uint8_t> dead;         // tombstones by label
  std::unordered_map<int64_t, int64_t> id_to_label;
  int64_t ndead = 0;
};
}  // namespace
#endif

struct SearchIndex::Approx {
  ApproxMethod method = ApproxMethod::kIvfInt8;
  int64_t trained_at = 0;
  int nprobe = 1;
  std::unique_ptr<IvfInt8> ivf8;
#ifdef FK_HAVE_FAISS
  std::unique_ptr<faiss::IndexFlatIP> quantizer;
  std::unique_ptr<faiss::IndexIVFFlat> ivf;
  std::unique_ptr<HnswIndex> hnsw;
#endif
};

// ------------------------------------------------------------ GPU copy ----

struct SearchIndex::Gpu {
#ifdef FK_GALLERY_CUDA
  std::unique_ptr<engine::cuda::GpuSearchIndex> idx;
#endif
  Status broken;        // why the GPU copy was dropped (searches report it)
  std::string warning;  // the fallback warning when the GPU could not be set up
  mutable std::atomic<bool> warned{false};
};

Status ValidateIndexDevice(const IndexOptions& options) {
  const DeviceConfig& d = options.device;
  if (!d.use_cuda) return OkStatus();
  if (d.gpu_index < 0) return InvalidArgument("device.gpu_index must be >= 0, got " + std::to_string(d.gpu_index));
  if (d.gpu_memory_limit_bytes < 0)
    return InvalidArgument("device.gpu_memory_limit_bytes must be >= 0 (0 = no cap), got " +
                           std::to_string(d.gpu_memory_limit_bytes));
  if (!(d.gpu_memory_limit_fraction >= 0 && d.gpu_memory_limit_fraction <= 1))
    return InvalidArgument("device.gpu_memory_limit_fraction must be in [0, 1] (0 = no cap), got " +
                           std::to_string(d.gpu_memory_limit_fraction));
  const std::string& p = d.precision;
  if (!p.empty() && p != "auto" && p != "fp16" && p != "fp32" && p != "tf32")
    return InvalidArgument("device.precision '" + p +
                           "' is not one of auto, fp16, fp32, tf32 (GPU search: auto = fp16 rows with fp32 "
                           "accumulation)");
  if (options.mode == SearchMode::kApprox)
    return InvalidArgument("SearchMode::kApprox cannot be combined with GPU search (device.use_cuda): the GPU "
                           "searches exactly at every size; use SearchMode::kExact or kAuto, or drop use_cuda");
  return OkStatus();
}

int SearchIndex::GpuMaxK() {
#ifdef FK_GALLERY_CUDA
  return engine::cuda::GpuSearchMaxK();
#else
  return 0;
#endif
}

Status SearchIndex::AttachGpu() {
  FK_RETURN_IF_ERROR(ValidateIndexDevice(options_));
  const DeviceConfig& d = options_.device;
  Status st;
#ifdef FK_GALLERY_CUDA
  engine::cuda::GpuSearchOptions go;
  go.gpu_index = d.gpu_index;
  go.half = d.precision.empty() || d.precision == "auto" || d.precision == "fp16";
  go.tf32 = d.precision == "tf32";
  go.memory_limit_bytes = d.gpu_memory_limit_bytes;
  go.memory_limit_fraction = d.gpu_memory_limit_fraction;
  auto r = engine::cuda::GpuSearchIndex::Create(dim_, go);
  if (r.ok()) {
    gpu_->idx = std::move(r).value();
    return OkStatus();
  }
  st = r.status();
#else
  st = Unsupported("GPU exact search (device cuda:" + std::to_string(d.gpu_index) +
                   ") needs the CUDA backend: this facekit was built without CUDA; rebuild with -DFK_CUDA=ON "
                   "-DCMAKE_CUDA_ARCHITECTURES=<your GPU's compute capability, e.g. 90> (docs/cuda.md), or search "
                   "on the CPU");
#endif
  if (d.allow_cpu_fallback) {
    gpu_->warning = "GPU search unavailable, searching on the CPU: " + st.ToString();
    std::fprintf(stderr, "facekit: warning: %s\n", gpu_->warning.c_str());
    return OkStatus();
  }
  return st;
}

bool SearchIndex::GpuActiveLocked() const {
#ifdef FK_GALLERY_CUDA
  return gpu_->idx != nullptr;
#else
  return false;
#endif
}

void SearchIndex::DropGpuLocked(const Status& why) {
  gpu_->broken = why.WithContext(
      "the GPU copy of the search index was dropped after an error (reopen the gallery, or Reload(), to rebuild "
      "it)");
#ifdef FK_GALLERY_CUDA
  gpu_->idx.reset();
#endif
  std::fprintf(stderr, "facekit: warning: %s\n", gpu_->broken.ToString().c_str());
}

void SearchIndex::WarnOnce(const std::string& what) const {
  if (!gpu_->warned.exchange(true)) std::fprintf(stderr, "facekit: warning: %s\n", what.c_str());
}

bool SearchIndex::on_gpu() const {
  std::shared_lock lock(mu_);
  return GpuActiveLocked();
}

size_t SearchIndex::GpuMemoryBytes() const {
  std::shared_lock lock(mu_);
#ifdef FK_GALLERY_CUDA
  if (gpu_->idx) return gpu_->idx->device_bytes();
#endif
  return 0;
}

std::string SearchIndex::DeviceDescription() const {
  std::shared_lock lock(mu_);
#ifdef FK_GALLERY_CUDA
  if (gpu_->idx) return gpu_->idx->Describe();
#endif
  if (!gpu_->broken.ok()) return "cpu (" + gpu_->broken.message() + ")";
  if (!gpu_->warning.empty()) return "cpu (" + gpu_->warning + ")";
  return "cpu";
}

Status SearchIndex::SearchGpu(const float* qn, int64_t nq, int k, std::vector<std::vector<Hit>>* out) const {
#ifdef FK_GALLERY_CUDA
  std::vector<int32_t> pos(static_cast<size_t>(nq) * k);
  std::vector<float> sc(static_cast<size_t>(nq) * k);
  FK_RETURN_IF_ERROR(gpu_->idx->Search(qn, nq, k, pos.data(), sc.data()));
  const int64_t n = st_->size();
  for (int64_t i = 0; i < nq; ++i) {
    auto& o = (*out)[static_cast<size_t>(i)];
    o.clear();
    for (int j = 0; j < k; ++j) {
      const size_t at = static_cast<size_t>(i) * k + j;
      if (pos[at] < 0) continue;
      if (pos[at] >= n)
        return Internal("GPU search returned row " + std::to_string(pos[at]) + " of " + std::to_string(n));
      o.push_back({st_->pos_to_id[static_cast<size_t>(pos[at])], sc[at]});
    }
    SortHits(&o);
  }
  return OkStatus();
#else
  (void)qn, (void)nq, (void)k, (void)out;
  return Unsupported("built without CUDA");
#endif
}

// ---------------------------------------------------------------- index ----

SearchIndex::SearchIndex(int dim, const IndexOptions& options)
    : dim_(dim), stride_((dim + 31) / 32 * 32), options_(options), st_(std::make_unique<Storage>()),
      gpu_(std::make_unique<Gpu>()) {
  st_->precision = options.precision;
  st_->dim = dim;
  st_->stride = stride_;
  st_->row_bytes = static_cast<size_t>(stride_) * ElemBytes(options.precision);
  if (dim < 1) {
    device_status_ = InvalidArgument("search index dimension must be >= 1, got " + std::to_string(dim));
    return;
  }
  if (options.device.use_cuda) device_status_ = AttachGpu();
}

Result<std::unique_ptr<SearchIndex>> SearchIndex::Create(int dim, const IndexOptions& options) {
  auto idx = std::make_unique<SearchIndex>(dim, options);
  if (!idx->device_status().ok()) return idx->device_status();
  return idx;
}

SearchIndex::~SearchIndex() = default;

int64_t SearchIndex::size() const {
  std::shared_lock lock(mu_);
  return st_->size();
}

bool SearchIndex::approximate() const {
  std::shared_lock lock(mu_);
  return approx_ != nullptr;
}

bool SearchIndex::Contains(int64_t id) const {
  std::shared_lock lock(mu_);
  return st_->id_to_pos.count(id) != 0;
}

size_t SearchIndex::MemoryBytes() const {
  std::shared_lock lock(mu_);
  size_t b = st_->blocks.size() * static_cast<size_t>(kBlockRows) *
             (st_->row_bytes + (options_.precision == VectorPrecision::kInt8 ? sizeof(float) : 0));
  b += st_->pos_to_id.capacity() * sizeof(int64_t) + st_->id_to_pos.size() * (sizeof(int64_t) * 2 + 16);
  if (approx_) {
    if (approx_->ivf8) b += approx_->ivf8->Bytes();
#ifdef FK_HAVE_FAISS
    if (approx_->ivf)
      b += static_cast<size_t>(approx_->ivf->ntotal) * (dim_ * sizeof(float) + sizeof(int64_t)) +
           approx_->ivf->nlist * dim_ * sizeof(float);
    if (approx_->hnsw) {
      const auto& h = *approx_->hnsw;
      b += static_cast<size_t>(h.index->ntotal) * dim_ * sizeof(float) + h.index->hnsw.neighbors.size() * 4 +
           h.index->hnsw.levels.size() * 4 + h.index->hnsw.offsets.size() * 8 + h.label_to_id.capacity() * 8 +
           h.dead.capacity() + h.id_to_label.size() * (sizeof(int64_t) * 2 + 16);
    }
#endif
  }
  return b;
}

void SearchIndex::Clear() {
  std::unique_lock lock(mu_);
#ifdef FK_GALLERY_CUDA
  if (gpu_->idx) gpu_->idx->Clear();
#endif
  st_->blocks.clear();
  st_->pos_to_id.clear();
  st_->id_to_pos.clear();
  approx_.reset();
}

bool ApproxMethodAvailable(ApproxMethod m) {
#ifdef FK_HAVE_FAISS
  (void)m;
  return true;
#else
  return m == ApproxMethod::kIvfInt8;
#endif
}

const char* ApproxMethodName(ApproxMethod m) {
  switch (m) {
    case ApproxMethod::kIvfInt8: return "ivf-int8";
    case ApproxMethod::kFaissIvfFlat: return "faiss-ivf-flat";
    case ApproxMethod::kFaissHnsw: return "faiss-hnsw";
  }
  return "?";
}

Status SearchIndex::Add(const int64_t* ids, const float* vectors, int64_t n) {
  if (!device_status_.ok()) return device_status_;
  if (n < 0) return InvalidArgument("SearchIndex::Add: negative count");
  // Validate and normalise outside the lock.
  std::vector<float> norm(vectors, vectors + static_cast<size_t>(n) * dim_);
  for (int64_t i = 0; i < n; ++i)
    if (!NormalizeL2(norm.data() + static_cast<size_t>(i) * dim_, dim_))
      return InvalidArgument("template " + std::to_string(ids[i]) +
                             " is a zero or non-finite vector; it cannot be normalised");
  std::unique_lock lock(mu_);
  {
    std::unordered_map<int64_t, int> seen;
    for (int64_t i = 0; i < n; ++i)
      if (st_->id_to_pos.count(ids[i]) || seen[ids[i]]++)
        return AlreadyExists("template id " + std::to_string(ids[i]) + " is already in the search index");
  }
#ifdef FK_GALLERY_CUDA
  // The GPU copy first (rows at the same positions as below): on failure nothing is added,
  // or, with the CPU fallback allowed, the copy is dropped and the CPU rows carry on.
  if (gpu_->idx && n > 0) {
    Status g = gpu_->idx->size() == st_->size()
                   ? gpu_->idx->Append(norm.data(), n)
                   : Internal("GPU copy has " + std::to_string(gpu_->idx->size()) + " rows, the index " +
                              std::to_string(st_->size()));
    if (!g.ok()) {
      if (!options_.device.allow_cpu_fallback) return g.WithContext("search index: nothing was added");
      DropGpuLocked(g);
    }
  }
#endif
  st_->pos_to_id.reserve(st_->pos_to_id.size() + static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pos = st_->size();
    if (pos / kBlockRows >= static_cast<int64_t>(st_->blocks.size()) && !st_->Grow()) {
      return ResourceExhausted("out of memory growing the search index at " + std::to_string(pos) + " templates");
    }
    st_->Write(pos, norm.data() + static_cast<size_t>(i) * dim_);
    st_->pos_to_id.push_back(ids[i]);
    st_->id_to_pos[ids[i]] = pos;
  }
  if (approx_) {
    if (st_->size() > 4 * approx_->trained_at) return BuildApproxLocked();  // retrain: the lists drifted
    return ApproxAddLocked(ids, norm.data(), n);
  }
  // kAuto stays exact when the configured method is not in this build; kApprox
  // reports it (BuildApprox / Gallery open).
  if (options_.mode != SearchMode::kExact && st_->size() >= options_.approx_threshold &&
      ApproxMethodAvailable(options_.approx_method) && !GpuActiveLocked())
    return BuildApproxLocked();
  return OkStatus();
}

Status SearchIndex::ApproxAddLocked(const int64_t* ids, const float* norm, int64_t n) {
  if (approx_->ivf8) {
    IvfInt8& ivf = *approx_->ivf8;
    std::vector<int32_t> lists(static_cast<size_t>(n));
    AssignNearest(norm, n, dim_, ivf.centroids.data(), ivf.nlist, stride_, lists.data());
    for (int64_t i = 0; i < n; ++i) ivf.Append(lists[static_cast<size_t>(i)], ids[i], norm + static_cast<size_t>(i) * dim_);
    return OkStatus();
  }
#ifdef FK_HAVE_FAISS
  try {
    if (approx_->ivf) approx_->ivf->add_with_ids(n, norm, ids);
    if (approx_->hnsw) {
      HnswIndex& h = *approx_->hnsw;
      h.index->add(n, norm);
      for (int64_t i = 0; i < n; ++i) {
        h.id_to_label[ids[i]] = static_cast<int64_t>(h.label_to_id.size());
        h.label_to_id.push_back(ids[i]);
        h.dead.push_back(0);
      }
    }
  } catch (const std::exception& e) {
    approx_.reset();  // never serve from an index that lost rows; exact search until the next build
    return Internal(std::string("adding to the FAISS index failed (search falls back to exact): ") + e.what());
  }
#endif
  return OkStatus();
}

Status SearchIndex::Remove(int64_t id) {
  std::unique_lock lock(mu_);
  auto it = st_->id_to_pos.find(id);
  if (it == st_->id_to_pos.end()) return NotFound("template id " + std::to_string(id) + " is not in the search index");
  const int64_t pos = it->second, last = st_->size() - 1;
#ifdef FK_GALLERY_CUDA
  if (gpu_->idx) {  // same swap-with-last on the GPU; an error drops the copy (the CPU rows stay right)
    Status g = gpu_->idx->RemoveSwapLast(pos);
    if (!g.ok()) DropGpuLocked(g);
  }
#endif
  st_->id_to_pos.erase(it);
  if (pos != last) {
    st_->Move(last, pos);
    st_->pos_to_id[static_cast<size_t>(pos)] = st_->pos_to_id[static_cast<size_t>(last)];
    st_->id_to_pos[st_->pos_to_id[static_cast<size_t>(pos)]] = pos;
  }
  st_->pos_to_id.pop_back();
  if ((last % kBlockRows) == 0) st_->blocks.pop_back();  // the last block became empty
  if (!approx_) return OkStatus();
  if (approx_->ivf8) approx_->ivf8->Remove(id);
#ifdef FK_HAVE_FAISS
  if (approx_->ivf) {
    faiss::IDSelectorBatch sel(1, &id);
    approx_->ivf->remove_ids(sel);
  }
  if (approx_->hnsw) {
    // HNSW graphs cannot delete: tombstone the label (filtered at search) and rebuild
    // from the storage once a quarter of the graph is dead.
    HnswIndex& h = *approx_->hnsw;
    auto hit = h.id_to_label.find(id);
    if (hit != h.id_to_label.end()) {
      h.dead[static_cast<size_t>(hit->second)] = 1;
      ++h.ndead;
      h.id_to_label.erase(hit);
    }
    if (h.ndead * 4 > h.index->ntotal) {
      // A failed rebuild keeps the tombstoned graph, which still answers correctly.
      (void)BuildApproxLocked();
    }
  }
#endif
  return OkStatus();
}

Status SearchIndex::BuildApprox() {
  std::unique_lock lock(mu_);
  if (GpuActiveLocked())
    return FailedPrecondition("this index searches exactly on the GPU (IndexOptions::device.use_cuda); the "
                              "approximate indexes are CPU-only: open it without use_cuda to build one");
  return BuildApproxLocked();
}

Status SearchIndex::BuildApproxLocked() {
  const int64_t n = st_->size();
  if (n == 0) {
    approx_.reset();
    return OkStatus();
  }
  if (!ApproxMethodAvailable(options_.approx_method))
    return Unsupported(std::string("approximate method ") + ApproxMethodName(options_.approx_method) +
                       " needs FAISS; this facekit was built without it (install libfaiss-dev), or use "
                       "ApproxMethod::kIvfInt8");
  const int nlist = options_.ivf_nlist > 0 ? static_cast<int>(std::min<int64_t>(options_.ivf_nlist, n)) : AutoNlist(n);
  auto a = std::make_unique<Approx>();
  a->method = options_.approx_method;
  a->nprobe = options_.ivf_nprobe > 0 ? std::min(options_.ivf_nprobe, nlist) : AutoNprobe(nlist);
  a->trained_at = n;
  // Rows are read back from the storage in chunks (no full fp32 copy of a large gallery).
  constexpr int64_t kChunk = 65536;
  std::vector<float> buf(static_cast<size_t>(std::min(kChunk, n)) * dim_);
  auto read_rows = [&](int64_t b, int64_t c) {
    for (int64_t i = 0; i < c; ++i) st_->Read(b + i, buf.data() + static_cast<size_t>(i) * dim_);
  };
  // A strided training sample (deterministic): 32 rows per list for ours, 64 for FAISS
  // (which warns below 39).
  const int64_t per_list = a->method == ApproxMethod::kIvfInt8 ? 32 : 64;
  const int64_t nt = std::min<int64_t>(n, static_cast<int64_t>(nlist) * per_list);
  std::vector<float> train;
  if (a->method != ApproxMethod::kFaissHnsw) {
    train.resize(static_cast<size_t>(nt) * dim_);
    for (int64_t i = 0; i < nt; ++i) st_->Read(i * n / nt, train.data() + static_cast<size_t>(i) * dim_);
  }
  if (a->method == ApproxMethod::kIvfInt8) {
    auto ivf = std::make_unique<IvfInt8>();
    ivf->dim = dim_;
    ivf->stride = stride_;
    ivf->nlist = nlist;
    TrainCentroids(train.data(), nt, dim_, stride_, nlist, 10, &ivf->centroids);
    train = {};
    // Pass 1 assigns every row (so each list is allocated once), pass 2 fills the lists.
    std::vector<int32_t> lists(static_cast<size_t>(n));
    for (int64_t b = 0; b < n; b += kChunk) {
      const int64_t c = std::min(kChunk, n - b);
      read_rows(b, c);
      AssignNearest(buf.data(), c, dim_, ivf->centroids.data(), nlist, stride_, lists.data() + b);
    }
    ivf->lists.resize(static_cast<size_t>(nlist));
    {
      std::vector<int64_t> counts(static_cast<size_t>(nlist));
      for (int32_t l : lists) ++counts[static_cast<size_t>(l)];
      for (int l = 0; l < nlist; ++l) {
        auto& L = ivf->lists[static_cast<size_t>(l)];
        L.codes.reserve(static_cast<size_t>(counts[static_cast<size_t>(l)]) * stride_);
        L.scales.reserve(static_cast<size_t>(counts[static_cast<size_t>(l)]));
        L.ids.reserve(static_cast<size_t>(counts[static_cast<size_t>(l)]));
      }
    }
    ivf->where.reserve(static_cast<size_t>(n));
    for (int64_t b = 0; b < n; b += kChunk) {
      const int64_t c = std::min(kChunk, n - b);
      read_rows(b, c);
      for (int64_t i = 0; i < c; ++i)
        ivf->Append(lists[static_cast<size_t>(b + i)], st_->pos_to_id[static_cast<size_t>(b + i)],
                    buf.data() + static_cast<size_t>(i) * dim_);
    }
    a->ivf8 = std::move(ivf);
    approx_ = std::move(a);
    return OkStatus();
  }
#ifdef FK_HAVE_FAISS
  try {
    if (a->method == ApproxMethod::kFaissIvfFlat) {
      a->quantizer = std::make_unique<faiss::IndexFlatIP>(dim_);
      a->ivf = std::make_unique<faiss::IndexIVFFlat>(a->quantizer.get(), dim_, nlist, faiss::METRIC_INNER_PRODUCT);
      a->ivf->cp.niter = 10;
      a->ivf->cp.max_points_per_centroid = 64;
      a->ivf->cp.verbose = false;
      a->ivf->train(nt, train.data());
      train = {};
      for (int64_t b = 0; b < n; b += kChunk) {
        const int64_t c = std::min(kChunk, n - b);
        read_rows(b, c);
        a->ivf->add_with_ids(c, buf.data(), st_->pos_to_id.data() + b);
      }
    } else {
      auto h = std::make_unique<HnswIndex>();
      h->index = std::make_unique<faiss::IndexHNSWFlat>(dim_, std::max(4, options_.hnsw_m), faiss::METRIC_INNER_PRODUCT);
      h->index->hnsw.efConstruction = std::max(8, options_.hnsw_ef_construction);
      h->label_to_id.assign(st_->pos_to_id.begin(), st_->pos_to_id.end());
      h->dead.assign(static_cast<size_t>(n), 0);
      h->id_to_label.reserve(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) h->id_to_label[st_->pos_to_id[static_cast<size_t>(i)]] = i;
      for (int64_t b = 0; b < n; b += kChunk) {
        const int64_t c = std::min(kChunk, n - b);
        read_rows(b, c);
        h->index->add(c, buf.data());
      }
      a->hnsw = std::move(h);
    }
  } catch (const std::exception& e) {
    return Internal(std::string("building the FAISS ") + ApproxMethodName(a->method) + " index failed: " + e.what());
  }
  approx_ = std::move(a);
  return OkStatus();
#else
  return Unsupported("unreachable: FAISS method without FAISS");
#endif
}

Status SearchIndex::Search(const float* queries, int64_t nq, int k, std::vector<std::vector<Hit>>* out,
                           bool exact_only) const {
  if (!device_status_.ok()) return device_status_;
  if (k <= 0) return InvalidArgument("top-k must be >= 1, got " + std::to_string(k));
  if (nq < 0) return InvalidArgument("negative query count");
  std::vector<float> qn(queries, queries + static_cast<size_t>(nq) * dim_);
  for (int64_t i = 0; i < nq; ++i)
    if (!NormalizeL2(qn.data() + static_cast<size_t>(i) * dim_, dim_))
      return InvalidArgument("probe " + std::to_string(i) + " is a zero or non-finite vector");
  out->assign(static_cast<size_t>(nq), {});
  std::shared_lock lock(mu_);
  if (st_->size() == 0 || nq == 0) return OkStatus();
  if (options_.device.use_cuda) {
    // GPU copy first (exact); k > GpuMaxK() and the CPU fallback use the CPU rows below.
    if (GpuActiveLocked() && k <= GpuMaxK()) {
      Status g = SearchGpu(qn.data(), nq, k, out);
      if (g.ok() || !options_.device.allow_cpu_fallback) return g;
      WarnOnce("GPU search failed, searching on the CPU: " + g.ToString());
      out->assign(static_cast<size_t>(nq), {});
    } else if (!gpu_->broken.ok()) {
      if (!options_.device.allow_cpu_fallback) return gpu_->broken;
      WarnOnce(gpu_->broken.ToString() + "; searching on the CPU");
    }
  }
  if (approx_ && !exact_only) return SearchApprox(qn.data(), nq, k, out);
  if (nq < 4) {
    for (int64_t i = 0; i < nq; ++i)
      FK_RETURN_IF_ERROR(SearchExactSmall(qn.data() + static_cast<size_t>(i) * dim_, k, &(*out)[static_cast<size_t>(i)]));
    return OkStatus();
  }
  return SearchExactBatch(qn.data(), nq, k, out);
}

namespace {
// FAISS opens an OpenMP region even for one query (HNSW always does); on a busy
// machine waking the team costs more than the search. One query: one thread.
struct OmpSingleThreadFor {
#ifdef _OPENMP
  int saved = 0;
  bool on = false;
  explicit OmpSingleThreadFor(bool single) : saved(omp_get_max_threads()), on(single) {
    if (on) omp_set_num_threads(1);  // this thread's ICV only
  }
  ~OmpSingleThreadFor() {
    if (on) omp_set_num_threads(saved);
  }
#else
  explicit OmpSingleThreadFor(bool) {}
#endif
};
}  // namespace

Status SearchIndex::SearchApprox(const float* qn, int64_t nq, int k, std::vector<std::vector<Hit>>* out) const {
  if (approx_->ivf8) {
    if (nq == 1) {
      SearchIvf8(qn, k, &(*out)[0], /*parallel=*/true);
      return OkStatus();
    }
#ifdef _OPENMP
    const int nthreads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
#endif
    for (int64_t i = 0; i < nq; ++i)
      SearchIvf8(qn + static_cast<size_t>(i) * dim_, k, &(*out)[static_cast<size_t>(i)], /*parallel=*/false);
    return OkStatus();
  }
#ifdef FK_HAVE_FAISS
  if (approx_->ivf) {
    const int kk = static_cast<int>(std::min<int64_t>(k, st_->size()));
    std::vector<float> d(static_cast<size_t>(nq) * kk);
    std::vector<faiss::Index::idx_t> l(static_cast<size_t>(nq) * kk);
    faiss::SearchParametersIVF params;
    params.nprobe = static_cast<size_t>(approx_->nprobe);
    OmpSingleThreadFor one(nq == 1);
    try {
      approx_->ivf->search(nq, qn, kk, d.data(), l.data(), &params);
    } catch (const std::exception& e) {
      return Internal(std::string("FAISS search failed: ") + e.what());
    }
    for (int64_t i = 0; i < nq; ++i) {
      auto& o = (*out)[static_cast<size_t>(i)];
      for (int j = 0; j < kk; ++j) {
        const size_t at = static_cast<size_t>(i) * kk + j;
        if (l[at] >= 0) o.push_back({l[at], d[at]});
      }
      SortHits(&o);
    }
    return OkStatus();
  }
  if (approx_->hnsw) {
    // Fetch more than k so tombstoned labels can be dropped; widen until k live hits
    // are found or the whole graph was asked for.
    const HnswIndex& h = *approx_->hnsw;
    const int64_t total = h.index->ntotal;
    const int64_t live = total - h.ndead;
    const int64_t want = std::min<int64_t>(k, live);
    int64_t fetch = std::min<int64_t>(total, h.ndead == 0 ? k : 2 * k + 16);
    std::vector<int64_t> todo(static_cast<size_t>(nq));
    for (int64_t i = 0; i < nq; ++i) todo[static_cast<size_t>(i)] = i;
    while (!todo.empty()) {
      std::vector<float> qs(todo.size() * static_cast<size_t>(dim_));
      for (size_t t = 0; t < todo.size(); ++t)
        std::memcpy(qs.data() + t * dim_, qn + static_cast<size_t>(todo[t]) * dim_, sizeof(float) * dim_);
      std::vector<float> d(todo.size() * static_cast<size_t>(fetch));
      std::vector<faiss::Index::idx_t> l(todo.size() * static_cast<size_t>(fetch));
      faiss::SearchParametersHNSW params;
      params.efSearch = static_cast<int>(std::max<int64_t>(options_.hnsw_ef_search, fetch));
      OmpSingleThreadFor one(todo.size() == 1);
      try {
        h.index->search(static_cast<int64_t>(todo.size()), qs.data(), fetch, d.data(), l.data(), &params);
      } catch (const std::exception& e) {
        return Internal(std::string("FAISS HNSW search failed: ") + e.what());
      }
      std::vector<int64_t> again;
      for (size_t t = 0; t < todo.size(); ++t) {
        auto& o = (*out)[static_cast<size_t>(todo[t])];
        o.clear();
        for (int64_t j = 0; j < fetch; ++j) {
          const auto lab = l[t * static_cast<size_t>(fetch) + static_cast<size_t>(j)];
          if (lab < 0 || h.dead[static_cast<size_t>(lab)]) continue;
          o.push_back({h.label_to_id[static_cast<size_t>(lab)], d[t * static_cast<size_t>(fetch) + static_cast<size_t>(j)]});
        }
        if (static_cast<int64_t>(o.size()) < want && fetch < total) again.push_back(todo[t]);
        SortHits(&o);
        if (static_cast<int>(o.size()) > k) o.resize(static_cast<size_t>(k));
      }
      todo.swap(again);
      fetch = std::min<int64_t>(total, fetch * 4);
    }
    return OkStatus();
  }
#endif
  return Internal("approximate index in an unknown state");
}

std::string SearchIndex::ApproxDescription() const {
  std::shared_lock lock(mu_);
  if (!approx_) return "exact";
  std::string d = ApproxMethodName(approx_->method);
  if (approx_->ivf8) {
    const bool rerank = options_.precision != VectorPrecision::kInt8 && options_.ivf_rerank >= 0;
    d += " nlist=" + std::to_string(approx_->ivf8->nlist) + " nprobe=" + std::to_string(approx_->nprobe) +
         (rerank ? " rerank=" + (options_.ivf_rerank > 0 ? std::to_string(options_.ivf_rerank) : std::string("max(4k,32)"))
                 : std::string(" rerank=none"));
  }
#ifdef FK_HAVE_FAISS
  if (approx_->ivf)
    d += " nlist=" + std::to_string(approx_->ivf->nlist) + " nprobe=" + std::to_string(approx_->nprobe);
  if (approx_->hnsw)
    d += " M=" + std::to_string(std::max(4, options_.hnsw_m)) + " efC=" +
         std::to_string(approx_->hnsw->index->hnsw.efConstruction) + " efS=" + std::to_string(options_.hnsw_ef_search) +
         " tombstones=" + std::to_string(approx_->hnsw->ndead);
#endif
  return d;
}

void SearchIndex::SearchIvf8(const float* qn, int k, std::vector<Hit>* out, bool parallel) const {
  const IvfInt8& ivf = *approx_->ivf8;
  std::vector<float> qp(static_cast<size_t>(stride_), 0.0f);
  std::memcpy(qp.data(), qn, sizeof(float) * dim_);
  // 1. the nprobe lists whose centroids score highest
  std::vector<float> cs(static_cast<size_t>(ivf.nlist));
  ScoreF32(qp.data(), ivf.centroids.data(), ivf.nlist, stride_, cs.data());
  const int nprobe = std::min(approx_->nprobe, ivf.nlist);
  std::vector<int32_t> order(static_cast<size_t>(ivf.nlist));
  for (int i = 0; i < ivf.nlist; ++i) order[static_cast<size_t>(i)] = i;
  std::partial_sort(order.begin(), order.begin() + nprobe, order.end(),
                    [&](int32_t a, int32_t b) { return cs[static_cast<size_t>(a)] > cs[static_cast<size_t>(b)]; });
  // 2. int8 scan of those lists, keeping `cand` candidates
  std::vector<int16_t> q16;
  float qs = 1.0f;
  QuantizeQueryI16(qn, dim_, stride_, &q16, &qs);
  const bool rerank = options_.precision != VectorPrecision::kInt8 && options_.ivf_rerank >= 0;
  const int cand = rerank ? std::max(k, options_.ivf_rerank > 0 ? options_.ivf_rerank : std::max(4 * k, 32)) : k;
  int64_t scanned = 0;
  for (int p = 0; p < nprobe; ++p) scanned += ivf.lists[static_cast<size_t>(order[static_cast<size_t>(p)])].size();
  std::vector<std::pair<float, int64_t>> merged;
#ifdef _OPENMP
  const int nthreads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads) if (parallel && nprobe > 1 && scanned * stride_ >= kParallelMinElems)
#endif
  {
    TopK top(cand);
    std::vector<float> sc;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (int p = 0; p < nprobe; ++p) {
      const IvfInt8::List& L = ivf.lists[static_cast<size_t>(order[static_cast<size_t>(p)])];
      const int m = L.size();
      if (m == 0) continue;
      sc.resize(static_cast<size_t>(m));
      ScoreI8(q16.data(), qs, L.codes.data(), L.scales.data(), m, stride_, sc.data());
      float th = top.threshold();
      for (int i = 0; i < m; ++i)
        if (sc[static_cast<size_t>(i)] > th) {
          top.Push(sc[static_cast<size_t>(i)], L.ids[static_cast<size_t>(i)]);
          th = top.threshold();
        }
    }
#ifdef _OPENMP
#pragma omp critical
#endif
    merged.insert(merged.end(), top.items().begin(), top.items().end());
  }
  std::sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  if (static_cast<int>(merged.size()) > cand) merged.resize(static_cast<size_t>(cand));
  // 3. exact scores for the candidates (fp32 / fp16 storage)
  out->clear();
  if (rerank) {
    const PreparedQuery pq = st_->Prepare(qn);
    for (const auto& [s, id] : merged) {
      auto it = st_->id_to_pos.find(id);
      if (it != st_->id_to_pos.end()) out->push_back({id, st_->ScoreRow(pq, it->second)});
    }
  } else {
    for (const auto& [s, id] : merged) out->push_back({id, s});
  }
  SortHits(out);
  if (static_cast<int>(out->size()) > k) out->resize(static_cast<size_t>(k));
}

Status SearchIndex::SearchExactSmall(const float* q, int k, std::vector<Hit>* out) const {
  const int64_t n = st_->size();
  const int64_t nblocks = (n + kBlockRows - 1) / kBlockRows;
  const PreparedQuery pq = st_->Prepare(q);
  std::vector<std::pair<float, int64_t>> merged;
#ifdef _OPENMP
  const int nthreads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads) if (nblocks > 1 && n * stride_ >= kParallelMinElems)
#endif
  {
    TopK top(k);
    std::vector<float> scores(kBlockRows);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (int64_t b = 0; b < nblocks; ++b) {
      const int rows = static_cast<int>(std::min<int64_t>(kBlockRows, n - b * kBlockRows));
      st_->ScoreBlock(pq, static_cast<size_t>(b), rows, scores.data());
      top.PushScores(scores.data(), rows, b * kBlockRows);
    }
#ifdef _OPENMP
#pragma omp critical
#endif
    merged.insert(merged.end(), top.items().begin(), top.items().end());
  }
  out->clear();
  for (const auto& [s, pos] : merged) out->push_back({st_->pos_to_id[static_cast<size_t>(pos)], s});
  SortHits(out);
  if (static_cast<int>(out->size()) > k) out->resize(static_cast<size_t>(k));
  return OkStatus();
}

Status SearchIndex::SearchExactBatch(const float* q, int64_t nq, int k, std::vector<std::vector<Hit>>* out) const {
#ifdef FK_HAVE_OPENBLAS
  const int64_t n = st_->size();
  const int64_t nblocks = (n + kBlockRows - 1) / kBlockRows;
  // Queries padded to the row stride.
  std::vector<float> qp(static_cast<size_t>(nq) * stride_, 0.0f);
  for (int64_t i = 0; i < nq; ++i)
    std::memcpy(qp.data() + static_cast<size_t>(i) * stride_, q + static_cast<size_t>(i) * dim_, sizeof(float) * dim_);
  std::vector<TopK> tops(static_cast<size_t>(nq), TopK(k));
  std::vector<float> scores(static_cast<size_t>(nq) * kBlockRows);
  std::vector<float> wide;
  if (options_.precision != VectorPrecision::kFloat32) wide.resize(static_cast<size_t>(kBlockRows) * stride_);
  for (int64_t b = 0; b < nblocks; ++b) {
    const int rows = static_cast<int>(std::min<int64_t>(kBlockRows, n - b * kBlockRows));
    const float* x;
    if (options_.precision == VectorPrecision::kFloat32) {
      x = reinterpret_cast<const float*>(st_->blocks[static_cast<size_t>(b)]->data);
    } else {
      st_->Widen(static_cast<size_t>(b), rows, wide.data());
      x = wide.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nq), rows, stride_, 1.0f, qp.data(),
                stride_, x, stride_, 0.0f, scores.data(), rows);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nq >= 16)
#endif
    for (int64_t i = 0; i < nq; ++i)
      tops[static_cast<size_t>(i)].PushScores(scores.data() + static_cast<size_t>(i) * rows, rows, b * kBlockRows);
  }
  for (int64_t i = 0; i < nq; ++i) {
    auto& o = (*out)[static_cast<size_t>(i)];
    o.clear();
    for (const auto& [s, pos] : tops[static_cast<size_t>(i)].items())
      o.push_back({st_->pos_to_id[static_cast<size_t>(pos)], s});
    SortHits(&o);
  }
  return OkStatus();
#else
  for (int64_t i = 0; i < nq; ++i)
    FK_RETURN_IF_ERROR(SearchExactSmall(q + static_cast<size_t>(i) * dim_, k, &(*out)[static_cast<size_t>(i)]));
  return OkStatus();
#endif
}

}  // namespace fk::gallery
