// facemesh landmarks (Human's face/facemesh.ts crop: detector box enlarged 1.4x and
// squared, 192x192, pixels 0..1), the 5 alignment points, head pose and quality.
#include <algorithm>
#include <cmath>

#include "pipeline/pipeline_internal.h"

namespace fk::pipeline {

namespace {

constexpr int kMeshSize = 192;
constexpr int kMeshPoints = 468;
constexpr double kPi = 3.14159265358979323846;

// facemeshcoords.ts: the subject's right eye (image left) contour = rightEyeUpper0 +
// rightEyeLower0; the subject's left eye = leftEyeUpper0 + leftEyeLower0.
constexpr int kEyeImageLeft[] = {246, 161, 160, 159, 158, 157, 173, 33, 7, 163, 144, 145, 153, 154, 155, 133};
constexpr int kEyeImageRight[] = {466, 388, 387, 386, 385, 384, 398, 263, 249, 390, 373, 374, 380, 381, 382, 362};
constexpr int kNoseTip = 1;
constexpr int kMouthImageLeft = 61;
constexpr int kMouthImageRight = 291;

Point2f Mean(std::span<const Point2f> pts, std::span<const int> idx) {
  double x = 0, y = 0;
  for (int i : idx) {
    x += pts[i].x;
    y += pts[i].y;
  }
  return {static_cast<float>(x / idx.size()), static_cast<float>(y / idx.size())};
}

}  // namespace

std::array<Point2f, 5> FivePointsFromMesh(std::span<const Point2f> m) {
  return {Mean(m, kEyeImageLeft), Mean(m, kEyeImageRight), m[kNoseTip], m[kMouthImageLeft], m[kMouthImageRight]};
}

std::array<Point2f, 5> FivePointsFromDetector(const Detection& d) {
  const Point2f le = d.keypoints[0], re = d.keypoints[1], nose = d.keypoints[2], mouth = d.keypoints[3];
  // ArcFace template: mouth width / eye distance = 29.2 / 35.2; mouth corners sit on a line
  // parallel to the eye line through the mouth centre.
  const float hx = 0.415f * (re.x - le.x), hy = 0.415f * (re.y - le.y);
  return {le, re, nose, Point2f{mouth.x - hx, mouth.y - hy}, Point2f{mouth.x + hx, mouth.y + hy}};
}

vision::Affine2x3 SquareCropTransform(float cx, float cy, float side, double angle, int size) {
  const double scale = size / std::max(side, 1.f);
  const vision::Affine2x3 rot = vision::Affine2x3::Similarity(scale, -angle, {cx, cy});
  return vision::Compose(vision::Affine2x3::Translation(size / 2.0 - cx, size / 2.0 - cy), rot);
}

Result<std::unique_ptr<FaceMesh>> FaceMesh::Load(const std::string& path, const ModelOptions& opts) {
  auto fm = std::make_unique<FaceMesh>();
  FK_ASSIGN_OR_RETURN(fm->model_, Model::Load(path, opts));
  const auto& in = fm->model_->inputs();
  if (in.size() != 1 || in[0].shape.rank() != 4 || in[0].shape[1] != kMeshSize || in[0].shape[2] != kMeshSize)
    return InvalidArgument("landmark model " + path + ": expected a [N,192,192,3] input (facemesh)");
  return fm;
}

namespace {

// One facemesh crop: centre, side (before the 1.4x enlargement is applied by the caller)
// and the rotation that levels the eyes.
struct MeshCrop {
  const Image* image = nullptr;  // the image the face is cut from
  float cx = 0.f, cy = 0.f, side = 0.f;
  double angle = 0.0;
};

Status RunMeshCrops(const Model& model, std::span<const MeshCrop> crops, std::vector<MeshResult>* results) {
  results->assign(crops.size(), {});
  if (crops.empty()) return OkStatus();
  const int n = static_cast<int>(crops.size());
  const int64_t per = int64_t{kMeshSize} * kMeshSize * 3;
  std::vector<vision::Affine2x3> inverse(crops.size());
  const bool pixels = PixelInputs(model);
  const vision::Normalize norm = vision::Normalize::ZeroOne();
  std::optional<StepScope> step(std::in_place, Step::kMeshCrop, n);
  std::vector<Tensor> outs;
  if (ModelCrops(model)) {  // the model cuts them (on a GPU: from the photos uploaded once)
    CropBatch batch;
    for (int i = 0; i < n; ++i) {
      const MeshCrop& c = crops[i];
      const vision::Affine2x3 to_chip = SquareCropTransform(c.cx, c.cy, c.side, c.angle, kMeshSize);
      FK_ASSIGN_OR_RETURN(inverse[i], to_chip.Inverse());
      FK_RETURN_IF_ERROR(batch.Add(*c.image, to_chip, kMeshSize, kMeshSize));
    }
    step.emplace(Step::kMeshRun, n);
    FK_ASSIGN_OR_RETURN(outs, batch.Run(model, kMeshSize, kMeshSize, norm));
  } else {
    Tensor input(DType::kFloat32, Shape({n, kMeshSize, kMeshSize, 3}));
    for (int i = 0; i < n; ++i) {
      const MeshCrop& c = crops[i];
      const vision::Affine2x3 to_chip = SquareCropTransform(c.cx, c.cy, c.side, c.angle, kMeshSize);
      FK_ASSIGN_OR_RETURN(inverse[i], to_chip.Inverse());
      FK_RETURN_IF_ERROR(vision::WarpAffineInto(*c.image, to_chip, kMeshSize, kMeshSize, CropNorm(pixels, norm),
                                                input.data<float>() + i * per, 0.f, /*antialias=*/true));
    }
    step.emplace(Step::kMeshRun, n);
    FK_ASSIGN_OR_RETURN(outs, RunNormalized(model, input, norm, pixels));
  }
  const float* mesh = nullptr;
  const float* flag = nullptr;
  for (const auto& t : outs) {
    const auto& s = t.shape();
    if (s.rank() != 2 || s[0] != n) continue;
    if (s[1] == kMeshPoints * 3) mesh = t.data<float>();
    if (s[1] == 1) flag = t.data<float>();
  }
  if (!mesh) return Internal("facemesh: no [N,1404] output");
  for (int i = 0; i < n; ++i) {
    MeshResult& r = (*results)[i];
    r.points.resize(kMeshPoints);
    for (int k = 0; k < kMeshPoints; ++k) {
      const float* p = mesh + (int64_t{i} * kMeshPoints + k) * 3;
      r.points[k] = inverse[i].Apply({p[0], p[1]});
    }
    r.score = flag ? flag[i] : 1.f;
    if (r.score < 0.f || r.score > 1.f) r.score = 1.f / (1.f + std::exp(-r.score));
    r.five = FivePointsFromMesh(r.points);
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<MeshResult>> FaceMesh::Run(const Image& image, std::span<const Detection> dets) const {
  const ImageDetections one[] = {{&image, dets}};
  return Run(one);
}

Result<std::vector<MeshResult>> FaceMesh::Run(std::span<const ImageDetections> images) const {
  std::vector<Detection> dets;  // every image's detections, in order
  std::vector<MeshCrop> crops;
  for (const ImageDetections& im : images) {
    if (!im.dets.empty() && !im.image) return InvalidArgument("facemesh: detections without an image");
    for (const Detection& d : im.dets) {
      dets.push_back(d);
      crops.push_back(MeshCrop{im.image});
    }
  }
  for (size_t i = 0; i < dets.size(); ++i) {
    const Detection& d = dets[i];
    crops[i].cx = (d.box.x0 + d.box.x1) / 2;
    crops[i].cy = (d.box.y0 + d.box.y1) / 2;
    crops[i].side = 1.4f * std::max(d.box.width(), d.box.height());
    // Level the eyes: rotate the crop by the detector's eye-line angle (Human can do the
    // same with detector.rotation; the mesh is more accurate on upright faces). Estimated
    // keypoints carry no angle (0).
    const Point2f le = d.keypoints[0], re = d.keypoints[1];
    crops[i].angle = std::atan2(re.y - le.y, re.x - le.x);
  }
  std::vector<MeshResult> results;
  FK_RETURN_IF_ERROR(RunMeshCrops(*model_, crops, &results));
  // Detectors without keypoints (fr_detect): the first mesh ran on an upright crop; where
  // it found the face tilted by more than kRerunRollDeg, run it again on a crop levelled by
  // the mesh's own eye line (one more batched run for the tilted faces only).
  constexpr double kRerunRollDeg = 8.0;
  std::vector<size_t> again;
  std::vector<MeshCrop> crops2;
  for (size_t i = 0; i < dets.size(); ++i) {
    if (!dets[i].keypoints_estimated || results[i].score < 0.5f) continue;
    const auto& f = results[i].five;
    const double roll = std::atan2(f[1].y - f[0].y, f[1].x - f[0].x);
    if (std::fabs(roll) * 180 / kPi <= kRerunRollDeg) continue;
    MeshCrop c = crops[i];
    c.angle = roll;
    again.push_back(i);
    crops2.push_back(c);
  }
  if (!again.empty()) {
    std::vector<MeshResult> second;
    FK_RETURN_IF_ERROR(RunMeshCrops(*model_, crops2, &second));
    for (size_t k = 0; k < again.size(); ++k)
      if (second[k].score >= results[again[k]].score * 0.9f) results[again[k]] = std::move(second[k]);
  }
  return results;
}

HeadPose EstimatePose(std::span<const Point2f, 5> p, float nose_ref) {
  HeadPose pose;
  const double ex = p[1].x - p[0].x, ey = p[1].y - p[0].y;
  const double roll = std::atan2(ey, ex);
  pose.roll = static_cast<float>(roll * 180 / kPi);
  const double iod = std::hypot(ex, ey);
  if (iod < 1e-6) return pose;
  // Work in a frame where the eye line is horizontal, origin at the eye midpoint.
  const double c = std::cos(-roll), s = std::sin(-roll);
  const double mx = (p[0].x + p[1].x) / 2, my = (p[0].y + p[1].y) / 2;
  auto tr = [&](Point2f q) {
    const double dx = q.x - mx, dy = q.y - my;
    return std::array<double, 2>{c * dx - s * dy, s * dx + c * dy};
  };
  const auto nose = tr(p[2]);
  const auto ml = tr(p[3]), mr = tr(p[4]);
  const double mouth_x = (ml[0] + mr[0]) / 2, mouth_y = (ml[1] + mr[1]) / 2;
  // Yaw: the nose tip stands out of the face plane by about half the eye distance, so it
  // moves sideways by 0.5 * iod * tan(yaw) relative to the eye/mouth midline.
  const double midline = mouth_x / 2;
  pose.yaw = static_cast<float>(std::atan((nose[0] - midline) / (0.5 * iod)) * 180 / kPi);
  // Pitch: on a frontal face the nose tip sits at nose_ref of the way from the eye line to
  // the mouth line; tilting up moves it towards the eyes.
  if (mouth_y > 1e-6) {
    const double t = nose[1] / mouth_y;
    pose.pitch = static_cast<float>(std::atan((nose_ref - t) * mouth_y / (0.5 * iod)) * 180 / kPi);
  }
  return pose;
}

double LaplacianVariance(const Image& img) {
  const int w = img.width(), h = img.height();
  if (w < 3 || h < 3) return 0.0;
  std::vector<float> g(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t* px = img.at(x, y);
      g[static_cast<size_t>(y) * w + x] = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
    }
  double sum = 0, sum2 = 0;
  int64_t cnt = 0;
  for (int y = 1; y < h - 1; ++y)
    for (int x = 1; x < w - 1; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      const double l = g[i - 1] + g[i + 1] + g[i - w] + g[i + w] - 4.0 * g[i];
      sum += l;
      sum2 += l * l;
      ++cnt;
    }
  const double mean = sum / cnt;
  return sum2 / cnt - mean * mean;
}

FaceQuality EstimateQuality(const Image& chip, std::span<const Point2f, 5> p, const HeadPose& pose) {
  FaceQuality q;
  const double iod = std::hypot(p[1].x - p[0].x, p[1].y - p[0].y);
  q.size = static_cast<float>(std::clamp((iod - 10.0) / 50.0, 0.0, 1.0));
  const double v = LaplacianVariance(chip);
  q.blur = static_cast<float>(v / (v + 100.0));
  q.pose = static_cast<float>(std::clamp(1.0 - std::max(std::fabs(pose.yaw) / 60.0, std::fabs(pose.pitch) / 45.0), 0.0, 1.0));
  // Exposure on the central part of the chip (the face, little background).
  double sum = 0;
  int64_t n = 0, clipped = 0;
  const int w = chip.width(), h = chip.height();
  for (int y = h / 4; y < h - h / 8; ++y)
    for (int x = w / 4; x < w - w / 4; ++x) {
      const uint8_t* px = chip.at(x, y);
      const double l = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
      sum += l;
      ++n;
      if (l < 8 || l > 247) ++clipped;
    }
  if (n > 0) {
    const double mean = sum / n;
    const double e1 = std::clamp(1.0 - std::max(0.0, std::fabs(mean - 128.0) - 40.0) / 80.0, 0.0, 1.0);
    const double e2 = std::clamp(1.0 - 2.0 * static_cast<double>(clipped) / n, 0.0, 1.0);
    q.exposure = static_cast<float>(e1 * e2);
  }
  const double g = std::pow(std::max(q.size, 1e-3f) * std::max(q.blur, 1e-3f) * std::max(q.pose, 1e-3f) *
                                std::max(q.exposure, 1e-3f),
                            0.25);
  q.score = static_cast<float>(std::clamp(g, 0.0, 1.0));
  return q;
}

}  // namespace fk::pipeline
