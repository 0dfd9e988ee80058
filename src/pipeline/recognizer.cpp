// Recognizers: alignment to each model's canonical 5 points, input normalisation, batched
// embedding with optional flip TTA, L2 normalisation.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>

#include "pipeline/pipeline_internal.h"

namespace fk::pipeline {

namespace {

std::vector<RecognizerSpec> MakeSpecs() {
  std::vector<RecognizerSpec> v;
  {
    // mobileface (human-models): 112x112 ArcFace chip, RGB 0..255, 256-d.
    RecognizerSpec s;
    s.id = "mobileface";
    s.file = "human/mobileface.json";
    s.chip_size = 112;
    s.norm = vision::Normalize::Raw();
    s.dim = 256;
    s.default_threshold = 0.45f;
    v.push_back(s);
  }
  {
    // faceres (human-models): Human feeds the 1.4x-enlarged detector box, 0..1 * 255, at
    // 224x224. Our chip is a similarity-aligned ArcFace layout with margin: the ArcFace
    // points scaled by face_scale about the chip centre. Measured on the LFW dev pairs:
    // 0.7 -> 95.3%, 0.8 -> 96.0%, 0.9 -> 96.1%, 1.0 -> 96.0% (docs/pipeline.md).
    RecognizerSpec s;
    s.id = "faceres";
    s.file = "human/faceres.json";
    s.chip_size = 224;
    s.face_scale = 0.90f;
    s.y_shift = 0.0f;
    s.norm = vision::Normalize::Raw();
    s.dim = 1024;
    s.default_threshold = 0.6f;
    v.push_back(s);
  }
  {
    // fr_feature (faceplugin-face-recognition-js, ONNX): 112x112 ArcFace chip,
    // (pixel - 127) / 128, BGR (measured better than the package's RGB), 512-d.
    RecognizerSpec s;
    s.id = "fr_feature";
    s.file = "faceplugin/fr_feature.onnx";
    s.chip_size = 112;
    s.norm = vision::Normalize{{1 / 128.f, 1 / 128.f, 1 / 128.f}, {-127 / 128.f, -127 / 128.f, -127 / 128.f},
                               vision::ChannelOrder::kBGR};
    s.dim = 512;
    s.default_threshold = 0.3f;
    v.push_back(s);
  }
  {
    // faceapi_resnet (face-api.js face_recognition_model, a dlib ResNet-29 port): 150x150
    // RGB 0..255 (mean subtraction inside the graph), 128-d. dlib feeds a 150px chip with
    // padding 0.25 built from its mean face shape; in ArcFace-template terms that chip has
    // the face at about the same scale but centred (eyes ~0.30, mouth ~0.70 of the height)
    // instead of ArcFace's low placement, hence the upward shift (face centre at 0.5 needs
    // y_shift = -0.14 * face_scale). Measured on 300 LFW dev pairs (no flip), (scale, shift):
    // (0.9,-0.126) 97.0%, (1.0,-0.14) 97.7%, (1.1,-0.10) 97.7%, (1.1,-0.154) 98.7%,
    // (1.1,-0.19) 97.7%, (1.15,-0.161) 99.0%, (1.2,-0.168) 98.7%.
    RecognizerSpec s;
    s.id = "faceapi_resnet";
    s.file = "face-api/face_recognition_model-weights_manifest.json";
    s.chip_size = 150;
    s.face_scale = 1.15f;
    s.y_shift = -0.161f;
    s.norm = vision::Normalize::Raw();
    s.dim = 128;
    s.default_threshold = 0.85f;
    v.push_back(s);
  }
  return v;
}

const std::vector<RecognizerSpec>& Specs() {
  static const std::vector<RecognizerSpec> specs = MakeSpecs();
  return specs;
}

std::vector<FusionSpec> MakeFusions() {
  std::vector<FusionSpec> v;
  {
    // The accurate tier: fr_feature (BGR, 112 ArcFace chip) + faceapi_resnet (150 dlib-style
    // chip). Weights proportional to 1 / std of each model's impostor scores on all cross
    // pairs of the 1549 LFW development images, no flip (src/pipeline/data/calibration.json:
    // fr_feature 0.0962, faceapi_resnet 0.0343): w = 10.40 / 39.55 and 29.15 / 39.55. That
    // makes the fused cosine an increasing affine map of the z-normalised score sum, whose
    // accuracy `facekit eval lfw` measured at 99.5% with flip TTA (docs/benchmarks/accuracy.md).
    FusionSpec f;
    f.id = "fusion:fr_feature+faceapi_resnet";
    f.version = 1;
    f.parts = {"fr_feature", "faceapi_resnet"};
    f.weights = {0.263f, 0.737f};
    // The calibrated threshold at FAR 1e-3 (0.760 on the LFW dev set, FRR 1.2%); used only
    // when no calibration table is found.
    f.default_threshold = 0.76f;
    v.push_back(f);
  }
  return v;
}

const std::vector<FusionSpec>& Fusions() {
  static const std::vector<FusionSpec> fusions = MakeFusions();
  return fusions;
}

}  // namespace

const RecognizerSpec* FindRecognizer(const std::string& id) {
  for (const auto& s : Specs())
    if (s.id == id) return &s;
  return nullptr;
}

const FusionSpec* FindFusion(const std::string& id) {
  for (const auto& f : Fusions())
    if (f.id == id) return &f;
  return nullptr;
}

Result<FaceTemplate> FuseTemplates(const FusionSpec& spec, std::span<const FaceTemplate> parts) {
  if (parts.size() != spec.parts.size() || spec.weights.size() != spec.parts.size())
    return InvalidArgument("fusion " + spec.id + ": expected " + std::to_string(spec.parts.size()) +
                           " part templates, got " + std::to_string(parts.size()));
  FaceTemplate out;
  out.model = spec.id;
  out.model_version = spec.version;
  out.flip_tta = true;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FaceTemplate& t = parts[i];
    const RecognizerSpec* rs = FindRecognizer(spec.parts[i]);
    if (t.model != spec.parts[i])
      return InvalidArgument("fusion " + spec.id + ": part " + std::to_string(i) + " is a '" + t.model +
                             "' template, expected '" + spec.parts[i] + "'");
    if (t.empty() || (rs && static_cast<int>(t.data.size()) != rs->dim))
      return InvalidArgument("fusion " + spec.id + ": part '" + t.model + "' has dimension " +
                             std::to_string(t.data.size()) + ", expected " + std::to_string(rs ? rs->dim : 0));
    if (i > 0 && t.flip_tta != parts[0].flip_tta)
      return InvalidArgument("fusion " + spec.id + ": parts made with and without flip TTA");
    out.flip_tta = out.flip_tta && t.flip_tta;
    double nn = 0;
    for (float x : t.data) nn += double{x} * x;
    if (!(nn > 0) || !std::isfinite(nn))
      return InvalidArgument("fusion " + spec.id + ": part '" + t.model + "' has zero or non-finite norm");
    // Each part re-normalised (templates are unit length already; this keeps the fused
    // template exactly unit length) and scaled by sqrt(w).
    const float k = static_cast<float>(std::sqrt(double{spec.weights[i]}) / std::sqrt(nn));
    for (float x : t.data) out.data.push_back(x * k);
  }
  return out;
}

