// facekit — the face pipeline: photos in; faces, landmarks, quality, aligned templates and
// calibrated 1:1 verification out.
//
//   auto cfg = fk::FaceConfig::FromJson(R"({"tier": "fast"})");
//   auto engine = fk::FaceEngine::Create(*cfg);
//   auto faces = (*engine)->ProcessFile("photo.jpg");      // every face, with a template
//   auto v = (*engine)->Verify(a.templ, b.templ);          // similarity, FAR, decision
//
// Stages (docs/pipeline.md): decode (EXIF applied, max side) -> BlazeFace detection on a
// letterboxed square (+ overlapping tiles for small faces in large photos), weighted NMS
// -> facemesh (468 points) on a rotation-corrected crop -> 5 points, head pose, quality ->
// similarity alignment to the recognizer's canonical template -> embedding (optionally
// + the mirrored chip) -> L2-normalised template.
//
// Coordinates: facekit continuous image coordinates (docs/conventions.md: pixel (c, r)
// covers [c, c+1) x [r, r+1)). Boxes, landmarks and mesh points returned by Process*() are
// in the coordinates of the ORIGINAL photo: when the decoder downscaled the photo
// (DecodeOptions::max_side), they are scaled back by Image::source_width() / width().
// 5-point landmark order: 0 left eye centre, 1 right eye centre, 2 nose tip, 3 left mouth
// corner, 4 right mouth corner ("left" = image left, the subject's right).
//
// Thread-safety: a FaceEngine is immutable after Create(); Process*(), Verify() and
// ThresholdForFar() may be called concurrently from several threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facekit/image.h"
#include "facekit/status.h"

