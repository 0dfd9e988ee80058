#include "pipeline/face_json.h"

namespace fk::pipeline {

using json = nlohmann::json;

std::string Base64Encode(std::span<const uint8_t> in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = in[i] << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

Result<std::vector<uint8_t>> Base64Decode(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    const int v = val(c);
    if (v < 0) return InvalidArgument("not base64: unexpected character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return out;
}

json FaceToJson(const Face& f, TemplateJson templ) {
  json j;
  j["box"] = {f.box.x0, f.box.y0, f.box.x1, f.box.y1};
  j["score"] = f.score;
  json lm = json::array();
  for (const auto& p : f.landmarks) lm.push_back({p.x, p.y});
  j["landmarks"] = lm;
  j["landmark_source"] = f.landmark_source;
  if (!f.landmark_source.empty() && f.mesh_score > 0) j["mesh_score"] = f.mesh_score;
  j["pose"] = {{"yaw", f.pose.yaw}, {"pitch", f.pose.pitch}, {"roll", f.pose.roll}};
  j["quality"] = {{"score", f.quality.score}, {"size", f.quality.size}, {"blur", f.quality.blur},
                  {"pose", f.quality.pose}, {"exposure", f.quality.exposure}};
  if (const FaceAttributes& a = f.attributes; !a.empty()) {
    json at = json::object();
    if (a.age >= 0) at["age"] = a.age;
    if (!a.gender.empty()) {
      at["gender"] = a.gender;
      at["gender_confidence"] = a.gender_confidence;
      at["male"] = a.male;
    }
    if (!a.emotion.empty()) {
      json e = json::object();
      for (int i = 0; i < static_cast<int>(a.emotion.size()); ++i) e[EmotionName(i)] = a.emotion[i];
      at["emotion"] = EmotionName(a.top_emotion());
      at["emotions"] = e;
    }
    if (a.real >= 0) at["real"] = a.real;
    if (a.live >= 0) at["live"] = a.live;
    j["attributes"] = at;
  }
  if (templ != TemplateJson::kNone && !f.templ.empty()) {
    json t = {{"model", f.templ.model}, {"model_version", f.templ.model_version},
              {"flip_tta", f.templ.flip_tta}, {"dim", f.templ.data.size()}};
    if (templ == TemplateJson::kFloats) t["data"] = f.templ.data;
    else t["base64"] = Base64Encode(f.templ.Serialize());
    j["template"] = t;
  }
  return j;
}

}  // namespace fk::pipeline
