// Internals shared by the fk_gallery sources (not public API).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "facekit/gallery.h"

namespace fk::gallery {

// Sorts by score and makes FAR non-increasing; InvalidArgument for bad points.
Result<std::vector<CalibrationPoint>> NormalizeCalibration(std::vector<CalibrationPoint> table);

std::string Base64Encode(const void* data, size_t n);
// false on a malformed string.
bool Base64Decode(const std::string& s, std::vector<uint8_t>* out);

// Writes "<path>.tmp" line by line, then fsyncs and renames it to <path> on Close().
class ExportWriter {
 public:
  ~ExportWriter();
  Status Open(const std::string& path);
  Status Line(const nlohmann::json& j);
  Status Close();

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

// A parsed export file (docs/gallery.md, "facekit-gallery" v1).
struct ExportFile {
  std::string name, model_id, model_version, calibration_json = "[]";
  int dim = 0;
  int64_t created_at = 0;
  struct Subject {
    std::string external_id, display_name, metadata_json;
    int64_t created_at = 0;
  };
  struct Template {
    std::string subject, source_hash;
    std::vector<float> vector;
    float quality = 0.0f;
    int64_t created_at = 0;
  };
  std::vector<Subject> subjects;
  std::vector<Template> templates;
};

// Reads and validates a whole export file. NotFound/IoError for the file;
// DataLoss for a malformed or truncated file (the message names the line);
// Unsupported for a newer format version.
Result<ExportFile> ReadExportFile(const std::string& path);

}  // namespace fk::gallery
