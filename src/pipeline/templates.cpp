// Face templates: stable binary form, comparison; ROC calibration tables.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "facekit/face.h"

namespace fk {

namespace {

constexpr char kMagic[4] = {'F', 'K', 'T', 'P'};
constexpr uint16_t kFormatVersion = 1;

uint32_t Crc32(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void PutU16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void PutU32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint16_t GetU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

}  // namespace

std::vector<uint8_t> FaceTemplate::Serialize() const {
  std::vector<uint8_t> b(kMagic, kMagic + 4);
  PutU16(b, kFormatVersion);
  PutU16(b, static_cast<uint16_t>(model_version));
  PutU16(b, flip_tta ? 1 : 0);
  PutU16(b, static_cast<uint16_t>(model.size()));
  b.insert(b.end(), model.begin(), model.end());
  PutU32(b, static_cast<uint32_t>(data.size()));
  for (float f : data) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    PutU32(b, u);
  }
  PutU32(b, Crc32(b.data(), b.size()));
  return b;
}

Result<FaceTemplate> FaceTemplate::Deserialize(std::span<const uint8_t> b) {
  if (b.size() < 4 + 8 + 4 + 4 || std::memcmp(b.data(), kMagic, 4) != 0)
    return DataLoss("not a facekit template (missing 'FKTP' header)");
  const uint16_t fmt = GetU16(b.data() + 4);
  if (fmt != kFormatVersion)
    return Unsupported("template format version " + std::to_string(fmt) + " (this build reads version 1)");
  FaceTemplate t;
  t.model_version = GetU16(b.data() + 6);
  t.flip_tta = (GetU16(b.data() + 8) & 1) != 0;
  const size_t idlen = GetU16(b.data() + 10);
  size_t off = 12;
  if (b.size() < off + idlen + 4 + 4) return DataLoss("template truncated (model id)");
  t.model.assign(reinterpret_cast<const char*>(b.data() + off), idlen);
  off += idlen;
  const uint32_t dim = GetU32(b.data() + off);
  off += 4;
  if (dim == 0 || dim > (1u << 20) || b.size() != off + 4ull * dim + 4)
    return DataLoss("template size does not match its dimension " + std::to_string(dim) + " (truncated or corrupt)");
  const uint32_t crc = GetU32(b.data() + off + 4ull * dim);
  if (crc != Crc32(b.data(), off + 4ull * dim)) return DataLoss("template checksum mismatch (corrupt)");
  t.data.resize(dim);
  for (uint32_t i = 0; i < dim; ++i) {
    const uint32_t u = GetU32(b.data() + off + 4ull * i);
    std::memcpy(&t.data[i], &u, 4);
    if (!std::isfinite(t.data[i])) return DataLoss("template holds a non-finite value");
  }
  return t;
}

Status FaceTemplate::Save(const std::string& path) const {
  const auto bytes = Serialize();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return IoError("cannot write template file " + path);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) return IoError("writing template file " + path + " failed");
  return OkStatus();
}

Result<FaceTemplate> FaceTemplate::Load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open template file " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto t = Deserialize(bytes);
  if (!t.ok()) return t.status().WithContext(path);
  return t;
}

const Face* LargestFace(const std::vector<Face>& faces) {
  const Face* best = nullptr;
  for (const Face& f : faces)
    if (!best || f.box.width() * f.box.height() > best->box.width() * best->box.height()) best = &f;
  return best;
}

Result<float> CompareTemplates(const FaceTemplate& a, const FaceTemplate& b) {
  if (a.empty() || b.empty()) return InvalidArgument("cannot compare an empty template");
  if (a.model != b.model || a.model_version != b.model_version)
    return FailedPrecondition("templates come from different recognizers (" + a.model + " v" +
                              std::to_string(a.model_version) + " vs " + b.model + " v" +
                              std::to_string(b.model_version) + "); re-embed both faces with the same tier");
  if (a.data.size() != b.data.size())
    return InvalidArgument("template dimensions differ (" + std::to_string(a.data.size()) + " vs " +
                           std::to_string(b.data.size()) + ")");
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    dot += double{a.data[i]} * b.data[i];
    na += double{a.data[i]} * a.data[i];
    nb += double{b.data[i]} * b.data[i];
  }
  if (!(na > 0) || !(nb > 0)) return InvalidArgument("template has zero norm");
  return static_cast<float>(std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0));
}

// ---- ROC ------------------------------------------------------------------------------

namespace {
template <typename F>
double Interp(const std::vector<RocPoint>& pts, float s, F get) {
  if (pts.empty()) return -1.0;
  if (s <= pts.front().threshold) return get(pts.front());
  if (s >= pts.back().threshold) return get(pts.back());
  auto it = std::upper_bound(pts.begin(), pts.end(), s, [](float v, const RocPoint& p) { return v < p.threshold; });
  const RocPoint& hi = *it;
  const RocPoint& lo = *(it - 1);
  const double t = (s - lo.threshold) / std::max(1e-9f, hi.threshold - lo.threshold);
  return get(lo) + t * (get(hi) - get(lo));
}
}  // namespace

