// facekit — dense tensors.
//
// Layout: row-major, innermost dimension last. Images and feature maps are
// NHWC at every model boundary (docs/conventions.md).
//
// A Tensor is a cheap handle: copies share storage (like a shared_ptr). Use
// Clone() for a deep copy. A tensor may also view memory it does not own
// (Tensor::View) — the caller keeps that memory alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "facekit/status.h"

namespace fk {

enum class DType : uint8_t { kFloat32 = 0, kInt32 = 1, kUInt8 = 2, kInt64 = 3 };

size_t DTypeSize(DType t);
const char* DTypeName(DType t);

// Dimensions; -1 marks an unknown (dynamic) dimension in graph shapes.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return dims_[static_cast<size_t>(i)]; }
  // Number of elements; -1 if any dimension is unknown.
  int64_t num_elements() const;
  bool is_fully_defined() const;
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>& dims() { return dims_; }
  std::string ToString() const;  // "[1,112,112,3]" ("?" for unknown)
  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }

 private:
  std::vector<int64_t> dims_;
};

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-initialised storage (64-byte aligned).
  Tensor(DType dtype, Shape shape);
  // Views external memory; does not take ownership.
  static Tensor View(DType dtype, Shape shape, void* data);
  // Allocates storage (64-byte aligned) whose contents are unspecified: for code that
  // writes every element before reading any (copies, arenas).
  static Tensor Uninitialized(DType dtype, Shape shape);

  bool empty() const { return !data_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t num_elements() const { return shape_.num_elements(); }
  size_t nbytes() const { return static_cast<size_t>(num_elements()) * DTypeSize(dtype_); }

  void* raw() { return data_.get(); }
  const void* raw() const { return data_.get(); }
  template <typename T> T* data() { return static_cast<T*>(raw()); }
  template <typename T> const T* data() const { return static_cast<const T*>(raw()); }

  // Same storage, new shape with the same element count.
  Result<Tensor> Reshaped(Shape shape) const;
  Tensor Clone() const;

 private:
  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::shared_ptr<void> data_;
};

}  // namespace fk
