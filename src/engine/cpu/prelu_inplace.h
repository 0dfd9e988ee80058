// In-place PReLU over channel-last data, used after a conv / matmul whose prelu post-op
// oneDNN 2.6 cannot fuse. Private to src/engine/cpu/.
#pragma once

#include <cstdint>

namespace fk::engine::cpu {

// y[r * channels + c] = y < 0 ? alpha[c] * y : y for r < rows (alpha[0] for every c when
// `scalar_alpha`). Bitwise identical to the ref backend's prelu (one rounding, a * y).
// AVX-512 when the CPU has it (checked once), otherwise a plain loop the compiler
// vectorises. Splits rows over `num_threads` OpenMP threads for large tensors.
//
// Why not oneDNN's prelu_forward: in 2.6 its jit_uni implementation over nhwc with
// per-channel alpha runs at ~1.5 cycles/element on Zen 5 (measured 18 us for a
// 56x56x32 tensor, 12% of mobileface); this loop is a few times faster (docs/engine-cpu.md).
void PreluChannelLastInPlace(float* y, int64_t rows, int64_t channels, const float* alpha,
                             bool scalar_alpha, int num_threads);

}  // namespace fk::engine::cpu
