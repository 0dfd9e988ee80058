// Helpers shared by shape inference and the reference kernels (see op_util.h).
#include "engine/ops/op_util.h"

#include <algorithm>

#include "engine/ops/infer_fns.h"
#include "engine/ops/shape_inference.h"

namespace fk::ops {

std::string NodeLabel(const ir::Node& node) {
  return "node '" + node.name + "' (" + ir::OpTypeName(node.op) + ")";
}

Status NodeError(const ir::Node& node, const std::string& msg) {
  return InvalidArgument(NodeLabel(node) + ": " + msg);
}

std::vector<int64_t> TensorToInts(const Tensor& t) {
  std::vector<int64_t> v;
  if (t.empty()) return v;
  const int64_t n = t.num_elements();
  v.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DType::kInt32: v.push_back(t.data<int32_t>()[i]); break;
      case DType::kInt64: v.push_back(t.data<int64_t>()[i]); break;
      case DType::kUInt8: v.push_back(t.data<uint8_t>()[i]); break;
      case DType::kFloat32: v.push_back(static_cast<int64_t>(t.data<float>()[i])); break;
    }
  }
  return v;
}

bool BroadcastShapes(const Shape& a, const Shape& b, Shape* out) {
  const int r = std::max(a.rank(), b.rank());
  std::vector<int64_t> d(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    int64_t o;
    if (da == 1) {
      o = db;
    } else if (db == 1) {
      o = da;
    } else if (da == db) {
      o = da;
    } else if (da < 0) {
      o = db;  // unknown vs n: must be n (or 1) at run time
    } else if (db < 0) {
      o = da;
    } else {
      return false;
    }
    d[static_cast<size_t>(i)] = o;
  }
  *out = Shape(std::move(d));
  return true;
}

int64_t NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return -1;
  return axis;
}

int64_t ConvOutputSize(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                       const std::string& padding, int64_t explicit_before, int64_t explicit_after,
                       int64_t* pad_before, int64_t* pad_after) {
  const int64_t ek = (k - 1) * dilation + 1;  // effective (dilated) kernel size
  int64_t pb = 0, pa = 0, out = -1;
  if (padding == "SAME") {
    if (in >= 0) {
      out = (in + stride - 1) / stride;
      const int64_t total = std::max<int64_t>((out - 1) * stride + ek - in, 0);
      pb = total / 2;
      pa = total - pb;
    }
  } else if (padding == "EXPLICIT") {
    pb = explicit_before;
    pa = explicit_after;
    if (in >= 0) out = std::max<int64_t>((in + pb + pa - ek) / stride + 1, 0);
    if (in >= 0 && in + pb + pa < ek) out = 0;
  } else {  // VALID
    if (in >= 0) out = in < ek ? 0 : (in - ek) / stride + 1;
  }
  if (pad_before) *pad_before = pb;
  if (pad_after) *pad_after = pa;
  return out;
}

Status ReadWindow(const ir::Node& node, bool pool, Window* w) {
  auto pair = [&](const char* name, int64_t* a, int64_t* b) -> Status {
    auto v = node.attrs.ints(name);
    if (v.empty()) return OkStatus();
    if (v.size() == 1) {
      *a = *b = v[0];
    } else if (v.size() == 2) {
      *a = v[0];
      *b = v[1];
    } else if (v.size() == 4) {  // NHWC form
      *a = v[1];
      *b = v[2];
    } else {
      return NodeError(node, std::string("attribute '") + name + "' must have 2 (or 4) values, got " +
                                 std::to_string(v.size()));
    }
    if (*a <= 0 || *b <= 0)
      return NodeError(node, std::string("attribute '") + name + "' must be positive");
    return OkStatus();
  };
  if (pool) FK_RETURN_IF_ERROR(pair("ksize", &w->kh, &w->kw));
  FK_RETURN_IF_ERROR(pair("strides", &w->sh, &w->sw));
  if (!pool) FK_RETURN_IF_ERROR(pair("dilations", &w->dh, &w->dw));
  w->padding = node.attrs.s("padding", "VALID");
  if (w->padding != "SAME" && w->padding != "VALID" && w->padding != "EXPLICIT")
    return NodeError(node, "padding must be SAME, VALID or EXPLICIT, got '" + w->padding + "'");
  if (w->padding == "EXPLICIT") {
    auto p = node.attrs.ints("explicit_pads");
    if (p.size() == 4) {
      w->ex_top = p[0], w->ex_bottom = p[1], w->ex_left = p[2], w->ex_right = p[3];
    } else if (p.size() == 8) {  // NHWC [[0,0],[t,b],[l,r],[0,0]]
      w->ex_top = p[2], w->ex_bottom = p[3], w->ex_left = p[4], w->ex_right = p[5];
    } else {
      return NodeError(node, "padding EXPLICIT needs explicit_pads [top,bottom,left,right], got " +
                                 std::to_string(p.size()) + " values");
    }
    if (w->ex_top < 0 || w->ex_bottom < 0 || w->ex_left < 0 || w->ex_right < 0)
      return NodeError(node, "explicit_pads must be >= 0");
  }
  return OkStatus();
}

