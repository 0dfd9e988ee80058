// fk::Model: the public face of the engine (PIMPL over engine::Executor).
#include <cmath>
#include <cstring>
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
  std::string precision;       // cuda: fp32 | tf32 | fp16 as run; other backends: fp32
  std::string precision_note;  // precision auto on cuda: what the accuracy check decided
  bool pad_batch = false;      // ModelOptions::pad_batch resolved (and the inputs allow it)
  bool pixel_inputs = false;   // ModelOptions::pixel_inputs resolved

  // Runs `run` on `inputs` padded to PaddedBatch rows (zero samples), outputs cut to n rows.
  template <typename RunFn>
  Result<std::vector<Tensor>> RunPadded(const std::vector<Tensor>& inputs, RunFn run) const;
};

namespace {

// Backend "cuda" / device.use_cuda: checks the GPU (ResolveBackend), binds the backend to
// (gpu_index, precision), applies the memory limit. Falls back to the CPU only when allowed.
// With precision auto on a GPU with tensor cores (compute capability >= 7.0), *fp16 is set to the
// fp16 backend: Load then checks the model in fp16 against the backend in lo (AutoPrecision).
// *precision is the precision lo's backend runs.
Status ResolveDevice(const ModelOptions& opts, engine::LoadOptions* lo, std::string* warning,
                     const engine::Backend** fp16, std::string* precision) {
  if (opts.backend != "cuda" && !opts.device.use_cuda) return OkStatus();
  std::string run = opts.cuda_run;
  if (run.empty()) {
    const char* env = std::getenv("FK_CUDA_RUN");
    run = env && *env ? env : "graph";
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
  *precision = dc.precision;
  if (dc.precision == "auto") {
    FK_ASSIGN_OR_RETURN(int cc, engine::CudaComputeCapability(dc.gpu_index));
    *precision = cc >= 80 ? "tf32" : "fp32";  // what GetCudaBackend chose for "auto"
    if (cc >= 70 && opts.auto_fp16) {
      FK_ASSIGN_OR_RETURN(*fp16, engine::GetCudaBackend(dc.gpu_index, "fp16", 0, 0));
    }
  }
  return OkStatus();
}

// The accuracy check of precision auto: both executors run once on the same deterministic input
// (uniform [0,1) floats from an LCG, dynamic dims: batch 1, others 64, like `facekit selftest`);
// fp16 is kept only if every output is finite and has cosine >= kAutoFp16MinCosine against the
// fp32/tf32 run. Returns whether fp16 passed and a one-line note saying why.
constexpr double kAutoFp16MinCosine = 0.999;

bool CheckFp16(const engine::Executor& base, const engine::Executor& half, const std::string& base_name,
               std::string* note) {
  const ir::Graph& g = base.graph();
  std::vector<Tensor> inputs;
  uint32_t x = 12345u;
  for (ir::ValueId v : g.inputs()) {
    std::vector<int64_t> dims = g.value(v).shape.dims();
    for (size_t i = 0; i < dims.size(); ++i)
      if (dims[i] < 0) dims[i] = i == 0 ? 1 : 64;
    Tensor t(g.value(v).dtype, Shape(dims));
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      x = x * 1664525u + 1013904223u;
      const float u = static_cast<float>(x >> 8) / static_cast<float>(1u << 24);
      if (t.dtype() == DType::kFloat32) t.data<float>()[i] = u;
      else if (t.dtype() == DType::kInt32) t.data<int32_t>()[i] = static_cast<int32_t>(u * 255);
      else if (t.dtype() == DType::kUInt8) t.data<uint8_t>()[i] = static_cast<uint8_t>(u * 255);
      else if (t.dtype() == DType::kInt64) t.data<int64_t>()[i] = static_cast<int64_t>(u * 255);
    }
    inputs.push_back(std::move(t));
  }
  auto want = base.Run(inputs);
  if (!want.ok()) {
    *note = "auto: " + base_name + " (the fp16 accuracy check could not run: " + want.status().message() + ")";
    return false;
  }
  auto got = half.Run(inputs);
  if (!got.ok()) {
    *note = "auto: " + base_name + " (fp16 run failed: " + got.status().message() + ")";
    return false;
  }
  double worst = 1;
  std::string worst_name;
  for (size_t o = 0; o < want->size() && o < got->size(); ++o) {
    const Tensor& a = (*want)[o];
    const Tensor& b = (*got)[o];
    const std::string name = g.value(g.outputs()[o]).name;
    if (a.dtype() != DType::kFloat32 || b.dtype() != DType::kFloat32) continue;  // int outputs: not half
    if (a.shape() != b.shape()) {
      *note = "auto: " + base_name + " (fp16 output '" + name + "' has shape " + b.shape().ToString() + ")";
      return false;
    }
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < a.num_elements(); ++i) {
      const double p = a.data<float>()[i], q = b.data<float>()[i];
      if (!std::isfinite(q) && std::isfinite(p)) {
        *note = "auto: " + base_name + " (fp16 output '" + name + "' has NaN/Inf)";
        return false;
      }
      if (!std::isfinite(p)) continue;
      dot += p * q;
      na += p * p;
      nb += q * q;
    }
    const double cos = (na == 0 && nb == 0) ? 1.0 : (na == 0 || nb == 0) ? 0.0 : dot / std::sqrt(na * nb);
    if (cos < worst) {
      worst = cos;
      worst_name = name;
    }
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", worst);
  if (worst < kAutoFp16MinCosine) {
    *note = "auto: " + base_name + " (fp16 rejected: output '" + worst_name + "' cosine " + buf + " < 0.999 vs " +
            base_name + ")";
    return false;
  }
  *note = std::string("auto: fp16 (accuracy check passed: lowest output cosine ") + buf + " vs " + base_name + ")";
  return true;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const ModelOptions& opts) {
  engine::LoadOptions lo;
  lo.exec.backend = opts.backend;
  lo.exec.num_threads = opts.num_threads;
  lo.optimize = opts.optimize;
  std::string warning, precision = "fp32", note;
  const engine::Backend* fp16 = nullptr;
  FK_RETURN_IF_ERROR(ResolveDevice(opts, &lo, &warning, &fp16, &precision).WithContext("loading " + path));
  FK_ASSIGN_OR_RETURN(std::unique_ptr<engine::Executor> ex, engine::LoadExecutor(path, lo));
  if (fp16) {  // precision auto on a GPU with tensor cores: fp16 if the model passes the check
    engine::LoadOptions lo16 = lo;
    lo16.exec.backend_object = fp16;
    auto ex16 = engine::LoadExecutor(path, lo16);
    if (!ex16.ok()) {
      note = "auto: " + precision + " (fp16 load failed: " + ex16.status().message() + ")";
    } else if (CheckFp16(*ex, **ex16, precision, &note)) {
      ex = std::move(ex16).value();
      precision = "fp16";
    }
    if (const char* v = std::getenv("FK_CUDA_VERBOSE"); v && *v && *v != '0')
      std::fprintf(stderr, "facekit: %s: %s\n", path.c_str(), note.c_str());
  }
  auto impl = std::make_unique<Impl>();
  const ir::Graph& g = ex->graph();
  for (ir::ValueId v : g.inputs()) impl->inputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).shape});
  for (ir::ValueId v : g.outputs()) impl->outputs.push_back({g.value(v).name, g.value(v).dtype, g.value(v).shape});
  impl->backend = lo.exec.backend;
  impl->device_warning = warning;
  impl->precision = lo.exec.backend == "cuda" ? precision : "fp32";
  impl->precision_note = note;
  impl->executor = std::move(ex);
  {
    int pad = opts.pad_batch;
    if (const char* e = std::getenv("FK_PAD_BATCH"); e && (*e == '0' || *e == '1')) pad = *e - '0';
    bool dynamic = !impl->inputs.empty();
    for (const auto& in : impl->inputs) dynamic = dynamic && in.shape.rank() >= 1 && in.shape[0] < 0;
    impl->pad_batch = dynamic && (pad == 1 || (pad < 0 && impl->backend == "cuda"));
  }
  impl->pixel_inputs = opts.pixel_inputs == 1 || (opts.pixel_inputs < 0 && impl->backend == "cuda");
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const std::vector<TensorSpec>& Model::inputs() const { return impl_->inputs; }
const std::vector<TensorSpec>& Model::outputs() const { return impl_->outputs; }
std::string Model::backend_name() const { return impl_->backend; }

