// Storage type of the float tensors a CUDA kernel reads and writes (host-only header).
// kF16 = IEEE half storage with fp32 arithmetic inside every kernel (precision "fp16",
// docs/cuda.md "Precision"); kF32 = float storage. Graph-level dtypes stay DType::kFloat32:
// the storage is a property of the planned CUDA kernel and of DeviceTensor::half.
#pragma once
#include <cstddef>

namespace fk::engine::cuda {

enum class Elem : int { kF32, kF16 };

constexpr size_t ElemSize(Elem e) { return e == Elem::kF16 ? 2 : 4; }
constexpr const char* ElemName(Elem e) { return e == Elem::kF16 ? "fp16" : "fp32"; }

}  // namespace fk::engine::cuda