Status ReadConvWindow(const ir::Node& node, const Shape& filter, Window* w) {
  if (filter.rank() < 2) return NodeError(node, "filter must have a spatial size, got " + filter.ToString());
  FK_RETURN_IF_ERROR(ReadWindow(node, /*pool=*/false, w));
  w->kh = filter[0];
  w->kw = filter[1];
  return OkStatus();
}

WindowOut ComputeWindow(const Window& w, int64_t in_h, int64_t in_w) {
  WindowOut o;
  o.oh = ConvOutputSize(in_h, w.kh, w.sh, w.dh, w.padding, w.ex_top, w.ex_bottom, &o.pad_top,
                        &o.pad_bottom);
  o.ow = ConvOutputSize(in_w, w.kw, w.sw, w.dw, w.padding, w.ex_left, w.ex_right, &o.pad_left,
                        &o.pad_right);
  return o;
}

Status ReduceMask(const ir::Node& node, int64_t rank, const std::vector<int64_t>& axes,
                  std::vector<bool>* mask) {
  mask->assign(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    const int64_t n = NormalizeAxis(a, rank);
    if (n < 0)
      return NodeError(node, "reduction axis " + std::to_string(a) + " out of range for rank " +
                                 std::to_string(rank));
    (*mask)[static_cast<size_t>(n)] = true;
  }
  return OkStatus();
}

std::vector<int64_t> RowStrides(const Shape& s) {
  std::vector<int64_t> st(static_cast<size_t>(s.rank()), 1);
  for (int i = s.rank() - 2; i >= 0; --i) st[static_cast<size_t>(i)] = st[static_cast<size_t>(i) + 1] * s[i + 1];
  return st;
}

// TF's StridedSlice (tensorflow/core/util/strided_slice_op.cc): build the sparse spec,
// expand the ellipsis (an implicit one is appended when absent) into a dense spec over
// the input dims, canonicalise begin/end per dim, then gather the final shape.
Status ResolveSlice(const ir::Node& node, const Shape& x, const std::vector<int64_t>& b,
                    std::vector<int64_t>* size) {
  std::vector<int64_t>& sz = *size;
  if (static_cast<int>(b.size()) != x.rank() || static_cast<int>(sz.size()) != x.rank())
    return NodeError(node, "begin and size must have one value per input dim");
  for (int i = 0; i < x.rank(); ++i) {
    const size_t u = static_cast<size_t>(i);
    if (sz[u] == -1) sz[u] = x[i] - b[u];
    if (b[u] < 0 || sz[u] < 0 || b[u] + sz[u] > x[i])
      return NodeError(node, "slice [" + std::to_string(b[u]) + ", +" + std::to_string(sz[u]) +
                                 ") out of range for dim " + std::to_string(i) + " of " + x.ToString());
  }
  return OkStatus();
}