Result<std::unique_ptr<Embedder>> Embedder::Load(const std::string& id, const std::string& models_dir,
                                                 const ModelOptions& opts) {
  auto e = std::make_unique<Embedder>();
  e->id_ = id;
  if (const RecognizerSpec* rs = FindRecognizer(id)) {
    FK_ASSIGN_OR_RETURN(auto r, Recognizer::Load(*rs, models_dir, opts));
    e->version_ = rs->version;
    e->default_threshold_ = rs->default_threshold;
    e->parts_.push_back(std::move(r));
    return e;
  }
  const FusionSpec* fs = FindFusion(id);
  if (!fs) return InvalidArgument("unknown recognizer '" + id + "'");
  e->fusion_ = fs;
  e->version_ = fs->version;
  e->default_threshold_ = fs->default_threshold;
  for (const auto& part : fs->parts) {
    const RecognizerSpec* rs = FindRecognizer(part);
    if (!rs) return Internal("fusion " + id + " names unknown recognizer '" + part + "'");
    auto r = Recognizer::Load(*rs, models_dir, opts);
    if (!r.ok()) return r.status().WithContext("fusion " + id);
    e->parts_.push_back(std::move(r).value());
  }
  return e;
}

Result<std::vector<FaceTemplate>> Embedder::Embed(const Image& image, std::span<const std::array<Point2f, 5>> pts,
                                                  bool flip, std::vector<Image>* arcface_chips) const {
  const ImagePoints one[] = {{&image, pts}};
  return Embed(one, flip, arcface_chips);
}

