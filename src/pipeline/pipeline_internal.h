// Internal pieces of the face pipeline (not installed): BlazeFace detector, facemesh
// landmarks, pose/quality, recognizers. See include/facekit/face.h for the public API and
// docs/pipeline.md for the design.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "facekit/engine.h"
#include "facekit/face.h"
#include "facekit/image.h"
#include "pipeline/step_times.h"
#include "vision/geometry.h"
#include "vision/image_ops.h"

namespace fk::pipeline {

// ---- model inputs: normalised floats, or 8-bit pixels normalised by the model ----------------
// Every stage (detector, facemesh, recognizer) crops into a float NHWC buffer. On the CPU the
// crop writes the model's normalisation; when the model takes 8-bit pixels (PixelInputs) the crop
// writes pixel values (CropNorm: Normalize::Raw()), RunNormalized rounds them to bytes and the
// model normalises them where it runs (Model::RunPixels: on a GPU, a quarter of the bytes cross
// the bus). LFW accuracy unchanged: docs/benchmarks/pixel-inputs.md.

// Model::pixel_inputs() (ModelOptions / FaceConfig::pixel_inputs; auto: a model on the GPU);
// $FK_PIXEL_INPUTS=1 / =0 forces it on / off (A/B, and the accuracy check on the CPU). Read per call.
bool PixelInputs(const Model& model);
// The normalisation the crop applies: `norm`, or pixel values when `pixels`.
inline vision::Normalize CropNorm(bool pixels, const vision::Normalize& norm) {
  return pixels ? vision::Normalize::Raw() : norm;
}
// Runs `model` on `input` (one float NHWC tensor written with CropNorm(pixels, norm)).
Result<std::vector<Tensor>> RunNormalized(const Model& model, const Tensor& input, const vision::Normalize& norm,
                                          bool pixels);
// The halves of RunNormalized's 8-bit path: pixel values (floats) rounded to bytes (nearest,
// clamped to 0..255, as vision's 8-bit crops round), and the model run on such bytes.
Tensor ToPixelBytes(const Tensor& pixel_values);
Result<std::vector<Tensor>> RunPixelBytes(const Model& model, const Tensor& bytes, const vision::Normalize& norm);
// The model's normalisation of 8-bit pixels (Model::RunPixels / RunWarps) from a vision::Normalize.
PixelNormalization PixelNormOf(const vision::Normalize& norm);

// Crops cut by the model (Model::RunWarps: on a GPU, from the photo uploaded once) rather than by
// vision::WarpAffineInto on the CPU, for facemesh and the recognizers: a model that takes 8-bit
// pixels (PixelInputs: on a GPU by default), unless $FK_MODEL_CROPS=0. The crops are the same
// bytes either way (tests: WarpAffine.SharedSampler..., PipelineSamples.ModelCropsGiveTheSameFaces);
// on an H100 server +40-58% faces/s (docs/benchmarks/crops-gpu.md).
bool ModelCrops(const Model& model);
// The photos and crops of one RunWarps call: Add() plans the crop of `image` by `src_to_dst`
// (vision::PlanWarp, antialias as the CPU crop) into an out x out chip.
class CropBatch {
 public:
  Status Add(const Image& image, const vision::Affine2x3& src_to_dst, int out_w, int out_h, bool mirror = false);
  // `crops_out` (may be null): the 8-bit crops, uint8 [N, out_h, out_w, 3] (Model::RunWarps).
  Result<std::vector<Tensor>> Run(const Model& model, int out_h, int out_w, const vision::Normalize& norm,
                                  Tensor* crops_out = nullptr) const;
  size_t size() const { return crops_.size(); }

