// Reference Reshape/Squeeze/ExpandDims/Identity (a plain copy: the output shape comes from
// shape inference), Shape (int32 [rank]) and Cast (float32 -> int truncates toward zero,
// NaN -> 0, out-of-range values saturate).
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/ops/infer_fns.h"
#include "engine/ref/ref_ops.h"

namespace fk::engine::ref {

Status Copy(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  if (in[0].num_elements() != out[0].num_elements() || in[0].dtype() != out[0].dtype())
    return Internal(ops::NodeLabel(node) + ": output " + out[0].shape().ToString() + " does not match input " +
                    in[0].shape().ToString());
  if (in[0].nbytes() > 0) std::memcpy(out[0].raw(), in[0].raw(), in[0].nbytes());
  return OkStatus();
}

Status ShapeOp(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Shape& s = in[0].shape();
  FK_RETURN_IF_ERROR(CheckOutShape(node, out[0], Shape{s.rank()}));
  if (out[0].dtype() != DType::kInt32) return Internal(ops::NodeLabel(node) + ": output must be int32");
  for (int i = 0; i < s.rank(); ++i) out[0].data<int32_t>()[i] = static_cast<int32_t>(s[i]);
  return OkStatus();
}

namespace {

double Load(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32: return t.data<float>()[i];
    case DType::kInt32: return t.data<int32_t>()[i];
    case DType::kUInt8: return t.data<uint8_t>()[i];
    case DType::kInt64: return static_cast<double>(t.data<int64_t>()[i]);
  }
  return 0;
}

template <typename T>
T SaturateInt(double v) {
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

}  // namespace

Status Cast(const ir::Node& node, std::span<const Tensor> in, std::span<Tensor> out) {
  const Tensor& x = in[0];
  Tensor& y = out[0];
  FK_RETURN_IF_ERROR(CheckOutShape(node, y, x.shape()));
  const int64_t n = x.num_elements();
  if (x.dtype() == DType::kInt64 && y.dtype() == DType::kInt64) return Copy(node, in, out);
  for (int64_t i = 0; i < n; ++i) {
    if (x.dtype() == DType::kInt64 && y.dtype() != DType::kFloat32) {  // exact int64 -> int path
      const int64_t v = x.data<int64_t>()[i];
      if (y.dtype() == DType::kInt32) y.data<int32_t>()[i] = SaturateInt<int32_t>(static_cast<double>(v));
      else y.data<uint8_t>()[i] = SaturateInt<uint8_t>(static_cast<double>(v));
      continue;
    }
    const double v = Load(x, i);
    switch (y.dtype()) {
      case DType::kFloat32: y.data<float>()[i] = static_cast<float>(v); break;
      case DType::kInt32: y.data<int32_t>()[i] = SaturateInt<int32_t>(v); break;
      case DType::kUInt8: y.data<uint8_t>()[i] = SaturateInt<uint8_t>(v); break;
      case DType::kInt64: y.data<int64_t>()[i] = SaturateInt<int64_t>(v); break;
    }
  }
  return OkStatus();
}

}  // namespace fk::engine::ref
