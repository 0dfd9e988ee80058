// Reading and writing NumPy .npy files (version 1.0/2.0, little-endian,
// C order; float32, int32, uint8, int64 (read as-is), float64 (converted to float32 on read)).
#pragma once

#include <string>

#include "facekit/tensor.h"

namespace fk {

Result<Tensor> LoadNpy(const std::string& path);
Status SaveNpy(const std::string& path, const Tensor& t);

}  // namespace fk
