// End-to-end tests on the sample photos fetched by setup (data/samples/*.jpg) with the
// human-models TF.js models. Skipped when photos or models are missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <nlohmann/json.hpp>

#include "facekit/face.h"
#include "pipeline/pipeline_internal.h"
#include "../test_assets.h"

namespace fk {
namespace {

using testing::ModelsDir;
using testing::Sample;

// A fresh models folder under the temp directory named `name` that holds only `subdirs` of the
// real one (as symlinks): for the tests of fallbacks when a model family is missing.
std::filesystem::path PartialModelsDir(const std::string& name, const std::vector<std::string>& subdirs) {
  const auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const auto& sub : subdirs)
    std::filesystem::create_directory_symlink(std::filesystem::absolute(ModelsDir() + "/" + sub), dir / sub);
  return dir;
}

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

std::unique_ptr<FaceEngine> MakeEngine(bool embed, bool landmarks = true, const char* detector = nullptr) {
  FaceConfig c;
  c.models_dir = ModelsDir();
  if (detector) c.detector.model = detector;
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
  c.detector.model = "blazeface-back";
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

// ProcessFile decodes only what it needs (docs/pipeline.md, "Speed"): a DCT-scaled decode
// (>= 640 px) for the detector and, when a face is too small for its chip there, a finer
// one. Its faces agree with Process() on the full decode: same count, boxes and landmarks
// within a few pixels of the photo, templates of the same faces close.
TEST(PipelineSamples, ProcessFileDecodesAtTheScaleItNeeds) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto e = MakeEngine(/*embed=*/true);
  ASSERT_NE(e, nullptr);
  for (const char* name : {"sample1.jpg", "sample4.jpg", "samples.jpg"}) {
    SCOPED_TRACE(name);
    DecodeOptions o;
    o.max_side = e->config().max_image_side;
    auto full = DecodeImageFile(Sample(name), o);
    ASSERT_TRUE(full.ok());
    ProcessStats st;
    auto a = e->ProcessFile(Sample(name), &st);
    auto b = e->Process(*full);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    // The detector saw a decode of >= 640 px on the longer side, smaller than the photo.
    EXPECT_GE(std::max(st.detect_width, st.detect_height), 640);
    EXPECT_LT(st.detect_width, full->width());
    EXPECT_GE(st.decodes, 1);
    EXPECT_LE(st.decodes, 2);
    EXPECT_GE(st.crop_width, st.detect_width);
    EXPECT_GT(st.decode_cpu_ms, 0.0);
    ASSERT_FALSE(a->empty());
    // Same faces: each face of one has a face of the other with IoU >= 0.6 (small tile faces
    // near the detection threshold may differ by one between the two resolutions).
    EXPECT_LE(std::abs(static_cast<int>(a->size()) - static_cast<int>(b->size())), 1);
    int matched = 0;
    for (const Face& fa : *a) {
      const Face* best = nullptr;
      float best_iou = 0.6f;
      for (const Face& fb : *b)
        if (const float o2 = pipeline::IoU(fa.box, fb.box); o2 > best_iou) best_iou = o2, best = &fb;
      if (!best) continue;
      ++matched;
      // Landmarks and templates of faces large enough to be recognised: on the collage's
      // 20-45 px faces (upsampled 2.5-5x into the mesh and chip) facemesh moves by 10-15% of
      // the face between two detector inputs that differ only in the downscaling filter.
      const float size = fa.box.width();
      if (size < 60.f) continue;
      for (int k = 0; k < 5; ++k) {
        EXPECT_NEAR(fa.landmarks[k].x, best->landmarks[k].x, 0.08f * size);
        EXPECT_NEAR(fa.landmarks[k].y, best->landmarks[k].y, 0.08f * size);
      }
      auto sim = CompareTemplates(fa.templ, best->templ);
      ASSERT_TRUE(sim.ok());
      EXPECT_GT(*sim, 0.9f) << "face at " << fa.box.x0 << "," << fa.box.y0 << " size " << size;
    }
    EXPECT_GE(matched, static_cast<int>(a->size()) - 1);
  }
  // A photo whose smallest face is small at the detector's scale gets the finer decode.
  ProcessStats st;
  ASSERT_TRUE(e->ProcessFile(Sample("samples.jpg"), &st).ok());
  EXPECT_EQ(st.decodes, 2);
  EXPECT_GT(st.crop_width, st.detect_width);
}

// FaceEngine::StepTimes(): every step the pipeline ran is counted with its items (photos,
// regions, faces), and nothing else; Process() (decoded pixels) never counts a decode.
TEST(PipelineSamples, StepTimesCountWhatThePipelineRan) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto e = MakeEngine(/*embed=*/true);
  ASSERT_NE(e, nullptr);
  auto by_name = [](const std::vector<StepTime>& v) {
    std::map<std::string, StepTime> m;
    for (const StepTime& t : v) m[t.step] = t;
    return m;
  };
  const auto s0 = by_name(e->StepTimes());
  ASSERT_EQ(s0.size(), 10u);
  for (const auto& [name, t] : s0) {
    EXPECT_EQ(t.calls, 0) << name;
    EXPECT_EQ(t.wall_ms, 0.0) << name;
  }
  ProcessStats st;
  auto faces = e->ProcessFile(Sample("sample1.jpg"), &st);
  ASSERT_TRUE(faces.ok()) << faces.status().ToString();
  ASSERT_FALSE(faces->empty());
  const auto s1 = by_name(e->StepTimes());
  const int64_t n = static_cast<int64_t>(faces->size());
  EXPECT_EQ(s1.at("decode").calls, st.decodes);
  EXPECT_EQ(s1.at("decode").items, 1);
  EXPECT_GT(s1.at("decode").wall_ms, 0.0);
  EXPECT_GT(s1.at("decode").cpu_ms, 0.0);
  EXPECT_GE(s1.at("detect_input").items, 1);  // the full view, plus tiles
  EXPECT_EQ(s1.at("detect_input").items, s1.at("detect_run").items);
  EXPECT_GE(s1.at("mesh_crop").items, n);     // + re-levelled tilted faces
  EXPECT_EQ(s1.at("mesh_crop").items, s1.at("mesh_run").items);
  EXPECT_EQ(s1.at("embed_crop").items, n);
  EXPECT_EQ(s1.at("embed_run").items, n);
  EXPECT_EQ(s1.at("embed_crop").calls, 1);     // one batched warp pass and run per photo
  EXPECT_EQ(s1.at("quality").items, n);
  EXPECT_EQ(s1.at("attributes_crop").calls, 0);  // none asked for
  EXPECT_EQ(s1.at("attributes_run").calls, 0);
  for (const char* step : {"detect_input", "detect_run", "mesh_crop", "mesh_run", "embed_crop", "embed_run"})
    EXPECT_GT(s1.at(step).wall_ms, 0.0) << step;
  // Process() of decoded pixels: no decode, the rest again.
  DecodeOptions o;
  auto im = DecodeImageFile(Sample("sample1.jpg"), o);
  ASSERT_TRUE(im.ok());
  auto again = e->Process(*im);
  ASSERT_TRUE(again.ok());
  const auto s2 = by_name(e->StepTimes());
  EXPECT_EQ(s2.at("decode").calls, s1.at("decode").calls);
  EXPECT_EQ(s2.at("embed_crop").items, n + static_cast<int64_t>(again->size()));
  // Another engine's counters are its own.
  auto other = MakeEngine(/*embed=*/false);
  ASSERT_NE(other, nullptr);
  for (const StepTime& t : other->StepTimes()) EXPECT_EQ(t.calls, 0) << t.step;
}

