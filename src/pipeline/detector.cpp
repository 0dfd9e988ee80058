// Face detection: BlazeFace (anchors and decoding as in @vladmandic/human face/blazeface.ts,
// face/facemeshutil.ts generateAnchors) and fr_detect.onnx (Ultra-Light RFB-320, boxes
// decoded inside the model); shared letterboxing, weighted NMS and a tile pass for small
// faces in large photos.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <filesystem>

#include "pipeline/pipeline_internal.h"

namespace fk::pipeline {

std::vector<Point2f> BlazeFaceAnchors(int input_size) {
  std::vector<Point2f> out;
  const int strides[2] = {input_size / 16, input_size / 8};
  const int counts[2] = {2, 6};
  for (int s = 0; s < 2; ++s) {
    const int stride = strides[s];
    const int grid = (input_size + stride - 1) / stride;
    for (int gy = 0; gy < grid; ++gy)
      for (int gx = 0; gx < grid; ++gx)
        for (int n = 0; n < counts[s]; ++n)
          out.push_back({stride * (gx + 0.5f), stride * (gy + 0.5f)});
  }
  return out;
}

float IoU(const BoxF& a, const BoxF& b) {
  const float ix = std::max(0.f, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
  const float iy = std::max(0.f, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
  const float inter = ix * iy;
  const float uni = a.width() * a.height() + b.width() * b.height() - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

std::vector<Detection> WeightedNms(std::vector<Detection> dets, float iou_threshold, int max_out) {
  std::stable_sort(dets.begin(), dets.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> out;
  std::vector<bool> used(dets.size(), false);
  for (size_t i = 0; i < dets.size() && static_cast<int>(out.size()) < max_out; ++i) {
    if (used[i]) continue;
    used[i] = true;
    double w = dets[i].score;
    double bx0 = w * dets[i].box.x0, by0 = w * dets[i].box.y0, bx1 = w * dets[i].box.x1, by1 = w * dets[i].box.y1;
    std::array<double, 12> kp{};
    for (int k = 0; k < 6; ++k) {
      kp[2 * k] = w * dets[i].keypoints[k].x;
      kp[2 * k + 1] = w * dets[i].keypoints[k].y;
    }
    double wsum = w;
    for (size_t j = i + 1; j < dets.size(); ++j) {
      if (used[j] || IoU(dets[i].box, dets[j].box) <= iou_threshold) continue;
      used[j] = true;
      const double wj = dets[j].score;
      bx0 += wj * dets[j].box.x0;
      by0 += wj * dets[j].box.y0;
      bx1 += wj * dets[j].box.x1;
      by1 += wj * dets[j].box.y1;
      for (int k = 0; k < 6; ++k) {
        kp[2 * k] += wj * dets[j].keypoints[k].x;
        kp[2 * k + 1] += wj * dets[j].keypoints[k].y;
      }
      wsum += wj;
    }
    Detection d;
    d.score = dets[i].score;
    d.box = {static_cast<float>(bx0 / wsum), static_cast<float>(by0 / wsum), static_cast<float>(bx1 / wsum),
             static_cast<float>(by1 / wsum)};
    for (int k = 0; k < 6; ++k)
      d.keypoints[k] = {static_cast<float>(kp[2 * k] / wsum), static_cast<float>(kp[2 * k + 1] / wsum)};
    out.push_back(d);
  }
  return out;
}

Result<std::unique_ptr<BlazeFace>> BlazeFace::Load(const std::string& path, const ModelOptions& opts,
                                                   const DetectorConfig& cfg) {
  auto bf = std::make_unique<BlazeFace>();
  FK_ASSIGN_OR_RETURN(bf->model_, Model::Load(path, opts));
  const auto& in = bf->model_->inputs();
  if (in.size() != 1 || in[0].shape.rank() != 4 || in[0].shape[1] != in[0].shape[2] || in[0].shape[1] <= 0)
    return InvalidArgument("detector model " + path + ": expected one square NHWC input, got " +
                           (in.empty() ? std::string("none") : in[0].shape.ToString()));
  bf->width_ = bf->height_ = static_cast<int>(in[0].shape[1]);
  bf->cfg_ = cfg;
  bf->anchors_ = BlazeFaceAnchors(bf->width_);
  return bf;
}

namespace {

float Sigmoid(float x) {
  x = std::clamp(x, -80.f, 80.f);
  return 1.f / (1.f + std::exp(-x));
}

// The detector's outputs, found by shape: [N, A1, 1] + [N, A1, 16] for the first anchor
// level (A1 = 2 * (size/16)^2) and the same for the second (A2 = 6 * (size/8)^2). The
// model of the single-output form ([N, A, 17]) is accepted too.
struct Heads {
  const float* scores[2] = {nullptr, nullptr};
  const float* regs[2] = {nullptr, nullptr};
  const float* merged = nullptr;
  int64_t rows[2] = {0, 0};
};

}  // namespace

vision::Normalize BlazeFace::InputNorm() const { return vision::Normalize::MinusOneOne(); }

Status BlazeFace::DecodeOutputs(const std::vector<Tensor>& outs, std::span<const BoxF> regions,
                                std::vector<std::vector<Detection>>* out) const {
  const int size = width_;
  const int n = static_cast<int>(regions.size());
  // Grids of 16x16 (stride size/16) and 8x8 (stride size/8) cells, whatever the input size.
  const int64_t a1 = 2 * 16 * 16;
  const int64_t a2 = 6 * 8 * 8;
  Heads h;
  for (const auto& t : outs) {
    const auto& s = t.shape();
    if (s.rank() != 3 || s[0] != n) continue;
    const int lvl = s[1] == a1 ? 0 : s[1] == a2 ? 1 : -1;
    if (s[2] == 17 && s[1] == a1 + a2) h.merged = t.data<float>();
    if (lvl < 0) continue;
    if (s[2] == 1) h.scores[lvl] = t.data<float>();
    if (s[2] == 16) h.regs[lvl] = t.data<float>();
  }
  const bool split = h.scores[0] && h.scores[1] && h.regs[0] && h.regs[1];
  if (!split && !h.merged)
    return Internal("detector outputs do not match BlazeFace (expected [N," + std::to_string(a1) + ",1|16] and [N," +
                    std::to_string(a2) + ",1|16])");
  const float thr = cfg_.min_confidence;
  for (int i = 0; i < n; ++i) {
    const BoxF& r = regions[i];
    const float sx = r.width() / size, sy = r.height() / size;
    auto& dets = (*out)[i];
    for (int64_t a = 0; a < a1 + a2; ++a) {
      const float* reg;
      float logit;
      if (split) {
        const int lvl = a < a1 ? 0 : 1;
        const int64_t rows = lvl == 0 ? a1 : a2;
        const int64_t k = lvl == 0 ? a : a - a1;
        logit = h.scores[lvl][i * rows + k];
        reg = h.regs[lvl] + (i * rows + k) * 16;
      } else {
        const float* row = h.merged + (i * (a1 + a2) + a) * 17;
        logit = row[0];
        reg = row + 1;
      }
      const float score = Sigmoid(logit);
      if (!(score >= thr)) continue;
      const Point2f anc = anchors_[static_cast<size_t>(a)];
      const float cx = reg[0] + anc.x, cy = reg[1] + anc.y, w = reg[2], hh = reg[3];
      if (!(w > 0.f) || !(hh > 0.f)) continue;
      Detection d;
      d.score = score;
      d.box = {r.x0 + (cx - w / 2) * sx, r.y0 + (cy - hh / 2) * sy, r.x0 + (cx + w / 2) * sx, r.y0 + (cy + hh / 2) * sy};
      for (int k = 0; k < 6; ++k)
        d.keypoints[k] = {r.x0 + (reg[4 + 2 * k] + anc.x) * sx, r.y0 + (reg[5 + 2 * k] + anc.y) * sy};
      dets.push_back(d);
    }
  }
  return OkStatus();
}

// The smallest face (shorter side of the BlazeFace-convention box, detector input pixels)
// the full view finds reliably; conservative (too large only makes the tile pass run more
// often). fr_detect: its priors start at 10, 16, 24 px (box height; x0.8 in BlazeFace's box
// convention), taken from the second, 16 px -> 13. blazeface-back (256): first anchor
// stride 16 -> 20. blazeface-front (128, short range: faces fill much of the frame) -> 32.
namespace {
float SmallestFaceInput(const std::string& id) {
  if (id == "fr_detect") return 13.f;
  if (id == "blazeface-front") return 32.f;
  return 20.f;
}
}  // namespace

Status FaceDetector::PrepareInput(const Image& image, DetectorInput* out) const {
  if (image.empty()) return InvalidArgument("detect: empty image");
  const float W = static_cast<float>(image.width()), H = static_cast<float>(image.height());
  // Level 0: the whole photo letterboxed into a region of the input's aspect ratio
  // (centred, black padding), so the photo's aspect ratio is kept.
  const float aspect = static_cast<float>(width_) / height_;
  const float SW = std::max(W, H * aspect), SH = SW / aspect;
  std::vector<BoxF> regions = {{(W - SW) / 2, (H - SH) / 2, (W + SW) / 2, (H + SH) / 2}};
  // Level 1: overlapping tiles of kTile of the level-0 region when the photo is much larger
  // than the detector input: a face of f px becomes f/(kTile*SW) * width px instead of
  // f/SW * width, so faces down to kTile of the level-0 minimum are found. 2x2 tiles (was 3x3
  // of 0.5: 9 model runs instead of 4, for faces 10% smaller): a tile only has to add faces
  // the full view misses (< 13/320 = 0.04 of SW for fr_detect), so the tiles need to overlap
  // by a little more than that (kMinOverlap) for every such face to lie wholly in one tile.
  constexpr float kTile = 0.55f, kMinOverlap = 0.08f;
  const float TW = SW * kTile, TH = SH * kTile;
  // The tiles only matter for faces the full view cannot see: faces smaller than the
  // detector's smallest reliably found face (SmallestFaceInput, in input pixels) scaled to
  // the photo: SmallestFaceInput * SW / input width. When min_face_size (photo
  // pixels, converted to decoded-image pixels) is at least that, every face that may be
  // returned is found by the full view and the tiles are skipped (e.g. min_face_size 80 on a
  // 2048-px photo: 13 * 2048 / 320 = 83 -> still tiles; 100 -> no tiles).
  const float to_photo = static_cast<float>(image.source_width()) / image.width();
  const float smallest_full_view = SmallestFaceInput(id_) * SW / width_;
  const bool tiles_can_add = cfg_.min_face_size / to_photo < smallest_full_view;
  // "Much larger" is judged on the photo, not on this image: the pipeline detects on a
  // downscaled copy (>= kDetectSide px, FaceEngine) that still has more pixels per tile than
  // the detector input, so the tiles find the same faces as on the full-size photo.
  if (cfg_.small_faces && SW * to_photo >= 3.f * width_ && tiles_can_add) {
    auto starts = [](float len, float tile, float overlap) {
      std::vector<float> v;
      if (len <= tile) {
        v.push_back((len - tile) / 2);
        return v;
      }
      const int steps = std::max(1, static_cast<int>(std::ceil((len - tile) / (tile - overlap) - 1e-4f)));
      for (int k = 0; k <= steps; ++k) v.push_back(k * (len - tile) / steps);
      return v;
    };
    for (float y0 : starts(H, TH, kMinOverlap * SH))
      for (float x0 : starts(W, TW, kMinOverlap * SW)) regions.push_back({x0, y0, x0 + TW, y0 + TH});
  }
  out->warps = ModelCrops(*model_);
  if (out->warps) {
    out->input = Tensor();  // the model cuts the regions when it runs (DetectPrepared)
  } else {
    std::vector<ImageRegion> crops(regions.size());
    for (size_t i = 0; i < regions.size(); ++i) crops[i] = {&image, regions[i]};
    FK_ASSIGN_OR_RETURN(out->input, CropRegions(crops));
  }
  out->image = &image;
  out->regions = std::move(regions);
  out->tile_side = std::min(TW, TH);
  out->to_photo = to_photo;
  return OkStatus();
}

Status FaceDetector::RunInput(const Tensor& input, bool pixels, std::span<const BoxF> regions,
                              std::vector<std::vector<Detection>>* out) const {
  out->assign(regions.size(), {});
  if (regions.empty()) return OkStatus();
  const StepScope step(Step::kDetectRun, static_cast<int64_t>(regions.size()));
  auto outs = pixels ? RunPixelBytes(*model_, input, InputNorm()) : model_->Run({input});
  if (!outs.ok()) return outs.status();
  return DecodeOutputs(*outs, regions, out);
}

Status FaceDetector::RunWarped(std::span<const ImageRegion> regions, std::vector<std::vector<Detection>>* out) const {
  out->assign(regions.size(), {});
  if (regions.empty()) return OkStatus();
  std::vector<BoxF> boxes(regions.size());
  // detect_input: only the crops' plans here (the cutting is in the run, on the device).
  std::optional<StepScope> step(std::in_place, Step::kDetectInput, static_cast<int64_t>(regions.size()));
  CropBatch batch;
  for (size_t i = 0; i < regions.size(); ++i) {
    // The region [x0, x1) x [y0, y1) onto the whole input, as CropResizeInto maps it (outside
    // the image: black, the letterbox).
    const BoxF& b = regions[i].box;
    boxes[i] = b;
    const vision::Affine2x3 to_input =
        vision::Compose(vision::Affine2x3::Scaling(width_ / static_cast<double>(b.width()),
                                                   height_ / static_cast<double>(b.height())),
                        vision::Affine2x3::Translation(-b.x0, -b.y0));
    FK_RETURN_IF_ERROR(batch.Add(*regions[i].image, to_input, width_, height_));
  }
  step.emplace(Step::kDetectRun, static_cast<int64_t>(regions.size()));
  FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs, batch.Run(*model_, height_, width_, InputNorm()));
  return DecodeOutputs(outs, boxes, out);
}

Result<Tensor> FaceDetector::CropRegions(std::span<const ImageRegion> regions) const {
  // Every element is written: no zero fill (10 fr_detect regions are 9 MB of floats).
  const int n = static_cast<int>(regions.size());
  const StepScope step(Step::kDetectInput, n);
  const int64_t per = int64_t{width_} * height_ * 3;
  const bool pixels = PixelInputs(*model_);
  Tensor floats = Tensor::Uninitialized(DType::kFloat32, Shape({n, height_, width_, 3}));
  for (int i = 0; i < n; ++i)
    FK_RETURN_IF_ERROR(vision::CropResizeInto(*regions[i].image, regions[i].box, width_, height_,
                                              CropNorm(pixels, InputNorm()), floats.data<float>() + i * per, 0.f));
  return pixels ? ToPixelBytes(floats) : floats;
}

Status FaceDetector::RunRegions(std::span<const ImageRegion> regions, std::vector<std::vector<Detection>>* out) const {
  if (ModelCrops(*model_)) return RunWarped(regions, out);
  out->assign(regions.size(), {});
  if (regions.empty()) return OkStatus();
  std::vector<BoxF> boxes(regions.size());
  for (size_t i = 0; i < regions.size(); ++i) boxes[i] = regions[i].box;
  FK_ASSIGN_OR_RETURN(Tensor input, CropRegions(regions));
  return RunInput(input, input.dtype() == DType::kUInt8, boxes, out);
}

Status FaceDetector::RunRegions(const Image& image, std::span<const BoxF> regions,
                                std::vector<std::vector<Detection>>* out) const {
  std::vector<ImageRegion> r(regions.size());
  for (size_t i = 0; i < regions.size(); ++i) r[i] = {&image, regions[i]};
  return RunRegions(r, out);
}

std::vector<Result<std::vector<Detection>>> FaceDetector::DetectPrepared(std::span<DetectorInput* const> photos) const {
  const size_t n = photos.size();
  std::vector<Status> status(n);
  std::vector<std::vector<std::vector<Detection>>> per_region(n);
  for (size_t i = 0; i < n; ++i) {
    const DetectorInput* p = photos[i];
    const Shape want({static_cast<int64_t>(p ? p->regions.size() : 0), height_, width_, 3});
    if (!p || !p->image || p->regions.empty() ||
        (!p->warps && (p->input.empty() || !(p->input.shape() == want) ||
                       (p->input.dtype() != DType::kUInt8 && p->input.dtype() != DType::kFloat32))))
      status[i] = InvalidArgument("detect: batch photo " + std::to_string(i) +
                                  " has no input made by this detector's PrepareInput");
    else per_region[i].resize(p->regions.size());
  }
  // Model runs over the regions of consecutive photos, at most `cap` regions each. On a
  // one-thread CPU model one region per run: a batch of 5 (full view + 4 tiles) costs ~6% more
  // CPU per photo than 5 runs of one (the activations of a batch leave the cache; `eval speed`,
  // 64 deepface-13 photos: 14.3-14.9 vs 13.4-13.5 ms/photo). With more threads the batch goes to
  // the executor's batch split; on a GPU a run of 64 regions costs little more than one.
  const size_t cap = threads_ == 1 && model_->backend_name() != "cuda" ? 1 : kMaxRegionsPerRun;
  const int64_t per = int64_t{width_} * height_ * 3;
  struct Slice {
    size_t photo, first, count;
  };
  size_t i = 0, r = 0;  // the next region to run: photos[i]->regions[r]
  auto skip_failed = [&] {
    while (i < n && !status[i].ok()) ++i, r = 0;
  };
  skip_failed();
  while (i < n) {
    // The next chunk: whole regions of consecutive photos of one input kind.
    std::vector<Slice> slices;
    size_t count = 0;
    const int kind = photos[i]->kind();
    while (i < n && count < cap && photos[i]->kind() == kind) {
      const size_t take = std::min(cap - count, photos[i]->regions.size() - r);
      slices.push_back({i, r, take});
      count += take;
      r += take;
      if (r == photos[i]->regions.size()) {
        ++i, r = 0;
        skip_failed();
      }
    }
    std::vector<std::vector<Detection>> found;
    Status run;
    if (kind == 2) {  // the model cuts every photo's regions (each photo uploaded once)
      std::vector<ImageRegion> regions;
      regions.reserve(count);
      for (const Slice& s : slices)
        for (size_t k = 0; k < s.count; ++k) regions.push_back({photos[s.photo]->image, photos[s.photo]->regions[s.first + k]});
      run = RunWarped(regions, &found);
    } else {
      const bool pixels = kind == 1;
      // One photo's consecutive regions are a view of its input; several photos' are copied
      // into one tensor (8-bit on a GPU: 230 KB per fr_detect region).
      const DType dtype = pixels ? DType::kUInt8 : DType::kFloat32;
      const size_t esize = DTypeSize(dtype);
      const Shape shape({static_cast<int64_t>(count), height_, width_, 3});
      Tensor input;
      if (slices.size() == 1) {
        const Slice& s = slices[0];
        auto* base = static_cast<uint8_t*>(const_cast<void*>(photos[s.photo]->input.raw()));
        input = Tensor::View(dtype, shape, base + s.first * per * esize);
      } else {
        input = Tensor::Uninitialized(dtype, shape);
        auto* dst = static_cast<uint8_t*>(input.raw());
        for (const Slice& s : slices) {
          const auto* src = static_cast<const uint8_t*>(photos[s.photo]->input.raw()) + s.first * per * esize;
          std::memcpy(dst, src, s.count * per * esize);
          dst += s.count * per * esize;
        }
      }
      std::vector<BoxF> boxes;
      boxes.reserve(count);
      for (const Slice& s : slices)
        for (size_t k = 0; k < s.count; ++k) boxes.push_back(photos[s.photo]->regions[s.first + k]);
      run = RunInput(input, pixels, boxes, &found);
    }
    size_t k = 0;
    for (const Slice& s : slices) {
      if (!run.ok()) {
        if (status[s.photo].ok()) status[s.photo] = run;
        continue;
      }
      for (size_t q = 0; q < s.count; ++q) per_region[s.photo][s.first + q] = std::move(found[k++]);
    }
  }
  // Per photo: merge the regions' detections; then Refine every photo's at once.
  std::vector<std::vector<Detection>> dets(n);
  std::vector<const Image*> images;
  std::vector<std::vector<Detection>*> refine;
  std::vector<size_t> which;
  for (size_t p = 0; p < n; ++p) {
    if (!status[p].ok()) continue;
    dets[p] = Merge(*photos[p], std::move(per_region[p]));
    images.push_back(photos[p]->image);
    refine.push_back(&dets[p]);
    which.push_back(p);
  }
  if (!images.empty()) {
    if (Status s = Refine(images, refine); !s.ok()) {
      if (images.size() == 1) {
        status[which[0]] = s;
      } else {
        // Which photo failed: each again on its own, so that only it gets the error. The merge
        // is redone: a failed Refine may have left a photo's detections half changed.
        for (size_t q = 0; q < which.size(); ++q) {
          const size_t p = which[q];
          std::vector<DetectorInput*> one = {photos[p]};
          auto again = DetectPrepared(one);
          if (again[0].ok()) dets[p] = std::move(*again[0]);
          else status[p] = again[0].status();
        }
      }
    }
  }
  std::vector<Result<std::vector<Detection>>> results;
  results.reserve(n);
  for (size_t p = 0; p < n; ++p) {
    if (status[p].ok()) results.emplace_back(std::move(dets[p]));
    else results.emplace_back(status[p]);
  }
  return results;
}

std::vector<Detection> FaceDetector::Merge(const DetectorInput& in, std::vector<std::vector<Detection>> per_region) const {
  const float W = static_cast<float>(in.image->width()), H = static_cast<float>(in.image->height());
  const float T = in.tile_side;
  std::vector<Detection> all = std::move(per_region[0]);
  for (size_t t = 1; t < per_region.size(); ++t) {
    const BoxF& r = in.regions[t];
    const float margin = 0.02f * T;
    for (const auto& d : per_region[t]) {
      // A tile only contributes small faces wholly inside it: large faces come from level 0,
      // and a face cut by an inner tile edge is found whole by a neighbouring tile.
      if (d.box.width() > 0.35f * T) continue;
      const bool cut = (d.box.x0 < r.x0 + margin && r.x0 > 0.5f) || (d.box.y0 < r.y0 + margin && r.y0 > 0.5f) ||
                       (d.box.x1 > r.x1 - margin && r.x1 < W - 0.5f) || (d.box.y1 > r.y1 - margin && r.y1 < H - 0.5f);
      if (!cut) all.push_back(d);
    }
  }
  std::vector<Detection> kept = WeightedNms(std::move(all), cfg_.iou_threshold, cfg_.max_faces * 4);
  // A part of a face found as a face (e.g. the mouth region of a large face in a tile): a
  // box lying mostly (>= 60% of its area) inside a box of at least twice its area is dropped.
  {
    std::vector<Detection> whole;
    for (size_t i = 0; i < kept.size(); ++i) {
      const BoxF& a = kept[i].box;
      const float area = a.width() * a.height();
      bool part = false;
      for (size_t j = 0; j < kept.size() && !part; ++j) {
        const BoxF& b = kept[j].box;
        if (j == i || b.width() * b.height() < 2.f * area) continue;
        const float ix = std::max(0.f, std::min(a.x1, b.x1) - std::max(a.x0, b.x0));
        const float iy = std::max(0.f, std::min(a.y1, b.y1) - std::max(a.y0, b.y0));
        part = ix * iy >= 0.6f * area;
      }
      if (!part) whole.push_back(kept[i]);
    }
    kept = std::move(whole);
  }
  // Minimum face size is in photo pixels (the image may be a downscaled decode).
  std::vector<Detection> out;
  for (auto& d : kept) {
    if (std::min(d.box.width(), d.box.height()) * in.to_photo < cfg_.min_face_size) continue;
    out.push_back(d);
    if (static_cast<int>(out.size()) >= cfg_.max_faces) break;
  }
  return out;
}

Result<std::vector<Detection>> FaceDetector::Detect(const Image& image) const {
  DetectorInput in;
  FK_RETURN_IF_ERROR(PrepareInput(image, &in));
  DetectorInput* one[] = {&in};
  return std::move(DetectPrepared(one)[0]);
}

// ---- fr_detect ------------------------------------------------------------------------

std::array<Point2f, 6> KeypointsFromBox(const BoxF& b) {
  // Fractions of the (BlazeFace-convention) box: medians of the facemesh 5 points relative
  // to BlazeFace's box on 150 LFW dev images (eyes, nose tip, mouth centre); the ear
  // tragions are rough guesses (they only take part in NMS blending).
  static constexpr float kFrac[6][2] = {{0.306f, 0.281f}, {0.698f, 0.281f}, {0.507f, 0.535f},
                                        {0.51f, 0.70f},   {0.05f, 0.35f},   {0.95f, 0.35f}};
  std::array<Point2f, 6> k;
  for (int i = 0; i < 6; ++i) k[i] = {b.x0 + kFrac[i][0] * b.width(), b.y0 + kFrac[i][1] * b.height()};
  return k;
}

Result<std::unique_ptr<FrDetect>> FrDetect::Load(const std::string& path, const ModelOptions& opts,
                                                 const DetectorConfig& cfg, const std::string& keypoint_model,
                                                 const std::string& verify_model) {
  auto d = std::make_unique<FrDetect>();
  FK_ASSIGN_OR_RETURN(d->model_, Model::Load(path, opts));
  const auto& in = d->model_->inputs();
  if (in.size() != 1 || in[0].shape.rank() != 4 || in[0].shape[3] != 3 || in[0].shape[1] <= 0 || in[0].shape[2] <= 0)
    return InvalidArgument("detector model " + path + ": expected one [N,H,W,3] input (fr_detect: [N,240,320,3]), got " +
                           (in.empty() ? std::string("none") : in[0].shape.ToString()));
  d->height_ = static_cast<int>(in[0].shape[1]);
  d->width_ = static_cast<int>(in[0].shape[2]);
  d->cfg_ = cfg;
  if (!keypoint_model.empty()) {
    DetectorConfig kc = cfg;
    kc.min_confidence = 0.3f;  // the face is known to be there; only its keypoints are wanted
    auto k = BlazeFace::Load(keypoint_model, opts, kc);
    if (!k.ok()) return k.status().WithContext("loading the keypoint model " + keypoint_model);
    d->keypoints_ = std::move(k).value();
  }
  if (!verify_model.empty()) {
    auto m = FaceMesh::Load(verify_model, opts);
    if (!m.ok()) return m.status().WithContext("loading the verification model " + verify_model);
    d->verifier_ = std::move(m).value();
  }
  return d;
}

FrDetect::~FrDetect() = default;

Status FrDetect::Refine(std::span<const Image* const> images, std::span<std::vector<Detection>* const> dets) const {
  if (!keypoints_) return OkStatus();
  // Keypoints: one blazeface-front run over the crops of every face of every photo.
  std::vector<ImageRegion> crops;
  for (size_t p = 0; p < images.size(); ++p)
    for (const auto& d : *dets[p]) {
      const float cx = (d.box.x0 + d.box.x1) / 2, cy = (d.box.y0 + d.box.y1) / 2;
      const float half = std::max(d.box.width(), d.box.height());  // crop side = 2x the box
      crops.push_back({images[p], {cx - half, cy - half, cx + half, cy + half}});
    }
  if (crops.empty()) return OkStatus();
  std::vector<std::vector<Detection>> found;
  FK_RETURN_IF_ERROR(keypoints_->RunRegions(crops, &found));
  // Low-score detections BlazeFace did not see: facemesh's face flag decides (one run for
  // all photos' unsure faces).
  std::vector<std::vector<Detection>> unsure(images.size());
  std::vector<std::vector<size_t>> where(images.size());
  for (size_t p = 0, k = 0; p < images.size(); ++p) {
    std::vector<Detection>& ds = *dets[p];
    for (size_t i = 0; i < ds.size(); ++i, ++k) {
      Detection& d = ds[i];
      const Detection* best = nullptr;
      float best_iou = 0.3f;
      for (const auto& f : found[k])
        if (const float o = IoU(d.box, f.box); o > best_iou) best_iou = o, best = &f;
      if (best) {
        d.keypoints = best->keypoints;
        d.keypoints_estimated = false;
      }
      if (d.keypoints_estimated && d.score < kUnconfirmedMinScore) {
        unsure[p].push_back(d);
        where[p].push_back(i);
      }
    }
  }
  std::vector<ImageDetections> check;
  for (size_t p = 0; p < images.size(); ++p)
    if (!unsure[p].empty()) check.push_back({images[p], unsure[p]});
  if (check.empty()) return OkStatus();
  std::vector<MeshResult> meshes;
  if (verifier_) {
    FK_ASSIGN_OR_RETURN(meshes, verifier_->Run(check));
  }
  for (size_t p = 0, k = 0; p < images.size(); ++p) {
    if (unsure[p].empty()) continue;
    std::vector<bool> drop(dets[p]->size(), false);
    for (size_t i : where[p]) drop[i] = !verifier_ || meshes[k++].score < 0.5f;
    std::vector<Detection> out;
    for (size_t i = 0; i < dets[p]->size(); ++i)
      if (!drop[i]) out.push_back((*dets[p])[i]);
    *dets[p] = std::move(out);
  }
  return OkStatus();
}

vision::Normalize FrDetect::InputNorm() const {
  // The package's preprocessing: RGB, (p - 127) / 128.
  return vision::Normalize::MeanStd({127.f, 127.f, 127.f}, {128.f, 128.f, 128.f});
}

Status FrDetect::DecodeOutputs(const std::vector<Tensor>& outs, std::span<const BoxF> regions,
                               std::vector<std::vector<Detection>>* out) const {
  const int n = static_cast<int>(regions.size());
  const float* scores = nullptr;
  const float* boxes = nullptr;
  int64_t rows = -1;
  for (const auto& t : outs) {
    const auto& s = t.shape();
    if (s.rank() != 3 || s[0] != n) continue;
    if (s[2] == 2) scores = t.data<float>(), rows = rows < 0 ? s[1] : rows;
    if (s[2] == 4) boxes = t.data<float>(), rows = rows < 0 ? s[1] : rows;
  }
  for (const auto& t : outs)
    if (t.shape().rank() == 3 && t.shape()[1] != rows) rows = -2;
  if (!scores || !boxes || rows <= 0)
    return Internal("fr_detect outputs do not match (expected scores [N,P,2] and boxes [N,P,4] with the same P)");
  const float thr = cfg_.min_confidence;
  for (int i = 0; i < n; ++i) {
    const BoxF& r = regions[i];
    auto& dets = (*out)[i];
    for (int64_t a = 0; a < rows; ++a) {
      const float score = scores[(i * rows + a) * 2 + 1];
      if (!(score >= thr)) continue;
      const float* b = boxes + (i * rows + a) * 4;
      const float x0 = r.x0 + b[0] * r.width(), y0 = r.y0 + b[1] * r.height();
      const float x1 = r.x0 + b[2] * r.width(), y1 = r.y0 + b[3] * r.height();
      if (!(x1 > x0) || !(y1 > y0)) continue;
      // Square about the centre, side = box height (the package's scaleResult), then mapped
      // to BlazeFace's box convention (eyebrows to chin; the crops of facemesh and the
      // quality/pose code are tuned on it): BlazeFace's box of the same face is this square
      // scaled by kToBlazeScale about a centre kToBlazeDy * side lower (medians over 252
      // faces matched on deepface-13, 150 LFW dev images and the samples; 10-90%: scale
      // 0.74-0.88, shift 0.057-0.127).
      constexpr float kToBlazeScale = 0.80f, kToBlazeDy = 0.092f;
      const float h = y1 - y0;
      const float cx = (x0 + x1) / 2, cy = (y0 + y1) / 2 + kToBlazeDy * h, side = kToBlazeScale * h;
      Detection d;
      d.score = score;
      d.box = {cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2};
      d.keypoints = KeypointsFromBox(d.box);
      d.keypoints_estimated = true;
      dets.push_back(d);
    }
  }
  return OkStatus();
}

// ---- loading by name ------------------------------------------------------------------

Result<std::unique_ptr<FaceDetector>> FaceDetector::Load(const std::string& models_dir, const ModelOptions& opts,
                                                         const DetectorConfig& cfg) {
  if (cfg.model == "auto") {
    // The measured default (docs/benchmarks/detection.md): fr_detect when its ONNX model is
    // there and loads (facekit built with ONNX support), else blazeface-back.
    DetectorConfig c = cfg;
    c.model = "fr_detect";
    auto fr = Load(models_dir, opts, c);
    if (fr.ok()) return fr;
    c.model = "blazeface-back";
    auto bf = Load(models_dir, opts, c);
    if (bf.ok()) return bf;
    return bf.status().WithContext("detector \"auto\": fr_detect unavailable (" + fr.status().message() +
                                   ") and blazeface-back");
  }
  const std::string id = cfg.model == "blazeface" ? "blazeface-back" : cfg.model;
  std::string path;
  if (id == "blazeface-back" || id == "blazeface-front") path = models_dir + "/human/" + id + ".json";
  else if (id == "fr_detect") path = models_dir + "/faceplugin/fr_detect.onnx";
  else return InvalidArgument("detector '" + cfg.model + "' is not one of auto, fr_detect, blazeface-back, blazeface-front");
  if (!std::filesystem::exists(path))
    return NotFound("detector model not found at " + path + " (fetch the models or set models_dir)");
  std::unique_ptr<FaceDetector> det;
  if (id == "fr_detect") {
    const std::string kp = models_dir + "/human/blazeface-front.json";
    const std::string fm = models_dir + "/human/facemesh.json";
    auto r = FrDetect::Load(path, opts, cfg, std::filesystem::exists(kp) ? kp : std::string(),
                            std::filesystem::exists(fm) ? fm : std::string());
    if (!r.ok()) return r.status().WithContext("loading detector " + path);
    det = std::move(r).value();
  } else {
    auto r = BlazeFace::Load(path, opts, cfg);
    if (!r.ok()) return r.status().WithContext("loading detector " + path);
    det = std::move(r).value();
  }
  det->id_ = id;
  det->threads_ = opts.num_threads;
  return det;
}

}  // namespace fk::pipeline
