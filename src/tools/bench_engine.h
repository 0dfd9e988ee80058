// Helpers of `facekit bench engine` (src/tools/cmd_bench.cpp), exposed for tests.
#pragma once

#include <string>
#include <vector>

#include "facekit/status.h"
#include "facekit/tensor.h"
#include "tools/commands.h"

namespace fk::tools {

int BenchEngine(const Args& args);

// Multiply-accumulate count of a model graph for the given input shapes, from its
// Conv2D / DepthwiseConv2D / MatMul nodes (GFLOP = 2 * MACs / 1e9). Element-wise ops,
// pooling and reductions are not counted.
struct ModelCost {
  double macs = 0;        // for the whole batch
  double conv_macs = 0;   // Conv2D
  double dw_macs = 0;     // DepthwiseConv2D
  double matmul_macs = 0; // MatMul
};
Result<ModelCost> CountModelCost(const std::string& model_path, const std::vector<Shape>& input_shapes);

// Measured fp32 peak of this CPU: independent FMA chains (AVX-512 when available,
// else AVX2+FMA, else scalar) on `threads` threads for about `seconds`. GFLOP/s, the
// sum over threads of flops / thread CPU time (robust to other load on the machine).
struct PeakFlops {
  double gflops = 0;
  std::string isa;  // "avx512f", "avx2+fma" or "scalar"
};
PeakFlops MeasurePeakGflops(int threads, double seconds);

}  // namespace fk::tools
