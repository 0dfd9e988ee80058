// Copies of many short rows of 4-byte elements (Concat of narrow inputs, Slice of a few
// columns): an element loop with the row length fixed at compile time beats a memcpy per row.
#pragma once

#include <cstdint>

namespace fk::engine::cpu {

template <int N>
inline void CopyRowsN(uint32_t* d, int64_t d_pitch, const uint32_t* s, int64_t s_pitch, int64_t rows, int64_t n) {
  if constexpr (N > 0) n = N;
  for (int64_t o = 0; o < rows; ++o, d += d_pitch, s += s_pitch)
    for (int64_t k = 0; k < n; ++k) d[k] = s[k];
}

// `rows` rows of `n` elements, rows `s_pitch` / `d_pitch` elements apart in source / destination.
inline void CopyRows(uint32_t* d, int64_t d_pitch, const uint32_t* s, int64_t s_pitch, int64_t rows, int64_t n) {
  switch (n) {  // fixed sizes unroll (fr_detect's box decoding: 2 and 4)
    case 1: CopyRowsN<1>(d, d_pitch, s, s_pitch, rows, n); break;
    case 2: CopyRowsN<2>(d, d_pitch, s, s_pitch, rows, n); break;
    case 4: CopyRowsN<4>(d, d_pitch, s, s_pitch, rows, n); break;
    default: CopyRowsN<0>(d, d_pitch, s, s_pitch, rows, n); break;
  }
}

}  // namespace fk::engine::cpu