// The quality estimate reuses the recognizer's 112-px ArcFace chip when there is one (fast and
// balanced tiers): the same scores as the separately warped chip of an engine without templates.
TEST(PipelineSamples, QualityFromTheRecognizersChipMatchesItsOwnWarp) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto with = MakeEngine(/*embed=*/true);
  auto without = MakeEngine(/*embed=*/false);
  ASSERT_NE(with, nullptr);
  ASSERT_NE(without, nullptr);
  auto img = DecodeImageFile(Sample("sample2.jpg"));
  ASSERT_TRUE(img.ok());
  auto a = with->Process(*img);
  auto b = without->Process(*img);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  ASSERT_FALSE(a->empty());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_FALSE((*a)[i].templ.data.empty());
    EXPECT_NEAR((*a)[i].quality.score, (*b)[i].quality.score, 1e-3) << i;
    EXPECT_NEAR((*a)[i].quality.blur, (*b)[i].quality.blur, 1e-3) << i;
    EXPECT_NEAR((*a)[i].quality.exposure, (*b)[i].quality.exposure, 1e-3) << i;
  }
}

// The 8-bit input path of every stage (Model::RunPixels: the default for models on a GPU, forced
// here on the CPU with $FK_PIXEL_INPUTS=1): detector regions, facemesh crops and recognizer chips
// rounded to bytes and normalised by the model, channel order included (fr_feature reads BGR),
// give the float path's faces (boxes and landmarks within 1 px) and, on the same landmarks, its
// templates (cosine > 0.999). On LFW View 1 it changes no accuracy (docs/benchmarks/pixel-inputs.md).
TEST(PipelineSamples, EightBitInputsGiveTheFloatPathsFacesAndTemplates) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto img = DecodeImageFile(Sample("sample2.jpg"));
  ASSERT_TRUE(img.ok());
  std::vector<Tier> tiers = {Tier::kFast};
  if (std::filesystem::exists(ModelsDir() + "/faceplugin/fr_feature.onnx")) tiers.push_back(Tier::kBalanced);
  for (Tier tier : tiers) {
    SCOPED_TRACE(tier == Tier::kFast ? "fast" : "balanced");
    FaceConfig c;
    c.models_dir = ModelsDir();
    c.tier = tier;
    c.num_threads = 2;
    c.calibration = "none";
    auto e = FaceEngine::Create(c);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    std::vector<Face> faces[2];
    for (int px = 0; px < 2; ++px) {
      ::setenv("FK_PIXEL_INPUTS", px ? "1" : "0", 1);  // read per model run
      auto f = (*e)->Process(*img);
      ::unsetenv("FK_PIXEL_INPUTS");
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      faces[px] = std::move(*f);
    }
    // Detector and facemesh on bytes: the same faces, boxes and landmarks within a pixel.
    ASSERT_EQ(faces[0].size(), faces[1].size());
    ASSERT_FALSE(faces[0].empty());
    // Relative to the face's size (a pixel of the 192-px facemesh crop is ~2 photo px on a 300-px face).
    for (size_t i = 0; i < faces[0].size(); ++i) {
      const BoxF& a = faces[0][i].box;
      const BoxF& b = faces[1][i].box;
      float worst = 0.f;
      for (float d : {a.x0 - b.x0, a.y0 - b.y0, a.x1 - b.x1, a.y1 - b.y1}) worst = std::max(worst, std::fabs(d));
      for (int k = 0; k < 5; ++k)
        worst = std::max({worst, std::fabs(faces[0][i].landmarks[k].x - faces[1][i].landmarks[k].x),
                          std::fabs(faces[0][i].landmarks[k].y - faces[1][i].landmarks[k].y)});
      EXPECT_LT(worst, 0.01f * a.width()) << "face " << i << " (" << a.width() << " px wide): largest box corner / landmark difference " << worst << " px";
    }
    // The recognizer on bytes, same landmarks: the float path's templates.
    bool differs = false;
    for (size_t i = 0; i < faces[0].size(); ++i) {
      ::setenv("FK_PIXEL_INPUTS", "1", 1);
      auto t = (*e)->Embed(*img, faces[0][i]);
      ::unsetenv("FK_PIXEL_INPUTS");
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      auto cos = CompareTemplates(faces[0][i].templ, *t);
      ASSERT_TRUE(cos.ok()) << cos.status().ToString();
      EXPECT_GT(*cos, 0.999f) << "face " << i;
      differs = differs || faces[0][i].templ.data != t->data;
    }
    EXPECT_TRUE(differs) << "the 8-bit path was not taken (templates bit-identical to the float path)";
  }
}

