// End-to-end tests on the sample photos fetched by setup (data/samples/*.jpg) with the
// human-models TF.js models. Skipped when photos or models are missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "facekit/face.h"
#include "pipeline/pipeline_internal.h"

namespace fk {
namespace {

std::string ModelsDir() {
  if (const char* e = std::getenv("FK_MODELS_DIR"); e && *e) return e;
  return std::string(FK_SOURCE_DIR) + "/models";
}
std::string Sample(const std::string& name) { return std::string(FK_SOURCE_DIR) + "/data/samples/" + name; }

bool HaveModels(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (!std::filesystem::exists(ModelsDir() + "/human/" + n + ".json")) return false;
  return true;
}

#define REQUIRE_SAMPLES_AND_MODELS(...)                                                           \
  do {                                                                                           \
    if (!std::filesystem::exists(Sample("sample1.jpg")))                                         \
      GTEST_SKIP() << "sample photos not fetched (data/samples/*.jpg; run scripts/fetch_models.sh)"; \
    if (!HaveModels({__VA_ARGS__}))                                                              \
      GTEST_SKIP() << "human models missing in " << ModelsDir() << " (run scripts/fetch_models.sh)"; \
  } while (0)

std::unique_ptr<FaceEngine> MakeEngine(bool embed, bool landmarks = true) {
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.tier = Tier::kFast;
  c.embed = embed;
  c.landmarks = landmarks;
  c.num_threads = 2;
  c.calibration = "none";  // tests do not depend on the committed calibration
  auto e = FaceEngine::Create(c);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

// True number of faces, counted by looking at the photos (face-api.js demo photos
// sample1-6: groups of friends, every face frontal or three-quarter and unoccluded).
TEST(PipelineSamples, FindsEveryFaceInTheGroupPhotos) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh");
  auto engine = MakeEngine(false);
  ASSERT_TRUE(engine);
  const std::pair<const char*, size_t> expected[] = {{"sample1.jpg", 3}, {"sample2.jpg", 3}, {"sample3.jpg", 3},
                                                     {"sample4.jpg", 4}, {"sample5.jpg", 5}, {"sample6.jpg", 4}};
  for (const auto& [name, count] : expected) {
    auto img = DecodeImageFile(Sample(name));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    auto faces = engine->Process(*img);
    ASSERT_TRUE(faces.ok()) << faces.status().ToString();
    EXPECT_EQ(faces->size(), count) << name;
    for (const auto& f : *faces) {
      // Sane boxes: inside the photo, face-sized, landmarks inside the box, eyes above mouth.
      EXPECT_GT(f.box.x0, -0.05f * img->source_width()) << name;
      EXPECT_LT(f.box.x1, 1.05f * img->source_width()) << name;
      EXPECT_GT(f.box.width(), 60.f) << name;
      EXPECT_LT(f.box.width(), 0.5f * img->source_width()) << name;
      EXPECT_NEAR(f.box.width(), f.box.height(), 0.25f * f.box.width()) << name;
      EXPECT_EQ(f.landmark_source, "facemesh") << name;
      EXPECT_EQ(f.mesh.size(), 468u);
      for (const auto& p : f.landmarks) {
        EXPECT_GT(p.x, f.box.x0 - 0.1f * f.box.width()) << name;
        EXPECT_LT(p.x, f.box.x1 + 0.1f * f.box.width()) << name;
        EXPECT_GT(p.y, f.box.y0 - 0.1f * f.box.height()) << name;
        EXPECT_LT(p.y, f.box.y1 + 0.1f * f.box.height()) << name;
      }
      EXPECT_LT(f.landmarks[0].x, f.landmarks[1].x) << name << ": left eye is image left";
      EXPECT_LT(std::fabs(f.pose.roll), 60.f) << name;
      EXPECT_GE(f.quality.score, 0.f);
      EXPECT_LE(f.quality.score, 1.f);
    }
  }
}

// Human's samples.jpg: a screenshot with 8 thumbnails and a group photo of about 15 people
// whose faces are partly covered by Human's own annotations. Without the tile pass the
// 256-px detector sees 3 faces; with it we require at least 9 and no more than there are.
TEST(PipelineSamples, TilesFindSmallFacesInTheCollage) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh");
  if (!std::filesystem::exists(Sample("samples.jpg"))) GTEST_SKIP() << "samples.jpg not fetched";
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.embed = false;
  c.landmarks = false;
  auto with = FaceEngine::Create(c);
  c.detector.small_faces = false;
  auto without = FaceEngine::Create(c);
  ASSERT_TRUE(with.ok() && without.ok());
  auto img = DecodeImageFile(Sample("samples.jpg"));
  ASSERT_TRUE(img.ok());
  auto a = (*with)->Process(*img);
  auto b = (*without)->Process(*img);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GE(a->size(), 9u);
  EXPECT_LE(a->size(), 17u);
  EXPECT_GT(a->size(), b->size());
}

// Our boxes against the TF.js reference run of the same model (tests/reference/face_boxes.json,
// stretched 256x256 input and plain NMS at 0.75): every reference face is found. Boxes differ
// by the letterbox (aspect kept here) and weighted NMS, so overlap >= 0.4 is required.
TEST(PipelineSamples, BoxesAgreeWithTheTfjsReference) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back");
  std::ifstream f(std::string(FK_SOURCE_DIR) + "/tests/reference/face_boxes.json");
  if (!f) GTEST_SKIP() << "tests/reference/face_boxes.json missing";
  auto ref = nlohmann::json::parse(f, nullptr, false);
  ASSERT_FALSE(ref.is_discarded());
  auto engine = MakeEngine(false, false);
  ASSERT_TRUE(engine);
  int checked = 0;
  for (auto it = ref["images"].begin(); it != ref["images"].end(); ++it) {
    if (!std::filesystem::exists(Sample(it.key()))) continue;
    auto img = DecodeImageFile(Sample(it.key()));
    ASSERT_TRUE(img.ok());
    auto faces = engine->Process(*img);
    ASSERT_TRUE(faces.ok());
    const float W = it.value()["width"], H = it.value()["height"];
    for (const auto& rf : it.value()["faces"]) {
      BoxF rb{rf["box"][1].get<float>() * W, rf["box"][0].get<float>() * H, rf["box"][3].get<float>() * W,
              rf["box"][2].get<float>() * H};
      float best = 0.f;
      for (const auto& face : *faces) best = std::max(best, pipeline::IoU(rb, face.box));
      EXPECT_GE(best, 0.4f) << it.key() << " reference box " << rf["box"].dump();
      ++checked;
    }
  }
  EXPECT_GT(checked, 5);
}