namespace fk {

// Recognizer tiers, each mapped to a model by measurement on the LFW development pairs
// (View 1 DevTest, 1000 pairs; docs/benchmarks/accuracy.md):
//   fast     = mobileface (256-d, 112x112 ArcFace chip, RGB 0..255)              LFW dev 95.1%
//   balanced = fr_feature (512-d, 112x112 ArcFace chip, BGR) when its ONNX model
//              loads, else faceres (1024-d, 224x224 chip)                        LFW dev 99.5%
//   accurate = "fusion:fr_feature+faceapi_resnet": one 640-d template per face,
//              [sqrt(0.263) t_fr_feature, sqrt(0.737) t_faceapi_resnet], whose
//              cosine is 0.263 cos_fr_feature + 0.737 cos_faceapi_resnet (weights
//              ~ 1 / std of each model's impostor scores), flip TTA on both      LFW dev 99.5%
//              (best all-pairs ROC AUC / TAR of the tiers). Falls back to fr_feature +
//              flip TTA (99.6%) when face-api's model is missing.
// Every tier's template is a plain L2-normalised vector: galleries and Verify() treat the
// fusion like any other model (its own id, version, dimension and calibration table).
enum class Tier { kFast, kBalanced, kAccurate };
const char* TierName(Tier t);

struct DetectorConfig {
  // "blazeface-back" (256x256, full range) or "blazeface-front" (128x128, short range, for
  // faces filling much of the photo). "blazeface" is an alias of blazeface-back.
  // "fr_detect": faceplugin's fr_detect.onnx (Ultra-Light RFB-320, 320x240, no keypoints:
  // blazeface-front on its box gives them; needs the ONNX loader).
  // "auto" (default): fr_detect when its model loads, else blazeface-back — chosen by
  // measurement (recall on deepface-13, LFW dev and the group photos, and speed:
  // docs/benchmarks/detection.md). FaceEngine::detector() names the one in use.
  std::string model = "auto";
  float min_confidence = 0.5f;  // sigmoid score threshold, (0, 1)
  float iou_threshold = 0.3f;   // weighted NMS: boxes overlapping more are blended, (0, 1]
  int max_faces = 100;          // >= 1
  float min_face_size = 20.f;   // shorter box side in photo pixels, >= 0
  // Second pass on 2x2 overlapping tiles (0.55 of the photo each) for photos much larger than
  // the detector input, so that small faces in group photos are found (docs/pipeline.md).
  bool small_faces = true;
};

// Face attributes (docs/pipeline.md "Attributes"): Human's attribute models on the face crop
// Human gives them (the 1.4x detector box, squared, eyes levelled, 192x192), each batched over
// the faces of a run. Off by default: each costs a model run per face batch.
struct AttributeConfig {
  bool age_gender = false;  // human-models faceres: age (years) and gender
  bool emotion = false;     // human-models emotion: 7 expression probabilities
  bool liveness = false;    // human-models antispoof ("real") and liveness ("live") scores
  bool any() const { return age_gender || emotion || liveness; }
  // True when every attribute of `other` is also on here.
  bool covers(const AttributeConfig& other) const {
    return (age_gender || !other.age_gender) && (emotion || !other.emotion) && (liveness || !other.liveness);
  }
  std::string ToString() const;  // "age_gender,emotion", "none"
  // "age_gender,emotion,liveness", "all" or "none" (CLI --attributes); InvalidArgument naming
  // an unknown part.
  static Result<AttributeConfig> Parse(const std::string& list);
};

// Detector batching across threads (docs/pipeline.md "Detector batching"): concurrent calls of
// one engine (Process, ProcessFile, DetectEncoded from several threads, e.g. a server's request
// threads) prepare their photo's detector input on their own thread (the regions resized to the
// model input) and queue it; a worker runs the detector on the regions of up to max_batch
// queued photos in one model run and hands each caller its own detections. For a GPU, where a
// run of 32 photos costs little more than a run of one; on the CPU one model run per region is
// fastest, so it is off there by default.
struct DetectBatching {
  // Photos per detector run (1..4096; 1 = off: each call runs the detector itself); 0 = auto:
  // 32 when the detector runs on a GPU, else off.
  int max_batch = 0;
  // Longest extra wait (microseconds) of the oldest queued photo for more to arrive. 0 =
  // continuous batching: a free worker takes whatever queued while the previous run ran, so a
  // lone caller never waits for others.
  int max_delay_us = 0;
  // Detector runs at once (1..64): with 2, one batch's CPU part (input copy, decoding of the
  // outputs, NMS) overlaps the other's model run.
  int workers = 2;
};

struct FaceConfig {
  Tier tier = Tier::kFast;
  DetectorConfig detector;
  DetectBatching detect_batching;
  bool landmarks = true;   // refine with facemesh; false = the detector's 6 keypoints
  bool flip_tta = false;   // template = normalise(embed(chip) + embed(mirrored chip))
  bool embed = true;       // compute templates in Process*()
  AttributeConfig attributes;  // age/gender, emotion, liveness scores (off by default)
  // Force a recognizer ("mobileface", "faceres", "fr_feature", "faceapi_resnet",
  // "fusion:fr_feature+faceapi_resnet") instead of the tier's choice; empty = by tier.
  // flip_tta applies to every part of a fusion.
  std::string recognizer;
  // Device: with use_cuda every model runs on GPU gpu_index (a visible-device index,
  // CUDA_VISIBLE_DEVICES honoured); a build without CUDA, or no usable GPU, fails Create() with
  // Unavailable and the reason unless allow_cpu_fallback (docs/cuda.md).
  bool use_cuda = false;
  int gpu_index = 0;
  std::string precision = "auto";  // with use_cuda: fp32 | tf32 | fp16 | auto (facekit/device.h)
  // With use_cuda: the GPU memory the engine's pool may hold (bytes, and/or a fraction of the
  // card; the smaller wins; 0 = no limit). Over it a model run fails with ResourceExhausted
  // naming the numbers, never an out-of-memory crash (docs/cuda.md).
  int64_t gpu_memory_limit_bytes = 0;
  double gpu_memory_limit_fraction = 0;
  // With use_cuda and no usable GPU: run on the CPU with a warning instead of failing Create().
  bool allow_cpu_fallback = false;
  // 8-bit model inputs (ModelOptions::pixel_inputs) for every model of the pipeline: -1 auto (on
  // for models on a GPU), 0 off, 1 on. selftest sets 1 on its CPU reference so that it compares
  // the GPU with the CPU on the same inputs.
  int pixel_inputs = -1;
  // JPEG decoding on the GPU (nvJPEG: the GPU's JPEG engines where it has them, e.g. A100/H100,
  // else nvJPEG's default backend) for ProcessFile / DetectEncoded / the server: 1 on (Create
  // fails when it cannot), 0 and -1 (auto) off for now. Concurrent callers' JPEGs are decoded in
  // batches on the GPU's JPEG engines ($FK_GPU_DECODE_BATCH, default 32). On an H100: one photo at
  // a time the pipeline runs 2-2.7x faster; the server serves about as many faces at 64 clients
  // with a third of the CPU, 10-17% fewer at 16 (docs/benchmarks/crops-gpu.md). Photos nvJPEG
  // refuses (progressive, CMYK, PNG, WebP) use libjpeg-turbo. $FK_GPU_DECODE=1 / 0 overrides.
  int gpu_decode = -1;
  std::string backend = "cpu";  // "cpu" (oneDNN, falls back per node to "ref") or "ref"
  int num_threads = 0;          // threads per model run; 0 = all cores
  std::string models_dir;       // empty: $FK_MODELS_DIR, else ./models
  int max_image_side = 2048;    // ProcessFile(): longer side after decoding
  // Verification operating point: decision threshold = ThresholdForFar(target_far).
  double target_far = 1e-3;
  // ROC calibration file (written by `facekit eval lfw`); empty = search
  // $FK_CALIBRATION, <models_dir>/calibration.json, <models_dir>/../src/pipeline/data/;
  // "none" = uncalibrated (built-in default thresholds). A named file that is missing or
  // malformed fails Create().
  std::string calibration;

