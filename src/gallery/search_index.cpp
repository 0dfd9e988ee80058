// In-memory search index: see search_index.h.
#include "gallery/search_index.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <queue>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FK_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef FK_HAVE_FAISS
#include <faiss/IndexFlat.h>
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
      float m = 0.0f;
      for (int j = 0; j < dim; ++j) m = std::max(m, std::fabs(v[j]));
      const float s = m > 0 ? m / 127.0f : 1.0f;
      auto* q = reinterpret_cast<int8_t*>(row);
      for (int j = 0; j < dim; ++j)
        q[j] = static_cast<int8_t>(std::clamp(std::lround(v[j] / s), -127L, 127L));
      Scale(pos) = s;
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
      float m = 0.0f;
      for (int j = 0; j < dim; ++j) m = std::max(m, std::fabs(qn[j]));
      p.scale = m > 0 ? m / kInt8QueryMax : 1.0f;
      p.i16.assign(static_cast<size_t>(stride), 0);
      for (int j = 0; j < dim; ++j)
        p.i16[j] = static_cast<int16_t>(std::clamp(std::lround(qn[j] / p.scale), -32767L, 32767L));
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

#ifdef FK_HAVE_FAISS
struct SearchIndex::Approx {
  std::unique_ptr<faiss::IndexFlatIP> quantizer;
  std::unique_ptr<faiss::IndexIVFFlat> ivf;
  int64_t trained_at = 0;
};
#else
struct SearchIndex::Approx {
  int64_t trained_at = 0;
};
#endif

// ---------------------------------------------------------------- index ----

SearchIndex::SearchIndex(int dim, const IndexOptions& options)
    : dim_(dim), stride_((dim + 31) / 32 * 32), options_(options), st_(std::make_unique<Storage>()) {
  st_->precision = options.precision;
  st_->dim = dim;
  st_->stride = stride_;
  st_->row_bytes = static_cast<size_t>(stride_) * ElemBytes(options.precision);
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
#ifdef FK_HAVE_FAISS
  if (approx_) b += static_cast<size_t>(approx_->ivf->ntotal) * (dim_ * sizeof(float) + sizeof(int64_t)) +
                    approx_->ivf->nlist * dim_ * sizeof(float);
#endif
  return b;
}

void SearchIndex::Clear() {
  std::unique_lock lock(mu_);
  st_->blocks.clear();
  st_->pos_to_id.clear();
  st_->id_to_pos.clear();
  approx_.reset();
}

Status SearchIndex::Add(const int64_t* ids, const float* vectors, int64_t n) {
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
#ifdef FK_HAVE_FAISS
  if (approx_) {
    approx_->ivf->add_with_ids(n, norm.data(), ids);
    if (st_->size() > 4 * approx_->trained_at) FK_RETURN_IF_ERROR(BuildApproxLocked());
  } else if (options_.mode != SearchMode::kExact && st_->size() >= options_.approx_threshold) {
    FK_RETURN_IF_ERROR(BuildApproxLocked());
  }
#endif
  return OkStatus();
}

Status SearchIndex::Remove(int64_t id) {
  std::unique_lock lock(mu_);
  auto it = st_->id_to_pos.find(id);
  if (it == st_->id_to_pos.end()) return NotFound("template id " + std::to_string(id) + " is not in the search index");
  const int64_t pos = it->second, last = st_->size() - 1;
  st_->id_to_pos.erase(it);
  if (pos != last) {
    st_->Move(last, pos);
    st_->pos_to_id[static_cast<size_t>(pos)] = st_->pos_to_id[static_cast<size_t>(last)];
    st_->id_to_pos[st_->pos_to_id[static_cast<size_t>(pos)]] = pos;
  }
  st_->pos_to_id.pop_back();
  if ((last % kBlockRows) == 0) st_->blocks.pop_back();  // the last block became empty
#ifdef FK_HAVE_FAISS
  if (approx_) {
    faiss::IDSelectorBatch sel(1, &id);
    approx_->ivf->remove_ids(sel);
  }
#endif
  return OkStatus();
}