Result<std::vector<std::pair<std::string, std::string>>> Model::NodeBackends(
    const std::vector<Shape>& input_shapes) const {
  FK_ASSIGN_OR_RETURN(engine::PlanSummary s, impl_->executor->Summarize(input_shapes));
  const auto& nodes = impl_->executor->graph().nodes();
  std::vector<std::pair<std::string, std::string>> r;
  for (size_t i = 0; i < s.node_backend.size() && i < nodes.size(); ++i)
    r.emplace_back(ir::OpTypeName(nodes[i].op), s.node_backend[i]);
  return r;
}
std::string Model::device_warning() const { return impl_->device_warning; }
std::string Model::precision() const { return impl_->precision; }
std::string Model::precision_note() const { return impl_->precision_note; }

namespace {
// ModelOptions::pad_batch: the next power of two up to 64, then multiples of 64.
int64_t RoundBatch(int64_t n) {
  if (n <= 0) return n;
  if (n > 64) return (n + 63) / 64 * 64;
  int64_t p = 1;
  while (p < n) p *= 2;
  return p;
}
// The outputs of a run padded to `padded` samples, cut back to the first n.
void CutBatch(std::vector<Tensor>* outs, int64_t padded, int64_t n) {
  for (Tensor& o : *outs) {
    if (o.shape().rank() < 1 || o.shape()[0] != padded) continue;
    std::vector<int64_t> dims = o.shape().dims();
    dims[0] = n;
    Tensor cut = Tensor::Uninitialized(o.dtype(), Shape(dims));
    std::memcpy(cut.raw(), o.raw(), cut.nbytes());
    o = std::move(cut);
  }
}

}  // namespace

