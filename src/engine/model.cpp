// fk::Model: the public face of the engine (PIMPL over engine::Executor).
#include <filesystem>

#include "engine/executor.h"
#include "engine/import/faceapi_nets.h"
#include "engine/import/onnx_loader.h"
#include "engine/import/tfjs_loader.h"
#include "facekit/engine.h"

namespace fk {

namespace engine {

Result<ir::Graph> ImportModel(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (IsFaceApiManifest(path)) return LoadFaceApiModel(path);  // weights-only nets (docs/faceapi.md)
  if (ext == ".json") return LoadTfjsGraphModel(path);
  if (ext == ".onnx") return LoadOnnxModel(path);  // NCHW -> NHWC at import (docs/onnx.md)
  return Unsupported("'" + path + "': unknown model format '" + ext +
                     "' (expected a TF.js graph model, model.json)");
}

Result<std::unique_ptr<Executor>> LoadExecutor(const std::string& path, const LoadOptions& options,
                                               OptimizeStats* stats) {
  // Check the backend first: no point importing a model we cannot run.
  if (!GetBackend(options.exec.backend)) {
    std::string avail;
    for (const auto& b : AvailableBackends()) avail += (avail.empty() ? "" : ", ") + b;
    return Unavailable("backend '" + options.exec.backend + "' is not available in this build (available: " +
                       avail + ")");
  }
  FK_ASSIGN_OR_RETURN(ir::Graph graph, ImportModel(path));
  if (options.optimize) FK_RETURN_IF_ERROR(Optimize(&graph, options.optimize_options, stats).WithContext(path));
  return Executor::Create(std::move(graph), options.exec);
}

}  // namespace engine

struct Model::Impl {
  std::unique_ptr<engine::Executor> executor;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::string backend;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const ModelOptions& opts) {
  engine::LoadOptions lo;
  lo.exec.backend = opts.backend;
  lo.exec.num_threads = opts.num_threads;
  lo.optimize = opts.optimize;
  FK_ASSIGN_OR_RETURN(std::unique_ptr<engine::Executor> ex, engine::LoadExecutor(path, lo));
  auto impl = std::make_unique<Impl>();
  const ir::Graph& g = ex->graph();
  for (ir::ValueId v : g.inputs()) impl->inputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).shape});
  for (ir::ValueId v : g.outputs()) impl->outputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).shape});
  impl->backend = opts.backend;
  impl->executor = std::move(ex);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const std::vector<TensorSpec>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorSpec>& Model::outputs() const { return impl_->outputs; }
std::string Model::backend_name() const { return impl_->backend; }

Result<std::vector<Tensor>> Model::Run(const std::vector<Tensor>& inputs) const {
  return impl_->executor->Run(inputs);
}

}  // namespace fk
