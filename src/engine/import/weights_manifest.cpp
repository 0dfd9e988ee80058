// The one TF.js weights-manifest reader (see weights_manifest.h).
#include "engine/import/weights_manifest.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/import/tfjs_loader.h"

namespace fk::engine {

using json = nlohmann::json;

namespace {

std::string ShapeStr(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s.push_back(',');
    s.append(std::to_string(d[i]));
  }
  s.push_back(']');
  return s;
}

Status ReadGroup(const std::string& path, const std::string& dir, const json& group,
                 std::vector<ManifestWeight>* out) {
  if (!group.is_object() || !group.contains("paths") || !group.contains("weights") ||
      !group["paths"].is_array() || !group["weights"].is_array())
    return DataLoss(path + ": a weights manifest group needs 'paths' and 'weights' lists");
  std::string buf;
  std::vector<std::pair<std::string, size_t>> shard_ends;  // for messages
  for (const auto& p : group["paths"]) {
    if (!p.is_string()) return DataLoss(path + ": a shard path is not a string");
    const std::string shard = (std::filesystem::path(dir) / p.get<std::string>()).string();
    std::ifstream f(shard, std::ios::binary);
    if (!f)
      return NotFound(
          "weight shard '" + shard + "' listed in " + path +
          " does not exist or cannot be read (keep the .bin files next to the manifest)");
    std::ostringstream ss;
    ss << f.rdbuf();
    buf += ss.str();
    shard_ends.emplace_back(shard, buf.size());
  }
  auto shard_at = [&](size_t off) {
    for (const auto& [name, end] : shard_ends)
      if (off < end) return name;
    return shard_ends.empty() ? std::string("<no shard>") : shard_ends.back().first;
  };
  size_t off = 0;
  for (const auto& w : group["weights"]) {
    if (!w.is_object() || !w.contains("name") || !w.contains("shape") || !w.contains("dtype") ||
        !w["name"].is_string() || !w["shape"].is_array() || !w["dtype"].is_string())
      return DataLoss(path + ": a weight entry needs 'name', 'shape' and 'dtype'");
    const std::string name = w["name"].get<std::string>();
    const std::string dtype = w["dtype"].get<std::string>();
    std::vector<int64_t> dims;
    for (const auto& d : w["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        return DataLoss(path + ": weight '" + name + "' has a bad dimension in its shape");
      dims.push_back(d.get<int64_t>());
    }
    const Shape shape(dims);
    const size_t n = static_cast<size_t>(shape.num_elements());
    std::string q;
    double scale = 1.0, minv = 0.0;
    if (w.contains("quantization") && w["quantization"].is_object()) {
      const json& jq = w["quantization"];
      if (!jq.contains("dtype") || !jq["dtype"].is_string())
        return DataLoss(path + ": weight '" + name + "' has a quantization without a dtype");
      q = jq["dtype"].get<std::string>();
      if (jq.contains("scale") && jq["scale"].is_number()) scale = jq["scale"].get<double>();
      if (jq.contains("min") && jq["min"].is_number()) minv = jq["min"].get<double>();
    }
    size_t elem = 0;
    if (!q.empty()) {
      if (q == "uint8")
        elem = 1;
      else if (q == "uint16" || q == "float16")
        elem = 2;
      else
        return Unsupported(path + ": weight '" + name + "' uses unsupported quantization dtype '" +
                           q + "' (supported: uint8, uint16, float16)");
    } else if (dtype == "float32" || dtype == "int32") {
      elem = 4;
    } else {
      return Unsupported(path + ": weight '" + name + "' has unsupported dtype '" + dtype +
                         "' (supported: float32, int32)");
    }
    const size_t bytes = n * elem;
    if (off + bytes > buf.size())
      return DataLoss(path + ": weight '" + name + "' (" + ShapeStr(dims) + ", " +
                      std::to_string(bytes) + " bytes at offset " + std::to_string(off) +
                      ") runs past the end of the weight data (" + std::to_string(buf.size()) +
                      " bytes in '" + shard_at(buf.empty() ? 0 : buf.size() - 1) +
                      "'): the shard is truncated or belongs to another model");
    const auto* src = reinterpret_cast<const unsigned char*>(buf.data()) + off;
    const bool is_int = dtype == "int32";
    Tensor t(is_int ? DType::kInt32 : DType::kFloat32, shape);
    if (q.empty()) {
      if (bytes) std::memcpy(t.raw(), src, bytes);
    } else {
      for (size_t k = 0; k < n; ++k) {
        double v;
        if (q == "uint8") {
          v = static_cast<double>(src[k]) * scale + minv;
        } else {
          uint16_t u;
          std::memcpy(&u, src + 2 * k, 2);
          v = q == "uint16" ? static_cast<double>(u) * scale + minv
                            : static_cast<double>(HalfToFloat(u));
        }
        if (is_int)
          t.data<int32_t>()[k] = static_cast<int32_t>(std::llround(v));
        else
          t.data<float>()[k] = static_cast<float>(v);
      }
    }
    out->push_back({name, std::move(t)});
    off += bytes;
  }
  if (off != buf.size())
    return DataLoss(path + ": the weight data has " + std::to_string(buf.size()) +
                    " bytes but the manifest describes " + std::to_string(off) +
                    " (shard '" + shard_at(off) + "' does not match the manifest)");
  return OkStatus();
}

}  // namespace

Status ReadManifestGroups(const std::string& source, const std::string& dir, const json& groups,
                          std::vector<ManifestWeight>* out) {
  if (!groups.is_array())
    return DataLoss(source + ": the weights manifest is not a list of groups");
  for (const auto& group : groups) FK_RETURN_IF_ERROR(ReadGroup(source, dir, group, out));
  return OkStatus();
}

}  // namespace fk::engine