// Templates (fast tier, mobileface): the same face under a horizontal flip of the photo or a
// shifted crop stays close, different people do not. Thresholds from the LFW development
// set (docs/benchmarks/accuracy.md, src/pipeline/data/calibration.json): mobileface's
// best-accuracy threshold is 0.18 and its FAR=1e-3 threshold 0.36; none of the 1.2M LFW
// impostor pairs scored 0.6. The same face must score above 0.6 (deep in the genuine side)
// and different people must be rejected at the FAR=1e-3 operating point (< 0.36).
TEST(PipelineSamples, TemplatesSurviveFlipAndCropJitter) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  constexpr float kSame = 0.6f;
  constexpr float kDifferent = 0.36f;
  auto engine = MakeEngine(true);
  ASSERT_TRUE(engine);
  for (const char* name : {"sample3.jpg", "sample6.jpg"}) {
    auto img = DecodeImageFile(Sample(name), {.max_side = 1280});
    ASSERT_TRUE(img.ok());
    auto faces = engine->Process(*img);
    ASSERT_TRUE(faces.ok());
    ASSERT_GE(faces->size(), 3u) << name;
    // Different people in the same photo.
    for (size_t i = 0; i < faces->size(); ++i)
      for (size_t j = i + 1; j < faces->size(); ++j) {
        auto s = CompareTemplates((*faces)[i].templ, (*faces)[j].templ);
        ASSERT_TRUE(s.ok());
        EXPECT_LT(*s, kDifferent) << name << " faces " << i << " and " << j;
      }
    // Mirrored photo: match faces by mirrored box centre.
    Image flipped = vision::FlipHorizontal(*img);
    flipped.set_source_size(img->source_width(), img->source_height());
    auto ff = engine->Process(flipped);
    ASSERT_TRUE(ff.ok());
    ASSERT_GE(ff->size(), faces->size()) << name;
    const float W = static_cast<float>(img->source_width());
    for (const auto& f : *faces) {
      const float cx = W - (f.box.x0 + f.box.x1) / 2, cy = (f.box.y0 + f.box.y1) / 2;
      const Face* m = nullptr;
      for (const auto& g : *ff)
        if (std::fabs((g.box.x0 + g.box.x1) / 2 - cx) < 0.3f * f.box.width() &&
            std::fabs((g.box.y0 + g.box.y1) / 2 - cy) < 0.3f * f.box.height())
          m = &g;
      ASSERT_NE(m, nullptr) << name;
      auto s = CompareTemplates(f.templ, m->templ);
      ASSERT_TRUE(s.ok());
      EXPECT_GT(*s, kSame) << name << " flipped";
    }
    // Crop jitter: a region 3x the face, off-centre by 10% of the face, at the photo's scale.
    const float sx = static_cast<float>(img->width()) / img->source_width();
    for (const auto& f : *faces) {
      const float w = f.box.width() * sx, cx = (f.box.x0 + f.box.x1) / 2 * sx + 0.1f * w,
                  cy = (f.box.y0 + f.box.y1) / 2 * sx - 0.1f * w;
      BoxF region{cx - 1.5f * w, cy - 1.5f * w, cx + 1.5f * w, cy + 1.5f * w};
      const int side = static_cast<int>(std::round(3 * w));
      auto crop = vision::CropResizeImage(*img, region, side, side);
      ASSERT_TRUE(crop.ok());
      auto cf = engine->Process(*crop);
      ASSERT_TRUE(cf.ok());
      ASSERT_FALSE(cf->empty()) << name;
      // The face nearest the crop centre.
      const Face* best = &(*cf)[0];
      float bd = 1e9f;
      for (const auto& g : *cf) {
        const float d = std::hypot((g.box.x0 + g.box.x1) / 2 - 1.5f * w, (g.box.y0 + g.box.y1) / 2 - 1.5f * w);
        if (d < bd) {
          bd = d;
          best = &g;
        }
      }
      auto s = CompareTemplates(f.templ, best->templ);
      ASSERT_TRUE(s.ok());
      EXPECT_GT(*s, kSame) << name << " crop";
    }
  }
}