// FaceConfig::pixel_inputs chooses the same 8-bit path as $FK_PIXEL_INPUTS (bit for bit), so
// selftest's CPU reference can take the GPU's inputs; 0 and auto are the float path on the CPU.
// With 8-bit inputs the recognizer's chips are cut by the model (Model::RunWarps; on the CPU its
// host path, on a GPU the kernels) unless FK_MODEL_CROPS=0 (vision::WarpAffineInto): the same
// bytes, so the same templates bit for bit (flip TTA's mirrored view as a mirrored crop), and the
// 8-bit ArcFace chips RunWarps hands back (for the quality estimate) equal WarpAffine's.
TEST(PipelineSamples, ModelCutChipsEqualTheCpuWarps) {
  REQUIRE_SAMPLES_AND_MODELS("mobileface");
  auto img = DecodeImageFile(Sample("sample3.jpg"));
  ASSERT_TRUE(img.ok());
  const pipeline::RecognizerSpec* spec = pipeline::FindRecognizer("mobileface");
  ASSERT_NE(spec, nullptr);
  ModelOptions mo;
  mo.num_threads = 2;
  mo.pixel_inputs = 1;
  auto rec = pipeline::Recognizer::Load(*spec, ModelsDir(), mo);
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  ASSERT_TRUE((*rec)->arcface_112());
  // Three faces' landmark sets: one straight, one turned, one past the photo's edge.
  const std::vector<std::array<Point2f, 5>> pts = {
      {{{400, 300}, {460, 300}, {430, 340}, {405, 370}, {455, 370}}},
      {{{800, 500}, {850, 520}, {820, 550}, {795, 575}, {840, 590}}},
      {{{5, 100}, {45, 100}, {25, 130}, {8, 150}, {42, 150}}}};
  for (bool flip : {false, true}) {
    SCOPED_TRACE(flip ? "flip" : "no flip");
    std::vector<Image> cpu_chips, model_chips;
    ::setenv("FK_MODEL_CROPS", "0", 1);
    auto cpu = (*rec)->Embed(*img, pts, flip, &cpu_chips);
    ::unsetenv("FK_MODEL_CROPS");
    auto model = (*rec)->Embed(*img, pts, flip, &model_chips);
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ASSERT_EQ(cpu->size(), pts.size());
    ASSERT_EQ(model->size(), pts.size());
    ASSERT_EQ(cpu_chips.size(), pts.size());
    ASSERT_EQ(model_chips.size(), pts.size());
    for (size_t f = 0; f < pts.size(); ++f) {
      EXPECT_EQ((*cpu)[f].data, (*model)[f].data) << "face " << f;
      const Image& a = cpu_chips[f];
      const Image& b = model_chips[f];
      ASSERT_EQ(a.width(), 112);
      ASSERT_EQ(b.width(), 112);
      ASSERT_EQ(b.height(), 112);
      int differ = 0;
      for (int y = 0; y < 112; ++y) differ += std::memcmp(a.row(y), b.row(y), 112 * 3) != 0;
      EXPECT_EQ(differ, 0) << "rows of face " << f << "'s 8-bit chip differ";
    }
  }
}