 private:
  std::vector<const Image*> photos_;
  std::vector<PixelImage> images_;
  std::vector<CropWarp> crops_;
};

// ---- detection -------------------------------------------------------------------------

// One detection in the coordinates of the image it was run on. Keypoints in BlazeFace's
// order: 0 subject's right eye (image left), 1 left eye, 2 nose tip, 3 mouth centre,
// 4 right ear tragion, 5 left ear tragion. Detectors without keypoints (fr_detect) fill
// them from the box with average face proportions and set keypoints_estimated: they are
// then only a starting point for facemesh (which levels the eyes itself, landmarks.cpp).
struct Detection {
  BoxF box;
  float score = 0.f;
  std::array<Point2f, 6> keypoints{};
  bool keypoints_estimated = false;
};

// SSD anchor centres in input pixels exactly as Human's generateAnchors(): strides
// size/16 (2 anchors per cell) then size/8 (6 per cell), row-major, centre (g + 0.5) * stride.
std::vector<Point2f> BlazeFaceAnchors(int input_size);

float IoU(const BoxF& a, const BoxF& b);
// Weighted NMS (MediaPipe): the best remaining detection and every other with IoU > thr
// are blended, boxes and keypoints weighted by score; the blend keeps the best score.
std::vector<Detection> WeightedNms(std::vector<Detection> dets, float iou_threshold, int max_out);

// A region of an image, for model runs over crops of several images at once.
struct ImageRegion {
  const Image* image = nullptr;
  BoxF box;
};

// One photo's detector input, made on the caller's thread (FaceDetector::PrepareInput: the
// regions and their pixels resized to the model input) so that several photos can share one
// model run (FaceDetector::DetectPrepared; FaceConfig::detect_batching batches concurrent
// callers' photos this way). Borrows `image`, which must outlive DetectPrepared().
struct DetectorInput {
  const Image* image = nullptr;
  std::vector<BoxF> regions;  // [0] the photo letterboxed to the input's aspect ratio, then the tiles
  // [regions, input_height, input_width, 3]: uint8 pixels when the model takes 8-bit inputs
  // (PixelInputs: a GPU model), else the model's normalised floats. Empty when `warps`: the
  // model cuts the regions from `image` itself (ModelCrops: on a GPU, from the photo uploaded).
  Tensor input;
  bool warps = false;
  // How the regions reach the model: 0 floats, 1 8-bit pixels, 2 cut by the model.
  int kind() const { return warps ? 2 : input.dtype() == DType::kUInt8 ? 1 : 0; }
  float tile_side = 0.f;  // shorter side of a tile (image pixels), for the tile merge
  float to_photo = 1.f;   // photo pixels per image pixel (the image may be a downscaled decode)
};

// A face detector: the model runs on regions of the photo resized to its input
// (input_width x input_height); Detect() chooses the regions (the photo letterboxed to the
// input's aspect ratio, + overlapping tiles for small faces), merges by weighted NMS and
// applies min_face_size / max_faces. Immutable after Load(); every method is thread-safe.
class FaceDetector {
 public:
  virtual ~FaceDetector() = default;
  // The detector named by cfg.model ("blazeface-back", "blazeface-front", "blazeface",
  // "fr_detect") from models_dir. NotFound naming the file when the model is missing.
  static Result<std::unique_ptr<FaceDetector>> Load(const std::string& models_dir, const ModelOptions& opts,
                                                    const DetectorConfig& cfg);
  // All faces of `image` (image coordinates), best score first: DetectPrepared of PrepareInput.
  Result<std::vector<Detection>> Detect(const Image& image) const;
  // Detect() in two halves. PrepareInput: the regions of `image` and their resized pixels
  // (the costly CPU part: run it on the caller's thread). DetectPrepared: the model on the
  // regions of all `photos` (runs of up to kMaxRegionsPerRun regions across photos; one region
  // per run on a one-thread CPU model, which is faster there), then per photo the merge and
  // filters, then Refine over all photos at once. results[i] for photos[i]: a failed model run
  // fails only the photos with regions in it; the same detections as Detect() photo by photo.
  Status PrepareInput(const Image& image, DetectorInput* out) const;
  std::vector<Result<std::vector<Detection>>> DetectPrepared(std::span<DetectorInput* const> photos) const;
  static constexpr int kMaxRegionsPerRun = 64;
  // Runs the model on `regions` (batched; each region has the input's aspect ratio) and decodes
  // every candidate above min_confidence into its image's coordinates; out[i] for regions[i].
  Status RunRegions(std::span<const ImageRegion> regions, std::vector<std::vector<Detection>>* out) const;
  Status RunRegions(const Image& image, std::span<const BoxF> regions, std::vector<std::vector<Detection>>* out) const;
  int input_width() const { return width_; }
  int input_height() const { return height_; }
  const std::string& id() const { return id_; }
  std::string backend() const { return model_->backend_name(); }  // where the model runs ("cuda", "cpu", ...)

