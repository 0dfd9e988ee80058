// Face attributes (age/gender, emotion, liveness): config, the TF resize, parity with Human's own
// code paths on TF.js (goldens: tests/reference/attributes.mjs through make_goldens.mjs), and the
// pipeline on the sample photos.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "facekit/face.h"
#include "pipeline/face_json.h"
#include "pipeline/pipeline_internal.h"
#include "../test_assets.h"

namespace fk {
namespace {

using testing::ModelsDir;
using testing::Sample;
namespace fs = std::filesystem;

bool HaveAttributeModels() {
  for (const char* n : {"faceres", "emotion", "antispoof", "liveness"})
    if (!fs::exists(ModelsDir() + "/human/" + n + ".json")) return false;
  return true;
}

TEST(AttributeConfig, ParsesListsAndRefusesUnknownNames) {
  auto a = AttributeConfig::Parse("age_gender,liveness");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(a->age_gender);
  EXPECT_FALSE(a->emotion);
  EXPECT_TRUE(a->liveness);
  auto all = AttributeConfig::Parse("all");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->age_gender && all->emotion && all->liveness);
  auto none = AttributeConfig::Parse("none");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->any());
  auto bad = AttributeConfig::Parse("age,race");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'race'"), std::string::npos) << bad.status().ToString();
}