// The whole pipeline with 8-bit inputs: the detector's regions, facemesh's crops and the chips cut
// by the model (default) or on the CPU (FK_MODEL_CROPS=0). The detector's input is resampled
// differently (box prefilter + bilinear vs CropResizeInto's area filter), so the faces agree
// closely rather than bit for bit.
TEST(PipelineSamples, ModelCropsGiveTheSameFaces) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto img = DecodeImageFile(Sample("sample3.jpg"));
  ASSERT_TRUE(img.ok());
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.num_threads = 2;
  c.calibration = "none";
  c.pixel_inputs = 1;
  c.flip_tta = true;
  auto e = FaceEngine::Create(c);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ::setenv("FK_MODEL_CROPS", "0", 1);
  auto cpu_crops = (*e)->Process(*img);
  ::unsetenv("FK_MODEL_CROPS");
  auto model_crops = (*e)->Process(*img);
  ASSERT_TRUE(cpu_crops.ok()) << cpu_crops.status().ToString();
  ASSERT_TRUE(model_crops.ok()) << model_crops.status().ToString();
  ASSERT_GE(cpu_crops->size(), 3u);
  ASSERT_EQ(cpu_crops->size(), model_crops->size());
  for (size_t i = 0; i < cpu_crops->size(); ++i) {
    const Face& a = (*cpu_crops)[i];
    const Face& b = (*model_crops)[i];
    EXPECT_NEAR(a.box.x0, b.box.x0, 1.0) << "face " << i;
    EXPECT_NEAR(a.box.y1, b.box.y1, 1.0) << "face " << i;
    ASSERT_EQ(a.mesh.size(), b.mesh.size()) << "face " << i;
    double worst = 0;
    for (size_t k = 0; k < a.mesh.size(); ++k)
      worst = std::max(worst, std::hypot(double(a.mesh[k].x) - b.mesh[k].x, double(a.mesh[k].y) - b.mesh[k].y));
    EXPECT_LT(worst, 1.0) << "face " << i << ": landmarks moved by up to " << worst << " px";
    ASSERT_EQ(a.templ.data.size(), b.templ.data.size());
    double dot = 0;
    for (size_t k = 0; k < a.templ.data.size(); ++k) dot += double(a.templ.data[k]) * b.templ.data[k];
    EXPECT_GT(dot, 0.99) << "face " << i;
    EXPECT_NEAR(a.quality.score, b.quality.score, 0.05) << "face " << i;
  }
}