TEST(PipelineSamples, VerifyAndErrors) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto engine = MakeEngine(true);
  ASSERT_TRUE(engine);
  EXPECT_FALSE(engine->calibrated());
  auto faces = engine->ProcessFile(Sample("sample2.jpg"));
  ASSERT_TRUE(faces.ok());
  ASSERT_GE(faces->size(), 2u);
  auto same = engine->Verify((*faces)[0].templ, (*faces)[0].templ);
  ASSERT_TRUE(same.ok());
  EXPECT_NEAR(same->similarity, 1.f, 1e-5f);
  EXPECT_TRUE(same->match);
  EXPECT_FALSE(same->calibrated);
  auto diff = engine->Verify((*faces)[0].templ, (*faces)[1].templ);
  ASSERT_TRUE(diff.ok());
  EXPECT_FALSE(diff->match);
  // Re-embedding a detected face gives the same template.
  auto img = DecodeImageFile(Sample("sample2.jpg"));
  ASSERT_TRUE(img.ok());
  auto t = engine->Embed(*img, (*faces)[0]);
  ASSERT_TRUE(t.ok());
  EXPECT_GT(*CompareTemplates(*t, (*faces)[0].templ), 0.999f);
  // Errors are values naming the problem.
  FaceConfig badcal;
  badcal.models_dir = ModelsDir();
  badcal.calibration = "/nonexistent/calibration.json";
  EXPECT_EQ(FaceEngine::Create(badcal).status().code(), StatusCode::kNotFound);
  auto missing = engine->ProcessFile("/nonexistent/photo.jpg");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(engine->Process(Image()).status().code() == StatusCode::kInvalidArgument);
  FaceConfig bad;
  bad.models_dir = "/nonexistent-models";
  auto e = FaceEngine::Create(bad);
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("/nonexistent-models"), std::string::npos);
  // A photo without a face is an empty result, not an error.
  Image grey(640, 480, {128, 128, 128});
  auto none = engine->Process(grey);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace fk

