// Softmax over one axis on oneDNN's softmax_forward (dense row-major data of any rank).
//
// Short last axes (<= kShortAxis elements, e.g. the [N,4420,2] face/background scores of
// fr_detect) take a three-pass path instead: subtract the row max (plain loop), exp over the
// whole buffer in one oneDNN eltwise call (jit), divide by the row sum (plain loop). oneDNN
// 2.6's softmax handles one short row at a time (70 us for 4420 rows of 2; this path: ~5 us).
#include <algorithm>
#include <memory>
#include <stdexcept>

#include "engine/cpu/cpu_ops.h"
#include "engine/cpu/dnnl_util.h"
#include "engine/ops/op_util.h"

namespace fk::engine::cpu {
namespace {

constexpr int64_t kShortAxis = 16;

using SoftmaxKernel = SrcDstKernel<dnnl::softmax_forward>;

class ShortSoftmaxKernel final : public DnnlKernel {
 public:
  using DnnlKernel::DnnlKernel;
  dnnl::eltwise_forward exp_prim;
  dnnl::memory::desc flat_md;
  int64_t rows = 0, len = 0;

 protected:
  void Execute(std::span<const Tensor> in, std::span<Tensor> out, dnnl::stream& s,
               std::unordered_map<int, dnnl::memory>& args) const override {
    if (in[0].num_elements() != rows * len) throw std::runtime_error("input does not match the planned shape");
    const float* x = in[0].data<float>();
    float* y = out[0].data<float>();
    if (len == 2) SubtractRowMax<2>(x, y, rows, len);
    else SubtractRowMax<0>(x, y, rows, len);
    dnnl::memory m = Wrap(flat_md, engine(), out[0]);
    args[DNNL_ARG_SRC] = m;
    args[DNNL_ARG_DST] = m;
    exp_prim.execute(s, args);
    s.wait();
    if (len == 2) DivideRowSum<2>(y, rows, len);
    else DivideRowSum<0>(y, rows, len);
  }

  // L = 0: `len` elements per row, not known at compile time.
  template <int L>
  static void SubtractRowMax(const float* x, float* y, int64_t rows, int64_t len) {
    const int64_t n = L > 0 ? L : len;
    for (int64_t r = 0; r < rows; ++r, x += n, y += n) {
      float mx = x[0];
      for (int64_t k = 1; k < n; ++k) mx = std::max(mx, x[k]);
      for (int64_t k = 0; k < n; ++k) y[k] = x[k] - mx;
    }
  }
  template <int L>
  static void DivideRowSum(float* y, int64_t rows, int64_t len) {
    const int64_t n = L > 0 ? L : len;
    for (int64_t r = 0; r < rows; ++r, y += n) {
      float sum = 0.f;
      for (int64_t k = 0; k < n; ++k) sum += y[k];
      for (int64_t k = 0; k < n; ++k) y[k] /= sum;
    }
  }
};

}  // namespace

bool SupportsSoftmax(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() != 1 || node.outputs.size() != 1) return false;
  if (!AllFloat32(graph, node)) return false;
  const int rank = graph.value(node.inputs[0]).shape.rank();
  return rank >= 1 && ops::NormalizeAxis(node.attrs.i("axis", -1), rank) >= 0;
}

Result<std::unique_ptr<Kernel>> PlanSoftmax(const PlanArgs& a) {
  const Shape& xs = a.inputs[0].shape;
  if (xs.num_elements() == 0) return MakeEmptyKernel();
  const int64_t axis = ops::NormalizeAxis(a.node.attrs.i("axis", -1), xs.rank());
  if (axis < 0) return InvalidArgument(NodeContext(a.node) + ": softmax axis out of range");
  FK_ASSIGN_OR_RETURN(const dnnl::engine* eng, CpuEngine());
  const int64_t len = xs[static_cast<int>(axis)];
  if (axis == xs.rank() - 1 && len <= kShortAxis) {
    auto k = std::make_unique<ShortSoftmaxKernel>(a.node.name, a.options.num_threads, eng);
    k->len = len;
    k->rows = xs.num_elements() / len;
    FK_DNNL_CHECK({
      k->flat_md = dnnl::memory::desc({xs.num_elements()}, dt::f32, tag::a);
      dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_exp, k->flat_md,
                                    0.f, 0.f);
      dnnl::eltwise_forward::primitive_desc pd(d, BaseAttr(), *eng);
      k->exp_prim = dnnl::eltwise_forward(pd);
      k->SetScratchpadFrom(pd);
    });
    return std::unique_ptr<Kernel>(std::move(k));
  }
  auto k = std::make_unique<SoftmaxKernel>(a.node.name, a.options.num_threads, eng);
  FK_DNNL_CHECK({
    k->src_md = k->dst_md = PlainDesc(xs);
    dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, k->src_md, static_cast<int>(axis));
    dnnl::softmax_forward::primitive_desc pd(d, BaseAttr(), *eng);
    k->prim = dnnl::softmax_forward(pd);
    k->SetScratchpadFrom(pd);
  });
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace fk::engine::cpu