TEST(PipelineSamples, PixelInputsConfigSelectsTheEightBitPath) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh", "mobileface");
  auto img = DecodeImageFile(Sample("sample2.jpg"));
  ASSERT_TRUE(img.ok());
  auto run = [&](int pixel_inputs, const char* env) -> std::vector<Face> {
    FaceConfig c;
    c.models_dir = ModelsDir();
    c.num_threads = 2;
    c.calibration = "none";
    c.pixel_inputs = pixel_inputs;
    auto e = FaceEngine::Create(c);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) return {};
    if (env) ::setenv("FK_PIXEL_INPUTS", env, 1);
    auto f = (*e)->Process(*img);
    ::unsetenv("FK_PIXEL_INPUTS");
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? *f : std::vector<Face>{};
  };
  const std::vector<Face> by_config = run(1, nullptr), by_env = run(-1, "1"), floats = run(-1, nullptr),
                          off = run(0, nullptr);
  ASSERT_FALSE(by_config.empty());
  ASSERT_EQ(by_config.size(), by_env.size());
  ASSERT_EQ(floats.size(), off.size());
  bool differs = false;
  for (size_t i = 0; i < by_config.size(); ++i) {
    EXPECT_EQ(by_config[i].templ.data, by_env[i].templ.data) << "face " << i;
    EXPECT_EQ(by_config[i].box.x0, by_env[i].box.x0) << "face " << i;
    if (i < floats.size()) differs = differs || by_config[i].templ.data != floats[i].templ.data;
  }
  for (size_t i = 0; i < floats.size(); ++i) EXPECT_EQ(floats[i].templ.data, off[i].templ.data) << "face " << i;
  EXPECT_TRUE(differs) << "pixel_inputs = 1 gave the float path's templates";
  auto bad = FaceConfig::FromJson(R"({"device": {"pixel_inputs": 2}})");
  EXPECT_FALSE(bad.ok());
  auto good = FaceConfig::FromJson(R"({"device": {"pixel_inputs": 1}})");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->pixel_inputs, 1);
  auto round = FaceConfig::FromJson(good->ToJson());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->pixel_inputs, 1);
}

// The tile rule (docs/pipeline.md): with min_face_size at or above the smallest face the full
// view finds (20 input px of blazeface-back, scaled to the photo) the tiles are skipped, and
// nothing is lost: the faces of that size are the same as with a small min_face_size (tiles
// run) and only the faces of at least that size kept.
TEST(PipelineSamples, TilesSkippedWhenMinFaceSizeIsWithinTheFullViewsRange) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "facemesh");
  if (!std::filesystem::exists(Sample("samples.jpg"))) GTEST_SKIP() << "samples.jpg not fetched";
  auto img = DecodeImageFile(Sample("samples.jpg"));
  ASSERT_TRUE(img.ok());
  const float side = static_cast<float>(std::max(img->width(), img->height()));
  const float to_photo = static_cast<float>(img->source_width()) / img->width();
  const float limit = 20.f * side / 256.f * to_photo;  // photo pixels
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.detector.model = "blazeface-back";
  c.embed = false;
  c.landmarks = false;
  auto tiled = FaceEngine::Create(c);  // min_face_size 20: tiles run (the collage test)
  c.detector.min_face_size = limit + 1.f;
  auto skipped = FaceEngine::Create(c);
  ASSERT_TRUE(tiled.ok() && skipped.ok());
  auto a = (*tiled)->Process(*img);
  auto b = (*skipped)->Process(*img);
  ASSERT_TRUE(a.ok() && b.ok());
  size_t large = 0;
  for (const auto& f : *a)
    if (std::min(f.box.width(), f.box.height()) >= limit + 1.f) ++large;
  EXPECT_GT(a->size(), large);  // the tiles found smaller faces
  EXPECT_EQ(b->size(), large);
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
  auto engine = MakeEngine(false, false, "blazeface-back");
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