 protected:
  // The model's input normalisation (applied by the crop, or by the model on 8-bit inputs).
  virtual vision::Normalize InputNorm() const = 0;
  // Decodes the outputs of one model run over `regions` (outs' batch = regions.size()) into
  // out[i] for regions[i], in the regions' image coordinates.
  virtual Status DecodeOutputs(const std::vector<Tensor>& outs, std::span<const BoxF> regions,
                               std::vector<std::vector<Detection>>* out) const = 0;
  // Called on the final detections of every photo (after NMS and the size filter), several
  // photos at once (dets[i] of images[i]); fr_detect adds keypoints here. Default: nothing.
  virtual Status Refine(std::span<const Image* const> images, std::span<std::vector<Detection>* const> dets) const {
    return OkStatus();
  }

  std::unique_ptr<Model> model_;
  DetectorConfig cfg_;
  int threads_ = 0;  // ModelOptions::num_threads, 0 = all cores (region batching: DetectPrepared)
  std::string id_;
  int width_ = 256, height_ = 256;

 private:
  Status RunInput(const Tensor& input, bool pixels, std::span<const BoxF> regions,
                  std::vector<std::vector<Detection>>* out) const;
  // The model cuts `regions` of their images (Model::RunWarps) and runs; out[i] for regions[i].
  Status RunWarped(std::span<const ImageRegion> regions, std::vector<std::vector<Detection>>* out) const;
  // `regions` resized into one [n, input_height, input_width, 3] input: 8-bit when the model
  // takes pixels (PixelInputs), else normalised floats.
  Result<Tensor> CropRegions(std::span<const ImageRegion> regions) const;
  std::vector<Detection> Merge(const DetectorInput& in, std::vector<std::vector<Detection>> per_region) const;
};

// BlazeFace (human-models blazeface-back 256 / blazeface-front 128): anchors and decoding
// as Human's face/blazeface.ts; input x / 127.5 - 1, RGB, NHWC square.
class BlazeFace : public FaceDetector {
 public:
  static Result<std::unique_ptr<BlazeFace>> Load(const std::string& path, const ModelOptions& opts,
                                                 const DetectorConfig& cfg);
  int input_size() const { return width_; }

 protected:
  vision::Normalize InputNorm() const override;
  Status DecodeOutputs(const std::vector<Tensor>& outs, std::span<const BoxF> regions,
                       std::vector<std::vector<Detection>>* out) const override;

 private:
  std::vector<Point2f> anchors_;
};

// fr_detect.onnx (faceplugin-face-recognition-js; Ultra-Light-Fast-Generic-Face-Detector
// RFB-320): input 320x240 RGB, (p - 127) / 128; outputs scores [N,4420,2] (softmax, column
// 1 = face) and boxes [N,4420,4] (x0, y0, x1, y1 as fractions of the input, priors decoded
// inside the model). No keypoints: the box is squared about its centre (side = box height,
// as the package does), mapped to BlazeFace's box convention (a measured scale and shift,
// detector.cpp) and the keypoints are estimated from it (Detection above).
//
// Keypoints: when `keypoint_model` (blazeface-front, 128x128) is given, it runs on a square
// crop of twice each final box (one batched run) and its best detection overlapping the box
// gives the 6 keypoints (so facemesh gets the eye-line angle, as with BlazeFace); faces it
// does not see keep the estimated keypoints. Those with an fr_detect score below
// kUnconfirmedMinScore are checked by facemesh (`verify_model`): kept only when its face
// flag is >= 0.5 (on the sample photos every fr_detect false positive at 0.5 scored < 0.75,
// was not seen by BlazeFace and had a face flag < 0.5; real faces cut by the frame or
// half hidden, with scores 0.43-0.72, passed).
class FaceMesh;
class FrDetect : public FaceDetector {
 public:
  static constexpr float kUnconfirmedMinScore = 0.9f;
  ~FrDetect() override;
  static Result<std::unique_ptr<FrDetect>> Load(const std::string& path, const ModelOptions& opts,
                                                const DetectorConfig& cfg, const std::string& keypoint_model = "",
                                                const std::string& verify_model = "");

