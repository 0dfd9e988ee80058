// FaceConfig <-> JSON with strict checking (unknown keys and wrong types are errors).
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "facekit/face.h"

namespace fk {

const char* TierName(Tier t) {
  switch (t) {
    case Tier::kFast: return "fast";
    case Tier::kBalanced: return "balanced";
    case Tier::kAccurate: return "accurate";
  }
  return "?";
}

namespace {

using nlohmann::json;

const char* TypeName(const json& v) { return v.type_name(); }

Status CheckKeys(const json& obj, const std::set<std::string>& allowed, const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      return InvalidArgument("config: unknown key '" + where + it.key() + "' (allowed: " + list + ")");
    }
  }
  return OkStatus();
}

template <typename T>
Status Get(const json& obj, const char* key, const std::string& where, T* out) {
  if (!obj.contains(key)) return OkStatus();
  const json& v = obj[key];
  const std::string name = where + key;
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return InvalidArgument("config: '" + name + "' must be true or false, got " + TypeName(v));
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return InvalidArgument("config: '" + name + "' must be a string, got " + TypeName(v));
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) return InvalidArgument("config: '" + name + "' must be an integer, got " + TypeName(v));
  } else {
    if (!v.is_number()) return InvalidArgument("config: '" + name + "' must be a number, got " + TypeName(v));
  }
  *out = v.get<T>();
  return OkStatus();
}

Status ParseDevice(const json& j, const std::string& where, FaceConfig* c) {
  FK_RETURN_IF_ERROR(Get(j, "use_cuda", where, &c->use_cuda));
  FK_RETURN_IF_ERROR(Get(j, "gpu_index", where, &c->gpu_index));
  FK_RETURN_IF_ERROR(Get(j, "precision", where, &c->precision));
  FK_RETURN_IF_ERROR(Get(j, "backend", where, &c->backend));
  FK_RETURN_IF_ERROR(Get(j, "num_threads", where, &c->num_threads));
  FK_RETURN_IF_ERROR(Get(j, "gpu_memory_limit_bytes", where, &c->gpu_memory_limit_bytes));
  FK_RETURN_IF_ERROR(Get(j, "gpu_memory_limit_fraction", where, &c->gpu_memory_limit_fraction));
  FK_RETURN_IF_ERROR(Get(j, "allow_cpu_fallback", where, &c->allow_cpu_fallback));
  FK_RETURN_IF_ERROR(Get(j, "pixel_inputs", where, &c->pixel_inputs));
  FK_RETURN_IF_ERROR(Get(j, "gpu_decode", where, &c->gpu_decode));
  return OkStatus();
}

}  // namespace

Result<AttributeConfig> AttributeConfig::Parse(const std::string& list) {
  AttributeConfig a;
  if (list == "none") return a;
  if (list == "all") return AttributeConfig{true, true, true};
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string part = list.substr(start, end - start);
    if (part == "age_gender" || part == "age" || part == "gender") a.age_gender = true;
    else if (part == "emotion") a.emotion = true;
    else if (part == "liveness") a.liveness = true;
    else
      return InvalidArgument("attributes: '" + part +
                             "' is not one of age_gender (or age, gender), emotion, liveness, all, none");
    start = end + 1;
  }
  return a;
}

std::string AttributeConfig::ToString() const {
  std::string s;
  for (const auto& [on, name] : {std::pair{age_gender, "age_gender"}, {emotion, "emotion"}, {liveness, "liveness"}})
    if (on) {
      if (!s.empty()) s += ',';
      s += name;
    }
  return s.empty() ? "none" : s;
}