  // JSON (the project's one config format). Every key is optional; unknown keys, wrong
  // types and out-of-range values are InvalidArgument naming the key. Keys:
  //   tier, recognizer, landmarks, flip_tta, embed, models_dir, max_image_side, target_far, calibration,
  //   attributes: {age_gender, emotion, liveness} (booleans),
  //   detector: {model, min_confidence, iou_threshold, max_faces, min_face_size, small_faces},
  //   detect_batching: {max_batch, max_delay_us, workers},
  //   device: {use_cuda, gpu_index, precision, backend, num_threads, gpu_memory_limit_bytes,
  //            gpu_memory_limit_fraction, allow_cpu_fallback, pixel_inputs, gpu_decode}  (also accepted
  //            at top level).
  static Result<FaceConfig> FromJson(const std::string& json_text);
  static Result<FaceConfig> FromFile(const std::string& path);
  std::string ToJson() const;
  Status Validate() const;
};

struct HeadPose {
  float yaw = 0.f;    // degrees, + = face turned towards image right
  float pitch = 0.f;  // degrees, + = face tilted up
  float roll = 0.f;   // degrees, + = eye line turns clockwise as displayed
};

// Each part in [0, 1], 1 = best; score = geometric mean of the parts.
struct FaceQuality {
  float score = 0.f;
  float size = 0.f;      // inter-ocular distance: 0 at <= 10 px, 1 at >= 60 px
  float blur = 0.f;      // variance of the Laplacian of the 112-px grey chip, v / (v + 100)
  float pose = 0.f;      // 1 - max(|yaw| / 60, |pitch| / 45), clamped
  float exposure = 0.f;  // chip mean brightness and clipped-pixel fraction
};

// Emotion classes of the emotion model, in its output order (Human's gear/emotion.ts).
inline constexpr int kEmotionCount = 7;
const char* EmotionName(int index);  // "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"

// What the attribute models estimate for one face (FaceConfig::attributes). Estimates of
// appearance, computed exactly as the reference implementation (Human 3.3.6) computes them from
// the same crop (parity test: tests/pipeline/attributes_test.cpp); accuracy measured so far:
// docs/benchmarks/attributes.md. A field not asked for keeps its "not computed" value.
struct FaceAttributes {
  // age_gender. age: years, from the 100-bin age softmax as Human computes it (the argmax bin,
  // moved towards the larger neighbour bin by 10 x that bin's probability); -1 = not computed. male: the gender sigmoid, the
  // probability of "male" in [0, 1]; -1 = not computed. gender: "male" when male > 0.5, else
  // "female"; empty = not computed. gender_confidence: |2 male - 1| in [0, 1].
  float age = -1.f;
  float male = -1.f;
  std::string gender;
  float gender_confidence = 0.f;
  // emotion: kEmotionCount probabilities (sum 1) in EmotionName() order; empty = not computed.
  std::vector<float> emotion;
  // liveness: real = the antispoof model's score, live = the liveness model's first output (as
  // Human reports them), in [0, 1], higher = more likely a live face in front of the camera;
  // -1 = not computed. Scores, not decisions: their error rate on spoofs is not measured yet.
  float real = -1.f;
  float live = -1.f;
  bool empty() const { return age < 0 && gender.empty() && emotion.empty() && real < 0 && live < 0; }
  // The most probable emotion's index, or -1 when not computed.
  int top_emotion() const;
};

// A face template: L2-normalised embedding of one recognizer. Templates of different
// models (or model versions) cannot be compared.
struct FaceTemplate {
  std::string model;      // recognizer id: "mobileface", "faceres", "fr_feature", "faceapi_resnet",
                          // "fusion:fr_feature+faceapi_resnet"
  int model_version = 1;  // bumped when preprocessing/alignment of the model changes
  bool flip_tta = false;  // made with flip test-time augmentation
  std::vector<float> data;