 protected:
  vision::Normalize InputNorm() const override;
  Status DecodeOutputs(const std::vector<Tensor>& outs, std::span<const BoxF> regions,
                       std::vector<std::vector<Detection>>* out) const override;
  Status Refine(std::span<const Image* const> images, std::span<std::vector<Detection>* const> dets) const override;

 private:
  std::unique_ptr<BlazeFace> keypoints_;
  std::unique_ptr<FaceMesh> verifier_;
};

// Average keypoints of a face in a square fr_detect box (fractions of the side), measured
// against facemesh on LFW (docs/pipeline.md).
std::array<Point2f, 6> KeypointsFromBox(const BoxF& box);

// ---- landmarks, pose, quality -----------------------------------------------------------

struct MeshResult {
  std::vector<Point2f> points;  // 468, image coordinates
  float score = 0.f;            // face flag
  std::array<Point2f, 5> five{};
};

// The faces of one image, for the runs batched over several photos (FaceEngine::ProcessBatch):
// one model run for all faces of all images.
struct ImageDetections {
  const Image* image = nullptr;
  std::span<const Detection> dets;  // in `image` coordinates
  // The attributes this photo's faces get (a subset of the engine's); null: the engine's.
  const AttributeConfig* attributes = nullptr;
};
struct ImagePoints {
  const Image* image = nullptr;
  std::span<const std::array<Point2f, 5>> pts;  // in `image` coordinates
};

class FaceMesh {
 public:
  static Result<std::unique_ptr<FaceMesh>> Load(const std::string& path, const ModelOptions& opts);
  // One mesh per detection (batched), on a 192x192 crop of the detector box enlarged 1.4x,
  // squared and rotated so that the eyes are level.
  Result<std::vector<MeshResult>> Run(const Image& image, std::span<const Detection> dets) const;
  // The same for the detections of several images in ONE model run (plus one for the
  // re-levelled tilted faces, as above): the meshes of images[0]'s detections first, then
  // images[1]'s..., each in its own image's coordinates. Run(image, dets) is this with one image.
  Result<std::vector<MeshResult>> Run(std::span<const ImageDetections> images) const;

