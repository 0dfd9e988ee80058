// Unit tests of the face pipeline pieces that need no model: config parsing, anchors,
// weighted NMS, templates, ROC calibration, pose.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>

#include "facekit/face.h"
#include "pipeline/pipeline_internal.h"

namespace fk {
namespace {

TEST(FaceConfig, DefaultsAndOverrides) {
  auto c = FaceConfig::FromJson(R"({
    "tier": "balanced",
    "detector": {"model": "blazeface-front", "min_confidence": 0.6, "max_faces": 3, "small_faces": false},
    "device": {"num_threads": 2, "backend": "ref", "use_cuda": false, "gpu_index": 1, "precision": "fp16",
               "gpu_memory_limit_bytes": 1073741824, "gpu_memory_limit_fraction": 0.5, "allow_cpu_fallback": true},
    "flip_tta": true, "landmarks": false, "target_far": 0.01
  })");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->tier, Tier::kBalanced);
  EXPECT_EQ(c->detector.model, "blazeface-front");
  EXPECT_FLOAT_EQ(c->detector.min_confidence, 0.6f);
  EXPECT_EQ(c->detector.max_faces, 3);
  EXPECT_FALSE(c->detector.small_faces);
  EXPECT_EQ(c->num_threads, 2);
  EXPECT_EQ(c->backend, "ref");
  EXPECT_EQ(c->gpu_index, 1);
  EXPECT_EQ(c->precision, "fp16");
  EXPECT_EQ(c->gpu_memory_limit_bytes, 1073741824);
  EXPECT_DOUBLE_EQ(c->gpu_memory_limit_fraction, 0.5);
  EXPECT_TRUE(c->allow_cpu_fallback);
  EXPECT_TRUE(c->flip_tta);
  EXPECT_FALSE(c->landmarks);
  EXPECT_DOUBLE_EQ(c->target_far, 0.01);
  // Round trip through ToJson.
  auto c2 = FaceConfig::FromJson(c->ToJson());
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  EXPECT_EQ(c2->ToJson(), c->ToJson());
  auto d = FaceConfig::FromJson("{}");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tier, Tier::kFast);
  EXPECT_EQ(d->detector.model, "auto");  // fr_detect when it loads, else blazeface-back
  EXPECT_EQ(d->precision, "auto");
}

