// Internal pieces of the face pipeline (not installed): BlazeFace detector, facemesh
// landmarks, pose/quality, recognizers. See include/facekit/face.h for the public API and
// docs/pipeline.md for the design.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "facekit/engine.h"
#include "facekit/face.h"
#include "facekit/image.h"
#include "vision/geometry.h"
#include "vision/image_ops.h"

namespace fk::pipeline {

// ---- detection -------------------------------------------------------------------------

// One BlazeFace detection in the coordinates of the image it was run on. Keypoints in the
// model's order: 0 subject's right eye (image left), 1 left eye, 2 nose tip, 3 mouth
// centre, 4 right ear tragion, 5 left ear tragion.
struct Detection {
  BoxF box;
  float score = 0.f;
  std::array<Point2f, 6> keypoints{};
};

// SSD anchor centres in input pixels exactly as Human's generateAnchors(): strides
// size/16 (2 anchors per cell) then size/8 (6 per cell), row-major, centre (g + 0.5) * stride.
std::vector<Point2f> BlazeFaceAnchors(int input_size);

float IoU(const BoxF& a, const BoxF& b);
// Weighted NMS (MediaPipe): the best remaining detection and every other with IoU > thr
// are blended, boxes and keypoints weighted by score; the blend keeps the best score.
std::vector<Detection> WeightedNms(std::vector<Detection> dets, float iou_threshold, int max_out);

class BlazeFace {
 public:
  static Result<std::unique_ptr<BlazeFace>> Load(const std::string& path, const ModelOptions& opts,
                                                 const DetectorConfig& cfg);
  // All faces of `image` (image coordinates), best score first.
  Result<std::vector<Detection>> Detect(const Image& image) const;
  int input_size() const { return size_; }

  // Runs the model on square regions of `image` (batched) and decodes every anchor above
  // min_confidence into image coordinates.
  Status RunRegions(const Image& image, std::span<const BoxF> regions,
                    std::vector<std::vector<Detection>>* out) const;

 private:
  std::unique_ptr<Model> model_;
  DetectorConfig cfg_;
  int size_ = 256;
  std::vector<Point2f> anchors_;
};

// ---- landmarks, pose, quality -----------------------------------------------------------

struct MeshResult {
  std::vector<Point2f> points;  // 468, image coordinates
  float score = 0.f;            // face flag
  std::array<Point2f, 5> five{};
};

class FaceMesh {
 public:
  static Result<std::unique_ptr<FaceMesh>> Load(const std::string& path, const ModelOptions& opts);
  // One mesh per detection (batched), on a 192x192 crop of the detector box enlarged 1.4x,
  // squared and rotated so that the eyes are level.
  Result<std::vector<MeshResult>> Run(const Image& image, std::span<const Detection> dets) const;

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
  Result<std::vector<FaceTemplate>> Embed(const Image& image, std::span<const std::array<Point2f, 5>> pts,
                                          bool flip) const;
  const RecognizerSpec& spec() const { return spec_; }

 private:
  RecognizerSpec spec_;
  std::unique_ptr<Model> model_;
  bool nchw_ = false;
};

std::string ResolveModelsDir(const std::string& configured);

}  // namespace fk::pipeline
