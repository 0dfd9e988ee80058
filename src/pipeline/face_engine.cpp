// FaceEngine: ties detector, landmarks, quality, recognizer and calibration together.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>

#include "common/batcher.h"
#include "common/cpu_time.h"
#include "pipeline/pipeline_internal.h"
#ifdef FK_HAVE_CUDA
#include "engine/cuda/jpeg_decoder.h"  // plain C++ interface (no CUDA types)
#endif

namespace fk {

struct FaceEngine::Impl {
  FaceConfig cfg;
  std::string models_dir;
  std::string detector_id;
  std::unique_ptr<pipeline::FaceDetector> detector;
  std::unique_ptr<pipeline::FaceMesh> mesh;
  std::unique_ptr<pipeline::Embedder> recognizer;    // null when cfg.embed is false; one model or a fusion
  std::unique_ptr<pipeline::AttributeModels> attributes;  // null when no attribute is asked for
  std::string recognizer_note;                       // why a fallback was chosen
  bool flip = false;
  std::optional<RocTable> roc;  // of this engine's recognizer
  std::vector<RocTable> tables; // every table of the calibration file (Verify of other models' templates)
  std::string calibration_path;
  // Detector batching across threads (FaceConfig::detect_batching); null when off. Declared
  // after `detector`, so it stops (its workers use the detector) before the detector goes.
  using DetectBatcher = DynamicBatcher<pipeline::DetectorInput, std::vector<pipeline::Detection>>;
  std::unique_ptr<DetectBatcher> detect_batcher;
  int detect_max_batch = 1;
  // FaceEngine::StepTimes(): bound to the calling thread by every public entry point (and the
  // detect batcher's workers), recorded into by the stages (pipeline/step_times.h).
  mutable pipeline::StepCounters steps;
  // FaceConfig::gpu_decode: the JPEG pixels decoded on the GPU (DecodeOptions::jpeg_pixels);
  // empty when off. gpu_decode_note: what decodes JPEGs, for Describe().
  std::function<Status(std::span<const uint8_t>, uint8_t*, int64_t)> jpeg_pixels;
  std::string gpu_decode_note;
#ifdef FK_HAVE_CUDA
  std::unique_ptr<engine::cuda::GpuJpegDecoder> jpeg_decoder;
  // Concurrent callers' JPEGs decoded together (one nvjpegDecodeBatched on the GPU's JPEG
  // engines); declared after jpeg_decoder so that it stops first.
  using DecodeBatcher = DynamicBatcher<engine::cuda::GpuJpegDecoder::Job, int>;
  std::unique_ptr<DecodeBatcher> decode_batcher;
#endif

  // FaceConfig::gpu_decode: jpeg_pixels (and the decoder) when on; an error only for gpu_decode 1.
  Status SetUpGpuDecode();

  // The detector on `image`: through the batcher when there is one (the input is prepared on
  // this thread, the model run shared with other callers' photos), else directly.
  Result<std::vector<pipeline::Detection>> Detect(const Image& image) const;

