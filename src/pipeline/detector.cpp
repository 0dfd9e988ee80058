// BlazeFace detection: anchors and decoding as in @vladmandic/human (face/blazeface.ts,
// face/facemeshutil.ts generateAnchors), letterboxed input, weighted NMS, and a tile pass
// for small faces in large photos.
#include <algorithm>
#include <cmath>
#include <cstring>

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
  bf->size_ = static_cast<int>(in[0].shape[1]);
  bf->cfg_ = cfg;
  bf->anchors_ = BlazeFaceAnchors(bf->size_);
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

Status BlazeFace::RunRegions(const Image& image, std::span<const BoxF> regions,
                             std::vector<std::vector<Detection>>* out) const {
  out->assign(regions.size(), {});
  if (regions.empty()) return OkStatus();
  const int n = static_cast<int>(regions.size());
  const int64_t per = int64_t{size_} * size_ * 3;
  Tensor input(DType::kFloat32, Shape({n, size_, size_, 3}));
  for (int i = 0; i < n; ++i)
    FK_RETURN_IF_ERROR(vision::CropResizeInto(image, regions[i], size_, size_, vision::Normalize::MinusOneOne(),
                                              input.data<float>() + i * per, 0.f));
  FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs, model_->Run({input}));
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
    const float sx = r.width() / size_, sy = r.height() / size_;
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

Result<std::vector<Detection>> BlazeFace::Detect(const Image& image) const {
  if (image.empty()) return InvalidArgument("detect: empty image");
  const float W = static_cast<float>(image.width()), H = static_cast<float>(image.height());
  const float S = std::max(W, H);
  // Level 0: the whole photo letterboxed into a square (centred, black padding), so the
  // aspect ratio is kept.
  std::vector<BoxF> regions = {{(W - S) / 2, (H - S) / 2, (W + S) / 2, (H + S) / 2}};
  // Level 1: overlapping tiles of half the longer side (stride a quarter) when the photo is
  // much larger than the detector input: a face of f px becomes 2f/S * size px instead of
  // f/S * size, so faces down to about half the level-0 minimum are found.
  const float T = S / 2;
  std::vector<BoxF> tiles;
  if (cfg_.small_faces && S >= 3.f * size_) {
    auto starts = [&](float len) {
      std::vector<float> v;
      if (len <= T) {
        v.push_back((len - T) / 2);
        return v;
      }
      const int steps = static_cast<int>(std::ceil((len - T) / (T / 2)));
      for (int k = 0; k <= steps; ++k) v.push_back(k * (len - T) / steps);
      return v;
    };
    for (float y0 : starts(H))
      for (float x0 : starts(W)) tiles.push_back({x0, y0, x0 + T, y0 + T});
  }
  regions.insert(regions.end(), tiles.begin(), tiles.end());
  std::vector<std::vector<Detection>> per_region;
  FK_RETURN_IF_ERROR(RunRegions(image, regions, &per_region));
  std::vector<Detection> all = std::move(per_region[0]);
  for (size_t t = 1; t < per_region.size(); ++t) {
    const BoxF& r = regions[t];
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
  // Minimum face size is in photo pixels (the image may be a downscaled decode).
  const float to_photo = static_cast<float>(image.source_width()) / image.width();
  std::vector<Detection> out;
  for (auto& d : kept) {
    if (std::min(d.box.width(), d.box.height()) * to_photo < cfg_.min_face_size) continue;
    out.push_back(d);
    if (static_cast<int>(out.size()) >= cfg_.max_faces) break;
  }
  return out;
}

}  // namespace fk::pipeline