// fr_detect.onnx (faceplugin, ONNX) against BlazeFace on the group photos: the same faces
// (true counts as in FindsEveryFaceInTheGroupPhotos), each fr_detect box overlapping a
// BlazeFace box by IoU >= 0.5 (its box is mapped to BlazeFace's convention, detector.cpp),
// and the facemesh 5 points from both detectors' crops within 15% of the box width (the profile
// face of sample2 differs most, 12%; a lost mesh or another face is off by far more).
TEST(PipelineSamples, FrDetectFindsTheSameFacesAsBlazeFace) {
  REQUIRE_SAMPLES_AND_MODELS("blazeface-back", "blazeface-front", "facemesh");
  if (!std::filesystem::exists(ModelsDir() + "/faceplugin/fr_detect.onnx"))
    GTEST_SKIP() << "faceplugin/fr_detect.onnx missing in " << ModelsDir() << " (run scripts/fetch_models.sh)";
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.embed = false;
  c.num_threads = 2;
  c.detector.model = "fr_detect";
  auto fr = FaceEngine::Create(c);
  if (!fr.ok() && fr.status().code() == StatusCode::kUnsupported)
    GTEST_SKIP() << "built without ONNX support: " << fr.status().ToString();
  ASSERT_TRUE(fr.ok()) << fr.status().ToString();
  EXPECT_EQ((*fr)->detector(), "fr_detect");
  auto bf = MakeEngine(false, true, "blazeface-back");
  ASSERT_TRUE(bf);
  const std::pair<const char*, size_t> expected[] = {{"sample1.jpg", 3}, {"sample2.jpg", 3}, {"sample3.jpg", 3},
                                                     {"sample4.jpg", 4}, {"sample5.jpg", 5}, {"sample6.jpg", 4}};
  for (const auto& [name, count] : expected) {
    auto img = DecodeImageFile(Sample(name));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    auto a = (*fr)->Process(*img);
    auto b = bf->Process(*img);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << " " << b.status().ToString();
    EXPECT_EQ(a->size(), count) << name;
    for (const auto& f : *a) {
      const Face* best = nullptr;
      float best_iou = 0.f;
      for (const auto& g : *b)
        if (float o = pipeline::IoU(f.box, g.box); o > best_iou) best_iou = o, best = &g;
      EXPECT_GE(best_iou, 0.5f) << name << " fr_detect box " << f.box.x0 << "," << f.box.y0;
      if (!best || best_iou < 0.5f) continue;
      EXPECT_EQ(f.landmark_source, "facemesh") << name;
      // Relative to the box (the eye distance collapses on the profile face of sample2).
      for (int k = 0; k < 5; ++k)
        EXPECT_LT(std::hypot(f.landmarks[k].x - best->landmarks[k].x, f.landmarks[k].y - best->landmarks[k].y),
                  0.15f * best->box.width())
            << name << " landmark " << k << " box width " << best->box.width();
    }
  }
}

// The default detector ("auto") is fr_detect when its ONNX model loads, blazeface-back
// otherwise; asking for fr_detect without its model is NotFound naming the file.
TEST(PipelineSamples, AutoDetectorFallsBackToBlazeFaceWithoutFrDetect) {
  if (!HaveModels({"blazeface-back", "blazeface-front", "facemesh"})) GTEST_SKIP() << "human models missing";
  FaceConfig c;
  c.embed = false;
  c.calibration = "none";
  EXPECT_EQ(c.detector.model, "auto");
  if (std::filesystem::exists(ModelsDir() + "/faceplugin/fr_detect.onnx")) {
    c.models_dir = ModelsDir();
    auto e = FaceEngine::Create(c);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    // Built without ONNX support the fallback applies here too.
    EXPECT_TRUE((*e)->detector() == "fr_detect" || (*e)->detector() == "blazeface-back") << (*e)->detector();
  }
  const auto dir = PartialModelsDir("fk_pipeline_models_no_fr_detect_" + std::to_string(::getpid()), {"human"});
  c.models_dir = dir.string();
  auto e = FaceEngine::Create(c);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->detector(), "blazeface-back");
  c.detector.model = "fr_detect";
  auto f = FaceEngine::Create(c);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("fr_detect.onnx"), std::string::npos) << f.status().ToString();
  std::filesystem::remove_all(dir);
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
  const auto dir = PartialModelsDir("fk_pipeline_models_no_onnx", {"human"});
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