int64_t Model::PaddedBatch(int64_t n) const { return impl_->pad_batch ? RoundBatch(n) : n; }
bool Model::pixel_inputs() const { return impl_->pixel_inputs; }
size_t Model::planned_shapes() const { return impl_->executor->plan_count(); }

template <typename RunFn>
Result<std::vector<Tensor>> Model::Impl::RunPadded(const std::vector<Tensor>& inputs, RunFn run) const {
  if (!pad_batch || inputs.empty() || inputs[0].shape().rank() < 1) return run(inputs);
  const int64_t n = inputs[0].shape()[0];
  for (const Tensor& t : inputs)
    if (t.shape().rank() < 1 || t.shape()[0] != n || t.empty()) return run(inputs);  // the executor says what is wrong
  const int64_t padded = RoundBatch(n);
  if (padded == n) return run(inputs);
  std::vector<Tensor> in;
  in.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    std::vector<int64_t> dims = t.shape().dims();
    dims[0] = padded;
    Tensor p = Tensor::Uninitialized(t.dtype(), Shape(dims));
    std::memcpy(p.raw(), t.raw(), t.nbytes());
    std::memset(static_cast<uint8_t*>(p.raw()) + t.nbytes(), 0, p.nbytes() - t.nbytes());  // zero samples
    in.push_back(std::move(p));
  }
  FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs, run(in));
  CutBatch(&outs, padded, n);
  return outs;
}

Result<std::vector<Tensor>> Model::Run(const std::vector<Tensor>& inputs) const {
  return impl_->RunPadded(inputs, [&](const std::vector<Tensor>& in) { return impl_->executor->Run(in); });
}

Result<std::vector<Tensor>> Model::RunPixels(const std::vector<Tensor>& pixels, const PixelNormalization& norm) const {
  return impl_->RunPadded(pixels, [&](const std::vector<Tensor>& in) {
    return impl_->executor->RunPixels(in, norm.scale, norm.offset, norm.reverse_channels);
  });
}

Result<std::vector<Tensor>> Model::RunWarps(std::span<const PixelImage> images, std::span<const CropWarp> crops,
                                            int height, int width, const PixelNormalization& norm,
                                            Tensor* crops_out) const {
  const int64_t n = static_cast<int64_t>(crops.size());
  const int64_t padded = impl_->pad_batch && n > 0 ? RoundBatch(n) : n;
  std::vector<engine::WarpDesc> descs(static_cast<size_t>(padded));
  for (int64_t k = 0; k < padded; ++k) {
    engine::WarpDesc& d = descs[static_cast<size_t>(k)];
    if (k >= n) {  // a zero sample (as RunPixels pads): every tap outside the source, border 0
      d.inv[0] = d.inv[1] = d.inv[3] = d.inv[4] = 0.0;
      d.inv[2] = d.inv[5] = -1e9;
      continue;
    }
    const CropWarp& c = crops[static_cast<size_t>(k)];
    d.image = c.image;
    for (int t = 0; t < 6; ++t) d.inv[t] = c.inv[t];
    d.box = c.box;
    d.x0 = c.x0, d.y0 = c.y0, d.x1 = c.x1, d.y1 = c.y1;
    d.mirror = c.mirror;
    d.border = c.border;
  }
  std::vector<engine::WarpSource> sources(images.size());
  for (size_t i = 0; i < images.size(); ++i)
    sources[i] = {images[i].data, images[i].width, images[i].height, images[i].stride};
  // The 8-bit crops of the padded batch (the blank ones are cut off below).
  Tensor bytes;
  if (crops_out && height > 0 && width > 0)
    bytes = Tensor::Uninitialized(DType::kUInt8, Shape({padded, height, width, 3}));
  FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs,
                      impl_->executor->RunWarps(sources, descs, height, width, norm.scale, norm.offset,
                                                norm.reverse_channels, bytes.empty() ? nullptr : bytes.data<uint8_t>()));
  if (crops_out) {
    if (padded != n && !bytes.empty()) {
      std::vector<Tensor> one = {std::move(bytes)};
      CutBatch(&one, padded, n);
      bytes = std::move(one[0]);
    }
    *crops_out = std::move(bytes);
  }
  if (padded == n) return outs;
  CutBatch(&outs, padded, n);
  return outs;
}

}  // namespace fk