TEST(AttributeConfig, JsonKeysRoundTripAndAreChecked) {
  auto c = FaceConfig::FromJson(R"({"attributes": {"emotion": true, "liveness": true}})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->attributes.age_gender);
  EXPECT_TRUE(c->attributes.emotion);
  EXPECT_TRUE(c->attributes.liveness);
  auto back = FaceConfig::FromJson(c->ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->attributes.emotion && back->attributes.liveness && !back->attributes.age_gender);

  auto unknown = FaceConfig::FromJson(R"({"attributes": {"race": true}})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("attributes.race"), std::string::npos);
  auto type = FaceConfig::FromJson(R"({"attributes": {"emotion": 1}})");
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.status().message().find("attributes.emotion"), std::string::npos);
  EXPECT_FALSE(FaceConfig::FromJson(R"({"attributes": ["emotion"]})").ok());
}

// TF's ResizeBilinear (align_corners = false, half_pixel_centers = false), worked by hand:
// source coordinate = dst * in / out, neighbours clamped at the last row/column.
TEST(AttributeResize, MatchesTfResizeBilinearByHand) {
  Tensor in(DType::kFloat32, Shape({1, 2, 3, 1}));
  const float v[] = {0, 3, 6, 10, 13, 16};
  std::copy(v, v + 6, in.data<float>());
  // Up: 2x3 -> 3x4. Rows sample y = 0, 2/3, 4/3; columns x = 0, 0.75, 1.5, 2.25.
  Tensor up = pipeline::ResizeBilinearTf(in, 3, 4);
  ASSERT_EQ(up.shape().ToString(), "[1,3,4,1]");
  auto at = [&](int y, int x) { return up.data<float>()[y * 4 + x]; };
  EXPECT_FLOAT_EQ(at(0, 0), 0.f);
  EXPECT_FLOAT_EQ(at(0, 1), 2.25f);
  EXPECT_FLOAT_EQ(at(0, 2), 4.5f);
  EXPECT_FLOAT_EQ(at(0, 3), 6.f);                  // x = 2.25: right neighbour clamped to column 2
  EXPECT_NEAR(at(1, 0), 10.f * 2 / 3, 1e-5);       // y = 2/3
  EXPECT_NEAR(at(2, 1), 10.f + 2.25f, 1e-5);       // y = 4/3: bottom neighbour clamped to row 1
  // Down by 2 keeps every other sample (no area filter, as TF).
  Tensor in2(DType::kFloat32, Shape({1, 4, 4, 2}));
  for (int i = 0; i < 32; ++i) in2.data<float>()[i] = static_cast<float>(i);
  Tensor down = pipeline::ResizeBilinearTf(in2, 2, 2);
  const float want[] = {0, 1, 4, 5, 16, 17, 20, 21};
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(down.data<float>()[i], want[i]) << i;
}

// ---- parity with Human on TF.js -------------------------------------------------------------

std::string GoldensDir() {
  if (const char* e = std::getenv("FK_TFJS_GOLDENS"); e && *e) return e;
  return std::string(FK_BINARY_DIR) + "/tfjs_goldens";
}

// The same numbers as Human 3.3.6's faceres.ts / emotion.ts / antispoof.ts / liveness.ts on
// the same 192x192 crops: its resizes, normalisations, models and read-outs, batched here (16
// faces in one run per model) where Human runs them one by one.
TEST(TfjsParityAttributes, SameAgeGenderEmotionAndLivenessAsHumanOnTheSameCrops) {
  const std::string dir = GoldensDir();
  std::ifstream mf(dir + "/manifest.json");
  if (!mf) GTEST_SKIP() << "no TF.js goldens at " << dir << " (run `ctest -R tfjs_goldens`; needs `npm ci` in tests/reference)";
  const auto manifest = nlohmann::json::parse(mf, nullptr, false);
  ASSERT_FALSE(manifest.is_discarded());
  if (!manifest.contains("attributes")) GTEST_SKIP() << "goldens made without the attribute models";
  if (!HaveAttributeModels()) GTEST_SKIP() << "attribute models missing in " << ModelsDir();
  auto load = [&](const char* key) {
    auto t = LoadNpy(dir + "/" + manifest["attributes"]["files"][key].get<std::string>());
    EXPECT_TRUE(t.ok()) << key << ": " << t.status().ToString();
    return t.ok() ? std::move(t).value() : Tensor();
  };
  const Tensor crops = load("crops"), gender = load("gender"), age = load("age"), emotion = load("emotion"),
               real = load("real"), live = load("live");
  ASSERT_EQ(crops.shape().rank(), 4);
  const int64_t n = crops.shape()[0];
  ASSERT_GE(n, 9);

  ModelOptions mo;
  mo.num_threads = 2;
  auto models = pipeline::AttributeModels::Load(ModelsDir(), mo, AttributeConfig{true, true, true});
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  auto got = (*models)->RunOnCrops(crops);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(static_cast<int64_t>(got->size()), n);
  float lo = 1.f, hi = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    const FaceAttributes& a = (*got)[i];
    SCOPED_TRACE("face " + std::to_string(i));
    const float g = gender.data<float>()[i];
    EXPECT_NEAR(a.male, g, 1e-4f);
    EXPECT_EQ(a.gender, g <= 0.5f ? "female" : "male");
    lo = std::min(lo, a.male);
    hi = std::max(hi, a.male);
    // Human's age is rounded to 0.1 year; a difference in the 5th decimal of a bin can move it
    // across a rounding boundary, no further.
    EXPECT_NEAR(a.age, age.data<float>()[i], 0.1001f);
    ASSERT_EQ(a.emotion.size(), 7u);
    for (int k = 0; k < 7; ++k) EXPECT_NEAR(a.emotion[k], emotion.data<float>()[i * 7 + k], 1e-4f) << EmotionName(k);
    EXPECT_NEAR(a.real, real.data<float>()[i], 1e-4f);
    EXPECT_NEAR(a.live, live.data<float>()[i], 1e-4f);
  }
  // Not a constant read-out: the sample faces (all women) spread over the male probability.
  EXPECT_GT(hi - lo, 0.2f);
}

// ---- the pipeline ---------------------------------------------------------------------------

