#include "facekit/tensor.h"

#include <cstdlib>
#include <algorithm>
#include <cstring>

namespace fk {

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kInt32: return 4;
    case DType::kUInt8: return 1;
    case DType::kInt64: return 8;
  }
  return 0;
}

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kInt32: return "int32";
    case DType::kUInt8: return "uint8";
    case DType::kInt64: return "int64";
  }
  return "unknown";
}

int64_t Shape::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims_) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

bool Shape::is_fully_defined() const {
  for (int64_t d : dims_)
    if (d < 0) return false;
  return true;
}

std::string Shape::ToString() const {
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += dims_[i] < 0 ? std::string("?") : std::to_string(dims_[i]);
  }
  return s + "]";
}

Tensor::Tensor(DType dtype, Shape shape) : Tensor(Uninitialized(dtype, std::move(shape))) {
  const size_t bytes = std::max<size_t>((nbytes() + 63) / 64 * 64, 64);
  std::memset(data_.get(), 0, bytes);
}

Tensor Tensor::Uninitialized(DType dtype, Shape shape) {
  FK_ASSERT(shape.is_fully_defined());
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  size_t bytes = static_cast<size_t>(t.shape_.num_elements()) * DTypeSize(dtype);
  size_t alloc = (bytes + 63) / 64 * 64;
  if (alloc == 0) alloc = 64;
  void* p = std::aligned_alloc(64, alloc);
  FK_ASSERT(p != nullptr);
  t.data_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  return t;
}

Tensor Tensor::View(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = std::shared_ptr<void>(data, [](void*) {});
  return t;
}

Result<Tensor> Tensor::Reshaped(Shape shape) const {
  if (shape.num_elements() != shape_.num_elements())
    return InvalidArgument("cannot reshape " + shape_.ToString() + " to " + shape.ToString());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::Clone() const {
  if (empty()) return Tensor();
  Tensor t = Uninitialized(dtype_, shape_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

}  // namespace fk
