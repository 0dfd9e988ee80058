// Detector batching: FaceDetector::DetectPrepared over several photos (one model run over their
// regions, fr_detect's keypoint and verification runs over all their faces) gives each photo the
// detections Detect() gives it alone; FaceEngine's batching across threads
// (FaceConfig::detect_batching) gives every caller its own faces, in shared detector runs.
// Uses the sample photos (data/samples) and the models of FK_MODELS_DIR; skipped without them.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "facekit/face.h"
#include "pipeline/pipeline_internal.h"
#include "../test_assets.h"

namespace fk {
namespace {

using testing::ModelsDir;
using testing::Sample;

const char* const kFiles[] = {"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg",
                              "sample5.jpg", "sample6.jpg", "samples.jpg"};

bool Have(const std::string& rel) { return std::filesystem::exists(ModelsDir() + "/" + rel); }

std::vector<Image> LoadSamples() {
  std::vector<Image> out;
  for (const char* f : kFiles) {
    auto img = DecodeImageFile(Sample(f));
    if (!img.ok()) return {};
    out.push_back(std::move(img).value());
  }
  return out;
}

void ExpectSameDetections(const std::vector<pipeline::Detection>& a, const std::vector<pipeline::Detection>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    // The same model arithmetic per region whatever the batch: equal to float rounding.
    EXPECT_NEAR(a[i].box.x0, b[i].box.x0, 1e-3f) << "face " << i;
    EXPECT_NEAR(a[i].box.y0, b[i].box.y0, 1e-3f) << "face " << i;
    EXPECT_NEAR(a[i].box.x1, b[i].box.x1, 1e-3f) << "face " << i;
    EXPECT_NEAR(a[i].box.y1, b[i].box.y1, 1e-3f) << "face " << i;
    EXPECT_NEAR(a[i].score, b[i].score, 1e-5f) << "face " << i;
    EXPECT_EQ(a[i].keypoints_estimated, b[i].keypoints_estimated) << "face " << i;
    for (int k = 0; k < 6; ++k) {
      EXPECT_NEAR(a[i].keypoints[k].x, b[i].keypoints[k].x, 1e-3f) << "face " << i << " keypoint " << k;
      EXPECT_NEAR(a[i].keypoints[k].y, b[i].keypoints[k].y, 1e-3f) << "face " << i << " keypoint " << k;
    }
  }
}

// DetectPrepared over all sample photos (group photos, the collage whose tiles find its small
// faces) equals Detect() of each photo, for both detectors and with 1 and 2 model threads (one
// region per run: views into each photo's input / all regions of all photos copied into runs of
// up to 64). Detect() is DetectPrepared of one photo, so the reference is Detect() of a detector
// with the other thread count, whose runs take the regions the other way.
// With 8-bit inputs (pixels) the model cuts the regions itself (Model::RunWarps, as on a GPU):
// one run then cuts the regions of several photos.
class DetectPreparedTest : public ::testing::TestWithParam<std::tuple<std::string, int, int>> {};

TEST_P(DetectPreparedTest, EqualsDetectPhotoByPhoto) {
  const auto& [model, threads, pixels] = GetParam();
  if (!Have(model == "fr_detect" ? "faceplugin/fr_detect.onnx" : "human/" + model + ".json"))
    GTEST_SKIP() << model << " missing in " << ModelsDir();
  const std::vector<Image> images = LoadSamples();
  if (images.empty()) GTEST_SKIP() << "sample photos missing (data/samples)";
  ModelOptions mo;
  mo.num_threads = threads;
  mo.pixel_inputs = pixels;
  DetectorConfig dc;
  dc.model = model;
  auto det = pipeline::FaceDetector::Load(ModelsDir(), mo, dc);
  ASSERT_TRUE(det.ok()) << det.status().ToString();
  const auto& d = **det;
  mo.num_threads = threads == 1 ? 2 : 1;
  auto other = pipeline::FaceDetector::Load(ModelsDir(), mo, dc);
  ASSERT_TRUE(other.ok()) << other.status().ToString();

  std::vector<pipeline::DetectorInput> in(images.size());
  std::vector<pipeline::DetectorInput*> ptrs;
  size_t regions = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    ASSERT_TRUE(d.PrepareInput(images[i], &in[i]).ok());
    EXPECT_EQ(in[i].warps, pixels == 1);  // no CPU crops were made for the model-cut regions
    EXPECT_EQ(in[i].input.empty(), pixels == 1);
    regions += in[i].regions.size();
    ptrs.push_back(&in[i]);
  }
  EXPECT_GT(regions, images.size());  // some photos are large enough for the tiles
  const auto batch = d.DetectPrepared(ptrs);
  ASSERT_EQ(batch.size(), images.size());
  size_t faces = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    SCOPED_TRACE(kFiles[i]);
    auto single = (*other)->Detect(images[i]);
    ASSERT_TRUE(single.ok()) << single.status().ToString();
    ASSERT_TRUE(batch[i].ok()) << batch[i].status().ToString();
    ExpectSameDetections(*batch[i], *single);
    faces += single->size();
  }
  EXPECT_GE(faces, 30u);
}