Status ComputeStridedSlice(const ir::Node& node, const Shape& in, int64_t sparse_dims,
                           const std::vector<int64_t>* begin, const std::vector<int64_t>* end,
                           const std::vector<int64_t>* strides, StridedSliceSpec* spec) {
  const int64_t begin_mask = node.attrs.i("begin_mask"), end_mask = node.attrs.i("end_mask");
  int64_t ellipsis_mask = node.attrs.i("ellipsis_mask");
  const int64_t new_axis_mask = node.attrs.i("new_axis_mask");
  const int64_t shrink_mask = node.attrs.i("shrink_axis_mask");
  const bool known = begin && end && strides;
  if (known && (static_cast<int64_t>(begin->size()) != sparse_dims ||
                static_cast<int64_t>(end->size()) != sparse_dims ||
                static_cast<int64_t>(strides->size()) != sparse_dims))
    return NodeError(node, "begin, end and strides must have the same length");
  // Ellipsis bookkeeping.
  int num_ellipsis = 0;
  for (int64_t i = 0; i < sparse_dims; ++i)
    if (ellipsis_mask & (int64_t{1} << i)) ++num_ellipsis;
  if (num_ellipsis > 1) return NodeError(node, "multiple ellipses in the slice spec are not allowed");
  int64_t num_add_axis_after_ellipsis = 0;
  bool ellipsis_seen = false;
  for (int64_t i = 0; i < sparse_dims; ++i) {
    if (ellipsis_seen && (new_axis_mask & (int64_t{1} << i))) ++num_add_axis_after_ellipsis;
    if (ellipsis_mask & (int64_t{1} << i)) ellipsis_seen = true;
  }
  int64_t sdims = sparse_dims;
  if (!ellipsis_seen) {
    ellipsis_mask |= (int64_t{1} << sdims);
    ++sdims;
  }
  const int64_t rank = in.rank();
  constexpr int64_t kNewAxis = -1, kShrinkAxis = -2;
  std::vector<int64_t> dbegin(static_cast<size_t>(rank), 0), dend(static_cast<size_t>(rank), 0),
      dstride(static_cast<size_t>(rank), 1);
  int64_t dbegin_mask = 0, dend_mask = 0, dshrink = 0;
  std::vector<int64_t> gather;
  std::vector<bool> from_ellipsis(static_cast<size_t>(rank), false);
  int64_t full = 0;
  for (int64_t i = 0; i < sdims; ++i) {
    const int64_t bit = int64_t{1} << i;
    if (ellipsis_mask & bit) {
      const int64_t next = std::min(rank - (sdims - i) + 1 + num_add_axis_after_ellipsis, rank);
      for (; full < next; ++full) {
        dbegin[static_cast<size_t>(full)] = dend[static_cast<size_t>(full)] = 0;
        dstride[static_cast<size_t>(full)] = 1;
        dbegin_mask |= int64_t{1} << full;
        dend_mask |= int64_t{1} << full;
        from_ellipsis[static_cast<size_t>(full)] = true;
        gather.push_back(full);
      }
    } else if (new_axis_mask & bit) {
      gather.push_back(kNewAxis);
    } else {
      if (full >= rank)
        return NodeError(node, "slice index " + std::to_string(i) + " out of range for input rank " +
                                   std::to_string(rank));
      if (known) {
        dbegin[static_cast<size_t>(full)] = (*begin)[static_cast<size_t>(i)];
        dend[static_cast<size_t>(full)] = (*end)[static_cast<size_t>(i)];
        dstride[static_cast<size_t>(full)] = (*strides)[static_cast<size_t>(i)];
      }
      if (begin_mask & bit) dbegin_mask |= int64_t{1} << full;
      if (end_mask & bit) dend_mask |= int64_t{1} << full;
      if (shrink_mask & bit) {
        gather.push_back(kShrinkAxis);
        dshrink |= int64_t{1} << full;
      } else {
        gather.push_back(full);
      }
      ++full;
    }
  }
  spec->begin.assign(static_cast<size_t>(rank), 0);
  spec->stride.assign(static_cast<size_t>(rank), 1);
  spec->size.assign(static_cast<size_t>(rank), -1);
  for (int64_t i = 0; i < rank; ++i) {
    const size_t u = static_cast<size_t>(i);
    const int64_t bit = int64_t{1} << i;
    const bool shrink = dshrink & bit;
    const bool bm = dbegin_mask & bit, em = dend_mask & bit;
    const int64_t dim = in[static_cast<int>(i)];
    int64_t b = dbegin[u], e = dend[u];
    const int64_t s = dstride[u];
    if (known && s == 0) return NodeError(node, "strides[" + std::to_string(i) + "] must be non-zero");
    if (known && shrink && s <= 0)
      return NodeError(node, "only stride 1 is allowed on a shrunk (indexed) dimension");
    spec->stride[u] = s;
    if (dim < 0) {  // unknown dim: only shrink is resolvable
      spec->size[u] = shrink ? 1 : -1;
      continue;
    }
    if (!known) {
      if (shrink) {
        spec->size[u] = 1;
      } else if (from_ellipsis[u]) {
        spec->size[u] = dim;  // ellipsis dims are taken whole
      }
      continue;
    }
    const int64_t lo = s > 0 ? 0 : -1, hi = s > 0 ? dim : dim - 1;
    auto canonical = [&](int64_t x, int c) -> int64_t {
      const bool masked = c == 0 ? bm : em;
      if (masked) {
        // begin mask -> start of the range in the stride direction, end mask -> its end.
        if (s > 0) return c == 0 ? lo : hi;
        return c == 0 ? hi : lo;
      }
      const int64_t fwd = x < 0 ? dim + x : x;
      return fwd < lo ? lo : (fwd > hi ? hi : fwd);
    };
    if (shrink) {
      const int64_t fwd = b < 0 ? dim + b : b;
      if (fwd < 0 || fwd >= dim)
        return NodeError(node, "slice index " + std::to_string(b) + " of dimension " + std::to_string(i) +
                                   " out of bounds (size " + std::to_string(dim) + ")");
      b = fwd;
      e = b + 1;
    } else {
      b = canonical(b, 0);
      e = canonical(e, 1);
    }
    const int64_t len = e - b;
    int64_t size;
    if (len == 0 || ((len < 0) != (s < 0))) {
      size = 0;
    } else {
      size = len / s + (len % s != 0 ? 1 : 0);
    }
    spec->begin[u] = b;
    spec->size[u] = size;
  }
  spec->final_shape.clear();
  for (int64_t g : gather) {
    if (g == kNewAxis) {
      spec->final_shape.push_back(1);
    } else if (g >= 0) {
      spec->final_shape.push_back(spec->size[static_cast<size_t>(g)]);
    }
  }
  return OkStatus();
}

