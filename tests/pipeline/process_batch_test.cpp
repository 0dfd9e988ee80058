// FaceEngine::ProcessBatch (cross-photo batching for the server's dynamic batcher): the same
// faces as Process() photo by photo, with one landmark and one recognizer run for the faces of
// all photos; per-photo errors. Uses the sample photos (data/samples) and the models of
// FK_MODELS_DIR; skipped when they are missing.
#include <gtest/gtest.h>

#include <fstream>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cpu_time.h"
#include "facekit/face.h"
#include "vision/image_ops.h"
#include "../test_assets.h"

namespace fk {
namespace {

using testing::ModelsDir;
using testing::Sample;

bool HaveFiles(std::initializer_list<const char*> rel) {
  for (const char* r : rel)
    if (!std::filesystem::exists(ModelsDir() + "/" + r)) return false;
  return true;
}

#define REQUIRE_FILES(...)                                                                        \
  do {                                                                                            \
    if (!std::filesystem::exists(Sample("samples.jpg")) || !std::filesystem::exists(Sample("sample1.jpg"))) \
      GTEST_SKIP() << "sample photos missing (data/samples/*.jpg)";                               \
    if (!HaveFiles({__VA_ARGS__})) GTEST_SKIP() << "models missing in " << ModelsDir();           \
  } while (0)

std::unique_ptr<FaceEngine> MakeEngine(Tier tier, bool embed = true) {
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.tier = tier;
  c.embed = embed;
  c.num_threads = 2;
  c.calibration = "none";
  auto e = FaceEngine::Create(c);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

// The photos of a batch: group photos, the collage with many small faces (its tile faces are
// cut from a finer copy than the detector's), a photo without a face and an empty image.
struct Photos {
  std::vector<std::string> names;
  std::vector<Image> images;
};

Photos LoadPhotos(std::initializer_list<const char*> files) {
  Photos p;
  for (const char* f : files) {
    auto img = DecodeImageFile(Sample(f));
    EXPECT_TRUE(img.ok()) << f << ": " << img.status().ToString();
    p.names.push_back(f);
    p.images.push_back(img.ok() ? std::move(img).value() : Image());
  }
  // No face: a smooth grey gradient (large enough for the downscaled detection copy).
  Image blank(1400, 900, Rgb{120, 120, 120});
  for (int y = 0; y < blank.height(); ++y)
    for (int x = 0; x < blank.width(); ++x) blank.at(x, y)[0] = static_cast<uint8_t>(60 + (x * 120) / blank.width());
  p.names.push_back("gradient (no face)");
  p.images.push_back(std::move(blank));
  p.names.push_back("empty image");
  p.images.push_back(Image());
  return p;
}

void ExpectSameFaces(const std::vector<Face>& batch, const std::vector<Face>& single, bool templates) {
  ASSERT_EQ(batch.size(), single.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    SCOPED_TRACE("face " + std::to_string(i));
    const Face& a = batch[i];
    const Face& b = single[i];
    // The detector ran over every photo's regions at once: the same boxes and scores as photo by photo.
    EXPECT_EQ(a.box.x0, b.box.x0);
    EXPECT_EQ(a.box.y0, b.box.y0);
    EXPECT_EQ(a.box.x1, b.box.x1);
    EXPECT_EQ(a.box.y1, b.box.y1);
    EXPECT_EQ(a.score, b.score);
    // Landmarks from facemesh run in another batch: equal within float rounding.
    EXPECT_EQ(a.landmark_source, b.landmark_source);
    EXPECT_NEAR(a.mesh_score, b.mesh_score, 1e-4f);
    const float tol = 1e-3f * std::max(1.f, b.box.width());
    for (int k = 0; k < 5; ++k) {
      EXPECT_NEAR(a.landmarks[k].x, b.landmarks[k].x, tol) << "landmark " << k;
      EXPECT_NEAR(a.landmarks[k].y, b.landmarks[k].y, tol) << "landmark " << k;
    }
    ASSERT_EQ(a.mesh.size(), b.mesh.size());
    for (size_t k = 0; k < a.mesh.size(); k += 37) {
      EXPECT_NEAR(a.mesh[k].x, b.mesh[k].x, tol);
      EXPECT_NEAR(a.mesh[k].y, b.mesh[k].y, tol);
    }
    EXPECT_NEAR(a.pose.yaw, b.pose.yaw, 0.05f);
    EXPECT_NEAR(a.pose.pitch, b.pose.pitch, 0.05f);
    EXPECT_NEAR(a.pose.roll, b.pose.roll, 0.05f);
    EXPECT_NEAR(a.quality.score, b.quality.score, 2e-3f);
    if (!templates) {
      EXPECT_TRUE(a.templ.empty());
      continue;
    }
    ASSERT_FALSE(a.templ.empty());
    EXPECT_EQ(a.templ.model, b.templ.model);
    EXPECT_EQ(a.templ.model_version, b.templ.model_version);
    EXPECT_EQ(a.templ.flip_tta, b.templ.flip_tta);
    auto sim = CompareTemplates(a.templ, b.templ);
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();
    EXPECT_GE(*sim, 0.9999f);
  }
}

// ProcessBatch over `p` (optionally listed `repeat` times in one batch) equals Process() of
// each photo; returns the total number of faces.
size_t ExpectBatchEqualsProcess(const FaceEngine& e, const Photos& p, bool templates, int repeat = 1) {
  std::vector<const Image*> ptrs;
  for (int r = 0; r < repeat; ++r)
    for (const Image& im : p.images) ptrs.push_back(&im);
  const auto batch = e.ProcessBatch(ptrs);
  EXPECT_EQ(batch.size(), ptrs.size());
  if (batch.size() != ptrs.size()) return 0;
  size_t faces = 0;
  for (size_t i = 0; i < ptrs.size(); ++i) {
    const size_t j = i % p.images.size();
    SCOPED_TRACE(p.names[j] + " (batch index " + std::to_string(i) + ")");
    const auto single = e.Process(*ptrs[i]);
    if (p.images[j].empty()) {
      // Its own error, as Process() gives it; the other photos are unaffected.
      EXPECT_EQ(single.status().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(batch[i].status().code(), StatusCode::kInvalidArgument) << batch[i].status().ToString();
      continue;
    }
    EXPECT_TRUE(single.ok()) << single.status().ToString();
    EXPECT_TRUE(batch[i].ok()) << batch[i].status().ToString();
    if (!single.ok() || !batch[i].ok()) continue;
    ExpectSameFaces(*batch[i], *single, templates);
    faces += single->size();
  }
  return faces;
}

TEST(ProcessBatch, EmptySpanGivesEmptyResult) {
  REQUIRE_FILES("human/facemesh.json", "human/mobileface.json");
  auto e = MakeEngine(Tier::kFast);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->ProcessBatch({}).empty());
}

TEST(ProcessBatch, FastTierEqualsProcessPhotoByPhoto) {
  REQUIRE_FILES("human/facemesh.json", "human/mobileface.json");
  auto e = MakeEngine(Tier::kFast);
  ASSERT_NE(e, nullptr);
  const Photos p = LoadPhotos({"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg", "sample5.jpg",
                               "sample6.jpg", "samples.jpg"});
  const size_t faces = ExpectBatchEqualsProcess(*e, p, /*templates=*/true);
  // 22 in the group photos + the collage's: more faces than one model run takes (16 on the
  // CPU, 64 with CUDA), so the batch is split between whole photos.
  EXPECT_GE(faces, 30u);
  // The same photos twice in one batch (over 64 faces): the same results for both copies.
  EXPECT_EQ(ExpectBatchEqualsProcess(*e, p, /*templates=*/true, /*repeat=*/2), 2 * faces);
}

// Without templates the quality chip is warped from each photo's own crop image.
TEST(ProcessBatch, WithoutTemplatesEqualsProcess) {
  REQUIRE_FILES("human/facemesh.json");
  auto e = MakeEngine(Tier::kFast, /*embed=*/false);
  ASSERT_NE(e, nullptr);
  const Photos p = LoadPhotos({"sample2.jpg", "samples.jpg", "sample5.jpg"});
  EXPECT_GT(ExpectBatchEqualsProcess(*e, p, /*templates=*/false), 0u);
}

// The accurate tier: a fusion of two recognizers with flip TTA, each part batched over the
// photos (falls back to fr_feature + flip when face-api's model is missing).
TEST(ProcessBatch, AccurateTierEqualsProcess) {
  REQUIRE_FILES("human/facemesh.json", "faceplugin/fr_feature.onnx");
  auto e = MakeEngine(Tier::kAccurate);
  ASSERT_NE(e, nullptr);
  const Photos p = LoadPhotos({"sample1.jpg", "sample4.jpg"});
  EXPECT_GT(ExpectBatchEqualsProcess(*e, p, /*templates=*/true), 0u);
}

TEST(ProcessBatch, NullImagePointerIsItsOwnError) {
  REQUIRE_FILES("human/facemesh.json", "human/mobileface.json");
  auto e = MakeEngine(Tier::kFast);
  ASSERT_NE(e, nullptr);
  auto img = DecodeImageFile(Sample("sample1.jpg"));
  ASSERT_TRUE(img.ok());
  const Image* ptrs[] = {nullptr, &*img};
  const auto r = e->ProcessBatch(ptrs);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(r[1].ok()) << r[1].status().ToString();
  EXPECT_EQ(r[1]->size(), 3u);
}


// Portraits: a 250x250 crop around each face of the group photos (2.2x the face box, as LFW's
// photos frame their faces), the server's common case of one face per photo.
std::vector<Image> Portraits(const FaceEngine& e, size_t count) {
  std::vector<Image> out;
  for (const char* f : {"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg", "sample5.jpg"}) {
    auto img = DecodeImageFile(Sample(f));
    EXPECT_TRUE(img.ok());
    if (!img.ok()) return out;
    auto faces = e.Process(*img);
    EXPECT_TRUE(faces.ok());
    if (!faces.ok()) return out;
    for (const Face& face : *faces) {
      const float cx = (face.box.x0 + face.box.x1) / 2, cy = (face.box.y0 + face.box.y1) / 2;
      const float h = 1.1f * std::max(face.box.width(), face.box.height());
      auto crop = vision::CropResizeImage(*img, BoxF{cx - h, cy - h, cx + h, cy + h}, 250, 250);
      EXPECT_TRUE(crop.ok());
      if (crop.ok()) out.push_back(std::move(crop).value());
      if (out.size() == count) return out;
    }
  }
  return out;
}

TEST(ProcessBatch, PortraitsEqualProcess) {
  REQUIRE_FILES("human/facemesh.json", "human/mobileface.json");
  auto e = MakeEngine(Tier::kFast);
  ASSERT_NE(e, nullptr);
  Photos p;
  p.images = Portraits(*e, 8);
  ASSERT_EQ(p.images.size(), 8u);
  for (size_t i = 0; i < p.images.size(); ++i) p.names.push_back("portrait " + std::to_string(i));
  EXPECT_GE(ExpectBatchEqualsProcess(*e, p, /*templates=*/true), 8u);
}

// A/B timing (not a check; run by hand): Process() photo by photo vs one ProcessBatch() of the
// same 8 photos (group photos; then 8 portraits of one face each), fast tier (FK_BENCH_TIER:
// balanced, accurate), 1 and 2 model threads, interleaved, best of FK_BENCH_REPS (5); process
// CPU time and wall time per photo.
//   FK_MODELS_DIR=models build/fk_pipeline_tests --gtest_also_run_disabled_tests
//     --gtest_filter='ProcessBatch.DISABLED_Speed'   (one command line)
// The two halves on encoded bytes, many photos in one FinishBatch, equal ProcessFile() of each
// file (the same decodes, incl. the finer second decode for the collage's small faces).
TEST(DetectEncoded, FinishBatchEqualsProcessFile) {
  REQUIRE_FILES("human/mobileface.json", "human/facemesh.json");
  auto e = MakeEngine(Tier::kFast);
  ASSERT_TRUE(e);
  const std::vector<std::string> files = {"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg",
                                          "sample5.jpg", "sample6.jpg", "samples.jpg"};
  std::vector<DetectedPhoto> photos;
  int decoded_twice = 0;
  for (const auto& f : files) {
    std::ifstream in(Sample(f), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto d = e->DetectEncoded(bytes, DecodeOptions{.max_side = 0}, f);
    ASSERT_TRUE(d.ok()) << f << ": " << d.status().ToString();
    EXPECT_GT(d->faces(), 0) << f;
    decoded_twice += d->stats().decodes == 2;
    photos.push_back(std::move(*d));
  }
  EXPECT_GE(decoded_twice, 1);  // the collage's small faces need the finer decode
  std::vector<DetectedPhoto*> ptrs;
  for (auto& p : photos) ptrs.push_back(&p);
  DetectedPhoto empty;
  ptrs.push_back(&empty);
  ptrs.push_back(nullptr);
  const auto batch = e->FinishBatch(ptrs);
  ASSERT_EQ(batch.size(), ptrs.size());
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    const auto single = e->ProcessFile(Sample(files[i]));
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    ASSERT_TRUE(batch[i].ok()) << batch[i].status().ToString();
    ExpectSameFaces(*batch[i], *single, /*templates=*/true);
  }
  EXPECT_EQ(batch[files.size()].status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(batch[files.size() + 1].status().code(), StatusCode::kInvalidArgument);
  // Decode errors as DecodeImage gives them, naming the photo.
  const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  auto bad = e->DetectEncoded(junk, DecodeOptions{}, "junk.bin");
  EXPECT_EQ(bad.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(bad.status().message().find("junk.bin"), std::string::npos);
}

TEST(ProcessBatch, DISABLED_Speed) {
  REQUIRE_FILES("human/facemesh.json", "human/mobileface.json");
  const char* reps_env = std::getenv("FK_BENCH_REPS");
  const int reps = reps_env ? std::max(1, std::atoi(reps_env)) : 5;
  std::vector<Image> groups;
  for (const char* f : {"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg", "sample5.jpg", "sample6.jpg",
                        "samples.jpg", "sample2.jpg"}) {
    auto img = DecodeImageFile(Sample(f));
    ASSERT_TRUE(img.ok());
    groups.push_back(std::move(img).value());
  }
  auto wall_ms = [] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  for (int threads : {1, 2}) {
    FaceConfig c;
    c.models_dir = ModelsDir();
    c.tier = Tier::kFast;
    if (const char* t = std::getenv("FK_BENCH_TIER"); t && std::string(t) == "balanced") c.tier = Tier::kBalanced;
    if (const char* t = std::getenv("FK_BENCH_TIER"); t && std::string(t) == "accurate") c.tier = Tier::kAccurate;
    c.num_threads = threads;
    c.calibration = "none";
    auto e = FaceEngine::Create(c);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    c.landmarks = false;
    c.embed = false;
    auto det = FaceEngine::Create(c);  // detection only: the part ProcessBatch does not batch
    ASSERT_TRUE(det.ok());
    const std::vector<Image> portraits = Portraits(**e, 8);
    ASSERT_EQ(portraits.size(), 8u);
    for (const std::vector<Image>* set : {static_cast<const std::vector<Image>*>(&groups), &portraits}) {
      const std::vector<Image>& images = *set;
      std::vector<const Image*> ptrs;
      for (const Image& im : images) ptrs.push_back(&im);
      const double n = static_cast<double>(images.size());
      size_t faces = 0;
      for (const Image& im : images) faces += (*e)->Process(im)->size();  // warm-up
      (void)(*e)->ProcessBatch(ptrs);
      double best[3] = {1e30, 1e30, 1e30}, best_wall[3] = {1e30, 1e30, 1e30};
      for (int r = 0; r < reps; ++r) {
        for (int mode = 0; mode < 3; ++mode) {
          const double c0 = ProcessCpuMs(), w0 = wall_ms();
          if (mode == 0) {
            for (const Image& im : images) ASSERT_TRUE((*e)->Process(im).ok());
          } else if (mode == 1) {
            for (const auto& res : (*e)->ProcessBatch(ptrs)) ASSERT_TRUE(res.ok());
          } else {
            for (const Image& im : images) ASSERT_TRUE((*det)->Process(im).ok());
          }
          best[mode] = std::min(best[mode], ProcessCpuMs() - c0);
          best_wall[mode] = std::min(best_wall[mode], wall_ms() - w0);
        }
      }
      std::printf("%s, %s, threads %d, %zu photos, %zu faces, best of %d, ms per photo CPU (wall): Process one by one "
                  "%.2f (%.2f); ProcessBatch %.2f (%.2f); detection alone %.2f (%.2f)\n",
                  TierName(c.tier), set == &groups ? "group photos" : "portraits", threads, images.size(), faces, reps, best[0] / n,
                  best_wall[0] / n, best[1] / n, best_wall[1] / n, best[2] / n, best_wall[2] / n);
    }
  }
}

}  // namespace
}  // namespace fk
