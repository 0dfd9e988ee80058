// facekit — running a neural network model.
//
//   auto model = fk::Model::Load("models/human/blazeface.json", {.backend = "cpu"});
//   if (!model.ok()) { /* model.status().message() says what went wrong */ }
//   auto out = (*model)->Run({input});   // NHWC float32 tensors, batch N in one pass
//
// Contracts:
//  - Load: requires a TF.js graph model (model.json with its .bin shards next to it).
//    ONNX (.onnx) is not supported yet (Unsupported). Ops the engine cannot run are
//    refused here with the full list, never halfway through a run. If the requested
//    backend is not compiled into this build, Load fails with Unavailable naming the
//    available backends. Ops the requested backend does not support run on "ref".
//  - inputs()/outputs(): names, dtypes and shapes; -1 marks a dynamic dimension. Dim 0 of
//    every input is the batch and is always dynamic.
//  - Run: requires one tensor per input, in inputs() order, with the declared dtype and
//    rank and matching non-batch dimensions, all values finite; otherwise InvalidArgument
//    naming the input (expected vs got, or the first non-finite index). Ensures the
//    outputs in outputs() order, freshly allocated (the caller owns them), with batch N
//    when the inputs have batch N.
//
// Thread-safety: a Model is immutable after Load; Run() may be called concurrently from
// several threads on the same Model (plans are cached per input-shape set under a lock).
// Each call uses ModelOptions::num_threads threads inside kernels.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "facekit/status.h"
#include "facekit/tensor.h"

namespace fk {

struct ModelOptions {
  std::string backend = "cpu";  // "ref", "cpu", "cuda"
  int num_threads = 0;          // threads per Run inside kernels; 0 = all cores
  bool optimize = true;         // load-time graph rewrites (constant folding, fusions)
};

struct TensorSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // -1 = dynamic
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> Load(const std::string& path, const ModelOptions& opts = {});

  const std::vector<TensorSpec>& inputs() const;
  const std::vector<TensorSpec>& outputs() const;

  // Thread-safe: may be called concurrently from several threads.
  Result<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs) const;

  // The backend requested at Load ("ref", "cpu", ...); individual nodes may run on "ref".
  std::string backend_name() const;

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  struct Impl;
  // Internal: the implementation (engine/executor.h); not part of the stable API.
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fk
