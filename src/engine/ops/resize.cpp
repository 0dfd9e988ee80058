// Shape inference: ResizeBilinear / ResizeNearest (x NHWC, size int32 [2]) and
// DepthToSpace (block_size; TF NHWC, DCR order).
#include "engine/ops/infer_fns.h"

namespace fk::ops {

Status InferResize(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  FK_RETURN_IF_ERROR(ExpectRank(node, in[0], "input", 4));
  if (in[0].dtype != DType::kFloat32) return NodeError(node, "input must be float32");
  if (node.attrs.i("align_corners") != 0 && node.attrs.i("half_pixel_centers") != 0)
    return NodeError(node, "align_corners and half_pixel_centers cannot both be set (as in TF)");
  const Shape& x = in[0].shape;
  std::vector<int64_t> sz;
  int64_t h = -1, w = -1;
  if (KnownInts(in, 1, &sz)) {
    if (sz.size() != 2) return NodeError(node, "size must have 2 values [height,width], got " + std::to_string(sz.size()));
    if (sz[0] <= 0 || sz[1] <= 0) return NodeError(node, "size must be positive");
    h = sz[0];
    w = sz[1];
  }
  (*out)[0] = ValueInfo(DType::kFloat32, Shape{x[0], h, w, x[3]});
  return OkStatus();
}

Status InferDepthToSpace(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  FK_RETURN_IF_ERROR(ExpectRank(node, in[0], "input", 4));
  const int64_t b = node.attrs.i("block_size");
  if (b < 2) return NodeError(node, "block_size must be >= 2, got " + std::to_string(b));
  const Shape& x = in[0].shape;
  if (x[3] >= 0 && x[3] % (b * b) != 0)
    return NodeError(node, "channels " + std::to_string(x[3]) + " not divisible by block_size^2 = " +
                               std::to_string(b * b));
  (*out)[0] = ValueInfo(in[0].dtype, Shape{x[0], x[1] < 0 ? -1 : x[1] * b, x[2] < 0 ? -1 : x[2] * b,
                                           x[3] < 0 ? -1 : x[3] / (b * b)});
  return OkStatus();
}

}  // namespace fk::ops