 private:
  std::unique_ptr<Model> model_;
};

// 5 points from the detector keypoints (mouth corners estimated from the mouth centre and
// the eye line).
std::array<Point2f, 5> FivePointsFromDetector(const Detection& d);
// 5 points from the 468 facemesh points (eye centres = mean of the eye contour points).
std::array<Point2f, 5> FivePointsFromMesh(std::span<const Point2f> mesh);

// `nose_ref`: where the nose tip sits between the eye line (0) and the mouth line (1) on a
// frontal face for this landmark source: 0.494 in the ArcFace template; measured medians on
// LFW (mostly frontal): 0.61 for facemesh points, 0.55 for the detector keypoints.
inline constexpr float kNoseRefArcFace = 0.494f;
inline constexpr float kNoseRefFaceMesh = 0.61f;
inline constexpr float kNoseRefDetector = 0.55f;
HeadPose EstimatePose(std::span<const Point2f, 5> pts, float nose_ref = kNoseRefArcFace);
// `chip112`: the face aligned to the 112x112 ArcFace template.
FaceQuality EstimateQuality(const Image& chip112, std::span<const Point2f, 5> pts, const HeadPose& pose);
double LaplacianVariance(const Image& img);

// The square face crop of facemesh and of the attribute models (Human's face.tensor): centre
// (cx, cy) and side in image pixels, rotated by `angle` (radians, the eye-line angle it undoes),
// mapped onto a size x size chip. Returns the image -> chip transform.
vision::Affine2x3 SquareCropTransform(float cx, float cy, float side, double angle, int size);

// ---- attributes --------------------------------------------------------------------------

// Human's attribute models (face/faceres.ts, gear/emotion.ts, face/antispoof.ts,
// face/liveness.ts) take face.tensor, facemesh's input crop: the detector box enlarged 1.4x,
// squared and rotated so that the eyes are level, 192x192, pixels 0..1; each resizes it to its
// own input with TF's ResizeBilinear (align_corners = false, half_pixel_centers = false).
inline constexpr int kAttributeCropSize = 192;
struct AttributeCrop {
  const Image* image = nullptr;
  float cx = 0.f, cy = 0.f, side = 0.f;  // square crop, image pixels
  double angle = 0.0;                    // eye-line angle (radians)
};
// The crop of one face: the box's centre, 1.4x its longer side, levelled by the eye line of
// `pts` (5 points, facekit order).
AttributeCrop AttributeCropOf(const Image& image, const BoxF& box, std::span<const Point2f, 5> pts);

// TF's ResizeBilinear with align_corners = false, half_pixel_centers = false (source = dst *
// in / out, clamped neighbours) on NHWC float32.
Tensor ResizeBilinearTf(const Tensor& in, int out_h, int out_w);

class AttributeModels {
 public:
  // The models cfg asks for from <models_dir>/human/: faceres.json (age_gender), emotion.json,
  // antispoof.json + liveness.json (liveness). NotFound naming the file and the config key that
  // asked for it when one is missing.
  static Result<std::unique_ptr<AttributeModels>> Load(const std::string& models_dir, const ModelOptions& opts,
                                                       const AttributeConfig& cfg);
  ~AttributeModels();
  // One result per crop; every model runs once, on the crops that want it. `want[i]`: what crop i
  // gets (each a subset of config()); empty span: config() for every crop.
  Result<std::vector<FaceAttributes>> Run(std::span<const AttributeCrop> crops,
                                          std::span<const AttributeConfig> want = {}) const;
  // The same from ready crops: [N, 192, 192, 3] float32, pixels 0..1 (Human's face.tensor).
  Result<std::vector<FaceAttributes>> RunOnCrops(const Tensor& crops, std::span<const AttributeConfig> want = {}) const;
  const AttributeConfig& config() const { return cfg_; }

 private:
  AttributeConfig cfg_;
  std::unique_ptr<Model> faceres_, emotion_, antispoof_, liveness_;
};

// ---- recognizers ------------------------------------------------------------------------

struct RecognizerSpec {
  std::string id;            // "mobileface", "faceres", "fr_feature"
  int version = 1;
  std::string file;          // relative to models_dir
  int chip_size = 112;
  // Canonical 5 points = ArcFace template of chip_size scaled by face_scale about the chip
  // centre, then shifted by y_shift * chip_size.
  float face_scale = 1.f;
  float y_shift = 0.f;
  vision::Normalize norm;
  int dim = 0;                 // embedding size (selects the output)
  float default_threshold = 0.4f;  // used when no calibration table exists
};

// Known recognizers (by id); nullptr for an unknown id.
const RecognizerSpec* FindRecognizer(const std::string& id);
std::array<Point2f, 5> CanonicalPoints(const RecognizerSpec& spec);

class Recognizer {
 public:
  static Result<std::unique_ptr<Recognizer>> Load(const RecognizerSpec& spec, const std::string& models_dir,
                                                  const ModelOptions& opts);
  // One L2-normalised template per landmark set (batched). flip: add the mirrored chip.
  // arcface_chips (optional): when this recognizer's chip is the plain 112-px ArcFace chip
  // (vision::AlignmentTransform5), its 8-bit form per face (what vision::WarpAffine with
  // antialias gives: the quality estimate reuses it instead of warping again); else untouched.
  Result<std::vector<FaceTemplate>> Embed(const Image& image, std::span<const std::array<Point2f, 5>> pts,
                                          bool flip, std::vector<Image>* arcface_chips = nullptr) const;
  // The same for the landmark sets of several images in ONE model run: templates (and
  // arcface_chips) of images[0]'s faces first, then images[1]'s... Embed(image, pts, ...) is
  // this with one image.
  Result<std::vector<FaceTemplate>> Embed(std::span<const ImagePoints> images, bool flip,
                                          std::vector<Image>* arcface_chips = nullptr) const;
  const RecognizerSpec& spec() const { return spec_; }
  bool arcface_112() const { return spec_.chip_size == 112 && spec_.face_scale == 1.f && spec_.y_shift == 0.f; }
  bool on_gpu() const { return model_->backend_name() == "cuda"; }

