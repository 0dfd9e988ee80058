// facekit example: find every face in two photos and verify the largest ones.
//
//   face_example A.jpg B.jpg [config.json]
//
// Build: link against fk_pipeline (see docs/pipeline.md). Models are read from
// $FK_MODELS_DIR (or "models_dir" in the config).
#include <cstdio>

#include "facekit/face.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s A.jpg B.jpg [config.json]\n", argv[0]);
    return 2;
  }
  // 1. Configuration: a JSON file, or the defaults (fast tier, BlazeFace + facemesh).
  fk::Result<fk::FaceConfig> config =
      argc > 3 ? fk::FaceConfig::FromFile(argv[3]) : fk::FaceConfig::FromJson(R"({"tier": "balanced"})");
  if (!config.ok()) {
    std::fprintf(stderr, "config: %s\n", config.status().ToString().c_str());
    return 1;
  }
  // 2. The engine (thread-safe; create once, share between threads).
  auto engine = fk::FaceEngine::Create(*config);
  if (!engine.ok()) {
    std::fprintf(stderr, "engine: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", (*engine)->description().c_str());

  // 3. Every face of each photo, with landmarks, pose, quality and a template.
  fk::FaceTemplate templates[2];
  for (int i = 0; i < 2; ++i) {
    auto faces = (*engine)->ProcessFile(argv[1 + i]);
    if (!faces.ok()) {
      std::fprintf(stderr, "%s\n", faces.status().ToString().c_str());
      return 1;
    }
    std::printf("%s: %zu face(s)\n", argv[1 + i], faces->size());
    const fk::Face* largest = nullptr;
    for (const fk::Face& f : *faces) {
      std::printf("  box (%.0f, %.0f)-(%.0f, %.0f) score %.2f yaw %.0f quality %.2f\n", f.box.x0, f.box.y0, f.box.x1,
                  f.box.y1, f.score, f.pose.yaw, f.quality.score);
      if (!largest || f.box.width() > largest->box.width()) largest = &f;
    }
    if (!largest) {
      std::fprintf(stderr, "no face in %s\n", argv[1 + i]);
      return 1;
    }
    templates[i] = largest->templ;
  }

  // 4. 1:1 verification at the configured operating point (target FAR, default 1e-3).
  auto v = (*engine)->Verify(templates[0], templates[1]);
  if (!v.ok()) {
    std::fprintf(stderr, "%s\n", v.status().ToString().c_str());
    return 1;
  }
  std::printf("similarity %.3f, threshold %.3f -> %s", v->similarity, v->threshold, v->match ? "same person" : "different people");
  if (v->calibrated) std::printf(" (estimated FAR %.2g)", v->far);
  std::printf("\n");
  // Templates serialise to a small stable binary form (FaceTemplate::Serialize / Save).
  return 0;
}