Status FaceConfig::Validate() const {
  const auto& d = detector;
  if (d.model != "auto" && d.model != "blazeface-back" && d.model != "blazeface-front" && d.model != "blazeface" &&
      d.model != "fr_detect")
    return InvalidArgument("config: detector.model '" + d.model +
                           "' is not supported (use auto, fr_detect, blazeface-back or blazeface-front)");
  if (!(d.min_confidence > 0.f && d.min_confidence < 1.f))
    return InvalidArgument("config: detector.min_confidence must be in (0, 1), got " + std::to_string(d.min_confidence));
  if (!(d.iou_threshold > 0.f && d.iou_threshold <= 1.f))
    return InvalidArgument("config: detector.iou_threshold must be in (0, 1], got " + std::to_string(d.iou_threshold));
  if (d.max_faces < 1) return InvalidArgument("config: detector.max_faces must be >= 1");
  if (!(d.min_face_size >= 0.f)) return InvalidArgument("config: detector.min_face_size must be >= 0");
  if (!recognizer.empty() && recognizer != "mobileface" && recognizer != "faceres" && recognizer != "fr_feature" &&
      recognizer != "faceapi_resnet" && recognizer != "fusion:fr_feature+faceapi_resnet")
    return InvalidArgument("config: recognizer '" + recognizer +
                           "' is not one of mobileface, faceres, fr_feature, faceapi_resnet, "
                           "fusion:fr_feature+faceapi_resnet");
  if (backend != "cpu" && backend != "ref" && backend != "cuda")
    return InvalidArgument("config: backend '" + backend + "' is not one of cpu, ref, cuda");
  if (num_threads < 0) return InvalidArgument("config: num_threads must be >= 0 (0 = all cores)");
  if (gpu_index < 0) return InvalidArgument("config: gpu_index must be >= 0");
  if (precision != "fp32" && precision != "tf32" && precision != "fp16" && precision != "auto")
    return InvalidArgument("config: precision '" + precision + "' is not one of fp32, tf32, fp16, auto");
  if (pixel_inputs < -1 || pixel_inputs > 1)
    return InvalidArgument("config: pixel_inputs must be -1 (auto), 0 or 1, got " + std::to_string(pixel_inputs));
  if (gpu_decode < -1 || gpu_decode > 1)
    return InvalidArgument("config: gpu_decode must be -1 (auto), 0 or 1, got " + std::to_string(gpu_decode));
  if (max_image_side < 64) return InvalidArgument("config: max_image_side must be >= 64");
  if (gpu_memory_limit_bytes < 0) return InvalidArgument("config: gpu_memory_limit_bytes must be >= 0 (0 = no limit)");
  if (!(gpu_memory_limit_fraction >= 0.0 && gpu_memory_limit_fraction <= 1.0))
    return InvalidArgument("config: gpu_memory_limit_fraction must be in [0, 1] (0 = no limit)");
  if (!(target_far > 0.0 && target_far < 1.0)) return InvalidArgument("config: target_far must be in (0, 1)");
  const auto& b = detect_batching;
  if (b.max_batch < 0 || b.max_batch > 4096)
    return InvalidArgument("config: detect_batching.max_batch must be 0..4096 (0 = auto, 1 = off), got " +
                           std::to_string(b.max_batch));
  if (b.max_delay_us < 0 || b.max_delay_us > 1000000)
    return InvalidArgument("config: detect_batching.max_delay_us must be 0..1000000, got " +
                           std::to_string(b.max_delay_us));
  if (b.workers < 1 || b.workers > 64)
    return InvalidArgument("config: detect_batching.workers must be 1..64, got " + std::to_string(b.workers));
  return OkStatus();
}