 private:
  // Per face: the L2-normalised sum of its views' L2-normalised embeddings.
  Result<std::vector<FaceTemplate>> Templates(const std::vector<Tensor>& outs, int faces, int views) const;
  RecognizerSpec spec_;
  std::unique_ptr<Model> model_;
  bool nchw_ = false;
};

// ---- fusion -----------------------------------------------------------------------------

// Linear score fusion of several recognizers kept as ONE plain template: the concatenation
// [sqrt(w_1) t_1, ..., sqrt(w_k) t_k] of the parts' L2-normalised templates with weights
// summing to 1 is itself unit length, and the cosine of two fused templates is
// sum_i w_i cos_i(a, b). With w_i proportional to 1 / (std of model i's impostor scores) this
// is an increasing affine map of the z-normalised score sum, so it ranks pairs exactly as the
// z-score fusion that `facekit eval lfw` measures, while the gallery's 1:N index and the
// template format (model id + version + dim + data) work unchanged.
struct FusionSpec {
  std::string id;  // "fusion:<part>+<part>"
  int version = 1;
  std::vector<std::string> parts;  // recognizer ids
  std::vector<float> weights;      // one per part, sum 1
  float default_threshold = 0.5f;  // used when no calibration table exists
};

// Known fusions (by id); nullptr for an unknown id.
const FusionSpec* FindFusion(const std::string& id);
// The fused template of one face from its parts' templates (in spec.parts order, same flip
// setting). InvalidArgument when a part is missing, of another model or dimension.
Result<FaceTemplate> FuseTemplates(const FusionSpec& spec, std::span<const FaceTemplate> parts);

// What a FaceEngine embeds with: one recognizer, or a fusion of several (each run batched on
// its own chip).
class Embedder {
 public:
  // `id`: a recognizer id (FindRecognizer) or a fusion id (FindFusion).
  static Result<std::unique_ptr<Embedder>> Load(const std::string& id, const std::string& models_dir,
                                                const ModelOptions& opts);
  // arcface_chips: as Recognizer::Embed, from the first part that has the ArcFace 112 chip.
  Result<std::vector<FaceTemplate>> Embed(const Image& image, std::span<const std::array<Point2f, 5>> pts,
                                          bool flip, std::vector<Image>* arcface_chips = nullptr) const;
  // Several images, one run per part for all their faces (Recognizer::Embed above).
  Result<std::vector<FaceTemplate>> Embed(std::span<const ImagePoints> images, bool flip,
                                          std::vector<Image>* arcface_chips = nullptr) const;
  const std::string& id() const { return id_; }
  int version() const { return version_; }
  float default_threshold() const { return default_threshold_; }
  bool is_fusion() const { return fusion_ != nullptr; }
  // "fr_feature" or "fusion:fr_feature+faceapi_resnet (0.263 fr_feature + 0.737 faceapi_resnet)".
  std::string description() const;

 private:
  std::string id_;
  int version_ = 1;
  float default_threshold_ = 0.5f;
  const FusionSpec* fusion_ = nullptr;
  std::vector<std::unique_ptr<Recognizer>> parts_;
};

std::string ResolveModelsDir(const std::string& configured);

}  // namespace fk::pipeline