  bool empty() const { return data.empty(); }
  // Stable little-endian binary form (docs/pipeline.md): "FKTP", format version (u16 = 1),
  // model_version (u16), flags (u16), id length (u16), id bytes, dim (u32), dim float32,
  // CRC-32 of everything before it (u32).
  std::vector<uint8_t> Serialize() const;
  static Result<FaceTemplate> Deserialize(std::span<const uint8_t> bytes);
  Status Save(const std::string& path) const;
  static Result<FaceTemplate> Load(const std::string& path);
};

// Cosine similarity in [-1, 1]. FailedPrecondition when the templates come from different
// models/versions; InvalidArgument when empty or of different dimension.
Result<float> CompareTemplates(const FaceTemplate& a, const FaceTemplate& b);

struct Face {
  BoxF box;                          // photo coordinates
  float score = 0.f;                 // detector score (sigmoid)
  std::array<Point2f, 5> landmarks;  // photo coordinates, order above
  std::string landmark_source;       // "facemesh" or "detector"
  float mesh_score = 0.f;            // facemesh face flag (0 when not run)
  std::vector<Point2f> mesh;         // 468 facemesh points (photo coordinates) or empty
  HeadPose pose;
  FaceQuality quality;
  FaceTemplate templ;                // empty when FaceConfig::embed is false
  FaceAttributes attributes;         // what FaceConfig::attributes asked for
};

// The face with the largest box area (the first of equal ones), nullptr when there is none: the
// face a 1:1 photo, an enrolment photo or a CLI command takes.
const Face* LargestFace(const std::vector<Face>& faces);

struct VerifyResult {
  float similarity = 0.f;  // cosine
  // Estimated false-accept rate at this similarity from the model's ROC table (fraction
  // of impostor pairs scoring >= similarity); -1 when no calibration is available.
  double far = -1.0;
  double frr = -1.0;       // same for false rejects; -1 when uncalibrated
  float threshold = 0.f;   // decision threshold used (operating point FaceConfig::target_far)
  bool match = false;      // similarity >= threshold
  bool calibrated = false;
};

// ROC table of one recognizer: similarity thresholds (ascending) with the FAR and FRR
// measured there on the development pairs.
struct RocPoint {
  float threshold = 0.f;
  double far = 0.0;
  double frr = 0.0;
};
struct RocTable {
  std::string model;
  int model_version = 1;
  bool flip_tta = false;
  std::string source;  // what it was measured on
  int64_t genuine_pairs = 0;
  int64_t impostor_pairs = 0;
  std::vector<RocPoint> points;  // thresholds ascending, FAR non-increasing

