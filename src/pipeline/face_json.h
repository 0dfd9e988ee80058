// JSON form of pipeline results, shared by the CLI (`facekit detect/embed --json`) and the
// processing server: one spelling of a face for every output.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facekit/face.h"
#include "facekit/status.h"

namespace fk::pipeline {

enum class TemplateJson {
  kNone,    // no "template" key
  kFloats,  // "template": {model, model_version, flip_tta, dim, data: [floats]}
  kBase64,  // "template": {model, model_version, flip_tta, dim, base64: FaceTemplate::Serialize()}
};

// {"box": [x0,y0,x1,y1], "score", "landmarks": [[x,y] x5], "landmark_source", "mesh_score" (when
// facemesh ran), "pose": {yaw,pitch,roll}, "quality": {score,size,blur,pose,exposure}, "attributes"
// (when computed: {age, gender, gender_confidence, male, emotion (the top one), emotions: {name:
// probability}, real, live}, only the parts computed), "template"}.
nlohmann::json FaceToJson(const Face& f, TemplateJson templ);

// Standard base64 (RFC 4648, with padding). Decode also accepts the URL-safe alphabet and
// ignores padding and whitespace; InvalidArgument for other characters.
std::string Base64Encode(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> Base64Decode(const std::string& text);

}  // namespace fk::pipeline