Result<std::vector<FaceTemplate>> Embedder::Embed(std::span<const ImagePoints> images, bool flip,
                                                  std::vector<Image>* arcface_chips) const {
  if (!fusion_) return parts_[0]->Embed(images, flip, arcface_chips);
  std::vector<std::vector<Image>*> chips(parts_.size(), nullptr);  // the first ArcFace-112 part writes them
  for (size_t p = 0; p < parts_.size(); ++p)
    if (parts_[p]->arcface_112()) {
      chips[p] = arcface_chips;
      break;
    }
  // Parts on a GPU run at once (the other parts on threads of their own: warps on the CPU, model
  // runs on separate streams), so a fusion's latency is its slowest part's, not the sum. On the
  // CPU the parts run one after the other: each model run already uses every core.
  bool gpu = parts_.size() > 1;
  for (const auto& r : parts_) gpu = gpu && r->on_gpu();
  std::vector<std::future<Result<std::vector<FaceTemplate>>>> pending;
  StepCounters* steps = StepScope::Bound();  // the caller's engine's, for the parts' threads
  if (gpu)
    for (size_t p = 1; p < parts_.size(); ++p)
      pending.push_back(std::async(std::launch::async, [&, p] {
        const StepScope::Binding bind(steps);
        return parts_[p]->Embed(images, flip, chips[p]);
      }));
  std::vector<std::vector<FaceTemplate>> per_part;
  Status first_error = OkStatus();
  for (size_t p = 0; p < parts_.size(); ++p) {
    Result<std::vector<FaceTemplate>> t =
        (gpu && p > 0) ? pending[p - 1].get() : parts_[p]->Embed(images, flip, chips[p]);
    if (!t.ok()) {
      if (first_error.ok()) first_error = t.status();
      continue;  // the other parts' threads are still joined (get) before returning
    }
    per_part.push_back(std::move(t).value());
  }
  FK_RETURN_IF_ERROR(first_error);
  size_t faces = 0;
  for (const ImagePoints& im : images) faces += im.pts.size();
  std::vector<FaceTemplate> out;
  std::vector<FaceTemplate> parts(parts_.size());
  for (size_t f = 0; f < faces; ++f) {
    for (size_t p = 0; p < parts_.size(); ++p) parts[p] = std::move(per_part[p][f]);
    FK_ASSIGN_OR_RETURN(FaceTemplate t, FuseTemplates(*fusion_, parts));
    out.push_back(std::move(t));
  }
  return out;
}

std::string Embedder::description() const {
  if (!fusion_) return id_;
  std::string s = id_ + " (";
  for (size_t i = 0; i < fusion_->parts.size(); ++i) {
    char w[32];
    std::snprintf(w, sizeof w, "%.3f ", fusion_->weights[i]);
    s += (i ? " + " : "") + std::string(w) + fusion_->parts[i];
  }
  return s + ")";
}

std::array<Point2f, 5> CanonicalPoints(const RecognizerSpec& spec) {
  auto t = vision::ArcFaceTemplate(spec.chip_size);
  const float c = spec.chip_size / 2.f;
  for (auto& p : t) {
    p.x = c + (p.x - c) * spec.face_scale;
    p.y = c + (p.y - c) * spec.face_scale + spec.y_shift * spec.chip_size;
  }
  return t;
}

std::string ResolveModelsDir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) return e;
  return "models";
}