  // Linear interpolation between points; outside the table, the end values.
  double FarAt(float similarity) const;
  double FrrAt(float similarity) const;
  // The smallest threshold whose FAR <= far (interpolated).
  float ThresholdForFar(double far) const;
};

// What one ProcessFile() call spent on decoding (for benchmarks; thread CPU time).
// FaceEngine::detect_batching_stats(): the detector batching's counters since Create().
struct DetectBatchingStats {
  bool enabled = false;       // false: each call runs the detector itself (the rest is 0)
  int max_batch = 0;          // photos per detector run (DetectBatching::max_batch resolved)
  int64_t batches = 0;        // detector runs of the batching workers
  int64_t photos = 0;
  double mean_batch = 0;      // photos / batches
  int max_batch_seen = 0;
  double busy_s = 0;          // worker time in the detector, summed over workers
  double mean_queue_ms = 0;   // from queueing to the start of the photo's batch
  int queued = 0;             // photos waiting now
};

// One step of a FaceEngine (FaceEngine::StepTimes()): milliseconds summed over every thread and
// call since the engine was created. wall_ms includes waits (a GPU run's synchronisation);
// cpu_ms is the calling threads' CPU time (a CPU model's worker threads not included). items:
// photos (decode), regions (detect_input / detect_run) or faces (the others).
struct StepTime {
  std::string step;  // decode, detect_input, detect_run, mesh_crop, mesh_run, embed_crop, embed_run,
                     // attributes_crop, attributes_run, quality
  double wall_ms = 0, cpu_ms = 0;
  int64_t calls = 0, items = 0;
};

struct ProcessStats {
  double decode_cpu_ms = 0;  // every decode of the file, both passes
  int decodes = 0;           // 1, or 2 when small faces asked for a finer second decode
  int detect_width = 0, detect_height = 0;  // the decode the detector saw
  int crop_width = 0, crop_height = 0;      // the image landmarks and templates were cut from
};

// A photo after decoding and detection: the first half of FaceEngine::ProcessFile(), made by
// FaceEngine::DetectEncoded() and finished (landmarks, pose, quality, templates) by
// FaceEngine::FinishBatch(). It owns its pixels. Move-only. This split lets a server detect on
// its request threads and batch the landmark and recognizer runs of many photos.
class DetectedPhoto {
 public:
  DetectedPhoto();
  ~DetectedPhoto();
  DetectedPhoto(DetectedPhoto&&) noexcept;
  DetectedPhoto& operator=(DetectedPhoto&&) noexcept;
  int faces() const;           // faces detected (0 for a default-constructed photo)
  int source_width() const;    // the photo's size before any decoder reduction
  int source_height() const;
  const ProcessStats& stats() const;  // what decoding cost (decodes, sizes)
  // The attributes FinishBatch() computes for this photo's faces, a subset of the engine's
  // FaceConfig::attributes (default: all of the engine's). Asking for more than the engine loaded
  // gives this photo FailedPrecondition in FinishBatch(). No effect on an empty photo.
  void set_attributes(const AttributeConfig& attributes);
  struct Impl;

 private:
  friend class FaceEngine;
  std::unique_ptr<Impl> impl_;
};

class FaceEngine {
 public:
  // Loads the detector, landmark model and the tier's recognizer from config.models_dir.
  // NotFound/DataLoss naming the model file when a required model is missing or broken;
  // InvalidArgument for a bad config; Unavailable when use_cuda is set without CUDA.
  static Result<std::unique_ptr<FaceEngine>> Create(const FaceConfig& config);
  ~FaceEngine();
  FaceEngine(const FaceEngine&) = delete;
  FaceEngine& operator=(const FaceEngine&) = delete;