Status SearchIndex::BuildApprox() {
  std::unique_lock lock(mu_);
  return BuildApproxLocked();
}

Status SearchIndex::BuildApproxLocked() {
#ifdef FK_HAVE_FAISS
  const int64_t n = st_->size();
  if (n == 0) {
    approx_.reset();
    return OkStatus();
  }
  int nlist = options_.ivf_nlist > 0 ? options_.ivf_nlist
                                     : static_cast<int>(std::clamp<double>(std::sqrt(static_cast<double>(n)), 1, 65536));
  nlist = static_cast<int>(std::min<int64_t>(nlist, std::max<int64_t>(1, n / 8)));
  std::vector<float> all(static_cast<size_t>(n) * dim_);
  for (int64_t p = 0; p < n; ++p) st_->Read(p, all.data() + static_cast<size_t>(p) * dim_);
  auto a = std::make_unique<Approx>();
  a->quantizer = std::make_unique<faiss::IndexFlatIP>(dim_);
  a->ivf = std::make_unique<faiss::IndexIVFFlat>(a->quantizer.get(), dim_, nlist, faiss::METRIC_INNER_PRODUCT);
  a->ivf->cp.niter = 10;
  a->ivf->cp.max_points_per_centroid = 64;  // train on at most 64 * nlist points
  a->ivf->cp.verbose = false;
  // A strided sample for training (deterministic).
  const int64_t nt = std::min<int64_t>(n, static_cast<int64_t>(nlist) * 64);
  std::vector<float> train(static_cast<size_t>(nt) * dim_);
  for (int64_t i = 0; i < nt; ++i) {
    const int64_t p = i * n / nt;
    std::memcpy(train.data() + static_cast<size_t>(i) * dim_, all.data() + static_cast<size_t>(p) * dim_,
                sizeof(float) * dim_);
  }
  try {
    a->ivf->train(nt, train.data());
    a->ivf->add_with_ids(n, all.data(), st_->pos_to_id.data());
  } catch (const std::exception& e) {
    return Internal(std::string("building the FAISS IVF index failed: ") + e.what());
  }
  a->trained_at = n;
  approx_ = std::move(a);
  return OkStatus();
#else
  return Unsupported("approximate search needs FAISS; this facekit was built without it (install libfaiss-dev)");
#endif
}

Status SearchIndex::Search(const float* queries, int64_t nq, int k, std::vector<std::vector<Hit>>* out,
                           bool exact_only) const {
  if (k <= 0) return InvalidArgument("top-k must be >= 1, got " + std::to_string(k));
  if (nq < 0) return InvalidArgument("negative query count");
  std::vector<float> qn(queries, queries + static_cast<size_t>(nq) * dim_);
  for (int64_t i = 0; i < nq; ++i)
    if (!NormalizeL2(qn.data() + static_cast<size_t>(i) * dim_, dim_))
      return InvalidArgument("probe " + std::to_string(i) + " is a zero or non-finite vector");
  out->assign(static_cast<size_t>(nq), {});
  std::shared_lock lock(mu_);
  if (st_->size() == 0 || nq == 0) return OkStatus();
#ifdef FK_HAVE_FAISS
  if (approx_ && !exact_only) {
    const int kk = static_cast<int>(std::min<int64_t>(k, st_->size()));
    std::vector<float> d(static_cast<size_t>(nq) * kk);
    std::vector<faiss::Index::idx_t> l(static_cast<size_t>(nq) * kk);
    faiss::SearchParametersIVF params;
    params.nprobe = static_cast<size_t>(std::max(1, options_.ivf_nprobe));
    try {
      approx_->ivf->search(nq, qn.data(), kk, d.data(), l.data(), &params);
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
#endif
  if (nq < 4) {
    for (int64_t i = 0; i < nq; ++i)
      FK_RETURN_IF_ERROR(SearchExactSmall(qn.data() + static_cast<size_t>(i) * dim_, k, &(*out)[static_cast<size_t>(i)]));
    return OkStatus();
  }
  return SearchExactBatch(qn.data(), nq, k, out);
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