INSTANTIATE_TEST_SUITE_P(Detectors, DetectPreparedTest,
                         ::testing::Combine(::testing::Values("fr_detect", "blazeface-back"), ::testing::Values(1, 2),
                                            ::testing::Values(0, 1)),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + "_threads" + std::to_string(std::get<1>(info.param)) +
                                           (std::get<2>(info.param) ? "_modelcrops" : "");
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// A photo whose input was not made by this detector gets its own InvalidArgument; the others
// are detected as usual.
TEST(DetectPrepared, ABadInputIsItsPhotosOwnError) {
  if (!Have("human/blazeface-back.json")) GTEST_SKIP() << "models missing in " << ModelsDir();
  auto img = DecodeImageFile(Sample("sample1.jpg"));
  if (!img.ok()) GTEST_SKIP() << "sample photos missing";
  DetectorConfig dc;
  dc.model = "blazeface-back";
  ModelOptions mo;
  mo.num_threads = 1;
  auto det = pipeline::FaceDetector::Load(ModelsDir(), mo, dc);
  ASSERT_TRUE(det.ok()) << det.status().ToString();
  pipeline::DetectorInput good, unprepared, wrong_shape;
  ASSERT_TRUE((*det)->PrepareInput(*img, &good).ok());
  wrong_shape = good;
  wrong_shape.regions.push_back(wrong_shape.regions[0]);  // more regions than the input holds
  pipeline::DetectorInput* ptrs[] = {&unprepared, &good, nullptr, &wrong_shape};
  const auto r = (*det)->DetectPrepared(ptrs);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r[0].status().message().find("PrepareInput"), std::string::npos) << r[0].status().ToString();
  ASSERT_TRUE(r[1].ok()) << r[1].status().ToString();
  EXPECT_EQ(r[1]->size(), 3u);
  EXPECT_EQ(r[2].status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r[3].status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*det)->DetectPrepared({}).empty());
}

TEST(DetectBatchingConfig, JsonRoundTripAndValidation) {
  auto c = FaceConfig::FromJson(R"({"detect_batching": {"max_batch": 16, "max_delay_us": 250, "workers": 3}})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->detect_batching.max_batch, 16);
  EXPECT_EQ(c->detect_batching.max_delay_us, 250);
  EXPECT_EQ(c->detect_batching.workers, 3);
  auto again = FaceConfig::FromJson(c->ToJson());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->detect_batching.max_batch, 16);
  EXPECT_EQ(again->detect_batching.max_delay_us, 250);
  EXPECT_EQ(again->detect_batching.workers, 3);
  const FaceConfig d;
  EXPECT_EQ(d.detect_batching.max_batch, 0);  // auto
  for (const char* bad : {R"({"detect_batching": {"max_batch": -1}})", R"({"detect_batching": {"max_batch": 5000}})",
                          R"({"detect_batching": {"workers": 0}})", R"({"detect_batching": {"max_delay_us": -5}})",
                          R"({"detect_batching": {"size": 4}})", R"({"detect_batching": 4})",
                          R"({"detect_batching": {"max_batch": "32"}})"}) {
    auto r = FaceConfig::FromJson(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("detect_batching"), std::string::npos) << r.status().ToString();
  }
}

FaceConfig EngineConfig(int detect_max_batch) {
  FaceConfig c;
  c.models_dir = ModelsDir();
  c.num_threads = 1;
  c.calibration = "none";
  c.detect_batching.max_batch = detect_max_batch;
  c.detect_batching.max_delay_us = 300000;  // long: the threads' photos gather into shared runs
  c.detect_batching.workers = 1;
  return c;
}

