// Export file writer/reader and base64 (docs/gallery.md).
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "gallery/gallery_internal.h"

namespace fk::gallery {

namespace {
const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string Base64Encode(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = (static_cast<uint32_t>(p[i]) << 16) | (i + 1 < n ? static_cast<uint32_t>(p[i + 1]) << 8 : 0) |
                       (i + 2 < n ? p[i + 2] : 0);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kB64[v & 63] : '=';
  }
  return out;
}

bool Base64Decode(const std::string& s, std::vector<uint8_t>* out) {
  out->clear();
  if (s.size() % 4) return false;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      if (s[i + j] == '=' && i + 4 == s.size() && j >= 2) {
        v[j] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[j] = val(s[i + j]);
        if (v[j] < 0) return false;
      }
    }
    const uint32_t x = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out->push_back(static_cast<uint8_t>(x >> 16));
    if (pad < 2) out->push_back(static_cast<uint8_t>(x >> 8));
    if (pad < 1) out->push_back(static_cast<uint8_t>(x));
  }
  return true;
}

ExportWriter::~ExportWriter() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

Status ExportWriter::Open(const std::string& path) {
  path_ = path;
  tmp_ = path + ".tmp";
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) return IoError("cannot create export file '" + tmp_ + "': " + std::strerror(errno));
  return OkStatus();
}

Status ExportWriter::Line(const nlohmann::json& j) {
  const std::string s = j.dump() + "\n";
  if (std::fwrite(s.data(), 1, s.size(), f_) != s.size())
    return IoError("writing export file '" + tmp_ + "' failed: " + std::strerror(errno) + " (disk full?)");
  return OkStatus();
}

Status ExportWriter::Close() {
  if (std::fflush(f_) != 0 || fsync(fileno(f_)) != 0) {
    const std::string e = std::strerror(errno);
    return IoError("writing export file '" + tmp_ + "' failed: " + e + " (disk full?)");
  }
  std::fclose(f_);
  f_ = nullptr;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    return IoError("cannot rename '" + tmp_ + "' to '" + path_ + "': " + std::strerror(errno));
  return OkStatus();
}

Result<ExportFile> ReadExportFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open gallery export file '" + path + "'");
  ExportFile f;
  std::string line;
  int64_t lineno = 0;
  bool ended = false;
  auto bad = [&](const std::string& why) {
    return DataLoss("gallery export file '" + path + "' line " + std::to_string(lineno) + ": " + why);
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    if (ended) return bad("data after the end record");
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    try {
      if (lineno == 1) {
        if (j.value("format", "") != "facekit-gallery") return bad("not a facekit gallery export (format field)");
        const int v = j.value("version", 0);
        if (v != 1)
          return Unsupported("gallery export file '" + path + "' has format version " + std::to_string(v) +
                             "; this facekit reads version 1");
        f.name = j.at("name").get<std::string>();
        f.model_id = j.at("model_id").get<std::string>();
        f.model_version = j.value("model_version", "");
        f.dim = j.at("dim").get<int>();
        f.created_at = j.value("created_at", int64_t{0});
        if (j.contains("calibration") && j["calibration"].is_array()) f.calibration_json = j["calibration"].dump();
        if (f.dim <= 0 || f.dim > 8192) return bad("invalid dimension");
        continue;
      }
      const std::string type = j.at("type").get<std::string>();
      if (type == "subject") {
        ExportFile::Subject s;
        s.external_id = j.at("external_id").get<std::string>();
        s.display_name = j.value("display_name", "");
        s.metadata_json = j.contains("metadata") && j["metadata"].is_object() ? j["metadata"].dump() : "{}";
        s.created_at = j.value("created_at", int64_t{0});
        f.subjects.push_back(std::move(s));
      } else if (type == "template") {
        ExportFile::Template t;
        t.subject = j.at("subject").get<std::string>();
        std::vector<uint8_t> bytes;
        if (!Base64Decode(j.at("vector").get<std::string>(), &bytes)) return bad("vector is not valid base64");
        if (bytes.size() != sizeof(float) * static_cast<size_t>(f.dim))
          return bad("vector has " + std::to_string(bytes.size()) + " bytes, expected " +
                     std::to_string(sizeof(float) * f.dim));
        t.vector.resize(static_cast<size_t>(f.dim));
        std::memcpy(t.vector.data(), bytes.data(), bytes.size());
        for (float x : t.vector)
          if (!std::isfinite(x)) return bad("vector has a non-finite value");
        t.source_hash = j.value("source_hash", "");
        t.quality = j.value("quality", 0.0f);
        t.created_at = j.value("created_at", int64_t{0});
        f.templates.push_back(std::move(t));
      } else if (type == "end") {
        if (j.at("subjects").get<int64_t>() != static_cast<int64_t>(f.subjects.size()) ||
            j.at("templates").get<int64_t>() != static_cast<int64_t>(f.templates.size()))
          return bad("record counts do not match the end record (file damaged)");
        ended = true;
      } else {
        return bad("unknown record type '" + type + "'");
      }
    } catch (const nlohmann::json::exception& e) {
      return bad(std::string("missing or mistyped field: ") + e.what());
    }
  }
  if (lineno == 0) return DataLoss("gallery export file '" + path + "' is empty");
  if (!ended) return DataLoss("gallery export file '" + path + "' is truncated (no end record after line " +
                              std::to_string(lineno) + ")");
  return f;
}

}  // namespace fk::gallery