Result<std::unique_ptr<Recognizer>> Recognizer::Load(const RecognizerSpec& spec, const std::string& models_dir,
                                                     const ModelOptions& opts) {
  auto r = std::make_unique<Recognizer>();
  r->spec_ = spec;
  const std::string path = models_dir + "/" + spec.file;
  if (!std::filesystem::exists(path))
    return NotFound("recognizer model '" + spec.id + "' not found at " + path +
                    " (fetch the models with scripts/fetch_models.sh or set models_dir)");
  FK_ASSIGN_OR_RETURN(r->model_, Model::Load(path, opts));
  const auto& in = r->model_->inputs();
  if (in.size() != 1 || in[0].shape.rank() != 4)
    return InvalidArgument("recognizer " + path + ": expected one image input");
  const auto& s = in[0].shape;
  if (s[3] == 3 && (s[1] == spec.chip_size || s[1] < 0)) {
    r->nchw_ = false;
  } else if (s[1] == 3 && (s[2] == spec.chip_size || s[2] < 0)) {
    r->nchw_ = true;  // ONNX models keep their NCHW input
  } else {
    return InvalidArgument("recognizer " + path + ": input " + s.ToString() + " is not a " +
                           std::to_string(spec.chip_size) + "x" + std::to_string(spec.chip_size) + " RGB image");
  }
  bool has_out = false;
  for (const auto& o : r->model_->outputs())
    if (o.shape.rank() == 2 && o.shape[1] == spec.dim) has_out = true;
  if (!has_out) return InvalidArgument("recognizer " + path + ": no output of dimension " + std::to_string(spec.dim));
  return r;
}

Result<std::vector<FaceTemplate>> Recognizer::Embed(const Image& image, std::span<const std::array<Point2f, 5>> pts,
                                                    bool flip, std::vector<Image>* arcface_chips) const {
  const ImagePoints one[] = {{&image, pts}};
  return Embed(one, flip, arcface_chips);
}

Result<std::vector<FaceTemplate>> Recognizer::Embed(std::span<const ImagePoints> images, bool flip,
                                                    std::vector<Image>* arcface_chips) const {
  std::vector<FaceTemplate> out;
  // Every image's faces in order: landmark set and the image it is cut from.
  std::vector<std::array<Point2f, 5>> pts;
  std::vector<const Image*> from;
  for (const ImagePoints& im : images) {
    if (!im.pts.empty() && !im.image) return InvalidArgument("recognizer " + spec_.id + ": landmarks without an image");
    for (const auto& p : im.pts) {
      pts.push_back(p);
      from.push_back(im.image);
    }
  }
  if (pts.empty()) return out;
  const int faces = static_cast<int>(pts.size());
  const int views = flip ? 2 : 1;
  const int n = faces * views;
  const int S = spec_.chip_size;
  const int64_t per = int64_t{S} * S * 3;
  const auto canon = CanonicalPoints(spec_);
  if (!nchw_ && ModelCrops(*model_)) {
    // The model cuts the chips (on a GPU: from the photos uploaded once); the mirrored view is a
    // mirrored crop. The 8-bit ArcFace chips, when asked for, come back from the same cut.
    std::optional<StepScope> step(std::in_place, Step::kEmbedCrop, faces);
    CropBatch batch;
    for (int f = 0; f < faces; ++f) {
      FK_ASSIGN_OR_RETURN(vision::Affine2x3 m, vision::EstimateSimilarity(pts[f], canon));
      FK_RETURN_IF_ERROR(batch.Add(*from[f], m, S, S));
      if (flip) FK_RETURN_IF_ERROR(batch.Add(*from[f], m, S, S, /*mirror=*/true));
    }
    step.emplace(Step::kEmbedRun, faces);
    const bool chips = arcface_chips && arcface_112();
    Tensor bytes;
    FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs, batch.Run(*model_, S, S, spec_.norm, chips ? &bytes : nullptr));
    if (chips) {
      if (bytes.dtype() != DType::kUInt8 || bytes.num_elements() != int64_t{n} * per)
        return Internal("recognizer " + spec_.id + ": the model returned no 8-bit chips");
      arcface_chips->assign(pts.size(), Image());
      for (int f = 0; f < faces; ++f) {
        Image chip = Image::Uninitialized(S, S);
        const uint8_t* src = bytes.data<uint8_t>() + int64_t{f} * views * per;  // the unmirrored view
        for (int y = 0; y < S; ++y) std::memcpy(chip.row(y), src + int64_t{y} * S * 3, static_cast<size_t>(S) * 3);
        (*arcface_chips)[static_cast<size_t>(f)] = std::move(chip);
      }
    }
    return Templates(outs, faces, views);
  }
  std::vector<float> hwc(static_cast<size_t>(n * per));
  // 8-bit path (NHWC models only): the warp in pixel values, rounded to bytes by RunNormalized.
  const bool pixels = !nchw_ && PixelInputs(*model_);
  const vision::Normalize warp_norm = CropNorm(pixels, spec_.norm);
  std::optional<StepScope> step(std::in_place, Step::kEmbedCrop, faces);
  for (int f = 0; f < faces; ++f) {
    FK_ASSIGN_OR_RETURN(vision::Affine2x3 m, vision::EstimateSimilarity(pts[f], canon));
    float* dst = hwc.data() + int64_t{f} * views * per;
    FK_RETURN_IF_ERROR(vision::WarpAffineInto(*from[f], m, S, S, warp_norm, dst, 0.f, /*antialias=*/true));
    if (arcface_chips && arcface_112()) {
      // The 8-bit chip from the same warp: undo the normalisation, round as WarpAffine does.
      if (arcface_chips->size() != pts.size()) arcface_chips->assign(pts.size(), Image());
      Image chip = Image::Uninitialized(S, S);
      const bool bgr = warp_norm.order == vision::ChannelOrder::kBGR;
      for (int y = 0; y < S; ++y) {
        uint8_t* d = chip.row(y);
        const float* src = dst + int64_t{y} * S * 3;
        for (int x = 0; x < S; ++x)
          for (int k = 0; k < 3; ++k) {
            const float v = std::nearbyint((src[3 * x + k] - warp_norm.offset[k]) / warp_norm.scale[k]);
            d[3 * x + (bgr ? 2 - k : k)] = static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
          }
      }
      (*arcface_chips)[f] = std::move(chip);
    }
    if (flip) {
      // Mirrored chip: x -> S - x on the chip (exact in facekit coordinates).
      float* m2 = dst + per;
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x)
          for (int c = 0; c < 3; ++c) m2[(int64_t{y} * S + x) * 3 + c] = dst[(int64_t{y} * S + (S - 1 - x)) * 3 + c];
    }
  }
  step.emplace(Step::kEmbedRun, faces);
  std::vector<Tensor> outs;
  if (nchw_) {  // ONNX models that keep their NCHW input: floats, re-laid out
    Tensor input(DType::kFloat32, Shape({n, 3, S, S}));
    float* d = input.data<float>();
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c)
        for (int64_t p = 0; p < int64_t{S} * S; ++p) d[i * per + c * S * S + p] = hwc[i * per + p * 3 + c];
    FK_ASSIGN_OR_RETURN(outs, model_->Run({input}));
  } else {  // the chips as they are (hwc outlives the synchronous run)
    const Tensor input = Tensor::View(DType::kFloat32, Shape({n, S, S, 3}), hwc.data());
    FK_ASSIGN_OR_RETURN(outs, RunNormalized(*model_, input, spec_.norm, pixels));
  }
  return Templates(outs, faces, views);
}