Result<FaceConfig> FaceConfig::FromJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (j.is_discarded()) return InvalidArgument("config: not valid JSON");
  if (!j.is_object()) return InvalidArgument("config: the top level must be a JSON object");
  FK_RETURN_IF_ERROR(CheckKeys(j,
                               {"tier", "recognizer", "detector", "landmarks", "flip_tta", "embed", "device", "use_cuda", "gpu_index",
                                "precision", "backend", "num_threads", "gpu_memory_limit_bytes", "gpu_memory_limit_fraction",
                                "allow_cpu_fallback", "models_dir", "max_image_side", "target_far", "calibration",
                                "attributes", "detect_batching", "pixel_inputs", "gpu_decode"},
                               ""));
  FaceConfig c;
  std::string tier;
  FK_RETURN_IF_ERROR(Get(j, "tier", "", &tier));
  if (!tier.empty()) {
    if (tier == "fast") c.tier = Tier::kFast;
    else if (tier == "balanced") c.tier = Tier::kBalanced;
    else if (tier == "accurate") c.tier = Tier::kAccurate;
    else return InvalidArgument("config: tier '" + tier + "' is not one of fast, balanced, accurate");
  }
  if (j.contains("detector")) {
    const json& d = j["detector"];
    if (!d.is_object()) return InvalidArgument("config: 'detector' must be an object");
    FK_RETURN_IF_ERROR(CheckKeys(
        d, {"model", "min_confidence", "iou_threshold", "max_faces", "min_face_size", "small_faces"}, "detector."));
    FK_RETURN_IF_ERROR(Get(d, "model", "detector.", &c.detector.model));
    FK_RETURN_IF_ERROR(Get(d, "min_confidence", "detector.", &c.detector.min_confidence));
    FK_RETURN_IF_ERROR(Get(d, "iou_threshold", "detector.", &c.detector.iou_threshold));
    FK_RETURN_IF_ERROR(Get(d, "max_faces", "detector.", &c.detector.max_faces));
    FK_RETURN_IF_ERROR(Get(d, "min_face_size", "detector.", &c.detector.min_face_size));
    FK_RETURN_IF_ERROR(Get(d, "small_faces", "detector.", &c.detector.small_faces));
  }
  if (j.contains("detect_batching")) {
    const json& b = j["detect_batching"];
    if (!b.is_object())
      return InvalidArgument("config: 'detect_batching' must be an object like {\"max_batch\": 32, \"max_delay_us\": 0, "
                             "\"workers\": 2}");
    FK_RETURN_IF_ERROR(CheckKeys(b, {"max_batch", "max_delay_us", "workers"}, "detect_batching."));
    FK_RETURN_IF_ERROR(Get(b, "max_batch", "detect_batching.", &c.detect_batching.max_batch));
    FK_RETURN_IF_ERROR(Get(b, "max_delay_us", "detect_batching.", &c.detect_batching.max_delay_us));
    FK_RETURN_IF_ERROR(Get(b, "workers", "detect_batching.", &c.detect_batching.workers));
  }
  FK_RETURN_IF_ERROR(Get(j, "recognizer", "", &c.recognizer));
  FK_RETURN_IF_ERROR(Get(j, "landmarks", "", &c.landmarks));
  FK_RETURN_IF_ERROR(Get(j, "flip_tta", "", &c.flip_tta));
  FK_RETURN_IF_ERROR(Get(j, "embed", "", &c.embed));
  if (j.contains("attributes")) {
    const json& a = j["attributes"];
    if (!a.is_object())
      return InvalidArgument("config: 'attributes' must be an object like {\"age_gender\": true, \"emotion\": true, "
                             "\"liveness\": true}");
    FK_RETURN_IF_ERROR(CheckKeys(a, {"age_gender", "emotion", "liveness"}, "attributes."));
    FK_RETURN_IF_ERROR(Get(a, "age_gender", "attributes.", &c.attributes.age_gender));
    FK_RETURN_IF_ERROR(Get(a, "emotion", "attributes.", &c.attributes.emotion));
    FK_RETURN_IF_ERROR(Get(a, "liveness", "attributes.", &c.attributes.liveness));
  }
  FK_RETURN_IF_ERROR(ParseDevice(j, "", &c));
  if (j.contains("device")) {
    const json& d = j["device"];
    if (!d.is_object()) return InvalidArgument("config: 'device' must be an object");
    FK_RETURN_IF_ERROR(CheckKeys(d,
                                 {"use_cuda", "gpu_index", "precision", "backend", "num_threads",
                                  "gpu_memory_limit_bytes", "gpu_memory_limit_fraction", "allow_cpu_fallback",
                                  "pixel_inputs", "gpu_decode"},
                                 "device."));
    FK_RETURN_IF_ERROR(ParseDevice(d, "device.", &c));
  }
  FK_RETURN_IF_ERROR(Get(j, "models_dir", "", &c.models_dir));
  FK_RETURN_IF_ERROR(Get(j, "max_image_side", "", &c.max_image_side));
  FK_RETURN_IF_ERROR(Get(j, "target_far", "", &c.target_far));
  FK_RETURN_IF_ERROR(Get(j, "calibration", "", &c.calibration));
  FK_RETURN_IF_ERROR(c.Validate());
  return c;
}

Result<FaceConfig> FaceConfig::FromFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return NotFound("config file " + path + " not found or unreadable");
  std::stringstream ss;
  ss << f.rdbuf();
  auto c = FromJson(ss.str());
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

std::string FaceConfig::ToJson() const {
  json j;
  j["tier"] = TierName(tier);
  j["detector"] = {{"model", detector.model},
                   {"min_confidence", detector.min_confidence},
                   {"iou_threshold", detector.iou_threshold},
                   {"max_faces", detector.max_faces},
                   {"min_face_size", detector.min_face_size},
                   {"small_faces", detector.small_faces}};
  j["detect_batching"] = {{"max_batch", detect_batching.max_batch},
                          {"max_delay_us", detect_batching.max_delay_us},
                          {"workers", detect_batching.workers}};
  if (!recognizer.empty()) j["recognizer"] = recognizer;
  j["landmarks"] = landmarks;
  j["flip_tta"] = flip_tta;
  j["embed"] = embed;
  j["attributes"] = {{"age_gender", attributes.age_gender},
                     {"emotion", attributes.emotion},
                     {"liveness", attributes.liveness}};
  j["device"] = {{"use_cuda", use_cuda},
                 {"gpu_index", gpu_index},
                 {"precision", precision},
                 {"backend", backend},
                 {"num_threads", num_threads},
                 {"gpu_memory_limit_bytes", gpu_memory_limit_bytes},
                 {"gpu_memory_limit_fraction", gpu_memory_limit_fraction},
                 {"allow_cpu_fallback", allow_cpu_fallback},
                 {"pixel_inputs", pixel_inputs},
                 {"gpu_decode", gpu_decode}};
  j["models_dir"] = models_dir;
  j["max_image_side"] = max_image_side;
  j["target_far"] = target_far;
  j["calibration"] = calibration;
  return j.dump(2);
}

}  // namespace fk