  // Every face in `image` (best score first), each with landmarks, pose, quality and (when
  // config.embed) a template. An image with no face gives an empty vector, not an error.
  Result<std::vector<Face>> Process(const Image& image) const;
  // Processes several photos as Process() does each, but runs the landmark model and the
  // recognizer once for all faces of all photos (cross-photo batching, used by the server's
  // dynamic batcher). results[i] belongs to images[i]: the same faces, boxes and landmarks as
  // Process(*images[i]) and templates equal within float rounding of the batch size.
  // A photo that fails (empty image, null pointer...) gets its own error, prefixed with its
  // index ("batch photo 3: ..."); the others are unaffected. The detector runs over the regions
  // of all photos (FaceDetector batching: one region per run on a one-thread CPU model, up to 64
  // per run otherwise); the landmark and recognizer runs take whole photos, at most 16 faces per
  // run on the CPU, 64 with use_cuda (a photo with more runs alone, as in Process()). An empty
  // span gives an empty vector.
  // Thread-safe like Process().
  std::vector<Result<std::vector<Face>>> ProcessBatch(std::span<const Image* const> images) const;
  // Decodes (EXIF applied) and processes like Process(), decoding only the pixels it needs:
  // a JPEG is decoded at the smallest DCT scale with >= 640 px on the longer side for the
  // detector, and again at a finer scale (at most config.max_image_side) only when a face
  // found is too small for its 112-px chip at that scale (docs/pipeline.md, "Speed").
  // Coordinates are those of the full-size photo, as for Process().
  Result<std::vector<Face>> ProcessFile(const std::string& path, ProcessStats* stats = nullptr) const;
  // ProcessFile() in two halves, on encoded bytes (JPEG/PNG/WebP): DetectEncoded() decodes as
  // ProcessFile() does (the detector's scale first; a finer decode, reusing the detections, only
  // for faces too small for their chip) and detects; FinishBatch() completes several photos with
  // ONE landmark run and ONE recognizer run for all their faces (as ProcessBatch()). `options`
  // gives max_side (0: config.max_image_side), max_pixels, EXIF and alpha handling; its
  // target_max_side is chosen here. `name` names the photo in errors. Decode errors as
  // DecodeImage(). FinishBatch: results[i] for photos[i]; a null or empty photo gets
  // InvalidArgument; photos are consumed (their detections moved out). Both thread-safe.
  // FinishBatch(DetectEncoded(bytes)) gives what ProcessFile() gives for the same file.
  Result<DetectedPhoto> DetectEncoded(std::span<const uint8_t> encoded, const DecodeOptions& options,
                                      const std::string& name = "<memory>") const;
  std::vector<Result<std::vector<Face>>> FinishBatch(std::span<DetectedPhoto* const> photos) const;
  // Template of an already-detected face (box + landmarks in `image` coordinates).
  Result<FaceTemplate> Embed(const Image& image, const Face& face) const;

  Result<VerifyResult> Verify(const FaceTemplate& a, const FaceTemplate& b) const;
  // Threshold of the recognizer of this engine at the given FAR (calibration table, or the
  // built-in default threshold when uncalibrated).
  float ThresholdForFar(double far) const;
  bool calibrated() const;

  const FaceConfig& config() const;
  std::string recognizer() const;      // model id of the templates this engine makes
  int recognizer_version() const;      // FaceTemplate::model_version of them (0 without embed)
  int template_dim() const;            // their dimension (0 without embed)
  bool flip_tta() const;               // whether its templates use flip TTA (false without embed)
  std::string detector() const;        // detector model id
  std::string description() const;     // one line: tier, models, backend
  // Counters of the detector batching across threads (FaceConfig::detect_batching).
  DetectBatchingStats detect_batching_stats() const;
  // Where this engine's time went, step by step, since it was created (every thread; the
  // difference of two calls gives an interval). Always the same steps in the same order.
  std::vector<StepTime> StepTimes() const;

  struct Impl;

 private:
  explicit FaceEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Calibration tables: JSON {"version": 1, "models": [{model, model_version, flip_tta,
// source, genuine_pairs, impostor_pairs, points: [[thr, far, frr], ...]}]}.
Result<std::vector<RocTable>> LoadCalibration(const std::string& path);
Status SaveCalibration(const std::string& path, const std::vector<RocTable>& tables);
// ROC table from genuine and impostor similarity scores (any order).
RocTable BuildRocTable(std::span<const float> genuine, std::span<const float> impostor);

}  // namespace fk