namespace fk {
namespace {

// Tier mapping: balanced uses fr_feature when its ONNX model loads, else faceres; accurate
// adds flip TTA. A models folder without faceplugin/ must fall back, not fail.
TEST(PipelineTiers, BalancedFallsBackToFaceresWithoutTheOnnxModel) {
  if (!HaveModels({"blazeface-back", "facemesh", "faceres"})) GTEST_SKIP() << "human models missing";
  const auto dir = std::filesystem::temp_directory_path() / "fk_pipeline_models_no_onnx";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::create_directory_symlink(std::filesystem::absolute(ModelsDir() + "/human"), dir / "human");
  FaceConfig c;
  c.models_dir = dir.string();
  c.tier = Tier::kBalanced;
  c.calibration = "none";
  auto e = FaceEngine::Create(c);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->recognizer(), "faceres");
  EXPECT_NE((*e)->description().find("fr_feature unavailable"), std::string::npos) << (*e)->description();
  c.tier = Tier::kFast;
  auto f = FaceEngine::Create(c);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->recognizer(), "mobileface");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fk

namespace fk {
namespace {

// FaceEngine is documented thread-safe: concurrent Process() calls on one engine give the
// same faces and templates as a serial call.
TEST(PipelineThreads, ConcurrentProcessMatchesSerial) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto engine = MakeEngine(true);
  ASSERT_TRUE(engine);
  auto img = DecodeImageFile(Sample("sample2.jpg"), {.max_side = 960});
  ASSERT_TRUE(img.ok());
  auto ref = engine->Process(*img);
  ASSERT_TRUE(ref.ok());
  ASSERT_FALSE(ref->empty());
  std::vector<Result<std::vector<Face>>> out(4, Status(StatusCode::kInternal, "not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { out[t] = engine->Process(*img); });
  for (auto& th : threads) th.join();
  for (const auto& r : out) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->size(), ref->size());
    for (size_t i = 0; i < ref->size(); ++i) {
      EXPECT_NEAR((*r)[i].box.x0, (*ref)[i].box.x0, 1e-3f);
      EXPECT_GT(*CompareTemplates((*r)[i].templ, (*ref)[i].templ), 0.9999f);
    }
  }
}

// face-api's ResNet (dlib-style 150x150 chip): 128-d templates that match the same face in
// the mirrored photo better than any other face there; with flip TTA the template of a face
// and of its mirror image are nearly the same (both average the two views).
TEST(PipelineSamples, FaceapiResnetTemplatesAreStableUnderFlip) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh");
  if (!std::filesystem::exists(ModelsDir() + "/face-api/face_recognition_model-weights_manifest.json"))
    GTEST_SKIP() << "face-api recognition model missing in " << ModelsDir() << "/face-api (run scripts/fetch_models.sh)";
  for (bool flip_tta : {false, true}) {
    FaceConfig c;
    c.models_dir = ModelsDir();
    c.recognizer = "faceapi_resnet";
    c.flip_tta = flip_tta;
    c.num_threads = 2;
    c.calibration = "none";
    auto engine = FaceEngine::Create(c);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    auto img = DecodeImageFile(Sample("sample3.jpg"), {.max_side = 1280});
    ASSERT_TRUE(img.ok());
    auto faces = (*engine)->Process(*img);
    ASSERT_TRUE(faces.ok()) << faces.status().ToString();
    ASSERT_GE(faces->size(), 3u);
    Image flipped = vision::FlipHorizontal(*img);
    flipped.set_source_size(img->source_width(), img->source_height());
    auto ff = (*engine)->Process(flipped);
    ASSERT_TRUE(ff.ok());
    ASSERT_GE(ff->size(), faces->size());
    const float W = static_cast<float>(img->source_width());
    for (const auto& f : *faces) {
      EXPECT_EQ(f.templ.model, "faceapi_resnet");
      EXPECT_EQ(f.templ.data.size(), 128u);
      EXPECT_EQ(f.templ.flip_tta, flip_tta);
      const float cx = W - (f.box.x0 + f.box.x1) / 2, cy = (f.box.y0 + f.box.y1) / 2;
      const Face* m = nullptr;
      for (const auto& g : *ff)
        if (std::fabs((g.box.x0 + g.box.x1) / 2 - cx) < 0.3f * f.box.width() &&
            std::fabs((g.box.y0 + g.box.y1) / 2 - cy) < 0.3f * f.box.height())
          m = &g;
      ASSERT_NE(m, nullptr);
      auto same = CompareTemplates(f.templ, m->templ);
      ASSERT_TRUE(same.ok());
      EXPECT_GT(*same, flip_tta ? 0.97f : 0.9f) << "flip_tta " << flip_tta;
      for (const auto& g : *ff) {
        if (&g == m) continue;
        auto other = CompareTemplates(f.templ, g.templ);
        ASSERT_TRUE(other.ok());
        EXPECT_LT(*other, *same - 0.02f) << "flip_tta " << flip_tta;
      }
    }
  }
}

}  // namespace
}  // namespace fk
