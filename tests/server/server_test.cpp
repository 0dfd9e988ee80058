// The processing server end to end: a real HTTP server on a free port with the fast tier's
// models, driven by an httplib client. Skipped when the sample photos or models are missing.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "facekit/face.h"
#include "facekit/gallery.h"
#include "facekit/image.h"
#include "server/server.h"
#include "../test_assets.h"

namespace fk::server {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* kKey = "test-key-0123456789abcdef";
const char* kKey2 = "other-key-0123456789abcdef";

using testing::ModelsDir;
using testing::Sample;
std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

bool HaveAssets() {
  return fs::exists(Sample("sample1.jpg")) && fs::exists(ModelsDir() + "/human/mobileface.json") &&
         fs::exists(ModelsDir() + "/human/facemesh.json");
}

fs::path TempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("fk_server_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

ServerConfig BaseConfig(const fs::path& dir) {
  ServerConfig c;
  c.port = 0;
  c.auth = "required";
  c.api_keys_file = (dir / "keys.json").string();
  std::ofstream(c.api_keys_file) << R"({"keys": [{"user": "alice", "key": ")" << kKey
                                 << R"("}, {"user": "bob", "key": ")" << kKey2 << R"("}]})";
  c.face.models_dir = ModelsDir();
  c.face.tier = Tier::kFast;
  c.face.num_threads = 2;
  c.face.calibration = "none";
  c.gpu_sample_ms = 0;
  return c;
}

httplib::Headers Auth(const char* key = kKey) { return {{"X-API-Key", key}}; }

