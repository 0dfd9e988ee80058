// fk::Model: the public face of the engine (PIMPL over engine::Executor).
#include <cstdio>
#include <cstdlib>
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
  std::string device_warning;
};

namespace {

// Backend "cuda" / device.use_cuda: checks the GPU (ResolveBackend), binds the backend to
// (gpu_index, precision), applies the memory limit. Falls back to the CPU only when allowed.
Status ResolveDevice(const ModelOptions& opts, engine::LoadOptions* lo, std::string* warning) {
  if (opts.backend != "cuda" && !opts.device.use_cuda) return OkStatus();
  std::string run = opts.cuda_run;
  if (run.empty()) {
    const char* env = std::getenv("FK_CUDA_RUN");
    run = env && *env ? env : "resident";
  }
  if (run != "staged" && run != "resident" && run != "graph")
    return InvalidArgument("cuda_run must be staged, resident or graph (got '" + run + "'" +
                           (opts.cuda_run.empty() ? " from FK_CUDA_RUN" : "") + ")");
  DeviceConfig dc = opts.device;
  dc.use_cuda = true;
  FK_ASSIGN_OR_RETURN(std::string name, ResolveBackend(dc, warning));
  lo->exec.backend = name;
  if (name != "cuda") {
    if (warning && !warning->empty()) std::fprintf(stderr, "facekit: %s\n", warning->c_str());
    return OkStatus();
  }
  FK_ASSIGN_OR_RETURN(lo->exec.backend_object,
                      engine::GetCudaBackend(dc.gpu_index, dc.precision, dc.gpu_memory_limit_bytes,
                                             dc.gpu_memory_limit_fraction));
  lo->exec.device_run = run;
  return OkStatus();
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const ModelOptions& opts) {
  engine::LoadOptions lo;
  lo.exec.backend = opts.backend;
  lo.exec.num_threads = opts.num_threads;
  lo.optimize = opts.optimize;
  std::string warning;
  FK_RETURN_IF_ERROR(ResolveDevice(opts, &lo, &warning).WithContext("loading " + path));
  FK_ASSIGN_OR_RETURN(std::unique_ptr<engine::Executor> ex, engine::LoadExecutor(path, lo));
  auto impl = std::make_unique<Impl>();
  const ir::Graph& g = ex->graph();
  for (ir::ValueId v : g.inputs()) impl->inputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).shape});
  for (ir::ValueId v : g.outputs()) impl->outputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).shape});
  impl->backend = lo.exec.backend;
  impl->device_warning = warning;
  impl->executor = std::move(ex);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const std::vector<TensorSpec>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorSpec>& Model::outputs() const { return impl_->outputs; }
std::string Model::backend_name() const { return impl_->backend; }
std::string Model::device_warning() const { return impl_->device_warning; }

Result<std::vector<Tensor>> Model::Run(const std::vector<Tensor>& inputs) const {
  return impl_->executor->Run(inputs);
}

}  // namespace fk
