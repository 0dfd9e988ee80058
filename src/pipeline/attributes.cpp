// Face attributes: age and gender (faceres), emotion, liveness (antispoof + liveness), computed
// as Human 3.3.6 computes them from its face crop (pipeline_internal.h, docs/pipeline.md
// "Attributes").
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "pipeline/pipeline_internal.h"

namespace fk {

const char* EmotionName(int index) {
  // gear/emotion.ts, the oarriaga model's classes (1-channel input).
  static const char* kNames[kEmotionCount] = {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"};
  return index >= 0 && index < kEmotionCount ? kNames[index] : "?";
}

int FaceAttributes::top_emotion() const {
  if (emotion.empty()) return -1;
  return static_cast<int>(std::max_element(emotion.begin(), emotion.end()) - emotion.begin());
}

namespace pipeline {

namespace {

constexpr float kCropEnlarge = 1.4f;  // Human's facemesh crop: detector box x 1.4, squared
constexpr int kFaceresSize = 224, kEmotionSize = 64, kAntispoofSize = 128, kLivenessSize = 32;

Result<std::unique_ptr<Model>> LoadAttributeModel(const std::string& models_dir, const std::string& name,
                                                  const char* key, const ModelOptions& opts, int size, int channels) {
  const std::string path = models_dir + "/human/" + name + ".json";
  if (!std::filesystem::exists(path))
    return NotFound("attribute model not found at " + path + " (asked for by \"attributes\": {\"" + key +
                    "\": true}; fetch the models with scripts/fetch_models.sh, or turn the attribute off)");
  auto m = Model::Load(path, opts);
  if (!m.ok()) return m.status().WithContext("loading attribute model " + path);
  const auto& in = (*m)->inputs();
  if (in.size() != 1 || in[0].shape.rank() != 4 || in[0].shape[1] != size || in[0].shape[2] != size ||
      in[0].shape[3] != channels)
    return InvalidArgument("attribute model " + path + ": expected one [N," + std::to_string(size) + "," +
                           std::to_string(size) + "," + std::to_string(channels) + "] input");
  return m;
}

// The output of `outs` with shape [n, cols] (the first one).
const float* OutputWithCols(const std::vector<Tensor>& outs, int64_t n, int64_t cols) {
  for (const auto& t : outs)
    if (t.shape().rank() == 2 && t.shape()[0] == n && t.shape()[1] == cols) return t.data<float>();
  return nullptr;
}

// faceres.ts: age from the 100-bin softmax: the argmax bin, moved towards the larger neighbour
// bin by 10 x that bin's probability (years), rounded to 0.1 year. Human reads past
// the ends of the array there (NaN at bin 99); a missing neighbour counts as 0 here.
float AgeFromBins(const float* p) {
  const int idx = static_cast<int>(std::max_element(p, p + 100) - p);
  const float prev = idx > 0 ? p[idx - 1] : 0.f;
  const float next = idx < 99 ? p[idx + 1] : 0.f;
  const double tenths = prev > next ? 10.0 * idx - 100.0 * prev : 10.0 * idx + 100.0 * next;
  return static_cast<float>(std::floor(tenths + 0.5) / 10.0);  // JS Math.round
}

}  // namespace

AttributeCrop AttributeCropOf(const Image& image, const BoxF& box, std::span<const Point2f, 5> pts) {
  AttributeCrop c;
  c.image = &image;
  c.cx = (box.x0 + box.x1) / 2;
  c.cy = (box.y0 + box.y1) / 2;
  c.side = kCropEnlarge * std::max(box.width(), box.height());
  c.angle = std::atan2(pts[1].y - pts[0].y, pts[1].x - pts[0].x);
  return c;
}

Tensor ResizeBilinearTf(const Tensor& in, int out_h, int out_w) {
  const int64_t n = in.shape()[0], h = in.shape()[1], w = in.shape()[2], ch = in.shape()[3];
  Tensor out(DType::kFloat32, Shape({n, out_h, out_w, ch}));
  const float sy = static_cast<float>(h) / out_h, sx = static_cast<float>(w) / out_w;
  const float* src = in.data<float>();
  float* dst = out.data<float>();
  for (int64_t b = 0; b < n; ++b) {
    const float* img = src + b * h * w * ch;
    for (int y = 0; y < out_h; ++y) {
      const float fy = y * sy;
      const int64_t y0 = static_cast<int64_t>(std::floor(fy));
      const int64_t y1 = std::min(y0 + 1, h - 1);
      const float dy = fy - y0;
      for (int x = 0; x < out_w; ++x) {
        const float fx = x * sx;
        const int64_t x0 = static_cast<int64_t>(std::floor(fx));
        const int64_t x1 = std::min(x0 + 1, w - 1);
        const float dx = fx - x0;
        const float* p00 = img + (y0 * w + x0) * ch;
        const float* p01 = img + (y0 * w + x1) * ch;
        const float* p10 = img + (y1 * w + x0) * ch;
        const float* p11 = img + (y1 * w + x1) * ch;
        for (int64_t c = 0; c < ch; ++c) {
          // TF: top = tl + (tr - tl) * dx; bottom likewise; top + (bottom - top) * dy.
          const float top = p00[c] + (p01[c] - p00[c]) * dx;
          const float bottom = p10[c] + (p11[c] - p10[c]) * dx;
          *dst++ = top + (bottom - top) * dy;
        }
      }
    }
  }
  return out;
}

AttributeModels::~AttributeModels() = default;

Result<std::unique_ptr<AttributeModels>> AttributeModels::Load(const std::string& models_dir,
                                                               const ModelOptions& opts, const AttributeConfig& cfg) {
  auto a = std::make_unique<AttributeModels>();
  a->cfg_ = cfg;
  if (cfg.age_gender) {
    FK_ASSIGN_OR_RETURN(a->faceres_, LoadAttributeModel(models_dir, "faceres", "age_gender", opts, kFaceresSize, 3));
  }
  if (cfg.emotion) {
    FK_ASSIGN_OR_RETURN(a->emotion_, LoadAttributeModel(models_dir, "emotion", "emotion", opts, kEmotionSize, 1));
  }
  if (cfg.liveness) {
    FK_ASSIGN_OR_RETURN(a->antispoof_,
                        LoadAttributeModel(models_dir, "antispoof", "liveness", opts, kAntispoofSize, 3));
    FK_ASSIGN_OR_RETURN(a->liveness_, LoadAttributeModel(models_dir, "liveness", "liveness", opts, kLivenessSize, 3));
  }
  return a;
}

namespace {

// Rows `idx` of an NHWC float tensor; the tensor itself (a shared handle) when idx is every row.
Tensor Rows(const Tensor& t, std::span<const int64_t> idx) {
  const int64_t n = t.shape()[0];
  if (static_cast<int64_t>(idx.size()) == n) return t;  // idx is 0..n-1 in order (built that way)
  const int64_t per = n > 0 ? t.num_elements() / n : 0;
  Tensor out(DType::kFloat32, Shape({static_cast<int64_t>(idx.size()), t.shape()[1], t.shape()[2], t.shape()[3]}));
  for (size_t k = 0; k < idx.size(); ++k) std::copy_n(t.data<float>() + idx[k] * per, per, out.data<float>() + k * per);
  return out;
}

}  // namespace

Result<std::vector<FaceAttributes>> AttributeModels::Run(std::span<const AttributeCrop> crops,
                                                         std::span<const AttributeConfig> want) const {
  if (!want.empty() && want.size() != crops.size())
    return InvalidArgument("attributes: " + std::to_string(want.size()) + " choices for " + std::to_string(crops.size()) +
                           " crops");
  std::vector<FaceAttributes> out(crops.size());
  // Only the faces that want something are cut.
  std::vector<int64_t> need;
  std::vector<AttributeConfig> need_want;
  for (size_t i = 0; i < crops.size(); ++i) {
    const AttributeConfig& w = want.empty() ? cfg_ : want[i];
    if (!w.any()) continue;
    need.push_back(static_cast<int64_t>(i));
    need_want.push_back(w);
  }
  if (need.empty()) return out;
  const int n = static_cast<int>(need.size());
  constexpr int k = kAttributeCropSize;
  const int64_t per = int64_t{k} * k * 3;
  Tensor input(DType::kFloat32, Shape({n, k, k, 3}));
  std::optional<StepScope> step(std::in_place, Step::kAttrCrop, n);
  for (int i = 0; i < n; ++i) {
    const AttributeCrop& c = crops[need[i]];
    if (!c.image) return InvalidArgument("attributes: crop " + std::to_string(need[i]) + " has no image");
    // As the facemesh crop (landmarks.cpp): same transform, area-filtered when shrinking.
    FK_RETURN_IF_ERROR(vision::WarpAffineInto(*c.image, SquareCropTransform(c.cx, c.cy, c.side, c.angle, k), k, k,
                                              vision::Normalize::ZeroOne(), input.data<float>() + i * per, 0.f,
                                              /*antialias=*/true));
  }
  step.reset();
  FK_ASSIGN_OR_RETURN(std::vector<FaceAttributes> got, RunOnCrops(input, need_want));
  for (int i = 0; i < n; ++i) out[need[i]] = std::move(got[i]);
  return out;
}

Result<std::vector<FaceAttributes>> AttributeModels::RunOnCrops(const Tensor& crops,
                                                                std::span<const AttributeConfig> want) const {
  const auto& s = crops.shape();
  if (crops.dtype() != DType::kFloat32 || s.rank() != 4 || s[3] != 3)
    return InvalidArgument("attributes: crops must be a [N, H, W, 3] float32 tensor, got " + s.ToString());
  const int64_t n = s[0];
  if (!want.empty() && static_cast<int64_t>(want.size()) != n)
    return InvalidArgument("attributes: " + std::to_string(want.size()) + " choices for " + std::to_string(n) + " crops");
  for (const AttributeConfig& w : want)
    if (!cfg_.covers(w))
      return FailedPrecondition("attributes '" + w.ToString() + "' asked for, but only '" + cfg_.ToString() +
                                "' are loaded (FaceConfig::attributes)");
  std::vector<FaceAttributes> out(static_cast<size_t>(n));
  if (n == 0) return out;
  const StepScope step(Step::kAttrRun, n);  // the resizes to each model's input included
  // The crops that want `part`, in order.
  std::vector<int64_t> idx;
  auto select = [&](bool AttributeConfig::*part) {
    idx.clear();
    for (int64_t i = 0; i < n; ++i)
      if (want.empty() ? cfg_.*part : want[static_cast<size_t>(i)].*part) idx.push_back(i);
    return static_cast<int64_t>(idx.size());
  };
  const vision::Normalize plain = vision::Normalize::Raw();
  if (faceres_ && select(&AttributeConfig::age_gender) > 0) {
    // faceres.ts enhance(): resize to 224, x 255.
    const int64_t m = static_cast<int64_t>(idx.size());
    Tensor x = ResizeBilinearTf(Rows(crops, idx), kFaceresSize, kFaceresSize);
    float* v = x.data<float>();
    for (int64_t i = 0, e = x.num_elements(); i < e; ++i) v[i] *= 255.f;
    FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs, RunNormalized(*faceres_, x, plain, false));
    const float* gender = OutputWithCols(outs, m, 1);
    const float* age = OutputWithCols(outs, m, 100);
    if (!gender || !age) return Internal("faceres: no [N,1] gender or [N,100] age output");
    for (int64_t j = 0; j < m; ++j) {
      FaceAttributes& a = out[idx[j]];
      a.male = gender[j];
      a.gender = gender[j] <= 0.5f ? "female" : "male";  // faceres.ts: <= 0.5 is female
      a.gender_confidence = std::min(1.f, 2.f * std::fabs(gender[j] - 0.5f));
      a.age = AgeFromBins(age + j * 100);
    }
  }
  if (emotion_ && select(&AttributeConfig::emotion) > 0) {
    // emotion.ts (1-channel model): resize to 64, grey = sum(rgb * [0.2989, 0.587, 0.114]),
    // then (grey - 0.5) * 2.
    const int64_t m = static_cast<int64_t>(idx.size());
    const Tensor r = ResizeBilinearTf(Rows(crops, idx), kEmotionSize, kEmotionSize);
    Tensor x(DType::kFloat32, Shape({m, kEmotionSize, kEmotionSize, 1}));
    const float* p = r.data<float>();
    float* g = x.data<float>();
    for (int64_t i = 0, e = x.num_elements(); i < e; ++i, p += 3)
      g[i] = ((p[0] * 0.2989f + p[1] * 0.587f + p[2] * 0.114f) - 0.5f) * 2.f;
    FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs, RunNormalized(*emotion_, x, plain, false));
    const float* e = OutputWithCols(outs, m, kEmotionCount);
    if (!e) return Internal("emotion: no [N,7] output");
    for (int64_t j = 0; j < m; ++j) out[idx[j]].emotion.assign(e + j * kEmotionCount, e + (j + 1) * kEmotionCount);
  }
  if (antispoof_ && liveness_ && select(&AttributeConfig::liveness) > 0) {
    const int64_t m = static_cast<int64_t>(idx.size());
    const Tensor rows = Rows(crops, idx);
    // antispoof.ts: resize to 128, pixels 0..1; the first output value.
    FK_ASSIGN_OR_RETURN(std::vector<Tensor> outs,
                        RunNormalized(*antispoof_, ResizeBilinearTf(rows, kAntispoofSize, kAntispoofSize), plain, false));
    const float* r = OutputWithCols(outs, m, 1);
    if (!r) return Internal("antispoof: no [N,1] output");
    // liveness.ts: resize to 32, pixels 0..1; the first of the two output values.
    FK_ASSIGN_OR_RETURN(std::vector<Tensor> louts,
                        RunNormalized(*liveness_, ResizeBilinearTf(rows, kLivenessSize, kLivenessSize), plain, false));
    const float* l = OutputWithCols(louts, m, 2);
    if (!l) return Internal("liveness: no [N,2] output");
    for (int64_t j = 0; j < m; ++j) {
      out[idx[j]].real = r[j];
      out[idx[j]].live = l[j * 2];
    }
  }
  return out;
}

}  // namespace pipeline
}  // namespace fk