TEST(FaceConfig, ClearErrors) {
  struct Case {
    const char* json;
    const char* must_mention;
  } cases[] = {
      {"not json", "JSON"},
      {"[1, 2]", "object"},
      {R"({"tier": "turbo"})", "turbo"},
      {R"({"tier": 3})", "tier"},
      {R"({"detecter": {}})", "detecter"},
      {R"({"detector": {"min_confidence": 1.5}})", "min_confidence"},
      {R"({"detector": {"iou_threshold": "high"}})", "iou_threshold"},
      {R"({"detector": {"max_faces": 0}})", "max_faces"},
      {R"({"detector": {"model": "yolo"}})", "yolo"},
      {R"({"detector": {"colour": 1}})", "detector.colour"},
      {R"({"device": {"num_threads": -1}})", "num_threads"},
      {R"({"backend": "tpu"})", "tpu"},
      {R"({"device": {"precision": "fp8"}})", "fp8"},
      {R"({"device": {"gpu_memory_limit_fraction": 1.5}})", "gpu_memory_limit_fraction"},
      {R"({"device": {"gpu_memory_limit_bytes": -1}})", "gpu_memory_limit_bytes"},
      {R"({"target_far": 0})", "target_far"},
      {R"({"recognizer": "vgg"})", "vgg"},
  };
  for (const auto& c : cases) {
    auto r = FaceConfig::FromJson(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(r.status().message().find(c.must_mention), std::string::npos)
        << c.json << " -> " << r.status().message();
  }
  auto f = FaceConfig::FromFile("/nonexistent/facekit.json");
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
}

TEST(LargestFace, LargestBoxAreaFirstOfEqualOnesNullWhenNone) {
  EXPECT_EQ(LargestFace({}), nullptr);
  std::vector<Face> faces(4);
  faces[0].box = {0, 0, 10, 10};    // 100
  faces[1].box = {5, 5, 25, 15};    // 200
  faces[2].box = {0, 0, 20, 10};    // 200, equal: the first one wins
  faces[3].box = {0, 0, 12, 12};    // 144
  EXPECT_EQ(LargestFace(faces), &faces[1]);
  faces[3].box = {0, 0, 30, 30};
  EXPECT_EQ(LargestFace(faces), &faces[3]);
}

TEST(BlazeFace, AnchorsMatchHuman) {
  // Human's generateAnchors(256): strides 16 (2 per cell, 16x16) then 32 (6 per cell, 8x8).
  auto a = pipeline::BlazeFaceAnchors(256);
  ASSERT_EQ(a.size(), 896u);
  EXPECT_FLOAT_EQ(a[0].x, 8.f);
  EXPECT_FLOAT_EQ(a[0].y, 8.f);
  EXPECT_FLOAT_EQ(a[1].x, 8.f);   // second anchor of the same cell
  EXPECT_FLOAT_EQ(a[2].x, 24.f);  // next cell to the right
  EXPECT_FLOAT_EQ(a[511].x, 248.f);
  EXPECT_FLOAT_EQ(a[511].y, 248.f);
  EXPECT_FLOAT_EQ(a[512].x, 16.f);  // first cell of the stride-32 grid
  EXPECT_FLOAT_EQ(a[512].y, 16.f);
  EXPECT_FLOAT_EQ(a[517].x, 16.f);
  EXPECT_FLOAT_EQ(a[518].x, 48.f);
  EXPECT_FLOAT_EQ(a[895].y, 240.f);
  auto f = pipeline::BlazeFaceAnchors(128);
  ASSERT_EQ(f.size(), 896u);
  EXPECT_FLOAT_EQ(f[0].x, 4.f);
  EXPECT_FLOAT_EQ(f[512].x, 8.f);
}

pipeline::Detection Det(float x0, float y0, float x1, float y1, float s) {
  pipeline::Detection d;
  d.box = {x0, y0, x1, y1};
  d.score = s;
  for (int k = 0; k < 6; ++k) d.keypoints[k] = {(x0 + x1) / 2 + k, (y0 + y1) / 2};
  return d;
}

TEST(BlazeFace, WeightedNmsBlendsOverlapsAndKeepsSeparateFaces) {
  std::vector<pipeline::Detection> d = {Det(0, 0, 10, 10, 0.6f), Det(100, 100, 120, 120, 0.7f),
                                        Det(1, 1, 11, 11, 0.9f)};
  EXPECT_NEAR(pipeline::IoU(d[0].box, d[2].box), 81.f / 119.f, 1e-5f);
  auto out = pipeline::WeightedNms(d, 0.3f, 10);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);  // best first, keeps the best score
  // Blend weighted by score: x0 = (0.9 * 1 + 0.6 * 0) / 1.5.
  EXPECT_NEAR(out[0].box.x0, 0.6f, 1e-5f);
  EXPECT_NEAR(out[0].box.x1, 10.6f, 1e-5f);
  EXPECT_NEAR(out[0].keypoints[0].x, 5.6f, 1e-5f);
  EXPECT_FLOAT_EQ(out[1].box.x0, 100.f);
  EXPECT_EQ(pipeline::WeightedNms(d, 0.3f, 1).size(), 1u);
  // A high IoU threshold keeps the overlapping boxes apart.
  EXPECT_EQ(pipeline::WeightedNms(d, 0.9f, 10).size(), 3u);
}

