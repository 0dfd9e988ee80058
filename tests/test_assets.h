// Test helper shared by the tests that use the fetched models and sample photos
// (scripts/fetch_models.sh): where they are. Tests skip themselves when they are missing.
#pragma once

#include <cstdlib>
#include <string>

namespace fk::testing {

// $FK_MODELS_DIR (ctest sets it), else <source>/models.
inline std::string ModelsDir() {
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) return e;
  return std::string(FK_SOURCE_DIR) + "/models";
}

// A sample photo: <source>/data/samples/<name>.
inline std::string Sample(const std::string& name) { return std::string(FK_SOURCE_DIR) + "/data/samples/" + name; }

}  // namespace fk::testing