Result<std::vector<FaceTemplate>> Recognizer::Templates(const std::vector<Tensor>& outs, int faces, int views) const {
  const int n = faces * views;
  std::vector<FaceTemplate> out;
  const float* emb = nullptr;
  for (const auto& t : outs)
    if (t.shape().rank() == 2 && t.shape()[0] == n && t.shape()[1] == spec_.dim) emb = t.data<float>();
  if (!emb) return Internal("recognizer " + spec_.id + ": no [" + std::to_string(n) + "," + std::to_string(spec_.dim) + "] output");
  for (int f = 0; f < faces; ++f) {
    FaceTemplate t;
    t.model = spec_.id;
    t.model_version = spec_.version;
    t.flip_tta = views == 2;
    t.data.assign(spec_.dim, 0.f);
    for (int v = 0; v < views; ++v) {
      const float* e = emb + (int64_t{f} * views + v) * spec_.dim;
      // Each view is normalised before summing so both count equally.
      double nn = 0;
      for (int k = 0; k < spec_.dim; ++k) nn += double{e[k]} * e[k];
      const float inv = nn > 0 ? static_cast<float>(1.0 / std::sqrt(nn)) : 0.f;
      for (int k = 0; k < spec_.dim; ++k) t.data[k] += e[k] * inv;
    }
    double nn = 0;
    for (float x : t.data) nn += double{x} * x;
    if (!(nn > 0) || !std::isfinite(nn)) return Internal("recognizer " + spec_.id + ": zero or non-finite embedding");
    const float inv = static_cast<float>(1.0 / std::sqrt(nn));
    for (float& x : t.data) x *= inv;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace fk::pipeline