TEST(FaceTemplate, SerializationRoundTripIsStable) {
  FaceTemplate t;
  t.model = "mobileface";
  t.model_version = 3;
  t.flip_tta = true;
  std::mt19937 rng(7);
  std::normal_distribution<float> n;
  for (int i = 0; i < 256; ++i) t.data.push_back(n(rng));
  const auto bytes = t.Serialize();
  ASSERT_EQ(bytes.size(), 4u + 8u + t.model.size() + 4u + 4u * 256u + 4u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "FKTP");
  auto back = FaceTemplate::Deserialize(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->model, "mobileface");
  EXPECT_EQ(back->model_version, 3);
  EXPECT_TRUE(back->flip_tta);
  EXPECT_EQ(back->data, t.data);  // bit-exact
  EXPECT_EQ(back->Serialize(), bytes);
  // Save / Load.
  const std::string path = std::filesystem::temp_directory_path() / "fk_pipeline_template_test.bin";
  ASSERT_TRUE(t.Save(path).ok());
  auto loaded = FaceTemplate::Load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->data, t.data);
  std::filesystem::remove(path);
}

TEST(FaceTemplate, CorruptOrTruncatedIsDataLoss) {
  FaceTemplate t;
  t.model = "faceres";
  t.data = {0.6f, 0.8f};
  auto bytes = t.Serialize();
  auto flipped = bytes;
  flipped[20] ^= 0x40;
  EXPECT_EQ(FaceTemplate::Deserialize(flipped).status().code(), StatusCode::kDataLoss);
  std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 3);
  EXPECT_EQ(FaceTemplate::Deserialize(cut).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(FaceTemplate::Deserialize({}).status().code(), StatusCode::kDataLoss);
  auto v2 = bytes;
  v2[4] = 9;
  EXPECT_EQ(FaceTemplate::Deserialize(v2).status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(FaceTemplate::Load("/nonexistent/t.bin").status().code(), StatusCode::kNotFound);
}

TEST(FaceTemplate, CompareRequiresTheSameModel) {
  FaceTemplate a{"mobileface", 1, false, {0.6f, 0.8f}};
  FaceTemplate b{"mobileface", 1, false, {0.8f, 0.6f}};
  auto s = CompareTemplates(a, b);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(*s, 0.96f, 1e-6f);
  FaceTemplate c{"faceres", 1, false, {0.6f, 0.8f}};
  auto e = CompareTemplates(a, c);
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(e.status().message().find("faceres"), std::string::npos);
  FaceTemplate d{"mobileface", 2, false, {0.6f, 0.8f}};
  EXPECT_EQ(CompareTemplates(a, d).status().code(), StatusCode::kFailedPrecondition);
  FaceTemplate e3{"mobileface", 1, false, {1.f, 0.f, 0.f}};
  EXPECT_EQ(CompareTemplates(a, e3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompareTemplates(a, FaceTemplate{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(Calibration, RocTableFromScores) {
  // Impostors uniform on [0, 0.5), genuine uniform on [0.4, 1).
  std::vector<float> imp, gen;
  for (int i = 0; i < 10000; ++i) imp.push_back(0.5f * i / 10000);
  for (int i = 0; i < 1000; ++i) gen.push_back(0.4f + 0.6f * i / 1000);
  RocTable t = BuildRocTable(gen, imp);
  ASSERT_GT(t.points.size(), 100u);
  for (size_t i = 1; i < t.points.size(); ++i) {
    EXPECT_GT(t.points[i].threshold, t.points[i - 1].threshold);
    EXPECT_LE(t.points[i].far, t.points[i - 1].far);
    EXPECT_GE(t.points[i].frr, t.points[i - 1].frr);
  }
  EXPECT_NEAR(t.FarAt(0.25f), 0.5, 0.01);
  EXPECT_NEAR(t.FarAt(0.45f), 0.1, 0.01);
  EXPECT_NEAR(t.FrrAt(0.7f), 0.5, 0.01);
  EXPECT_DOUBLE_EQ(t.FarAt(2.f), 0.0);
  // FAR 1e-3 -> the top 10 impostors are accepted: threshold ~0.4995.
  EXPECT_NEAR(t.ThresholdForFar(1e-3), 0.4995f, 1e-3f);
  EXPECT_NEAR(t.ThresholdForFar(1e-2), 0.495f, 1e-3f);
  EXPECT_LE(t.FarAt(t.ThresholdForFar(1e-2)), 1e-2 + 1e-4);

  t.model = "mobileface";
  const std::string path = std::filesystem::temp_directory_path() / "fk_pipeline_calib_test.json";
  ASSERT_TRUE(SaveCalibration(path, {t}).ok());
  auto back = LoadCalibration(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].model, "mobileface");
  EXPECT_EQ((*back)[0].points.size(), t.points.size());
  EXPECT_NEAR((*back)[0].ThresholdForFar(1e-3), t.ThresholdForFar(1e-3), 1e-4f);
  std::filesystem::remove(path);
  EXPECT_EQ(LoadCalibration("/nonexistent.json").status().code(), StatusCode::kNotFound);
}

TEST(Pose, FrontalTemplateHasZeroPoseAndRollFollowsRotation) {
  auto t = vision::ArcFaceTemplate(112);
  HeadPose p = pipeline::EstimatePose(t);
  EXPECT_NEAR(p.roll, 0.f, 1.f);
  EXPECT_NEAR(p.yaw, 0.f, 3.f);
  EXPECT_NEAR(p.pitch, 0.f, 3.f);
  // Rotate the template by 30 degrees (clockwise as displayed).
  auto m = vision::Affine2x3::Similarity(1.0, 30 * 3.14159265 / 180, {56, 56});
  std::array<Point2f, 5> r;
  for (int i = 0; i < 5; ++i) r[i] = m.Apply(t[i]);
  HeadPose pr = pipeline::EstimatePose(r);
  EXPECT_NEAR(pr.roll, 30.f, 0.5f);
  EXPECT_NEAR(pr.yaw, p.yaw, 0.5f);
  // Nose moved towards image right: yaw positive.
  auto y = t;
  y[2].x += 8;
  EXPECT_GT(pipeline::EstimatePose(y).yaw, 15.f);
}

TEST(Quality, BlurLowersTheBlurScore) {
  Image sharp(112, 112);
  for (int y = 0; y < 112; ++y)
    for (int x = 0; x < 112; ++x) {
      const uint8_t v = ((x / 4 + y / 4) % 2) ? 200 : 60;
      uint8_t* p = sharp.at(x, y);
      p[0] = p[1] = p[2] = v;
    }
  Image flat(112, 112, {128, 128, 128});
  EXPECT_GT(pipeline::LaplacianVariance(sharp), 1000.0);
  EXPECT_NEAR(pipeline::LaplacianVariance(flat), 0.0, 1e-9);
  auto t = vision::ArcFaceTemplate(112);
  HeadPose pose;
  FaceQuality qs = pipeline::EstimateQuality(sharp, t, pose);
  FaceQuality qf = pipeline::EstimateQuality(flat, t, pose);
  EXPECT_GT(qs.blur, 0.9f);
  EXPECT_LT(qf.blur, 0.01f);
  EXPECT_GT(qs.score, qf.score);
  EXPECT_GE(qf.score, 0.f);
  EXPECT_LE(qs.score, 1.f);
}


// ---- fusion (the accurate tier's template) -------------------------------------------------

std::vector<float> RandomUnit(std::mt19937& rng, int dim) {
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> v(dim);
  double s = 0;
  for (float& x : v) {
    x = n(rng);
    s += double{x} * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
  return v;
}

TEST(Fusion, FusedCosineIsTheWeightedSumOfPartCosines) {
  const auto* spec = pipeline::FindFusion("fusion:fr_feature+faceapi_resnet");
  ASSERT_NE(spec, nullptr);
  ASSERT_EQ(spec->parts.size(), 2u);
  ASSERT_EQ(spec->weights.size(), 2u);
  EXPECT_NEAR(spec->weights[0] + spec->weights[1], 1.f, 1e-6f);
  EXPECT_GT(spec->weights[0], 0.f);
  EXPECT_GT(spec->weights[1], 0.f);
  EXPECT_EQ(pipeline::FindFusion("fusion:nope"), nullptr);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    // Two faces: correlated parts so that cosines span a useful range.
    FaceTemplate a1{"fr_feature", 1, false, RandomUnit(rng, 512)};
    FaceTemplate b1{"faceapi_resnet", 1, false, RandomUnit(rng, 128)};
    FaceTemplate a2 = a1, b2 = b1;
    const float mix = trial / 20.f;
    auto noise_a = RandomUnit(rng, 512);
    auto noise_b = RandomUnit(rng, 128);
    for (int k = 0; k < 512; ++k) a2.data[k] = mix * a2.data[k] + (1 - mix) * noise_a[k];
    for (int k = 0; k < 128; ++k) b2.data[k] = (1 - mix) * b2.data[k] + mix * noise_b[k];
    for (auto* t : {&a2, &b2}) {  // parts are unit length
      double s = 0;
      for (float x : t->data) s += double{x} * x;
      for (float& x : t->data) x = static_cast<float>(x / std::sqrt(s));
    }
    std::array<FaceTemplate, 2> p1 = {a1, b1}, p2 = {a2, b2};
    auto f1 = pipeline::FuseTemplates(*spec, p1);
    auto f2 = pipeline::FuseTemplates(*spec, p2);
    ASSERT_TRUE(f1.ok()) << f1.status().ToString();
    ASSERT_TRUE(f2.ok());
    EXPECT_EQ(f1->model, "fusion:fr_feature+faceapi_resnet");
    EXPECT_EQ(f1->model_version, spec->version);
    EXPECT_FALSE(f1->flip_tta);
    ASSERT_EQ(f1->data.size(), 640u);
    double n1 = 0;
    for (float x : f1->data) n1 += double{x} * x;
    EXPECT_NEAR(n1, 1.0, 1e-5);
    const float ca = *CompareTemplates(a1, a2), cb = *CompareTemplates(b1, b2);
    const float cf = *CompareTemplates(*f1, *f2);
    EXPECT_NEAR(cf, spec->weights[0] * ca + spec->weights[1] * cb, 1e-5f) << "ca " << ca << " cb " << cb;
    // The fused template survives serialization unchanged.
    auto back = FaceTemplate::Deserialize(f1->Serialize());
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->model, f1->model);
    EXPECT_EQ(back->data, f1->data);
  }
}

TEST(Fusion, MismatchedPartsAndModelsAreErrors) {
  const auto* spec = pipeline::FindFusion("fusion:fr_feature+faceapi_resnet");
  ASSERT_NE(spec, nullptr);
  std::mt19937 rng(3);
  FaceTemplate fr{"fr_feature", 1, false, RandomUnit(rng, 512)};
  FaceTemplate fa{"faceapi_resnet", 1, false, RandomUnit(rng, 128)};
  std::array<FaceTemplate, 2> swapped = {fa, fr};
  auto e1 = pipeline::FuseTemplates(*spec, swapped);
  EXPECT_EQ(e1.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e1.status().message().find("expected 'fr_feature'"), std::string::npos) << e1.status().message();
  std::array<FaceTemplate, 1> one = {fr};
  EXPECT_EQ(pipeline::FuseTemplates(*spec, one).status().code(), StatusCode::kInvalidArgument);
  FaceTemplate short_fa{"faceapi_resnet", 1, false, RandomUnit(rng, 64)};
  std::array<FaceTemplate, 2> wrong_dim = {fr, short_fa};
  auto e2 = pipeline::FuseTemplates(*spec, wrong_dim);
  EXPECT_EQ(e2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e2.status().message().find("dimension 64"), std::string::npos) << e2.status().message();
  FaceTemplate fa_flip = fa;
  fa_flip.flip_tta = true;
  std::array<FaceTemplate, 2> mixed = {fr, fa_flip};
  EXPECT_EQ(pipeline::FuseTemplates(*spec, mixed).status().code(), StatusCode::kInvalidArgument);
  // Both parts with flip TTA: the fused template says so.
  FaceTemplate fr_flip = fr;
  fr_flip.flip_tta = true;
  std::array<FaceTemplate, 2> flipped = {fr_flip, fa_flip};
  auto ff = pipeline::FuseTemplates(*spec, flipped);
  ASSERT_TRUE(ff.ok());
  EXPECT_TRUE(ff->flip_tta);
  // A fused template is never compared with a single-model one.
  std::array<FaceTemplate, 2> ok = {fr, fa};
  auto fused = pipeline::FuseTemplates(*spec, ok);
  ASSERT_TRUE(fused.ok());
  auto cmp = CompareTemplates(*fused, fr);
  EXPECT_EQ(cmp.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(cmp.status().message().find("fusion:fr_feature+faceapi_resnet"), std::string::npos);
  // The config accepts the fusion as a recognizer (galleries of fused templates enrol with it).
  auto c = FaceConfig::FromJson(R"({"recognizer": "fusion:fr_feature+faceapi_resnet"})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->recognizer, "fusion:fr_feature+faceapi_resnet");
}

// The committed calibration file (src/pipeline/data/calibration.json) holds a ROC table for
// every tier's model, the accurate tier's fusion included, so Verify() reports a FAR.
TEST(Calibration, CommittedTablesCoverEveryTier) {
  auto tables = LoadCalibration(std::string(FK_SOURCE_DIR) + "/src/pipeline/data/calibration.json");
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  const auto* fusion = pipeline::FindFusion("fusion:fr_feature+faceapi_resnet");
  ASSERT_NE(fusion, nullptr);
  std::map<std::string, double> frr_at_1e3;
  for (const std::string model : {"mobileface", "fr_feature", fusion->id.c_str()}) {
    const RocTable* t = nullptr;
    for (const auto& r : *tables)
      if (r.model == model && !r.flip_tta && r.model_version == (model == fusion->id ? fusion->version : 1)) t = &r;
    ASSERT_NE(t, nullptr) << "no calibration table for " << model;
    EXPECT_GT(t->impostor_pairs, 100000) << model;
    const float thr = t->ThresholdForFar(1e-3);
    EXPECT_LE(t->FarAt(thr), 1.1e-3) << model;
    EXPECT_GT(t->FarAt(thr - 0.02f), 1e-3) << model;  // the threshold is where FAR crosses 1e-3
    frr_at_1e3[model] = t->FrrAt(thr);
    if (model == fusion->id) {
      // The built-in fallback threshold is close to the calibrated one.
      EXPECT_NEAR(fusion->default_threshold, thr, 0.05f);
    }
  }
  // The tiers are ordered at the operating point too: accurate rejects no more genuine
  // pairs than balanced, balanced far fewer than fast.
  EXPECT_LE(frr_at_1e3[fusion->id], frr_at_1e3["fr_feature"]);
  EXPECT_LT(frr_at_1e3["fr_feature"], 0.05);
  EXPECT_LT(frr_at_1e3["fr_feature"], frr_at_1e3["mobileface"]);
}

}  // namespace
}  // namespace fk

#include "pipeline/face_json.h"

namespace fk::pipeline {
namespace {

TEST(FaceJson, Base64MatchesRfc4648AndRoundTrips) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : vectors) {
    const std::vector<uint8_t> bytes(plain.begin(), plain.end());
    EXPECT_EQ(Base64Encode(bytes), enc);
    auto back = Base64Decode(enc);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(Base64Decode("Zm9v!").status().code(), StatusCode::kInvalidArgument);
  // A template survives the trip through its JSON form.
  Face f;
  f.templ.model = "mobileface";
  f.templ.data = {0.6f, 0.8f};
  const auto j = FaceToJson(f, TemplateJson::kBase64);
  auto bytes = Base64Decode(j["template"]["base64"].get<std::string>());
  ASSERT_TRUE(bytes.ok());
  auto t = FaceTemplate::Deserialize(*bytes);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->model, "mobileface");
  EXPECT_EQ(t->data, f.templ.data);
  EXPECT_FALSE(FaceToJson(f, TemplateJson::kNone).contains("template"));
  EXPECT_EQ(FaceToJson(f, TemplateJson::kFloats)["template"]["data"].size(), 2u);
}

}  // namespace
}  // namespace fk::pipeline
