// Kernels of the GPU exact search: see search_topk.cuh.
#include <cuda_fp16.h>
#include <math_constants.h>

#include "engine/cuda/cuda_common.h"
#include "engine/cuda/search_topk.cuh"

namespace fk::engine::cuda {

namespace {

constexpr int kTopThreads = 256;
constexpr int kItemsPerThread = 4;                   // items a thread reads per pass
constexpr int kPass = kTopThreads * kItemsPerThread;  // items per pass
constexpr int kSortCap = 2048;                       // shared entries: current top + buffer

// "a comes before b": higher score first, then lower row (rows compared unsigned, so the
// -1 of an empty entry sorts last).
__device__ __forceinline__ bool Before(float as, int ap, float bs, int bp) {
  return as > bs || (as == bs && static_cast<unsigned>(ap) < static_cast<unsigned>(bp));
}

// Sorts [0, n) of (ss, sp) in Before order; n is a power of two <= kSortCap. Called by all
// threads of the block; ends with __syncthreads.
__device__ void BitonicSort(float* ss, int* sp, int n) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < (n >> 1); t += blockDim.x) {
        const int i = 2 * t - (t & (stride - 1));
        const int j = i + stride;
        const float a = ss[i], b = ss[j];
        const int ap = sp[i], bp = sp[j];
        const bool forward = (i & size) == 0;
        const bool swap = forward ? Before(b, bp, a, ap) : Before(a, ap, b, bp);
        if (swap) {
          ss[i] = b;
          ss[j] = a;
          sp[i] = bp;
          sp[j] = ap;
        }
      }
      __syncthreads();
    }
  }
}

// Merges the c buffered entries [kp, kp + c) into the top [0, kp): sorts the smallest power of
// two that holds both (padding with empty entries), then sets the threshold to the k-th best.
// All threads call it with the same c, after a __syncthreads.
__device__ void Flush(float* ss, int* sp, int kp, int k, int c, int* cnt, float* thr) {
  int n = kp;
  while (n < kp + c) n <<= 1;
  for (int i = kp + c + threadIdx.x; i < n; i += blockDim.x) {
    ss[i] = -CUDART_INF_F;
    sp[i] = -1;
  }
  __syncthreads();
  BitonicSort(ss, sp, n);
  if (threadIdx.x == 0) {
    *cnt = 0;
    *thr = sp[k - 1] >= 0 ? ss[k - 1] : -CUDART_INF_F;
  }
  __syncthreads();
}

// kPairs = false: items are scores[q*in_ld + i] with row pos_base + i (stage 1).
// kPairs = true: items are (scores, pos_in)[q*in_ld + first + i] (stage 2).
template <bool kPairs>
__global__ void __launch_bounds__(kTopThreads)
    TopKKernel(const float* scores, const int* pos_in, long long in_ld, long long first, long long n, int seg_len,
               int k, int kp, int pos_base, float* out_s, int* out_p, long long out_ld, long long out_slot0) {
  __shared__ float ss[kSortCap];
  __shared__ int sp[kSortCap];
  __shared__ int cnt;
  __shared__ float thr;
  const long long q = blockIdx.y;
  const long long seg = blockIdx.x;
  const long long b = seg * seg_len;
  const long long e = min(n, b + static_cast<long long>(seg_len));
  const float* S = scores + q * in_ld + first;
  const int* P = kPairs ? pos_in + q * in_ld + first : nullptr;
  for (int i = threadIdx.x; i < kp; i += blockDim.x) {
    ss[i] = -CUDART_INF_F;
    sp[i] = -1;
  }
  if (threadIdx.x == 0) {
    cnt = 0;
    thr = -CUDART_INF_F;
  }
  __syncthreads();
  const int cap = kSortCap - kp;  // >= kPass because kp <= kSearchMaxK
  for (long long base = b; base < e; base += kPass) {
    const float t = thr;
#pragma unroll
    for (int u = 0; u < kItemsPerThread; ++u) {
      const long long i = base + u * kTopThreads + threadIdx.x;  // coalesced per u
      if (i < e) {
        const float s = S[i];
        if (s > t) {  // NaN never passes
          const int slot = atomicAdd(&cnt, 1);
          ss[kp + slot] = s;
          sp[kp + slot] = kPairs ? P[i] : pos_base + static_cast<int>(i);
        }
      }
    }
    __syncthreads();
    const int c = cnt;
    __syncthreads();  // every thread has read cnt before Flush may reset it
    if (c > cap - kPass) Flush(ss, sp, kp, k, c, &cnt, &thr);  // uniform branch
  }
  const int c = cnt;
  __syncthreads();
  if (c > 0) Flush(ss, sp, kp, k, c, &cnt, &thr);
  float* os = out_s + q * out_ld + (out_slot0 + seg) * k;
  int* op = out_p + q * out_ld + (out_slot0 + seg) * k;
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    os[j] = ss[j];
    op[j] = sp[j];
  }
}

