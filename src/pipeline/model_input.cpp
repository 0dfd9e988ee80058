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

Result<std::vector<Tensor>> RunPixelBytes(const Model& model, const Tensor& bytes, const vision::Normalize& norm) {
  PixelNormalization pn;
  pn.scale.assign(norm.scale.begin(), norm.scale.end());
  pn.offset.assign(norm.offset.begin(), norm.offset.end());
  pn.reverse_channels = norm.order == vision::ChannelOrder::kBGR;
  return model.RunPixels({bytes}, pn);
}

Result<std::vector<Tensor>> RunNormalized(const Model& model, const Tensor& input, const vision::Normalize& norm,
                                          bool pixels) {
  if (!pixels) return model.Run({input});
  return RunPixelBytes(model, ToPixelBytes(input), norm);
}

}  // namespace fk::pipeline
