// Shape and dtype inference for every IR op (one function per op or small family in
// engine/ops/<op>.cpp, dispatched through one table in ops/shape_inference.cpp). Used by
// importers (with -1 for unknown dims), by the optimizer, and by the executor at plan
// time with concrete input shapes.
#pragma once

#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace fk::ops {

struct ValueInfo {
  DType dtype = DType::kFloat32;
  Shape shape;                      // may contain -1
  const Tensor* data = nullptr;     // known contents (constants, or int32 shape values
                                    // evaluated at plan time); nullptr if unknown

  // Contents computed by InferShapes (small outputs whose inputs all have known data,
  // e.g. Shape -> StridedSlice -> Pack chains, and Shape of a fully known shape). When set,
  // `data` points at `computed`; copies and moves keep that pointer consistent, so a
  // ValueInfo may be copied freely. `computed` shares storage like every Tensor.
  Tensor computed;
  void SetComputed(Tensor t) {
    computed = std::move(t);
    data = &computed;
  }

  ValueInfo() = default;
  ValueInfo(DType dt, Shape s, const Tensor* d = nullptr) : dtype(dt), shape(std::move(s)), data(d) {}
  ValueInfo(const ValueInfo& o) : dtype(o.dtype), shape(o.shape), data(o.data), computed(o.computed) {
    if (o.data == &o.computed) data = &computed;
  }
  ValueInfo(ValueInfo&& o) noexcept
      : dtype(o.dtype), shape(std::move(o.shape)), data(o.data), computed(std::move(o.computed)) {
    if (o.data == &o.computed) data = &computed;
  }
  ValueInfo& operator=(const ValueInfo& o) {
    if (this == &o) return *this;
    dtype = o.dtype;
    shape = o.shape;
    computed = o.computed;
    data = (o.data == &o.computed) ? &computed : o.data;
    return *this;
  }
  ValueInfo& operator=(ValueInfo&& o) noexcept {
    if (this == &o) return *this;
    dtype = o.dtype;
    shape = std::move(o.shape);
    const bool self = (o.data == &o.computed);
    computed = std::move(o.computed);
    data = self ? &computed : o.data;
    return *this;
  }
};

// Infers dtype and shape of each output of `node`. `outputs` is resized to the node's
// output count. Returns InvalidArgument naming the node on inconsistent inputs
// (e.g. "node 'conv1' (Conv2D): input channels 3 != filter input channels 4").
// Unknown dims (-1) propagate. When every input has known `data` and the output is small
// (<= kMaxFoldElements elements), the output's contents are computed too (with the
// reference kernels) and stored in outputs[i].computed / data; the Shape op's output is
// known whenever its input shape is fully defined. Where data is needed but unknown
// (e.g. Reshape with an unknown shape input) the affected dims are -1, not an error.
Status InferShapes(const ir::Node& node, const std::vector<ValueInfo>& inputs,
                   std::vector<ValueInfo>* outputs);

constexpr int64_t kMaxFoldElements = 4096;

// SAME/VALID/EXPLICIT padding for one spatial dim, TF semantics (SAME puts the extra
// pixel at the end). Returns the output size (-1 if `in` is unknown); writes
// pad_before/pad_after (either may be null).
int64_t ConvOutputSize(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                       const std::string& padding, int64_t explicit_before, int64_t explicit_after,
                       int64_t* pad_before, int64_t* pad_after);

}  // namespace fk::ops