std::unique_ptr<FaceEngine> MakeEngine(const AttributeConfig& attrs, const std::string& models_dir = ModelsDir()) {
  FaceConfig c;
  c.models_dir = models_dir;
  c.tier = Tier::kFast;
  c.embed = false;
  c.num_threads = 2;
  c.calibration = "none";
  c.attributes = attrs;
  auto e = FaceEngine::Create(c);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(PipelineAttributes, EveryFaceGetsWhatWasAskedForAndBatchingChangesNothing) {
  if (!fs::exists(Sample("sample1.jpg")) || !HaveAttributeModels()) GTEST_SKIP() << "samples or models missing";
  auto engine = MakeEngine(AttributeConfig{true, true, true});
  ASSERT_TRUE(engine);
  std::vector<Image> photos;
  for (const char* name : {"sample1.jpg", "sample2.jpg"}) {
    auto img = DecodeImageFile(Sample(name));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    photos.push_back(std::move(img).value());
  }
  const Image* ptrs[] = {&photos[0], &photos[1]};
  auto batch = engine->ProcessBatch(ptrs);
  for (size_t p = 0; p < photos.size(); ++p) {
    auto one = engine->Process(photos[p]);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    ASSERT_TRUE(batch[p].ok()) << batch[p].status().ToString();
    ASSERT_FALSE(one->empty());
    ASSERT_EQ(one->size(), batch[p]->size());
    for (size_t i = 0; i < one->size(); ++i) {
      const FaceAttributes& a = (*one)[i].attributes;
      const FaceAttributes& b = (*batch[p])[i].attributes;
      SCOPED_TRACE("photo " + std::to_string(p) + " face " + std::to_string(i));
      EXPECT_GE(a.age, 1.f);
      EXPECT_LE(a.age, 100.f);
      EXPECT_TRUE(a.gender == "male" || a.gender == "female");
      EXPECT_GE(a.male, 0.f);
      EXPECT_LE(a.male, 1.f);
      ASSERT_EQ(a.emotion.size(), 7u);
      float sum = 0;
      for (float e : a.emotion) sum += e;
      EXPECT_NEAR(sum, 1.f, 1e-3f);
      EXPECT_GE(a.real, 0.f);
      EXPECT_LE(a.real, 1.f);
      EXPECT_GE(a.live, 0.f);
      EXPECT_LE(a.live, 1.f);
      // One run for all faces of both photos gives what a run per photo gives.
      EXPECT_NEAR(a.age, b.age, 0.11f);
      EXPECT_NEAR(a.male, b.male, 1e-4f);
      for (int k = 0; k < 7; ++k) EXPECT_NEAR(a.emotion[k], b.emotion[k], 1e-4f);
      EXPECT_NEAR(a.real, b.real, 1e-4f);
      EXPECT_NEAR(a.live, b.live, 1e-4f);
      // The JSON form names them.
      const auto j = pipeline::FaceToJson((*one)[i], pipeline::TemplateJson::kNone);
      ASSERT_TRUE(j.contains("attributes"));
      EXPECT_EQ(j["attributes"]["gender"], a.gender);
      EXPECT_EQ(j["attributes"]["emotion"], EmotionName(a.top_emotion()));
      EXPECT_EQ(j["attributes"]["emotions"].size(), 7u);
    }
  }
}

TEST(PipelineAttributes, OnlyTheAskedPartsAreComputedAndNoneByDefault) {
  if (!fs::exists(Sample("sample1.jpg")) || !HaveAttributeModels()) GTEST_SKIP() << "samples or models missing";
  auto img = DecodeImageFile(Sample("sample1.jpg"));
  ASSERT_TRUE(img.ok());
  auto plain = MakeEngine(AttributeConfig{});
  ASSERT_TRUE(plain);
  auto faces = plain->Process(*img);
  ASSERT_TRUE(faces.ok());
  ASSERT_FALSE(faces->empty());
  for (const Face& f : *faces) {
    EXPECT_TRUE(f.attributes.empty());
    EXPECT_FALSE(pipeline::FaceToJson(f, pipeline::TemplateJson::kNone).contains("attributes"));
  }
  auto emo = MakeEngine(AttributeConfig{false, true, false});
  ASSERT_TRUE(emo);
  faces = emo->Process(*img);
  ASSERT_TRUE(faces.ok());
  for (const Face& f : *faces) {
    EXPECT_EQ(f.attributes.emotion.size(), 7u);
    EXPECT_LT(f.attributes.age, 0.f);
    EXPECT_TRUE(f.attributes.gender.empty());
    EXPECT_LT(f.attributes.real, 0.f);
    EXPECT_LT(f.attributes.live, 0.f);
  }
  EXPECT_NE(emo->description().find("attributes emotion"), std::string::npos) << emo->description();
}

// DetectedPhoto::set_attributes: one FinishBatch where each photo gets its own subset; the values
// are those of the engine's full run, the rest is not computed; more than the engine loaded is
// that photo's FailedPrecondition, the other photos are unaffected.
TEST(PipelineAttributes, EachPhotoOfABatchGetsTheAttributesItAsksFor) {
  if (!fs::exists(Sample("sample1.jpg")) || !HaveAttributeModels()) GTEST_SKIP() << "samples or models missing";
  auto engine = MakeEngine(AttributeConfig{true, true, false});
  ASSERT_TRUE(engine);
  auto bytes = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  const std::vector<uint8_t> b1 = bytes(Sample("sample1.jpg")), b2 = bytes(Sample("sample2.jpg"));
  DecodeOptions o;
  std::vector<DetectedPhoto> photos;
  for (const auto* b : {&b1, &b2, &b1, &b2}) {
    auto p = engine->DetectEncoded(*b, o, "sample");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    photos.push_back(std::move(p).value());
  }
  photos[0].set_attributes(AttributeConfig{false, true, false});  // emotion only
  photos[1].set_attributes(AttributeConfig{});                     // none
  photos[2].set_attributes(AttributeConfig{false, true, true});   // liveness is not loaded
  // photos[3]: the engine's (age_gender + emotion)
  std::vector<DetectedPhoto*> ptrs;
  for (auto& p : photos) ptrs.push_back(&p);
  auto got = engine->FinishBatch(ptrs);
  ASSERT_EQ(got.size(), 4u);
  auto full1 = engine->ProcessFile(Sample("sample1.jpg"));
  auto full2 = engine->ProcessFile(Sample("sample2.jpg"));
  ASSERT_TRUE(full1.ok() && full2.ok());

  ASSERT_TRUE(got[0].ok()) << got[0].status().ToString();
  ASSERT_EQ(got[0]->size(), full1->size());
  for (size_t i = 0; i < got[0]->size(); ++i) {
    const FaceAttributes& a = (*got[0])[i].attributes;
    EXPECT_LT(a.age, 0.f);
    EXPECT_TRUE(a.gender.empty());
    ASSERT_EQ(a.emotion.size(), 7u);
    for (int k = 0; k < 7; ++k) EXPECT_NEAR(a.emotion[k], (*full1)[i].attributes.emotion[k], 1e-4f);
  }
  ASSERT_TRUE(got[1].ok()) << got[1].status().ToString();
  ASSERT_FALSE(got[1]->empty());
  for (const Face& f : *got[1]) EXPECT_TRUE(f.attributes.empty());
  ASSERT_FALSE(got[2].ok());
  EXPECT_EQ(got[2].status().code(), StatusCode::kFailedPrecondition) << got[2].status().ToString();
  EXPECT_NE(got[2].status().message().find("emotion,liveness"), std::string::npos) << got[2].status().ToString();
  ASSERT_TRUE(got[3].ok()) << got[3].status().ToString();
  ASSERT_EQ(got[3]->size(), full2->size());
  for (size_t i = 0; i < got[3]->size(); ++i) {
    const FaceAttributes& a = (*got[3])[i].attributes;
    EXPECT_NEAR(a.male, (*full2)[i].attributes.male, 1e-4f);
    EXPECT_NEAR(a.age, (*full2)[i].attributes.age, 0.11f);
    EXPECT_EQ(a.emotion.size(), 7u);
    EXPECT_LT(a.real, 0.f);
  }
}

TEST(PipelineAttributes, AMissingModelIsNotFoundNamingTheFileAndTheKey) {
  if (!HaveAttributeModels()) GTEST_SKIP() << "models missing";
  // A models folder with every human model but emotion.json.
  const fs::path dir = fs::temp_directory_path() / "fk_attr_models";
  fs::remove_all(dir);
  fs::create_directories(dir / "human");
  for (const auto& e : fs::directory_iterator(ModelsDir() + "/human"))
    if (e.path().filename() != "emotion.json") fs::create_symlink(fs::absolute(e.path()), dir / "human" / e.path().filename());
  if (fs::exists(ModelsDir() + "/faceplugin")) fs::create_directory_symlink(fs::absolute(ModelsDir() + "/faceplugin"), dir / "faceplugin");
  FaceConfig c;
  c.models_dir = dir.string();
  c.embed = false;
  c.calibration = "none";
  c.attributes.emotion = true;
  auto e = FaceEngine::Create(c);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound) << e.status().ToString();
  EXPECT_NE(e.status().message().find("emotion.json"), std::string::npos) << e.status().ToString();
  EXPECT_NE(e.status().message().find("\"emotion\": true"), std::string::npos) << e.status().ToString();
  c.attributes = AttributeConfig{true, false, true};  // the others are there
  EXPECT_TRUE(FaceEngine::Create(c).ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fk