template <typename T>
__global__ void ConvertRowsKernel(const float* src, long long n, int dim, T* dst, int stride) {
  const long long total = n * dim;
  for (long long idx = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = idx / dim;
    const int c = static_cast<int>(idx - r * dim);
    if constexpr (sizeof(T) == 2) {
      dst[r * stride + c] = __float2half_rn(src[idx]);
    } else {
      dst[r * stride + c] = src[idx];
    }
  }
}

int PaddedK(int k) {
  int kp = 16;
  while (kp < k) kp <<= 1;
  return kp;
}

Status CheckK(int k) {
  if (k < 1 || k > kSearchMaxK)
    return InvalidArgument("GPU top-k supports 1 <= k <= " + std::to_string(kSearchMaxK) + ", got " +
                           std::to_string(k));
  return OkStatus();
}

}  // namespace

Status LaunchSearchConvertRows(const float* src, int64_t n, int dim, void* dst, int stride, bool half, void* stream) {
  if (n <= 0 || dim <= 0) return OkStatus();
  if (stride < dim) return InvalidArgument("LaunchSearchConvertRows: stride < dim");
  auto s = static_cast<cudaStream_t>(stream);
  const unsigned blocks = BlocksFor(static_cast<long long>(n) * dim);
  if (half)
    ConvertRowsKernel<__half><<<blocks, kThreads, 0, s>>>(src, n, dim, static_cast<__half*>(dst), stride);
  else
    ConvertRowsKernel<float><<<blocks, kThreads, 0, s>>>(src, n, dim, static_cast<float*>(dst), stride);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

Status LaunchSearchTopKScores(const float* scores, int64_t nq, int64_t n, int64_t ld, int seg_len, int k,
                              int32_t pos_base, float* out_score, int32_t* out_pos, int64_t out_ld,
                              int64_t out_slot0, void* stream) {
  FK_RETURN_IF_ERROR(CheckK(k));
  if (nq <= 0 || n <= 0) return OkStatus();
  if (nq > 65535) return InvalidArgument("LaunchSearchTopKScores: at most 65535 queries per launch");
  if (seg_len <= 0) return InvalidArgument("LaunchSearchTopKScores: seg_len must be > 0");
  const long long nseg = (n + seg_len - 1) / seg_len;
  if (nseg > 0x7fffffffLL) return InvalidArgument("LaunchSearchTopKScores: too many segments");
  dim3 grid(static_cast<unsigned>(nseg), static_cast<unsigned>(nq));
  TopKKernel<false><<<grid, kTopThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      scores, nullptr, ld, 0, n, seg_len, k, PaddedK(k), pos_base, out_score, out_pos, out_ld, out_slot0);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

Status LaunchSearchTopKPairs(float* score, int32_t* pos, int64_t nq, int64_t ld, int64_t first, int64_t count, int k,
                             void* stream) {
  FK_RETURN_IF_ERROR(CheckK(k));
  if (nq <= 0) return OkStatus();
  if (nq > 65535) return InvalidArgument("LaunchSearchTopKPairs: at most 65535 queries per launch");
  if (count <= 0 || count > 0x7fffffffLL) return InvalidArgument("LaunchSearchTopKPairs: bad item count");
  dim3 grid(1, static_cast<unsigned>(nq));
  TopKKernel<true><<<grid, kTopThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      score, pos, ld, first, count, static_cast<int>(count), k, PaddedK(k), 0, score, pos, ld, 0);
  FK_CUDA_LAUNCH_CHECK();
  return OkStatus();
}

}  // namespace fk::engine::cuda