  // One photo after detection (Process()'s first half): its faces and the image they are cut
  // from (the photo itself or a box-downscaled copy of it).
  struct Prepared {
    const Image* source = nullptr;          // the caller's photo
    Image copy;                             // the downscaled copy the faces are cut from; empty: *source
    std::vector<pipeline::Detection> dets;  // in crop() coordinates
    std::optional<AttributeConfig> attributes;  // this photo's (DetectedPhoto::set_attributes); none: cfg's
    const Image& crop() const { return copy.empty() ? *source : copy; }
  };
  Status Prepare(const Image& image, Prepared* out) const;
  // Prepare() in parts, for ProcessBatch's one detector call over all photos: the factor of the
  // box-downscaled copy detection runs on (1: the image itself), and the placing of the
  // detections (`work`: that copy, empty when factor 1) into `out`.
  static int DetectFactor(const Image& image);
  void Place(const Image& image, int f, Image work, std::vector<pipeline::Detection> dets, Prepared* out) const;
  // ProcessFile()'s first half with any decoder: decode at the detector's scale, detect, decode
  // finer (reusing the detections) when a face is too small for its chip. `out->p` refers to
  // `out->decoded`. Detection errors get `name` as context; decode errors name it themselves.
  using Decoder = std::function<Result<Image>(const DecodeOptions&)>;
  Status PrepareDecoded(const Decoder& decode, DecodeOptions opts, const std::string& name,
                        DetectedPhoto::Impl* out) const;
  // The second half of several prepared photos, in chunks of whole photos (at most
  // kMaxBatchFaces* faces, one landmark run and one recognizer run each); prep[i] is skipped
  // (its result left as given) when status[i] is not OK. Detections are moved out.
  void FinishPrepared(std::span<Prepared* const> prep, std::span<const Status> status,
                      std::vector<Result<std::vector<Face>>>* results) const;
  // Landmarks, quality, alignment, templates and attributes (`attributes`; null: cfg's) of `dets`
  // (in `image` coordinates).
  Result<std::vector<Face>> Finish(const Image& image, std::vector<pipeline::Detection> dets,
                                   const AttributeConfig* attributes = nullptr) const;
  // Finish() of several photos with ONE landmark run and ONE recognizer run for all their
  // faces; result[i] belongs to photos[i]. An error fails the whole call.
  Result<std::vector<std::vector<Face>>> FinishBatch(std::span<const pipeline::ImageDetections> photos) const;
};

struct DetectedPhoto::Impl {
  Image decoded;                 // the decode the detections refer to
  FaceEngine::Impl::Prepared p;  // p.source == &decoded
  ProcessStats stats;
};

DetectedPhoto::DetectedPhoto() = default;
DetectedPhoto::~DetectedPhoto() = default;
DetectedPhoto::DetectedPhoto(DetectedPhoto&&) noexcept = default;
DetectedPhoto& DetectedPhoto::operator=(DetectedPhoto&&) noexcept = default;
int DetectedPhoto::faces() const { return impl_ ? static_cast<int>(impl_->p.dets.size()) : 0; }
int DetectedPhoto::source_width() const { return impl_ ? impl_->decoded.source_width() : 0; }
int DetectedPhoto::source_height() const { return impl_ ? impl_->decoded.source_height() : 0; }
void DetectedPhoto::set_attributes(const AttributeConfig& attributes) {
  if (impl_) impl_->p.attributes = attributes;
}
const ProcessStats& DetectedPhoto::stats() const {
  static const ProcessStats kNone;
  return impl_ ? impl_->stats : kNone;
}

FaceEngine::FaceEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FaceEngine::~FaceEngine() = default;

namespace {

std::string FindCalibration(const FaceConfig& cfg, const std::string& models_dir) {
  if (cfg.calibration == "none") return "";
  if (!cfg.calibration.empty()) return cfg.calibration;
  if (const char* e = std::getenv("FK_CALIBRATION"); e && *e) return e;
  for (const std::string& p : {models_dir + "/calibration.json", models_dir + "/../src/pipeline/data/calibration.json",
                               std::string("src/pipeline/data/calibration.json")})
    if (std::filesystem::exists(p)) return p;
  return "";
}

}  // namespace

Status FaceEngine::Impl::SetUpGpuDecode() {
  // Auto is off for now: batched across requests it serves about as many faces as libjpeg-turbo
  // at 64 clients with a third of the CPU, but 10-17% fewer at 16 (the batch waits; H100 server,
  // docs/benchmarks/crops-gpu.md). $FK_GPU_DECODE=1 / 0 overrides the config.
  const char* env = std::getenv("FK_GPU_DECODE");
  const bool want = env && *env ? *env == '1' : cfg.gpu_decode == 1;
  if (!want) {
    gpu_decode_note = "JPEG decoding on the CPU";
    return OkStatus();
  }
#ifdef FK_HAVE_CUDA
  using engine::cuda::GpuJpegDecoder;
  // The GPU's JPEG engines where it has them, else nvJPEG's default backend.
  auto d = GpuJpegDecoder::Create(cfg.gpu_index, GpuJpegDecoder::Backend::kHardware);
  if (!d.ok()) d = GpuJpegDecoder::Create(cfg.gpu_index, GpuJpegDecoder::Backend::kDefault);
  if (!d.ok()) {
    if (cfg.gpu_decode == 1) return d.status().WithContext("gpu_decode 1");
    gpu_decode_note = "JPEG decoding on the CPU (" + d.status().message() + ")";
    static std::once_flag once;  // FK_GPU_DECODE=1 without a usable nvJPEG: say so once
    std::call_once(once, [&] { std::fprintf(stderr, "facekit: %s\n", gpu_decode_note.c_str()); });
    return OkStatus();
  }
  jpeg_decoder = std::move(d).value();
  gpu_decode_note = "JPEG decoding on the GPU: " + jpeg_decoder->Describe();
  const GpuJpegDecoder* dec = jpeg_decoder.get();
  // The hardware engines want batches: the JPEGs of concurrent callers are queued and decoded
  // together (continuous batching, up to $FK_GPU_DECODE_BATCH, default 32; 1 = one call each).
  const char* b = std::getenv("FK_GPU_DECODE_BATCH");
  BatcherOptions o;
  o.max_batch = b && *b ? std::max(1, std::atoi(b)) : 32;
  o.max_delay = std::chrono::microseconds(0);
  o.workers = 2;
  if (dec->backend() == GpuJpegDecoder::Backend::kHardware && o.max_batch > 1) {
    FK_ASSIGN_OR_RETURN(decode_batcher, DecodeBatcher::Create(
                                            [dec](std::span<GpuJpegDecoder::Job* const> jobs) {
                                              std::vector<GpuJpegDecoder::Job> js;
                                              js.reserve(jobs.size());
                                              for (auto* j : jobs) js.push_back(*j);
                                              std::vector<Result<int>> out;
                                              for (Status& st : dec->DecodeBatchInto(js))
                                                out.push_back(st.ok() ? Result<int>(0) : Result<int>(st));
                                              return out;
                                            },
                                            o));
    DecodeBatcher* batcher = decode_batcher.get();
    jpeg_pixels = [batcher](std::span<const uint8_t> jpeg, uint8_t* dst, int64_t stride) -> Status {
      GpuJpegDecoder::Job job{jpeg, dst, stride};
      auto r = batcher->Process(job);
      return r.ok() ? OkStatus() : r.status();
    };
    gpu_decode_note += ", batches of up to " + std::to_string(o.max_batch);
    return OkStatus();
  }
  jpeg_pixels = [dec](std::span<const uint8_t> jpeg, uint8_t* dst, int64_t stride) {
    return dec->DecodeInto(jpeg, dst, stride);
  };
  return OkStatus();
#else
  if (cfg.gpu_decode == 1)
    return Unavailable("gpu_decode 1: this facekit was built without CUDA (rebuild with -DFK_CUDA=ON, docs/cuda.md)");
  gpu_decode_note = "JPEG decoding on the CPU";
  return OkStatus();
#endif
}

Result<std::unique_ptr<FaceEngine>> FaceEngine::Create(const FaceConfig& config) {
  FK_RETURN_IF_ERROR(config.Validate());
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  impl->models_dir = pipeline::ResolveModelsDir(config.models_dir);
  ModelOptions mo;
  mo.backend = config.use_cuda ? "cuda" : config.backend;
  mo.num_threads = config.num_threads;
  mo.device.gpu_index = config.gpu_index;  // used with backend "cuda" (docs/cuda.md)
  mo.device.precision = config.precision;
  mo.device.use_cuda = config.use_cuda;
  mo.device.gpu_memory_limit_bytes = config.gpu_memory_limit_bytes;
  mo.device.gpu_memory_limit_fraction = config.gpu_memory_limit_fraction;
  mo.device.allow_cpu_fallback = config.allow_cpu_fallback;
  mo.pixel_inputs = config.pixel_inputs;

  // The geometry models (detector, facemesh) never take fp16 under precision auto: measured on an
  // H100 (session 9), fp16 moved detector boxes by 0.65 px and small faces' keypoints by 5 px,
  // and those faces' templates to cosine 0.61 against the CPU; tf32 keeps them within 0.05 px.
  ModelOptions geometry = mo;
  geometry.auto_fp16 = false;
  auto det = pipeline::FaceDetector::Load(impl->models_dir, geometry, config.detector);
  if (!det.ok()) return det.status();
  impl->detector = std::move(det).value();
  impl->detector_id = impl->detector->id();
  FK_RETURN_IF_ERROR(impl->SetUpGpuDecode());
  {
    // Auto: on for a detector on the GPU (a run of 32 photos costs about one), off on the CPU.
    const DetectBatching& b = config.detect_batching;
    const bool gpu = impl->detector->backend() == "cuda";
    impl->detect_max_batch = b.max_batch > 0 ? b.max_batch : (gpu ? 32 : 1);
    if (impl->detect_max_batch > 1) {
      BatcherOptions o;
      o.max_batch = impl->detect_max_batch;
      o.max_delay = std::chrono::microseconds(b.max_delay_us);
      o.workers = b.workers;
      FK_RETURN_IF_ERROR(o.Validate("detect_batching"));
      const pipeline::FaceDetector* d = impl->detector.get();
      pipeline::StepCounters* steps = &impl->steps;
      FK_ASSIGN_OR_RETURN(impl->detect_batcher,
                          Impl::DetectBatcher::Create(
                              [d, steps](std::span<pipeline::DetectorInput* const> p) {
                                const pipeline::StepScope::Binding bind(steps);
                                return d->DetectPrepared(p);
                              },
                              o));
    }
  }

  if (config.landmarks) {
    const std::string p = impl->models_dir + "/human/facemesh.json";
    if (!std::filesystem::exists(p))
      return NotFound("landmark model not found at " + p + " (fetch the models, or set \"landmarks\": false)");
    auto fm = pipeline::FaceMesh::Load(p, geometry);
    if (!fm.ok()) return fm.status().WithContext("loading landmark model " + p);
    impl->mesh = std::move(fm).value();
  }

  if (config.embed) {
    // Tier -> recognizer preference list (measured, docs/benchmarks/accuracy.md). The
    // accurate tier is the fr_feature + faceapi_resnet fusion with flip TTA on both (with the
    // fr_detect pipeline: 99.5%, the best ROC AUC and TAR at FAR 1e-2 / 1e-3 of all configurations;
    // without flip 99.4%); when one of its models is missing it falls back to fr_feature + flip
    // TTA, then faceres + flip.
    std::vector<std::string> prefs;
    switch (config.tier) {
      case Tier::kFast: prefs = {"mobileface"}; break;
      case Tier::kBalanced: prefs = {"fr_feature", "faceres"}; break;
      case Tier::kAccurate: prefs = {"fusion:fr_feature+faceapi_resnet", "fr_feature", "faceres"}; break;
    }
    if (!config.recognizer.empty()) prefs = {config.recognizer};
    Status last;
    for (const auto& id : prefs) {
      auto r = pipeline::Embedder::Load(id, impl->models_dir, mo);
      if (r.ok()) {
        impl->recognizer = std::move(r).value();
        break;
      }
      impl->recognizer_note += id + " unavailable (" + r.status().message() + "); ";
      last = r.status();
    }
    if (!impl->recognizer)
      return last.WithContext(std::string("no recognizer of tier '") + TierName(config.tier) + "' could be loaded");
    impl->flip = config.flip_tta || (config.tier == Tier::kAccurate && config.recognizer.empty());
  }

  if (config.attributes.any()) {
    FK_ASSIGN_OR_RETURN(impl->attributes, pipeline::AttributeModels::Load(impl->models_dir, mo, config.attributes));
  }

  impl->calibration_path = FindCalibration(config, impl->models_dir);
  if (!impl->calibration_path.empty()) {
    auto tables = LoadCalibration(impl->calibration_path);
    if (!tables.ok()) return tables.status();
    impl->tables = *tables;
    const std::string id = impl->recognizer ? impl->recognizer->id() : "mobileface";
    const int version = impl->recognizer ? impl->recognizer->version() : 1;
    for (const auto& t : *tables)
      if (t.model == id && t.model_version == version && t.flip_tta == impl->flip) impl->roc = t;
    if (!impl->roc)  // same model, other TTA setting: close enough to estimate FAR
      for (const auto& t : *tables)
        if (t.model == id && t.model_version == version) impl->roc = t;
  }
  return std::unique_ptr<FaceEngine>(new FaceEngine(std::move(impl)));
}

namespace {

// Detection runs on a working copy of at least kDetectSide px on the longer side: the full
// view (320x240 for fr_detect) and the tiles (0.55 of the photo each -> 320x240) need no more,
// and resampling a 2048-px photo for them cost more than the detector itself
// (docs/pipeline.md, "Speed"). Landmarks, alignment and templates use the full image, or a
// decode at a scale where every face has at least kCropFaceSide px (ProcessFile).
constexpr int kDetectSide = 640;
constexpr float kCropFaceSide = 112.f;  // box side at which the 112-px chip needs no upsampling

void ScaleDetections(std::vector<pipeline::Detection>* dets, double fx, double fy) {
  const auto sx = static_cast<float>(fx), sy = static_cast<float>(fy);
  for (auto& d : *dets) {
    d.box = {d.box.x0 * sx, d.box.y0 * sy, d.box.x1 * sx, d.box.y1 * sy};
    for (auto& p : d.keypoints) p = {p.x * sx, p.y * sy};
  }
}

// Most faces in one landmark or recognizer run of ProcessBatch() (photos are never split: one
// with more faces runs alone, in one run, as Process() runs it). On the CPU bigger batches
// stop paying: accurate tier (fusion + flip), 1 thread, 8 group photos of 37 faces, CPU per
// photo vs Process() one by one: cap 8 -5%, 16 +0.6%, 32 +15%, 64 +12-14% (cache; 2 threads:
// -3% to +2% at every cap). On a GPU a run costs about the same for 1 or 64 faces; 64 bounds memory
// (facemesh input 0.44 MB per face, plus activations).
constexpr size_t kMaxBatchFacesCpu = 16;
constexpr size_t kMaxBatchFacesDevice = 64;

}  // namespace

Result<std::vector<Face>> FaceEngine::Process(const Image& image) const {
  const pipeline::StepScope::Binding bind(&impl_->steps);
  Impl::Prepared p;
  FK_RETURN_IF_ERROR(impl_->Prepare(image, &p));
  return impl_->Finish(p.crop(), std::move(p.dets));
}

std::vector<Result<std::vector<Face>>> FaceEngine::ProcessBatch(std::span<const Image* const> images) const {
  const pipeline::StepScope::Binding bind(&impl_->steps);
  const Impl& m = *impl_;
  const size_t n = images.size();
  std::vector<Impl::Prepared> prep(n);
  std::vector<Impl::Prepared*> ptrs(n);
  std::vector<Status> status(n);
  // Detection: the inputs prepared photo by photo, then ONE detector call over all of them.
  std::vector<int> factor(n, 1);
  std::vector<Image> work(n);
  std::vector<pipeline::DetectorInput> in(n);
  std::vector<pipeline::DetectorInput*> ready;
  std::vector<size_t> which;
  for (size_t i = 0; i < n; ++i) {
    ptrs[i] = &prep[i];
    if (!images[i]) {
      status[i] = InvalidArgument("process: null image pointer");
      continue;
    }
    if (images[i]->empty()) {
      status[i] = InvalidArgument("process: empty image");
      continue;
    }
    factor[i] = Impl::DetectFactor(*images[i]);
    if (factor[i] >= 2) work[i] = vision::DownscaleBox(*images[i], factor[i]);
    status[i] = m.detector->PrepareInput(factor[i] >= 2 ? work[i] : *images[i], &in[i]);
    if (!status[i].ok()) continue;
    ready.push_back(&in[i]);
    which.push_back(i);
  }
  auto dets = m.detector->DetectPrepared(ready);
  for (size_t k = 0; k < which.size(); ++k) {
    const size_t i = which[k];
    if (!dets[k].ok()) {
      status[i] = dets[k].status();
      continue;
    }
    m.Place(*images[i], factor[i], std::move(work[i]), std::move(*dets[k]), &prep[i]);
  }
  std::vector<Result<std::vector<Face>>> results(n, Result<std::vector<Face>>(std::vector<Face>()));
  for (size_t i = 0; i < n; ++i)
    if (!status[i].ok()) results[i] = status[i].WithContext("batch photo " + std::to_string(i));
  m.FinishPrepared(ptrs, status, &results);
  return results;
}

std::vector<Result<std::vector<Face>>> FaceEngine::FinishBatch(std::span<DetectedPhoto* const> photos) const {
  const pipeline::StepScope::Binding bind(&impl_->steps);
  const size_t n = photos.size();
  std::vector<Impl::Prepared*> ptrs(n, nullptr);
  std::vector<Status> status(n);
  std::vector<Result<std::vector<Face>>> results(n, Result<std::vector<Face>>(std::vector<Face>()));
  for (size_t i = 0; i < n; ++i) {
    if (!photos[i] || !photos[i]->impl_) {
      status[i] = InvalidArgument("finish: batch photo " + std::to_string(i) +
                                  " is null or empty (not made by DetectEncoded)");
      results[i] = status[i];
      continue;
    }
    if (const auto& a = photos[i]->impl_->p.attributes; a && !impl_->cfg.attributes.covers(*a)) {
      status[i] = FailedPrecondition("finish: batch photo " + std::to_string(i) + " asks for attributes '" +
                                     a->ToString() + "' but this engine has '" + impl_->cfg.attributes.ToString() +
                                     "' (FaceConfig::attributes)");
      results[i] = status[i];
      continue;
    }
    ptrs[i] = &photos[i]->impl_->p;
  }
  impl_->FinishPrepared(ptrs, status, &results);
  return results;
}

void FaceEngine::Impl::FinishPrepared(std::span<Prepared* const> prep, std::span<const Status> status,
                                      std::vector<Result<std::vector<Face>>>* results) const {
  // Landmarks and templates of the photos with faces, in chunks of whole photos of at most
  // max_faces faces.
  const size_t n = prep.size();
  const size_t max_faces = cfg.use_cuda ? kMaxBatchFacesDevice : kMaxBatchFacesCpu;
  size_t i = 0;
  while (i < n) {
    std::vector<size_t> chunk;
    std::vector<pipeline::ImageDetections> photos;
    size_t faces = 0;
    for (; i < n; ++i) {
      if (!status[i].ok() || prep[i]->dets.empty()) continue;  // result already set
      if (!chunk.empty() && faces + prep[i]->dets.size() > max_faces) break;
      chunk.push_back(i);
      photos.push_back({&prep[i]->crop(), prep[i]->dets, prep[i]->attributes ? &*prep[i]->attributes : nullptr});
      faces += prep[i]->dets.size();
    }
    if (chunk.empty()) break;
    auto batch = FinishBatch(photos);
    if (batch.ok()) {
      for (size_t k = 0; k < chunk.size(); ++k) (*results)[chunk[k]] = std::move((*batch)[k]);
      continue;
    }
    // Which photo failed: each again on its own, so that only it gets the error.
    for (size_t k = 0; k < chunk.size(); ++k) {
      Prepared& p = *prep[chunk[k]];
      auto r = Finish(p.crop(), std::move(p.dets), p.attributes ? &*p.attributes : nullptr);
      (*results)[chunk[k]] = r.ok() ? std::move(r) : r.status().WithContext("batch photo " + std::to_string(chunk[k]));
    }
  }
}

Result<std::vector<pipeline::Detection>> FaceEngine::Impl::Detect(const Image& image) const {
  if (!detect_batcher) return detector->Detect(image);
  pipeline::DetectorInput in;
  FK_RETURN_IF_ERROR(detector->PrepareInput(image, &in));
  return detect_batcher->Process(in);
}

int FaceEngine::Impl::DetectFactor(const Image& image) { return std::max(image.width(), image.height()) / kDetectSide; }

Status FaceEngine::Impl::Prepare(const Image& image, Prepared* out) const {
  if (image.empty()) return InvalidArgument("process: empty image");
  const int f = DetectFactor(image);
  Image work = f >= 2 ? vision::DownscaleBox(image, f) : Image();
  FK_ASSIGN_OR_RETURN(std::vector<pipeline::Detection> dets, Detect(f >= 2 ? work : image));
  Place(image, f, std::move(work), std::move(dets), out);
  return OkStatus();
}

void FaceEngine::Impl::Place(const Image& image, int f, Image work, std::vector<pipeline::Detection> dets,
                             Prepared* out) const {
  const Impl& m = *this;
  out->source = &image;
  out->copy = Image();
  if (f < 2) {
    out->dets = std::move(dets);
    return;
  }
  // Faces are cut from the coarsest copy on which the smallest one still has kCropFaceSide
  // px, as ProcessFile() does with its decodes: cutting a 600-px face's mesh crop and chips
  // from the full image costs an area prefilter over the whole face for nothing.
  int g = f;  // downscale factor of the copy the faces are cut from
  const bool crops = m.mesh || (m.cfg.embed && m.recognizer) || m.attributes;
  if (crops && !dets.empty()) {
    float smallest = 1e30f;
    for (const auto& d : dets) smallest = std::min(smallest, std::min(d.box.width(), d.box.height()));
    if (smallest < kCropFaceSide) g = std::clamp(static_cast<int>(f * smallest / kCropFaceSide), 1, f);
  }
  if (g == f) {
    out->copy = std::move(work);
  } else {
    ScaleDetections(&dets, static_cast<double>(f) / g, static_cast<double>(f) / g);
    if (g > 1) out->copy = vision::DownscaleBox(image, g);
  }
  out->dets = std::move(dets);
}

Result<std::vector<Face>> FaceEngine::Impl::Finish(const Image& image, std::vector<pipeline::Detection> dets,
                                                   const AttributeConfig* attributes) const {
  if (dets.empty()) return std::vector<Face>();
  const pipeline::ImageDetections one[] = {{&image, dets, attributes}};
  FK_ASSIGN_OR_RETURN(std::vector<std::vector<Face>> faces, FinishBatch(one));
  return std::move(faces[0]);
}

Result<std::vector<std::vector<Face>>> FaceEngine::Impl::FinishBatch(
    std::span<const pipeline::ImageDetections> photos) const {
  const Impl& m = *this;
  std::vector<std::vector<Face>> out(photos.size());
  size_t total = 0;
  for (const auto& ph : photos) total += ph.dets.size();
  if (total == 0) return out;
  std::vector<pipeline::MeshResult> meshes;  // every photo's faces in order (flat index k)
  if (m.mesh) {
    FK_ASSIGN_OR_RETURN(meshes, m.mesh->Run(photos));
  }
  std::vector<std::vector<std::array<Point2f, 5>>> pts(photos.size());
  for (size_t p = 0, k = 0; p < photos.size(); ++p) {
    const auto dets = photos[p].dets;
    std::vector<Face>& faces = out[p];
    faces.resize(dets.size());
    pts[p].resize(dets.size());
    for (size_t i = 0; i < dets.size(); ++i, ++k) {
      Face& f = faces[i];
      f.box = dets[i].box;
      f.score = dets[i].score;
      // The mesh replaces the detector keypoints unless its face flag says it lost the face.
      if (!meshes.empty() && meshes[k].score >= 0.5f) {
        pts[p][i] = meshes[k].five;
        f.landmark_source = "facemesh";
        f.mesh = std::move(meshes[k].points);
      } else {
        pts[p][i] = pipeline::FivePointsFromDetector(dets[i]);
        f.landmark_source = "detector";
      }
      if (!meshes.empty()) f.mesh_score = meshes[k].score;
      f.landmarks = pts[p][i];
      f.pose = pipeline::EstimatePose(pts[p][i], f.landmark_source == "facemesh" ? pipeline::kNoseRefFaceMesh
                                                                                 : pipeline::kNoseRefDetector);
    }
  }
  // Templates first: a recognizer with the 112-px ArcFace chip hands it back for the quality
  // estimate (one warp per face fewer); other tiers warp the quality chip themselves.
  std::vector<Image> chips;  // flat index k, as the templates
  if (m.cfg.embed && m.recognizer) {
    std::vector<pipeline::ImagePoints> sets(photos.size());
    for (size_t p = 0; p < photos.size(); ++p) sets[p] = {photos[p].image, pts[p]};
    FK_ASSIGN_OR_RETURN(std::vector<FaceTemplate> t, m.recognizer->Embed(sets, m.flip, &chips));
    for (size_t p = 0, k = 0; p < photos.size(); ++p)
      for (Face& f : out[p]) f.templ = std::move(t[k++]);
  }
  if (m.attributes) {  // one run per attribute model for every face of every photo
    std::vector<pipeline::AttributeCrop> crops;
    std::vector<AttributeConfig> wants;
    crops.reserve(total);
    wants.reserve(total);
    for (size_t p = 0; p < photos.size(); ++p)
      for (size_t i = 0; i < out[p].size(); ++i) {
        crops.push_back(pipeline::AttributeCropOf(*photos[p].image, photos[p].dets[i].box, pts[p][i]));
        wants.push_back(photos[p].attributes ? *photos[p].attributes : m.cfg.attributes);
      }
    FK_ASSIGN_OR_RETURN(std::vector<FaceAttributes> attrs, m.attributes->Run(crops, wants));
    for (size_t p = 0, k = 0; p < photos.size(); ++p)
      for (Face& f : out[p]) f.attributes = std::move(attrs[k++]);
  }
  std::optional<pipeline::StepScope> quality(std::in_place, pipeline::Step::kQuality, static_cast<int64_t>(total));
  for (size_t p = 0, k = 0; p < photos.size(); ++p) {
    const Image& image = *photos[p].image;
    std::vector<Face>& faces = out[p];
    for (size_t i = 0; i < faces.size(); ++i, ++k) {
      if (k < chips.size() && !chips[k].empty()) {
        faces[i].quality = pipeline::EstimateQuality(chips[k], pts[p][i], faces[i].pose);
        continue;
      }
      FK_ASSIGN_OR_RETURN(vision::Affine2x3 a, vision::AlignmentTransform5(pts[p][i], 112));
      FK_ASSIGN_OR_RETURN(Image chip, vision::WarpAffine(image, a, 112, 112, {}, /*antialias=*/true));
      faces[i].quality = pipeline::EstimateQuality(chip, pts[p][i], faces[i].pose);
    }
    // Back to the coordinates of the original photo.
    const float sx = static_cast<float>(image.source_width()) / image.width();
    const float sy = static_cast<float>(image.source_height()) / image.height();
    if (sx != 1.f || sy != 1.f) {
      for (Face& f : faces) {
        f.box = {f.box.x0 * sx, f.box.y0 * sy, f.box.x1 * sx, f.box.y1 * sy};
        for (auto& q : f.landmarks) q = {q.x * sx, q.y * sy};
        for (auto& q : f.mesh) q = {q.x * sx, q.y * sy};
      }
    }
  }
  return out;
}

// A JPEG is decoded twice at most: first at the smallest DCT scale with >= kDetectSide px for
// the detector; again, at the scale where the smallest face found has kCropFaceSide px (at
// most the full decode, max_image_side), only when some face is smaller than that and the
// file has more pixels. Portraits and most photos need one cheap decode (entropy decoding
// is then about all of the cost); small faces in large photos get full resolution.
Status FaceEngine::Impl::PrepareDecoded(const Decoder& decode, DecodeOptions opts, const std::string& name,
                                        DetectedPhoto::Impl* out) const {
  ProcessStats& st = out->stats;
  st = {};
  if (opts.max_side == 0) opts.max_side = cfg.max_image_side;
  // On a GPU engine the JPEG's pixels come from nvJPEG at full size: the detector then works on
  // a box-downscaled copy (the PNG path below) and no second decode is needed.
  if (!opts.jpeg_pixels && jpeg_pixels) opts.jpeg_pixels = jpeg_pixels;
  opts.target_max_side = kDetectSide;
  double t0 = ThreadCpuMs();
  std::optional<pipeline::StepScope> step(std::in_place, pipeline::Step::kDecode, 1);
  FK_ASSIGN_OR_RETURN(out->decoded, decode(opts));
  step.reset();
  st.decode_cpu_ms += ThreadCpuMs() - t0;
  st.decodes = 1;
  const Image& work = out->decoded;
  st.detect_width = st.crop_width = work.width();
  st.detect_height = st.crop_height = work.height();
  if (std::max(work.width(), work.height()) >= 2 * kDetectSide) {
    // Not reduced by the decoder (PNG, WebP): Process()'s box-downscaled copies.
    Status s = Prepare(out->decoded, &out->p);
    return s.ok() ? s : s.WithContext(name);
  }
  auto dets = Detect(work);  // < 2 * kDetectSide px: no further copy
  if (!dets.ok()) return dets.status().WithContext(name);
  float smallest = 1e30f;
  for (const auto& d : *dets) smallest = std::min(smallest, std::min(d.box.width(), d.box.height()));
  const int side = std::max(work.width(), work.height());
  const int source_side = std::max(work.source_width(), work.source_height());
  const int best_side = opts.max_side > 0 ? std::min(source_side, opts.max_side) : source_side;
  // Only landmarks and templates need the finer decode (quality's chip is fine either way).
  const bool crops = mesh || (cfg.embed && recognizer) || attributes;
  if (crops && !dets->empty() && smallest < kCropFaceSide && best_side > side * 5 / 4) {
    DecodeOptions hi = opts;
    hi.target_max_side = static_cast<int>(std::ceil(side * kCropFaceSide / std::max(smallest, 1.f)));
    t0 = ThreadCpuMs();
    step.emplace(pipeline::Step::kDecode, 0);  // the same photo's second decode
    FK_ASSIGN_OR_RETURN(Image full, decode(hi));
    step.reset();
    st.decode_cpu_ms += ThreadCpuMs() - t0;
    st.decodes = 2;
    st.crop_width = full.width();
    st.crop_height = full.height();
    if (full.width() != work.width() || full.height() != work.height()) {
      ScaleDetections(&*dets, static_cast<double>(full.width()) / work.width(),
                      static_cast<double>(full.height()) / work.height());
      out->decoded = std::move(full);
    }
  }
  out->p.source = &out->decoded;
  out->p.copy = Image();
  out->p.dets = std::move(*dets);
  return OkStatus();
}

// A JPEG is decoded twice at most: first at the smallest DCT scale with >= kDetectSide px for
// the detector; again, at the scale where the smallest face found has kCropFaceSide px (at
// most the full decode, max_image_side), only when some face is smaller than that and the
// file has more pixels. Portraits and most photos need one cheap decode (entropy decoding
// is then about all of the cost); small faces in large photos get full resolution.
Result<std::vector<Face>> FaceEngine::ProcessFile(const std::string& path, ProcessStats* stats) const {
  const pipeline::StepScope::Binding bind(&impl_->steps);
  DetectedPhoto::Impl d;
  DecodeOptions opts;
  opts.max_side = impl_->cfg.max_image_side;
  const Status st = impl_->PrepareDecoded([&](const DecodeOptions& o) { return DecodeImageFile(path, o); }, opts,
                                          path, &d);
  if (stats) *stats = d.stats;
  FK_RETURN_IF_ERROR(st);
  auto faces = impl_->Finish(d.p.crop(), std::move(d.p.dets));
  if (!faces.ok()) return faces.status().WithContext(path);
  return faces;
}

Result<DetectedPhoto> FaceEngine::DetectEncoded(std::span<const uint8_t> encoded, const DecodeOptions& options,
                                                const std::string& name) const {
  const pipeline::StepScope::Binding bind(&impl_->steps);
  DetectedPhoto photo;
  photo.impl_ = std::make_unique<DetectedPhoto::Impl>();
  FK_RETURN_IF_ERROR(impl_->PrepareDecoded(
      [&](const DecodeOptions& o) { return DecodeImage(encoded, o, name); }, options, name, photo.impl_.get()));
  return photo;
}

Result<FaceTemplate> FaceEngine::Embed(const Image& image, const Face& face) const {
  const pipeline::StepScope::Binding bind(&impl_->steps);
  if (!impl_->recognizer) return FailedPrecondition("this engine was created with \"embed\": false");
  const float sx = static_cast<float>(image.width()) / image.source_width();
  const float sy = static_cast<float>(image.height()) / image.source_height();
  std::array<Point2f, 5> p = face.landmarks;
  for (auto& q : p) q = {q.x * sx, q.y * sy};
  std::array<std::array<Point2f, 5>, 1> one = {p};
  FK_ASSIGN_OR_RETURN(std::vector<FaceTemplate> t, impl_->recognizer->Embed(image, one, impl_->flip));
  return std::move(t[0]);
}

Result<VerifyResult> FaceEngine::Verify(const FaceTemplate& a, const FaceTemplate& b) const {
  FK_ASSIGN_OR_RETURN(float s, CompareTemplates(a, b));
  VerifyResult r;
  r.similarity = s;
  // The table of the templates' model: same TTA setting if there is one, else any.
  const RocTable* roc = nullptr;
  for (const auto& t : impl_->tables)
    if (t.model == a.model && t.model_version == a.model_version && (!roc || t.flip_tta == (a.flip_tta && b.flip_tta)))
      roc = &t;
  if (roc) {
    r.calibrated = true;
    r.far = roc->FarAt(s);
    r.frr = roc->FrrAt(s);
    r.threshold = roc->ThresholdForFar(impl_->cfg.target_far);
  } else {
    const auto* spec = pipeline::FindRecognizer(a.model);
    const auto* fusion = pipeline::FindFusion(a.model);
    r.threshold = spec ? spec->default_threshold : fusion ? fusion->default_threshold : 0.5f;
  }
  r.match = s >= r.threshold;
  return r;
}

float FaceEngine::ThresholdForFar(double far) const {
  if (impl_->roc) return impl_->roc->ThresholdForFar(far);
  return impl_->recognizer ? impl_->recognizer->default_threshold() : 0.5f;
}

bool FaceEngine::calibrated() const { return impl_->roc.has_value(); }
const FaceConfig& FaceEngine::config() const { return impl_->cfg; }
std::string FaceEngine::recognizer() const { return impl_->recognizer ? impl_->recognizer->id() : ""; }
int FaceEngine::recognizer_version() const { return impl_->recognizer ? impl_->recognizer->version() : 0; }
int FaceEngine::template_dim() const {
  if (!impl_->recognizer) return 0;
  const std::string& id = impl_->recognizer->id();
  if (const auto* spec = pipeline::FindRecognizer(id)) return spec->dim;
  int dim = 0;
  if (const auto* fusion = pipeline::FindFusion(id))
    for (const auto& part : fusion->parts)
      if (const auto* spec = pipeline::FindRecognizer(part)) dim += spec->dim;
  return dim;
}
bool FaceEngine::flip_tta() const { return impl_->recognizer && impl_->flip; }
std::string FaceEngine::detector() const { return impl_->detector_id; }

std::vector<StepTime> FaceEngine::StepTimes() const { return impl_->steps.Snapshot(); }

DetectBatchingStats FaceEngine::detect_batching_stats() const {
  DetectBatchingStats s;
  if (!impl_->detect_batcher) return s;
  const BatcherStats b = impl_->detect_batcher->Stats();
  s.enabled = true;
  s.max_batch = impl_->detect_max_batch;
  s.batches = b.batches;
  s.photos = b.photos;
  s.mean_batch = b.mean_batch;
  s.max_batch_seen = b.max_batch_seen;
  s.busy_s = b.busy_s;
  s.mean_queue_ms = b.mean_queue_ms;
  s.queued = b.queued;
  return s;
}

std::string FaceEngine::description() const {
  const Impl& m = *impl_;
  std::string s = std::string("tier ") + TierName(m.cfg.tier) + ": detector " + m.detector_id +
                  (m.mesh ? " + facemesh" : " (detector keypoints)");
  if (m.recognizer) s += ", recognizer " + m.recognizer->description() + (m.flip ? " + flip TTA" : "");
  if (m.attributes) {
    const AttributeConfig& a = m.attributes->config();
    s += std::string(", attributes") + (a.age_gender ? " age_gender" : "") + (a.emotion ? " emotion" : "") +
         (a.liveness ? " liveness" : "");
  }
  s += ", backend " + (m.cfg.use_cuda ? std::string("cuda") : m.cfg.backend);
  if (m.detect_batcher) s += ", detector batching " + std::to_string(m.detect_max_batch);
  if (m.jpeg_pixels) s += ", JPEG decoding on the GPU";
  s += m.roc ? ", calibrated (" + m.calibration_path + ")" : ", uncalibrated";
  if (!m.recognizer_note.empty()) s += " [" + m.recognizer_note + "]";
  return s;
}

}  // namespace fk
