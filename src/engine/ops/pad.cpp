// Shape inference: Pad (x, paddings int32 [rank,2]); modes CONSTANT, REFLECT, SYMMETRIC.
#include "engine/ops/infer_fns.h"

namespace fk::ops {

Status InferPad(const ir::Node& node, const std::vector<ValueInfo>& in, std::vector<ValueInfo>* out) {
  const Shape& x = in[0].shape;
  const std::string mode = node.attrs.s("mode", "CONSTANT");
  if (mode != "CONSTANT" && mode != "REFLECT" && mode != "SYMMETRIC")
    return NodeError(node, "mode must be CONSTANT, REFLECT or SYMMETRIC, got '" + mode + "'");
  std::vector<int64_t> p;
  if (!KnownInts(in, 1, &p)) {
    (*out)[0] = ValueInfo(in[0].dtype, Shape(std::vector<int64_t>(static_cast<size_t>(x.rank()), -1)));
    return OkStatus();
  }
  if (static_cast<int64_t>(p.size()) != 2 * x.rank())
    return NodeError(node, "paddings must be [rank,2] = [" + std::to_string(x.rank()) + ",2], got " +
                               std::to_string(p.size()) + " values");
  std::vector<int64_t> d(static_cast<size_t>(x.rank()));
  for (int i = 0; i < x.rank(); ++i) {
    const int64_t b = p[2 * static_cast<size_t>(i)], a = p[2 * static_cast<size_t>(i) + 1];
    if (b < 0 || a < 0) return NodeError(node, "paddings must be >= 0");
    if (x[i] >= 0) {
      const int64_t lim = mode == "REFLECT" ? x[i] - 1 : mode == "SYMMETRIC" ? x[i] : INT64_MAX;
      if (b > lim || a > lim)
        return NodeError(node, "paddings " + std::to_string(b) + "," + std::to_string(a) + " of dim " +
                                   std::to_string(i) + " too large for " + mode + " mode (size " +
                                   std::to_string(x[i]) + ")");
    }
    d[static_cast<size_t>(i)] = x[i] < 0 ? -1 : x[i] + b + a;
  }
  (*out)[0] = ValueInfo(in[0].dtype, Shape(d));
  return OkStatus();
}

}  // namespace fk::ops
