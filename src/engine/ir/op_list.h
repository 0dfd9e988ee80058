// The one list of facekit's IR ops (X-macro). Importers (TF.js, ONNX, the
// graph builder) map their op names onto these; backends register kernels for
// them in an explicit table. Adding an op: add a line here, shape inference in
// engine/ops/, a reference kernel in engine/ref/, a parity case in the op tests.
//
// Inputs are listed per op; [..] marks optional inputs.
#pragma once

#define FK_OP_LIST(X)                                                                  \
  /* Conv2D: x NHWC, w HWIO (H,W,Cin/group? no: Cin,Cout), [bias Cout], [prelu alpha Cout]. */ \
  X(Conv2D)                                                                            \
  /* DepthwiseConv2D: x NHWC, w H,W,C,M (TF layout), [bias C*M], [prelu alpha]. */      \
  X(DepthwiseConv2D)                                                                   \
  /* MatMul: a [M,K] (or [K,M] if transpose_a), b [K,N] (or [N,K]), [bias N], [alpha]. */ \
  X(MatMul)                                                                            \
  /* Binary element-wise with numpy broadcasting. */                                   \
  X(Add) X(Sub) X(Mul) X(Div) X(Maximum) X(Minimum) X(Pow) X(SquaredDifference)        \
  /* AddN: sum of N same-shape inputs. */                                              \
  X(AddN)                                                                              \
  /* Unary element-wise. */                                                            \
  X(Abs) X(Neg) X(Square) X(Sqrt) X(Rsqrt) X(Exp) X(Log) X(Relu) X(Relu6) X(Sigmoid)  \
  X(Tanh) X(Elu) X(LeakyRelu) X(Clip) X(Floor) X(Reciprocal)                          \
  /* Prelu: x, alpha (broadcast over the last axis). */                                \
  X(Prelu)                                                                             \
  X(Softmax)                                                                           \
  X(MaxPool) X(AvgPool)                                                                \
  /* Reductions: x, axes (int32 const). */                                             \
  X(Mean) X(Sum) X(Max) X(Min) X(Prod)                                                 \
  /* Pad: x, paddings int32 [rank,2]; constant value attr. */                          \
  X(Pad)                                                                               \
  /* Shape ops. Reshape: x, shape int32. */                                            \
  X(Reshape) X(Squeeze) X(ExpandDims) X(Concat) X(StridedSlice) X(Slice) X(Transpose)  \
  X(Shape) X(Pack) X(Cast) X(Identity) X(Gather) X(Tile)                               \
  /* Resampling. ResizeBilinear/ResizeNearest: x, size int32 [2]. */                   \
  X(ResizeBilinear) X(ResizeNearest) X(DepthToSpace)                                   \
  /* BatchNorm (inference): x, scale, offset, mean, variance; attr epsilon. Folded into convs. */ \
  X(BatchNorm)