// Auto is off on the CPU; 1 is off; > 1 is on.
TEST(DetectBatching, AutoIsOffOnTheCpu) {
  if (!Have("human/facemesh.json") || !Have("human/mobileface.json")) GTEST_SKIP() << "models missing";
  for (int mb : {0, 1}) {
    auto e = FaceEngine::Create(EngineConfig(mb));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_FALSE((*e)->detect_batching_stats().enabled) << mb;
    EXPECT_EQ((*e)->description().find("detector batching"), std::string::npos);
  }
  auto e = FaceEngine::Create(EngineConfig(8));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE((*e)->detect_batching_stats().enabled);
  EXPECT_EQ((*e)->detect_batching_stats().max_batch, 8);
  EXPECT_NE((*e)->description().find("detector batching 8"), std::string::npos) << (*e)->description();
}

// Threads calling ProcessFile / Process / DetectEncoded at once on an engine with detector
// batching: each gets the faces an engine without batching gives for its photo, and the
// detector ran fewer times than there were photos.
TEST(DetectBatching, ConcurrentCallersGetTheirOwnFacesFromSharedDetectorRuns) {
  if (!Have("human/facemesh.json") || !Have("human/mobileface.json")) GTEST_SKIP() << "models missing";
  const std::vector<Image> images = LoadSamples();
  if (images.empty()) GTEST_SKIP() << "sample photos missing (data/samples)";
  auto plain = FaceEngine::Create(EngineConfig(1));
  auto batched = FaceEngine::Create(EngineConfig(static_cast<int>(std::size(kFiles))));
  ASSERT_TRUE(plain.ok() && batched.ok());
  const int n = static_cast<int>(std::size(kFiles));
  std::vector<Result<std::vector<Face>>> want, got(n, Result<std::vector<Face>>(std::vector<Face>()));
  for (int i = 0; i < n; ++i) want.push_back((*plain)->ProcessFile(Sample(kFiles[i])));
  std::barrier start(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      // Three entry points share the one queue: ProcessFile, Process (the box-downscaled
      // detection copy of a decoded photo) and DetectEncoded + FinishBatch.
      if (i % 3 == 0) {
        got[i] = (*batched)->ProcessFile(Sample(kFiles[i]));
      } else if (i % 3 == 1) {
        got[i] = (*batched)->Process(images[i]);
      } else {
        std::ifstream f(Sample(kFiles[i]), std::ios::binary);
        const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        auto d = (*batched)->DetectEncoded(bytes, DecodeOptions{}, kFiles[i]);
        if (!d.ok()) {
          got[i] = d.status();
          return;
        }
        DetectedPhoto* one[] = {&*d};
        got[i] = std::move((*batched)->FinishBatch(one)[0]);
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) {
    SCOPED_TRACE(kFiles[i]);
    ASSERT_TRUE(want[i].ok()) << want[i].status().ToString();
    ASSERT_TRUE(got[i].ok()) << got[i].status().ToString();
    // Process() detects on the photo's box-downscaled copy, ProcessFile on a DCT-scaled decode:
    // compare with the plain engine's result for the same entry point.
    const auto& ref = i % 3 == 1 ? (*plain)->Process(images[i]) : want[i];
    ASSERT_TRUE(ref.ok());
    ASSERT_EQ(got[i]->size(), ref->size());
    for (size_t k = 0; k < ref->size(); ++k) {
      EXPECT_NEAR((*got[i])[k].box.x0, (*ref)[k].box.x0, 1e-2f);
      EXPECT_NEAR((*got[i])[k].box.y1, (*ref)[k].box.y1, 1e-2f);
      EXPECT_NEAR((*got[i])[k].score, (*ref)[k].score, 1e-5f);
      auto sim = CompareTemplates((*got[i])[k].templ, (*ref)[k].templ);
      ASSERT_TRUE(sim.ok());
      EXPECT_GE(*sim, 0.9999f);
    }
  }
  const DetectBatchingStats s = (*batched)->detect_batching_stats();
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.photos, n);
  EXPECT_LT(s.batches, n);  // shared runs: the 300-ms delay lets the started threads' photos gather
  EXPECT_GE(s.max_batch_seen, 2);
  EXPECT_EQ(s.queued, 0);
  EXPECT_NEAR(s.mean_batch, static_cast<double>(s.photos) / s.batches, 1e-9);
}

}  // namespace
}  // namespace fk
