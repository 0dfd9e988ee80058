// Model inputs of the pipeline's stages: normalised floats or 8-bit pixels (pipeline_internal.h).
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "pipeline/pipeline_internal.h"

namespace fk::pipeline {

bool PixelInputs(const Model& model) {
  if (const char* e = std::getenv("FK_PIXEL_INPUTS"); e && *e) return *e != '0';
  return model.pixel_inputs();
}

Tensor ToPixelBytes(const Tensor& pixel_values) {
  // Rounded as vision's 8-bit crops and warps round (nearest, clamped to 0..255).
  Tensor px(DType::kUInt8, pixel_values.shape());
  const float* s = pixel_values.data<float>();
  uint8_t* d = px.data<uint8_t>();
  const int64_t n = pixel_values.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::nearbyint(s[i]);
    d[i] = static_cast<uint8_t>(v < 0.f ? 0.f : (v > 255.f ? 255.f : v));
  }
  return px;
}

PixelNormalization PixelNormOf(const vision::Normalize& norm) {
  PixelNormalization pn;
  pn.scale.assign(norm.scale.begin(), norm.scale.end());
  pn.offset.assign(norm.offset.begin(), norm.offset.end());
  pn.reverse_channels = norm.order == vision::ChannelOrder::kBGR;
  return pn;
}

Result<std::vector<Tensor>> RunPixelBytes(const Model& model, const Tensor& bytes, const vision::Normalize& norm) {
  return model.RunPixels({bytes}, PixelNormOf(norm));
}

bool ModelCrops(const Model& model) {
  // Wherever the model takes 8-bit pixels (by default on a GPU); FK_MODEL_CROPS=0 cuts the crops
  // on the CPU (vision::WarpAffineInto) instead.
  const char* e = std::getenv("FK_MODEL_CROPS");
  if (e && *e == '0') return false;
  return PixelInputs(model);
}

Status CropBatch::Add(const Image& image, const vision::Affine2x3& src_to_dst, int out_w, int out_h, bool mirror) {
  FK_ASSIGN_OR_RETURN(const vision::WarpPlan plan, vision::PlanWarp(image, src_to_dst, out_w, out_h, /*antialias=*/true));
  FK_ASSIGN_OR_RETURN(const vision::Affine2x3 inv, plan.to_dst.Inverse());
  CropWarp c;
  const auto it = std::find(photos_.begin(), photos_.end(), &image);
  c.image = static_cast<int>(it - photos_.begin());
  if (it == photos_.end()) {
    photos_.push_back(&image);
    images_.push_back({image.row(0), image.width(), image.height(), static_cast<int64_t>(image.stride())});
  }
  const double f[6] = {inv.a, inv.b, inv.c, inv.d, inv.e, inv.f};
  std::copy(f, f + 6, c.inv);
  c.box = plan.box;
  c.x0 = plan.x0, c.y0 = plan.y0, c.x1 = plan.x1, c.y1 = plan.y1;
  c.mirror = mirror;
  crops_.push_back(c);
  return OkStatus();
}

Result<std::vector<Tensor>> CropBatch::Run(const Model& model, int out_h, int out_w, const vision::Normalize& norm,
                                           Tensor* crops_out) const {
  return model.RunWarps(images_, crops_, out_h, out_w, PixelNormOf(norm), crops_out);
}

Result<std::vector<Tensor>> RunNormalized(const Model& model, const Tensor& input, const vision::Normalize& norm,
                                          bool pixels) {
  if (!pixels) return model.Run({input});
  return RunPixelBytes(model, ToPixelBytes(input), norm);
}

}  // namespace fk::pipeline