namespace fk {
namespace {

bool HaveAccurateTierModels() {
  return HaveModels({"blazeface-back", "facemesh"}) &&
         std::filesystem::exists(ModelsDir() + "/faceplugin/fr_feature.onnx") &&
         std::filesystem::exists(ModelsDir() + "/face-api/face_recognition_model-weights_manifest.json");
}

// The accurate tier makes one fused template per face: [sqrt(w_a) t_fr_feature,
// sqrt(w_b) t_faceapi_resnet], 640-d, its own model id; the fused cosine of two faces equals
// the weighted sum of the two models' cosines; Verify() uses the fusion's calibration table;
// comparing a fused template with a single-model one is FailedPrecondition.
TEST(PipelineTiers, AccurateTierFusesFrFeatureAndFaceapiResnet) {
  if (!std::filesystem::exists(Sample("sample2.jpg"))) GTEST_SKIP() << "sample photos not fetched";
  if (!HaveAccurateTierModels()) GTEST_SKIP() << "fr_feature or face-api models missing in " << ModelsDir();
  const auto* spec = pipeline::FindFusion("fusion:fr_feature+faceapi_resnet");
  ASSERT_NE(spec, nullptr);
  const std::string calib = std::string(FK_SOURCE_DIR) + "/src/pipeline/data/calibration.json";
  auto make = [&](Tier tier, const std::string& recognizer, const std::string& calibration) {
    FaceConfig c;
    c.models_dir = ModelsDir();
    c.tier = tier;
    c.recognizer = recognizer;
    c.flip_tta = !recognizer.empty();  // the accurate tier flips both parts of the fusion
    c.num_threads = 2;
    c.calibration = calibration;
    auto e = FaceEngine::Create(c);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(e).value() : nullptr;
  };
  auto acc = make(Tier::kAccurate, "", calib);
  auto fr = make(Tier::kFast, "fr_feature", "none");
  auto fa = make(Tier::kFast, "faceapi_resnet", "none");
  ASSERT_TRUE(acc && fr && fa);
  EXPECT_EQ(acc->recognizer(), "fusion:fr_feature+faceapi_resnet");
  EXPECT_TRUE(acc->flip_tta());
  EXPECT_NE(acc->description().find("faceapi_resnet"), std::string::npos) << acc->description();
  auto img = DecodeImageFile(Sample("sample2.jpg"), {.max_side = 1280});
  ASSERT_TRUE(img.ok());
  auto fused = acc->Process(*img);
  auto a = fr->Process(*img);
  auto b = fa->Process(*img);
  ASSERT_TRUE(fused.ok() && a.ok() && b.ok()) << fused.status().ToString();
  ASSERT_GE(fused->size(), 3u);
  ASSERT_EQ(a->size(), fused->size());
  ASSERT_EQ(b->size(), fused->size());
  for (const auto& f : *fused) {
    EXPECT_EQ(f.templ.model, "fusion:fr_feature+faceapi_resnet");
    EXPECT_EQ(f.templ.model_version, spec->version);
    EXPECT_TRUE(f.templ.flip_tta);
    ASSERT_EQ(f.templ.data.size(), 512u + 128u);
    double n = 0;
    for (float x : f.templ.data) n += double{x} * x;
    EXPECT_NEAR(n, 1.0, 1e-4);
  }
  // Same detector and landmarks in the three engines: the same faces in the same order.
  int compared = 0;
  for (size_t i = 0; i < fused->size(); ++i)
    for (size_t j = i + 1; j < fused->size(); ++j) {
      ASSERT_NEAR((*a)[i].box.x0, (*fused)[i].box.x0, 1e-3f);
      const float cf = *CompareTemplates((*fused)[i].templ, (*fused)[j].templ);
      const float ca = *CompareTemplates((*a)[i].templ, (*a)[j].templ);
      const float cb = *CompareTemplates((*b)[i].templ, (*b)[j].templ);
      EXPECT_NEAR(cf, spec->weights[0] * ca + spec->weights[1] * cb, 2e-4f) << i << "," << j;
      ++compared;
    }
  EXPECT_GE(compared, 3);
  // Verify() is calibrated for the fused model: threshold at the configured FAR (1e-3).
  ASSERT_TRUE(acc->calibrated());
  auto v = acc->Verify((*fused)[0].templ, (*fused)[1].templ);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->calibrated);
  EXPECT_FLOAT_EQ(v->threshold, acc->ThresholdForFar(1e-3));
  EXPECT_FALSE(v->match);  // two different people
  EXPECT_GE(v->far, 0.0);
  auto self = acc->Verify((*fused)[0].templ, (*fused)[0].templ);
  ASSERT_TRUE(self.ok());
  EXPECT_TRUE(self->match);
  EXPECT_LT(self->far, 1e-5);
  auto mix = acc->Verify((*fused)[0].templ, (*a)[0].templ);
  EXPECT_EQ(mix.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(mix.status().message().find("fr_feature"), std::string::npos) << mix.status().message();
}

// Without face-api's model the accurate tier falls back to fr_feature with flip TTA (its
// previous mapping) and says why.
TEST(PipelineTiers, AccurateFallsBackToFrFeatureWithFlipWithoutFaceApi) {
  if (!HaveAccurateTierModels()) GTEST_SKIP() << "fr_feature or face-api models missing in " << ModelsDir();
  const auto dir = PartialModelsDir("fk_pipeline_models_no_faceapi", {"human", "faceplugin"});
  FaceConfig c;
  c.models_dir = dir.string();
  c.tier = Tier::kAccurate;
  c.calibration = "none";
  auto e = FaceEngine::Create(c);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->recognizer(), "fr_feature");
  EXPECT_TRUE((*e)->flip_tta());
  EXPECT_NE((*e)->description().find("fusion:fr_feature+faceapi_resnet unavailable"), std::string::npos)
      << (*e)->description();
  // Forcing the fusion as the recognizer fails, naming the missing model.
  c.recognizer = "fusion:fr_feature+faceapi_resnet";
  auto f = FaceEngine::Create(c);
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("faceapi_resnet"), std::string::npos) << f.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fk

namespace fk {
namespace {

// use_cuda without a usable GPU: Create() fails with Unavailable naming what is missing, unless
// allow_cpu_fallback, which runs on the CPU and finds the same faces. On a GPU machine both
// configs run on the GPU and the test only checks that faces are found.
TEST(FaceEngineDevice, CudaWithoutGpuFailsClearlyOrFallsBack) {
  REQUIRE_SAMPLES_AND_MODELS("mobileface", "facemesh");
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.calibration = "none";
  c.num_threads = 2;
  c.use_cuda = true;
  c.gpu_memory_limit_fraction = 0.5;
  auto strict = FaceEngine::Create(c);
  const bool gpu = strict.ok();
  if (!gpu) {
    EXPECT_EQ(strict.status().code(), StatusCode::kUnavailable) << strict.status().ToString();
    EXPECT_FALSE(strict.status().message().empty());
  }
  c.allow_cpu_fallback = true;
  auto e = FaceEngine::Create(c);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto faces = (*e)->ProcessFile(Sample("sample1.jpg"));
  ASSERT_TRUE(faces.ok()) << faces.status().ToString();
  FaceConfig cpu = c;
  cpu.use_cuda = false;
  auto ce = FaceEngine::Create(cpu);
  ASSERT_TRUE(ce.ok());
  auto cpu_faces = (*ce)->ProcessFile(Sample("sample1.jpg"));
  ASSERT_TRUE(cpu_faces.ok());
  ASSERT_EQ(faces->size(), cpu_faces->size());
  if (!gpu) {  // the fallback is the CPU engine: the same templates
    for (size_t i = 0; i < faces->size(); ++i) EXPECT_GT(*CompareTemplates((*faces)[i].templ, (*cpu_faces)[i].templ), 0.9999f);
  }
}

}  // namespace
}  // namespace fk