Result<GatherWalk> ResolveGatherWalk(const ir::Graph& graph, const ir::Node& node, const Shape& xs,
                                     const Shape& ys) {
  auto constant = [&](size_t i, std::vector<int64_t>* out) {
    if (i >= node.inputs.size() || node.inputs[i] == ir::kNoValue) return false;
    const ir::Value& v = graph.value(node.inputs[i]);
    if (!v.is_constant() || (v.constant.dtype() != DType::kInt32 && v.constant.dtype() != DType::kInt64)) return false;
    *out = TensorToInts(v.constant);
    return true;
  };
  const std::vector<int64_t> ist = RowStrides(xs);
  GatherWalk w;
  if (node.op == ir::OpType::kTranspose) {
    const Tensor* perm_t = node.inputs.size() > 1 ? &graph.value(node.inputs[1]).constant : nullptr;
    if (!node.attrs.has("perm") && perm_t && perm_t->empty())
      return Unsupported(NodeLabel(node) + ": needs a constant perm");
    std::vector<int64_t> perm;
    FK_RETURN_IF_ERROR(TransposePerm(node, xs.rank(), perm_t, &perm));
    for (int64_t p : perm) {
      w.dims.push_back(xs[static_cast<int>(p)]);
      w.steps.push_back(ist[static_cast<size_t>(p)]);
    }
    if (Shape(w.dims) != ys)
      return NodeError(node, "planned output shape " + ys.ToString() + " != computed " + Shape(w.dims).ToString());
    return w;
  }
  std::vector<int64_t> begin, stride, size;
  if (node.op == ir::OpType::kStridedSlice) {
    std::vector<int64_t> b, e, s;
    if (!constant(1, &b) || !constant(2, &e) || !constant(3, &s))
      return Unsupported(NodeLabel(node) + ": needs constant begin/end/strides");
    StridedSliceSpec spec;
    FK_RETURN_IF_ERROR(ComputeStridedSlice(node, xs, static_cast<int64_t>(b.size()), &b, &e, &s, &spec));
    if (Shape(spec.final_shape) != ys)
      return NodeError(node, "planned output shape " + ys.ToString() + " != computed " +
                                 Shape(spec.final_shape).ToString());
    begin = spec.begin;
    stride = spec.stride;
    size = spec.size;
  } else if (node.op == ir::OpType::kSlice) {
    if (!constant(1, &begin) || !constant(2, &size)) return Unsupported(NodeLabel(node) + ": needs constant begin/size");
    FK_RETURN_IF_ERROR(ResolveSlice(node, xs, begin, &size));
    stride.assign(begin.size(), 1);
    if (Shape(size) != ys)
      return NodeError(node, "planned output shape " + ys.ToString() + " != " + Shape(size).ToString());
  } else {
    return NodeError(node, "not a StridedSlice, Slice or Transpose");
  }
  if (begin.size() != ist.size() || size.size() != ist.size())
    return NodeError(node, "slice spec rank differs from the input's");
  for (size_t d = 0; d < ist.size(); ++d) {
    w.offset += begin[d] * ist[d];
    w.steps.push_back(stride[d] * ist[d]);
  }
  w.dims = size;
  return w;
}

}  // namespace fk::ops