TEST(ServerConfig, ParsesAndValidatesJson) {
  auto c = ServerConfig::FromJson(R"({"listen": {"host": "0.0.0.0", "port": 9000}, "auth": "none",
      "limits": {"max_concurrent": 8, "max_per_user": 2, "queue_timeout_ms": 500, "max_image_bytes": 100000},
      "batching": {"max_batch": 32, "max_delay_us": 500, "workers": 2}, "face": {"tier": "balanced"}})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->limits.max_concurrent, 8);
  EXPECT_EQ(c->limits.max_per_user, 2);
  EXPECT_EQ(c->limits.queue_timeout.count(), 500);
  EXPECT_EQ(c->max_image_bytes, 100000);
  EXPECT_EQ(c->batching.max_batch, 32);
  EXPECT_EQ(c->batching.max_delay.count(), 500);
  EXPECT_EQ(c->batching.workers, 2);
  EXPECT_EQ(c->face.tier, Tier::kBalanced);

  auto bad = ServerConfig::FromJson(R"({"limits": {"max_concurent": 8}, "auth": "none"})");
  EXPECT_NE(bad.status().message().find("limits.max_concurent"), std::string::npos) << bad.status().ToString();
  bad = ServerConfig::FromJson(R"({"auth": "none", "listen": {"port": "80"}})");
  EXPECT_NE(bad.status().message().find("listen.port"), std::string::npos);
  bad = ServerConfig::FromJson(R"({})");  // auth required by default, but no keys file
  EXPECT_NE(bad.status().message().find("api_keys_file"), std::string::npos);
  bad = ServerConfig::FromJson(R"({"auth": "none", "batching": {"max_batch": 0}})");
  EXPECT_NE(bad.status().message().find("max_batch"), std::string::npos);
  bad = ServerConfig::FromJson(R"({"auth": "none", "face": {"tier": "huge"}})");
  EXPECT_NE(bad.status().message().find("face"), std::string::npos);
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveAssets()) GTEST_SKIP() << "sample photos or human models missing (run scripts/fetch_models.sh)";
    dir_ = TempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    if (server_) server_->Stop(5000);
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void StartServer(const ServerConfig& c) {
    auto s = Server::Create(c);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }
  httplib::Client Client() {
    httplib::Client cli("127.0.0.1", server_->port());
    cli.set_read_timeout(120, 0);
    return cli;
  }
  fs::path dir_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, FacesMatchTheLibraryAndNeedAKey) {
  StartServer(BaseConfig(dir_));
  auto cli = Client();
  const std::string photo = ReadFile(Sample("sample1.jpg"));
  // No key, a wrong key: 401 with a JSON error.
  auto r = cli.Post("/v1/faces", photo, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(r->body.find("API key"), std::string::npos);
  r = cli.Post("/v1/faces", Auth("not-a-valid-key-at-all"), photo, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  // Bearer works as well as X-API-Key.
  r = cli.Post("/v1/faces", {{"Authorization", std::string("Bearer ") + kKey}}, photo, "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);

  // The same photo through the library with the same config.
  FaceConfig fc = BaseConfig(dir_).face;
  auto engine = FaceEngine::Create(fc);
  ASSERT_TRUE(engine.ok());
  ProcessStats st;
  auto faces = (*engine)->ProcessFile(Sample("sample1.jpg"), &st);  // the server decodes as ProcessFile does
  ASSERT_TRUE(faces.ok());
  ASSERT_EQ(j["faces"].size(), faces->size());
  ASSERT_GE(faces->size(), 1u);
  auto full = DecodeImageFile(Sample("sample1.jpg"), DecodeOptions{});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(j["image"]["width"], full->source_width());
  for (size_t i = 0; i < faces->size(); ++i) {
    const json& jf = j["faces"][i];
    EXPECT_NEAR(jf["box"][0].get<float>(), (*faces)[i].box.x0, 0.01);
    EXPECT_NEAR(jf["box"][3].get<float>(), (*faces)[i].box.y1, 0.01);
    EXPECT_EQ(jf["template"]["model"], "mobileface");
    EXPECT_EQ(jf["template"]["dim"], 256);
  }
  // ?templates=0 leaves templates out.
  r = cli.Post("/v1/faces?templates=0", Auth(), photo, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_FALSE(json::parse(r->body)["faces"][0].contains("template"));

  // The returned template verifies against itself through /v1/verify (JSON form) and has the
  // library's similarity against another face.
  const std::string t0 = j["faces"][0]["template"]["base64"];
  const std::string t1 = j["faces"].size() > 1 ? j["faces"][1]["template"]["base64"].get<std::string>() : t0;
  r = cli.Post("/v1/verify", Auth(), json({{"a", t0}, {"b", t1}}).dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json v = json::parse(r->body);
  auto expected = CompareTemplates((*faces)[0].templ, faces->size() > 1 ? (*faces)[1].templ : (*faces)[0].templ);
  ASSERT_TRUE(expected.ok());
  EXPECT_NEAR(v["similarity"].get<float>(), *expected, 1e-4);
  r = cli.Post("/v1/verify", Auth(), json({{"a", t0}, {"b", "!!!"}}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

// With attributes in the face config, /v1/faces (the batcher's FinishBatch path) returns what
// the library gives for the same photo.
TEST_F(ServerTest, FacesCarryTheAttributesTheConfigAsksFor) {
  if (!fs::exists(ModelsDir() + "/human/emotion.json") || !fs::exists(ModelsDir() + "/human/faceres.json"))
    GTEST_SKIP() << "attribute models missing";
  ServerConfig c = BaseConfig(dir_);
  c.face.attributes.age_gender = true;
  c.face.attributes.emotion = true;
  StartServer(c);
  auto cli = Client();
  auto r = cli.Post("/v1/faces?templates=0", Auth(), ReadFile(Sample("sample2.jpg")), "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  auto engine = FaceEngine::Create(c.face);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto faces = (*engine)->ProcessFile(Sample("sample2.jpg"));
  ASSERT_TRUE(faces.ok());
  ASSERT_EQ(j["faces"].size(), faces->size());
  ASSERT_GE(faces->size(), 1u);
  for (size_t i = 0; i < faces->size(); ++i) {
    const json& a = j["faces"][i]["attributes"];
    const FaceAttributes& want = (*faces)[i].attributes;
    EXPECT_EQ(a["gender"], want.gender);
    EXPECT_NEAR(a["male"].get<float>(), want.male, 1e-4);
    EXPECT_NEAR(a["age"].get<float>(), want.age, 0.11);
    EXPECT_EQ(a["emotion"], EmotionName(want.top_emotion()));
    EXPECT_FALSE(a.contains("real"));  // liveness not asked for
  }
  // ?attributes= picks a subset for this request; one the server does not compute is a 400.
  r = cli.Post("/v1/faces?templates=0&attributes=emotion", Auth(), ReadFile(Sample("sample2.jpg")), "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  for (const json& f : json::parse(r->body)["faces"]) {
    EXPECT_TRUE(f["attributes"].contains("emotion"));
    EXPECT_FALSE(f["attributes"].contains("age"));
  }
  r = cli.Post("/v1/faces?attributes=none", Auth(), ReadFile(Sample("sample2.jpg")), "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  for (const json& f : json::parse(r->body)["faces"]) EXPECT_FALSE(f.contains("attributes"));
  r = cli.Post("/v1/faces?attributes=liveness", Auth(), ReadFile(Sample("sample2.jpg")), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("liveness"), std::string::npos) << r->body;
  r = cli.Post("/v1/faces?attributes=race", Auth(), ReadFile(Sample("sample2.jpg")), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(ServerTest, VerifyTwoPhotosAsMultipart) {
  StartServer(BaseConfig(dir_));
  auto cli = Client();
  const std::string a = ReadFile(Sample("sample2.jpg"));
  httplib::MultipartFormDataItems items = {{"a", a, "a.jpg", "image/jpeg"}, {"b", a, "b.jpg", "image/jpeg"}};
  auto r = cli.Post("/v1/verify", Auth(), items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json v = json::parse(r->body);
  EXPECT_GT(v["similarity"].get<float>(), 0.999f);
  EXPECT_TRUE(v["match"].get<bool>());
  items = {{"a", a, "a.jpg", "image/jpeg"}};
  r = cli.Post("/v1/verify", Auth(), items);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'b'"), std::string::npos);
}

// Several photos in one request: each gets what /v1/faces gives it, a bad one its own error.
TEST_F(ServerTest, BatchRequestAnswersEveryPhoto) {
  ServerConfig c = BaseConfig(dir_);
  c.max_batch_photos = 5;
  StartServer(c);
  auto cli = Client();
  const std::vector<std::string> names = {"sample1.jpg", "sample4.jpg", "samples.jpg"};
  httplib::MultipartFormDataItems items;
  std::vector<size_t> expected;
  for (const auto& n : names) {
    const std::string bytes = ReadFile(Sample(n));
    items.push_back({"photo", bytes, n, "image/jpeg"});
    auto r = cli.Post("/v1/faces", Auth(), bytes, "image/jpeg");
    ASSERT_TRUE(r && r->status == 200);
    expected.push_back(json::parse(r->body)["faces"].size());
  }
  items.push_back({"photo", "not an image", "junk.bin", "application/octet-stream"});
  items.push_back({"photo", "also not an image", "bad\xff\xfename.jpg", "image/jpeg"});  // not UTF-8
  auto r = cli.Post("/v1/faces/batch", Auth(), items);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  ASSERT_EQ(j["results"].size(), 5u);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(j["results"][i]["name"], names[i]);
    ASSERT_TRUE(j["results"][i].contains("faces")) << j["results"][i].dump();
    EXPECT_EQ(j["results"][i]["faces"].size(), expected[i]);
  }
  EXPECT_EQ(j["results"][3]["error"]["code"], "Unsupported");
  EXPECT_NE(j["results"][3]["error"]["message"].get<std::string>().find("junk.bin"), std::string::npos);
  EXPECT_EQ(j["results"][4]["error"]["code"], "Unsupported");  // answered, the name's bad bytes replaced
  // Over max_batch_photos: 413, nothing processed.
  for (int k = 0; k < 1; ++k) items.push_back(items[0]);
  r = cli.Post("/v1/faces/batch", Auth(), items);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("max_batch_photos"), std::string::npos);
}

TEST_F(ServerTest, BadImagesGetClearErrors) {
  ServerConfig c = BaseConfig(dir_);
  const std::string photo = ReadFile(Sample("sample1.jpg"));
  c.max_image_bytes = static_cast<int64_t>(photo.size()) - 1;
  c.max_image_pixels = 1'000'000'000;
  StartServer(c);
  auto cli = Client();
  auto r = cli.Post("/v1/faces", Auth(), photo, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("max_image_bytes"), std::string::npos);
  r = cli.Post("/v1/faces", Auth(), "this is not an image", "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  r = cli.Post("/v1/faces", Auth(), photo.substr(0, photo.size() / 3), "image/jpeg");  // truncated JPEG
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status == 400 || r->status == 200) << r->status << " " << r->body;  // libjpeg may pad it
  r = cli.Post("/v1/faces", Auth(), "", "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(ServerTest, PixelLimitIsCheckedFromTheHeader) {
  ServerConfig c = BaseConfig(dir_);
  c.max_image_pixels = 10'000;  // every sample photo is larger
  StartServer(c);
  auto cli = Client();
  auto r = cli.Post("/v1/faces", Auth(), ReadFile(Sample("sample1.jpg")), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;
}

// 12 clients at once: every answer is right, and the batcher formed batches of several photos.
TEST_F(ServerTest, ConcurrentRequestsAreBatched) {
  ServerConfig c = BaseConfig(dir_);
  c.batching.max_batch = 8;
  c.batching.max_delay = std::chrono::milliseconds(30);
  StartServer(c);
  const std::vector<std::string> names = {"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg"};
  std::vector<std::string> photos;
  std::vector<size_t> expected;
  {
    auto cli = Client();
    for (const auto& n : names) {
      photos.push_back(ReadFile(Sample(n)));
      auto r = cli.Post("/v1/faces", Auth(), photos.back(), "image/jpeg");
      ASSERT_TRUE(r && r->status == 200);
      expected.push_back(json::parse(r->body)["faces"].size());
    }
  }
  std::atomic<int> wrong{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)
    threads.emplace_back([&, t] {
      auto cli = Client();
      for (int i = 0; i < 3; ++i) {
        const size_t k = static_cast<size_t>(t + i) % photos.size();
        auto r = cli.Post("/v1/faces?templates=0", Auth(t % 2 ? kKey : kKey2), photos[k], "image/jpeg");
        if (!r || r->status != 200 || json::parse(r->body)["faces"].size() != expected[k]) ++wrong;
        else ++ok;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(ok.load(), 36);
  auto cli = Client();
  auto r = cli.Get("/status", Auth());
  ASSERT_TRUE(r && r->status == 200);
  const json s = json::parse(r->body);
  EXPECT_EQ(s["batching"]["photos"].get<int>(), 40);
  EXPECT_GT(s["batching"]["max_batch_seen"].get<int>(), 1);
  EXPECT_LE(s["batching"]["max_batch_seen"].get<int>(), 8);
  EXPECT_EQ(s["requests"]["by_status"]["200"].get<int>(), 40);
  EXPECT_EQ(s["jobs"]["running"].get<int>(), 0);
  EXPECT_FALSE(s["gpu"]["available"].get<bool>() && s["gpu"]["gpus"].empty());
  // The engine's steps: 40 photos decoded on the request threads, their faces cut and embedded
  // by the batch workers (templates=0 still makes them: quality uses the chip).
  ASSERT_TRUE(s.contains("steps")) << s.dump();
  EXPECT_EQ(s["steps"]["decode"]["items"].get<int>(), 40);
  EXPECT_GT(s["steps"]["decode"]["wall_s"].get<double>(), 0.0);
  EXPECT_GT(s["steps"]["mesh_crop"]["items"].get<int>(), 0);
  EXPECT_GE(s["steps"]["quality"]["items"].get<int>(), s["steps"]["embed_crop"]["items"].get<int>() > 0 ? 1 : 0);
  EXPECT_LE(s["steps"]["mesh_run"]["calls"].get<int>(), 2 * s["batching"]["batches"].get<int>() + 40);
  // /status needs a key too.
  r = cli.Get("/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  // /metrics: the same numbers in Prometheus text form.
  r = cli.Get("/metrics", Auth());
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_NE(r->body.find("# TYPE facekit_requests_total counter"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("facekit_requests_total{status=\"200\"} 40\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("facekit_batch_photos_total 40\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("facekit_jobs_running 0\n"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("facekit_request_latency_ms{quantile=\"0.99\"}"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("facekit_step_seconds_total{step=\"mesh_crop\"} "), std::string::npos) << r->body;
  EXPECT_EQ(cli.Get("/metrics")->status, 401);
}

// Detector batching across request threads (face.detect_batching): concurrent requests get
// the faces a lone request gets, /status counts the shared detector runs, /metrics has them; a
// batch request's photos share detector runs too. Off (auto on the CPU) it says so.
TEST_F(ServerTest, DetectorRunsAreSharedByConcurrentRequests) {
  ServerConfig c = BaseConfig(dir_);
  c.face.num_threads = 1;
  c.face.detect_batching.max_batch = 8;
  c.face.detect_batching.max_delay_us = 20000;
  c.face.detect_batching.workers = 1;
  StartServer(c);
  const std::vector<std::string> names = {"sample1.jpg", "sample2.jpg", "sample3.jpg", "sample4.jpg", "samples.jpg"};
  std::vector<std::string> photos;
  std::vector<json> expected;
  {
    auto cli = Client();
    for (const auto& n : names) {
      photos.push_back(ReadFile(Sample(n)));
      auto r = cli.Post("/v1/faces?templates=0", Auth(), photos.back(), "image/jpeg");
      ASSERT_TRUE(r && r->status == 200);
      expected.push_back(json::parse(r->body)["faces"]);
    }
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t)
    threads.emplace_back([&, t] {
      auto cli = Client();
      for (int i = 0; i < 2; ++i) {
        const size_t k = static_cast<size_t>(t + i) % photos.size();
        auto r = cli.Post("/v1/faces?templates=0", Auth(), photos[k], "image/jpeg");
        if (!r || r->status != 200) {
          ++wrong;
          continue;
        }
        const json faces = json::parse(r->body)["faces"];
        if (faces.size() != expected[k].size()) {
          ++wrong;
          continue;
        }
        for (size_t f = 0; f < faces.size(); ++f)
          if (std::abs(faces[f]["box"][0].get<double>() - expected[k][f]["box"][0].get<double>()) > 0.01) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  auto cli = Client();
  auto r = cli.Get("/status", Auth());
  ASSERT_TRUE(r && r->status == 200);
  json d = json::parse(r->body)["batching"]["detect"];
  EXPECT_TRUE(d["enabled"].get<bool>());
  EXPECT_EQ(d["max_batch"].get<int>(), 8);
  // Every detection went through the queue (a photo decoded twice is detected once).
  EXPECT_EQ(d["photos"].get<int>(), 25);
  EXPECT_LT(d["batches"].get<int>(), 25);
  EXPECT_GT(d["max_batch_seen"].get<int>(), 1);
  EXPECT_LE(d["max_batch_seen"].get<int>(), 8);
  r = cli.Get("/metrics", Auth());
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_NE(r->body.find("facekit_detect_batch_photos_total 25\n"), std::string::npos) << r->body;
  // A batch request: its photos are decoded and detected in parallel, so they share runs too.
  httplib::MultipartFormDataItems items;
  for (size_t i = 0; i < photos.size(); ++i)
    items.push_back({"photo" + std::to_string(i), photos[i], names[i], "image/jpeg"});
  r = cli.Post("/v1/faces/batch?templates=0", Auth(), items);
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  const json results = json::parse(r->body)["results"];
  ASSERT_EQ(results.size(), photos.size());
  for (size_t i = 0; i < photos.size(); ++i) EXPECT_EQ(results[i]["faces"].size(), expected[i].size()) << names[i];
  d = json::parse(cli.Get("/status", Auth())->body)["batching"]["detect"];
  EXPECT_EQ(d["photos"].get<int>(), 30);
}

TEST_F(ServerTest, DetectorBatchingIsOffOnTheCpuByDefault) {
  StartServer(BaseConfig(dir_));
  auto cli = Client();
  auto r = cli.Get("/status", Auth());
  ASSERT_TRUE(r && r->status == 200);
  const json d = json::parse(r->body)["batching"]["detect"];
  EXPECT_FALSE(d["enabled"].get<bool>());
  EXPECT_EQ(cli.Get("/metrics", Auth())->body.find("facekit_detect_batches_total"), std::string::npos);
}

// One job at a time and no queue: of 16 simultaneous requests some are refused with 429 and a
// Retry-After header, none fails otherwise.
TEST_F(ServerTest, FullQueueAnswers429) {
  ServerConfig c = BaseConfig(dir_);
  c.limits.max_concurrent = 1;
  c.limits.max_per_user = 1;
  c.limits.max_queue = 0;
  StartServer(c);
  const std::string photo = ReadFile(Sample("samples.jpg"));
  std::atomic<int> n200{0}, n429{0}, other{0}, retry_after{0};
  std::mutex mu;
  std::string other_what;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      auto cli = Client();
      auto r = cli.Post("/v1/faces?templates=0", Auth(), photo, "image/jpeg");
      if (r && r->status == 200) ++n200;
      else if (r && r->status == 429) {
        ++n429;
        if (r->has_header("Retry-After")) ++retry_after;
      } else {
        ++other;
        std::lock_guard<std::mutex> lock(mu);
        other_what += r ? std::to_string(r->status) + " " + r->body + "; " : httplib::to_string(r.error()) + "; ";
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(other.load(), 0) << other_what;
  EXPECT_GE(n200.load(), 1);
  EXPECT_GE(n429.load(), 1);
  EXPECT_EQ(retry_after.load(), n429.load());
}

// Gallery administration over HTTP: admin keys create and delete galleries (of the server's
// template model), any key lists and reads subjects and deletes subjects or templates; a deleted
// subject is out of the 1:N answers at once; every error is a clear status.
TEST_F(ServerTest, GalleriesAreAdministeredOverHttp) {
  ServerConfig c = BaseConfig(dir_);
  std::ofstream(c.api_keys_file) << R"({"keys": [{"user": "alice", "admin": true, "key": ")" << kKey
                                 << R"("}, {"user": "bob", "key": ")" << kKey2 << R"("}]})";
  c.gallery_db = (dir_ / "g.db").string();
  StartServer(c);
  auto cli = Client();
  const std::string body = R"({"name": "staff"})";
  auto r = cli.Post("/v1/galleries", Auth(kKey2), body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;  // bob is no admin
  EXPECT_NE(r->body.find("admin"), std::string::npos);
  r = cli.Post("/v1/galleries", Auth(), body, "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  json g = json::parse(r->body);
  EXPECT_EQ(g["name"], "staff");
  EXPECT_EQ(g["model"], "mobileface");
  EXPECT_EQ(g["dim"].get<int>(), 256);
  EXPECT_EQ(cli.Post("/v1/galleries", Auth(), body, "application/json")->status, 409);  // exists
  EXPECT_EQ(cli.Post("/v1/galleries", Auth(), "{\"nam\": 1}", "application/json")->status, 400);
  EXPECT_EQ(cli.Post("/v1/galleries", Auth(), R"({"name": "bad name!"})", "application/json")->status, 400);
  EXPECT_EQ(cli.Post("/v1/galleries", body, "application/json")->status, 401);

  const std::string a = ReadFile(Sample("sample2.jpg")), b = ReadFile(Sample("sample3.jpg"));
  ASSERT_EQ(cli.Post("/v1/galleries/staff/subjects/ann/enroll?name=Ann", Auth(kKey2), a, "image/jpeg")->status, 201);
  r = cli.Post("/v1/galleries/staff/subjects/ben/enroll", Auth(kKey2), b, "image/jpeg");
  ASSERT_EQ(r->status, 201) << r->body;
  const int64_t ben_template = json::parse(r->body)["template_ids"][0].get<int64_t>();

  r = cli.Get("/v1/galleries/staff", Auth(kKey2));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["subjects"].get<int>(), 2);
  r = cli.Get("/v1/galleries/staff/subjects", Auth(kKey2));
  ASSERT_EQ(r->status, 200) << r->body;
  json list = json::parse(r->body);
  EXPECT_EQ(list["total"].get<int>(), 2);
  ASSERT_EQ(list["subjects"].size(), 2u);
  EXPECT_EQ(list["subjects"][0]["external_id"], "ann");
  EXPECT_EQ(list["subjects"][0]["display_name"], "Ann");
  r = cli.Get("/v1/galleries/staff/subjects?offset=1&limit=1", Auth(kKey2));
  list = json::parse(r->body);
  ASSERT_EQ(list["subjects"].size(), 1u);
  EXPECT_EQ(list["subjects"][0]["external_id"], "ben");
  EXPECT_EQ(list["total"].get<int>(), 2);
  // Keyset paging: a full page says where the next one starts.
  r = cli.Get("/v1/galleries/staff/subjects?limit=1", Auth(kKey2));
  list = json::parse(r->body);
  ASSERT_EQ(list["next_after"], "ann");
  r = cli.Get("/v1/galleries/staff/subjects?limit=1&after=ann", Auth(kKey2));
  list = json::parse(r->body);
  ASSERT_EQ(list["subjects"].size(), 1u);
  EXPECT_EQ(list["subjects"][0]["external_id"], "ben");
  r = cli.Get("/v1/galleries/staff/subjects?limit=5&after=ben", Auth(kKey2));
  EXPECT_EQ(json::parse(r->body)["subjects"].size(), 0u);
  EXPECT_FALSE(json::parse(r->body).contains("next_after"));
  EXPECT_EQ(cli.Get("/v1/galleries/staff/subjects?limit=0", Auth())->status, 400);
  r = cli.Get("/v1/galleries/staff/subjects/ann", Auth(kKey2));
  ASSERT_EQ(r->status, 200) << r->body;
  const json ann = json::parse(r->body);
  ASSERT_EQ(ann["template_list"].size(), 1u);
  EXPECT_EQ(ann["template_list"][0]["model"], "mobileface");
  EXPECT_EQ(ann["template_list"][0]["source_image_hash"].get<std::string>().size(), 64u);

  auto best_of = [&](const std::string& photo) {
    auto q = cli.Post("/v1/galleries/staff/identify?k=1", Auth(kKey2), photo, "image/jpeg");
    EXPECT_TRUE(q && q->status == 200);
    const json answer = json::parse(q->body);
    float best = -1;
    std::string who;
    for (const auto& f : answer["faces"])
      if (!f["matches"].empty() && f["matches"][0]["score"].get<float>() > best) {
        best = f["matches"][0]["score"].get<float>();
        who = f["matches"][0]["external_id"];
      }
    return who;
  };
  EXPECT_EQ(best_of(a), "ann");
  r = cli.Delete("/v1/galleries/staff/subjects/ann", Auth(kKey2));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(best_of(a), "ann");  // out of the index at once
  EXPECT_EQ(cli.Get("/v1/galleries/staff/subjects/ann", Auth())->status, 404);
  EXPECT_EQ(cli.Delete("/v1/galleries/staff/subjects/ann", Auth())->status, 404);

  r = cli.Delete("/v1/galleries/staff/templates/" + std::to_string(ben_template), Auth(kKey2));
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(cli.Get("/v1/galleries/staff/subjects/ben", Auth())->body)["templates"].get<int>(), 0);
  EXPECT_EQ(best_of(b), "");  // no template left to match
  EXPECT_EQ(cli.Delete("/v1/galleries/staff/templates/99999", Auth())->status, 404);

  // Export and import over HTTP (admin): the copy has the same subjects and templates.
  EXPECT_EQ(cli.Get("/v1/galleries/staff/export", Auth(kKey2))->status, 403);
  r = cli.Get("/v1/galleries/staff/export", Auth());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->get_header_value("Content-Disposition").find("staff.facekit-gallery.jsonl"), std::string::npos);
  const std::string exported = r->body;
  ASSERT_FALSE(exported.empty());
  EXPECT_EQ(cli.Post("/v1/galleries/import?name=copy", Auth(kKey2), exported, "application/x-ndjson")->status, 403);
  r = cli.Post("/v1/galleries/import?name=copy", Auth(), exported, "application/x-ndjson");
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body)["subjects"].get<int>(), 1);  // ben (ann was deleted above)
  r = cli.Get("/v1/galleries/copy/subjects/ben", Auth());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["templates"].get<int>(), 0);
  EXPECT_EQ(cli.Post("/v1/galleries/import?name=copy", Auth(), exported, "application/x-ndjson")->status, 409);
  EXPECT_EQ(cli.Post("/v1/galleries/import?name=bad", Auth(), std::string("not an export"), "application/x-ndjson")->status / 100, 4);
  EXPECT_EQ(cli.Get("/v1/galleries/bad", Auth())->status, 404);  // nothing half-imported
  EXPECT_EQ(cli.Get("/v1/galleries/nosuch/export", Auth())->status, 404);
  ASSERT_EQ(cli.Delete("/v1/galleries/copy", Auth())->status, 200);

  EXPECT_EQ(cli.Delete("/v1/galleries/staff", Auth(kKey2))->status, 403);
  r = cli.Delete("/v1/galleries/staff", Auth());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(cli.Get("/v1/galleries/staff", Auth())->status, 404);
  EXPECT_EQ(cli.Post("/v1/galleries/staff/identify", Auth(), a, "image/jpeg")->status, 404);
  EXPECT_EQ(json::parse(cli.Get("/v1/galleries", Auth())->body)["galleries"].size(), 0u);
  // The deleted gallery's subjects are gone with it: a new gallery of the same name is empty.
  ASSERT_EQ(cli.Post("/v1/galleries", Auth(), body, "application/json")->status, 201);
  EXPECT_EQ(json::parse(cli.Get("/v1/galleries/staff/subjects", Auth())->body)["total"].get<int>(), 0);
}

TEST_F(ServerTest, EnrollAndIdentifyThroughAGallery) {
  ServerConfig c = BaseConfig(dir_);
  c.gallery_db = (dir_ / "g.db").string();
  {
    auto db = GalleryDb::Open(c.gallery_db);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->CreateGallery({"staff", "mobileface", "1", 256}).ok());
    ASSERT_TRUE((*db)->CreateGallery({"other", "fr_feature", "1", 512}).ok());
  }
  StartServer(c);
  auto cli = Client();
  const std::string a = ReadFile(Sample("sample2.jpg")), b = ReadFile(Sample("sample3.jpg"));
  auto r = cli.Post("/v1/galleries/staff/subjects/ann/enroll?name=Ann", Auth(), a, "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  r = cli.Post("/v1/galleries/staff/subjects/ben/enroll", Auth(), b, "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  r = cli.Post("/v1/galleries/staff/identify?k=2", Auth(), a, "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  // The largest face of the photo is the one enrolled: its best match is ann, at ~1.
  float best = -1;
  std::string who;
  for (const auto& f : j["faces"])
    if (!f["matches"].empty() && f["matches"][0]["score"].get<float>() > best) {
      best = f["matches"][0]["score"].get<float>();
      who = f["matches"][0]["external_id"];
    }
  EXPECT_EQ(who, "ann");
  EXPECT_GT(best, 0.999f);
  // Unknown gallery: 404; a gallery of another model: 409 naming both models.
  r = cli.Post("/v1/galleries/nope/identify", Auth(), a, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = cli.Post("/v1/galleries/other/identify", Auth(), a, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("fr_feature"), std::string::npos);
  r = cli.Get("/v1/galleries", Auth());
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["galleries"].size(), 2u);
  // Acknowledged enrolments are in the database (a fresh connection sees them).
  server_->Stop(5000);
  auto db = GalleryDb::Open(c.gallery_db);
  ASSERT_TRUE(db.ok());
  auto info = (*db)->GetGallery("staff");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_subjects, 2);
  EXPECT_EQ(info->num_templates, 2);
}

TEST_F(ServerTest, StopRefusesNewWork) {
  StartServer(BaseConfig(dir_));
  const int port = server_->port();
  {
    auto cli = Client();
    auto r = cli.Get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  server_->Stop(5000);
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(2, 0);
  auto r = cli.Post("/v1/faces", Auth(), ReadFile(Sample("sample1.jpg")), "image/jpeg");
  EXPECT_FALSE(r && r->status == 200);
}

TEST_F(ServerTest, PortInUseIsAClearError) {
  StartServer(BaseConfig(dir_));
  ServerConfig c = BaseConfig(dir_);
  c.port = server_->port();
  auto s = Server::Create(c);
  ASSERT_TRUE(s.ok());
  const Status st = (*s)->Start();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find(std::to_string(c.port)), std::string::npos);
}

}  // namespace
}  // namespace fk::server