double RocTable::FarAt(float s) const { return Interp(points, s, [](const RocPoint& p) { return p.far; }); }
double RocTable::FrrAt(float s) const { return Interp(points, s, [](const RocPoint& p) { return p.frr; }); }

float RocTable::ThresholdForFar(double far) const {
  if (points.empty()) return 1.f;
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].far <= far) {
      if (i == 0) return points[0].threshold;
      const RocPoint& a = points[i - 1];
      const RocPoint& b = points[i];
      const double t = (a.far - far) / std::max(1e-12, a.far - b.far);
      return static_cast<float>(a.threshold + t * (b.threshold - a.threshold));
    }
  }
  return points.back().threshold;
}

RocTable BuildRocTable(std::span<const float> genuine, std::span<const float> impostor) {
  RocTable t;
  t.genuine_pairs = static_cast<int64_t>(genuine.size());
  t.impostor_pairs = static_cast<int64_t>(impostor.size());
  std::vector<float> g(genuine.begin(), genuine.end()), im(impostor.begin(), impostor.end());
  std::sort(g.begin(), g.end());
  std::sort(im.begin(), im.end());
  if (g.empty() || im.empty()) return t;
  // Thresholds: a fixed grid over [-1, 1] (fine where scores live) plus impostor quantiles
  // in the low-FAR tail so that FAR down to 1 / impostor_pairs is resolved.
  std::vector<float> thr;
  for (int i = 0; i <= 400; ++i) thr.push_back(-1.f + 2.f * i / 400.f);
  for (double far = 1e-1; far * im.size() >= 1.0; far /= std::pow(10.0, 0.125)) {
    const size_t k = im.size() - static_cast<size_t>(far * im.size());
    if (k < im.size()) thr.push_back(im[k]);
  }
  thr.push_back(im.back() + 1e-6f);
  std::sort(thr.begin(), thr.end());
  thr.erase(std::unique(thr.begin(), thr.end()), thr.end());
  for (float th : thr) {
    RocPoint p;
    p.threshold = th;
    // FAR: impostors with score >= th; FRR: genuine with score < th.
    p.far = static_cast<double>(im.end() - std::lower_bound(im.begin(), im.end(), th)) / im.size();
    p.frr = static_cast<double>(std::lower_bound(g.begin(), g.end(), th) - g.begin()) / g.size();
    t.points.push_back(p);
  }
  return t;
}

Result<std::vector<RocTable>> LoadCalibration(const std::string& path) {
  std::ifstream f(path);
  if (!f) return NotFound("calibration file " + path + " not found");
  nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("models") || !j["models"].is_array())
    return DataLoss("calibration file " + path + " is not valid JSON with a \"models\" array");
  std::vector<RocTable> out;
  for (const auto& m : j["models"]) {
    RocTable t;
    if (!m.is_object() || !m.contains("model") || !m["model"].is_string() || !m.contains("points") ||
        !m["points"].is_array())
      return DataLoss("calibration file " + path + ": an entry lacks \"model\" or \"points\"");
    t.model = m["model"].get<std::string>();
    t.model_version = m.value("model_version", 1);
    t.flip_tta = m.value("flip_tta", false);
    t.source = m.value("source", std::string());
    t.genuine_pairs = m.value("genuine_pairs", int64_t{0});
    t.impostor_pairs = m.value("impostor_pairs", int64_t{0});
    for (const auto& p : m["points"]) {
      if (!p.is_array() || p.size() != 3 || !p[0].is_number() || !p[1].is_number() || !p[2].is_number())
        return DataLoss("calibration file " + path + ": points of '" + t.model + "' must be [threshold, far, frr]");
      t.points.push_back({p[0].get<float>(), p[1].get<double>(), p[2].get<double>()});
    }
    if (!std::is_sorted(t.points.begin(), t.points.end(),
                        [](const RocPoint& a, const RocPoint& b) { return a.threshold < b.threshold; }))
      return DataLoss("calibration file " + path + ": thresholds of '" + t.model + "' are not ascending");
    out.push_back(std::move(t));
  }
  return out;
}

Status SaveCalibration(const std::string& path, const std::vector<RocTable>& tables) {
  nlohmann::json j;
  j["version"] = 1;
  j["models"] = nlohmann::json::array();
  for (const auto& t : tables) {
    nlohmann::json m;
    m["model"] = t.model;
    m["model_version"] = t.model_version;
    m["flip_tta"] = t.flip_tta;
    m["source"] = t.source;
    m["genuine_pairs"] = t.genuine_pairs;
    m["impostor_pairs"] = t.impostor_pairs;
    m["points"] = nlohmann::json::array();
    for (const auto& p : t.points) {
      // Rounded for a stable, diff-friendly file.
      m["points"].push_back({std::round(p.threshold * 1e5) / 1e5, p.far, p.frr});
    }
    j["models"].push_back(m);
  }
  std::ofstream f(path, std::ios::trunc);
  if (!f) return IoError("cannot write calibration file " + path);
  f << j.dump(1) << "\n";
  if (!f) return IoError("writing calibration file " + path + " failed");
  return OkStatus();
}

}  // namespace fk
