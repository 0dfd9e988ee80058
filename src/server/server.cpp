#include "server/server.h"

#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "facekit/gallery.h"
#include "facekit/image.h"
#include "pipeline/face_json.h"
#include "server/api_keys.h"
#include "server/gpu_monitor.h"

#ifndef FK_VERSION
#define FK_VERSION "dev"
#endif

namespace fk::server {
namespace {

using json = nlohmann::json;
using pipeline::FaceToJson;
using Clock = std::chrono::steady_clock;

// ---- config -------------------------------------------------------------------------------

Status CheckKeys(const json& j, const std::string& where, std::initializer_list<const char*> allowed) {
  if (!j.is_object()) return InvalidArgument(where + " must be a JSON object");
  std::set<std::string> ok(allowed.begin(), allowed.end());
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!ok.count(it.key())) {
      std::string list;
      for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      return InvalidArgument("unknown key '" + (where.empty() ? "" : where + ".") + it.key() + "' (known: " + list + ")");
    }
  return OkStatus();
}

template <typename T>
Status Get(const json& j, const char* key, const std::string& where, T* out) {
  if (!j.contains(key)) return OkStatus();
  const json& v = j[key];
  const std::string name = (where.empty() ? "" : where + ".") + key;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return InvalidArgument("'" + name + "' must be a string");
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) return InvalidArgument("'" + name + "' must be an integer");
  }
  *out = v.get<T>();
  return OkStatus();
}

// ---- HTTP helpers -------------------------------------------------------------------------

int HttpCode(StatusCode c) {
  switch (c) {
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kDataLoss: return 400;
    case StatusCode::kUnsupported: return 415;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

void SendJson(httplib::Response& res, int code, const json& j) {
  res.status = code;
  // Invalid UTF-8 (a file name or subject id from the request echoed back) is replaced, not
  // thrown on.
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void SendError(httplib::Response& res, int code, const Status& st) {
  SendJson(res, code, {{"error", {{"code", StatusCodeName(st.code())}, {"message", st.message()}}}});
  if (code == 429 || code == 503) res.set_header("Retry-After", "1");
}
void SendError(httplib::Response& res, const Status& st) { SendError(res, HttpCode(st.code()), st); }

// A gallery in the API's answers (GET /v1/galleries, POST /v1/galleries, GET /v1/galleries/G).
json GalleryJson(const GalleryInfo& g) {
  return {{"name", g.name},   {"model", g.model_id},        {"model_version", g.model_version},
          {"dim", g.dim},     {"subjects", g.num_subjects}, {"templates", g.num_templates},
          {"created_at", g.created_at}};
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

// ---- ServerConfig -------------------------------------------------------------------------

Result<ServerConfig> ServerConfig::FromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("server config: not valid JSON");
  FK_RETURN_IF_ERROR(CheckKeys(j, "", {"listen", "auth", "api_keys_file", "limits", "batching", "face",
                                        "gallery_db", "gpu_sample_ms"}));
  ServerConfig c;
  if (j.contains("listen")) {
    const json& l = j["listen"];
    FK_RETURN_IF_ERROR(CheckKeys(l, "listen", {"host", "port", "http_threads"}));
    FK_RETURN_IF_ERROR(Get(l, "host", "listen", &c.host));
    FK_RETURN_IF_ERROR(Get(l, "port", "listen", &c.port));
    FK_RETURN_IF_ERROR(Get(l, "http_threads", "listen", &c.http_threads));
  }
  FK_RETURN_IF_ERROR(Get(j, "auth", "", &c.auth));
  FK_RETURN_IF_ERROR(Get(j, "api_keys_file", "", &c.api_keys_file));
  if (j.contains("limits")) {
    const json& l = j["limits"];
    FK_RETURN_IF_ERROR(CheckKeys(l, "limits", {"max_concurrent", "max_per_user", "max_queue", "max_queue_per_user",
                                               "queue_timeout_ms", "max_image_bytes", "max_image_pixels",
                                               "max_batch_photos", "max_request_bytes"}));
    FK_RETURN_IF_ERROR(Get(l, "max_concurrent", "limits", &c.limits.max_concurrent));
    FK_RETURN_IF_ERROR(Get(l, "max_per_user", "limits", &c.limits.max_per_user));
    FK_RETURN_IF_ERROR(Get(l, "max_queue", "limits", &c.limits.max_queue));
    FK_RETURN_IF_ERROR(Get(l, "max_queue_per_user", "limits", &c.limits.max_queue_per_user));
    int64_t ms = c.limits.queue_timeout.count();
    FK_RETURN_IF_ERROR(Get(l, "queue_timeout_ms", "limits", &ms));
    c.limits.queue_timeout = std::chrono::milliseconds(ms);
    FK_RETURN_IF_ERROR(Get(l, "max_image_bytes", "limits", &c.max_image_bytes));
    FK_RETURN_IF_ERROR(Get(l, "max_image_pixels", "limits", &c.max_image_pixels));
    FK_RETURN_IF_ERROR(Get(l, "max_batch_photos", "limits", &c.max_batch_photos));
    FK_RETURN_IF_ERROR(Get(l, "max_request_bytes", "limits", &c.max_request_bytes));
  }
  if (j.contains("batching")) {
    const json& b = j["batching"];
    FK_RETURN_IF_ERROR(CheckKeys(b, "batching", {"max_batch", "max_delay_us", "workers"}));
    FK_RETURN_IF_ERROR(Get(b, "max_batch", "batching", &c.batching.max_batch));
    int64_t us = c.batching.max_delay.count();
    FK_RETURN_IF_ERROR(Get(b, "max_delay_us", "batching", &us));
    c.batching.max_delay = std::chrono::microseconds(us);
    FK_RETURN_IF_ERROR(Get(b, "workers", "batching", &c.batching.workers));
  }
  if (j.contains("face")) {
    auto fc = FaceConfig::FromJson(j["face"].dump());
    if (!fc.ok()) return fc.status().WithContext("server config 'face'");
    c.face = *fc;
  }
  FK_RETURN_IF_ERROR(Get(j, "gallery_db", "", &c.gallery_db));
  FK_RETURN_IF_ERROR(Get(j, "gpu_sample_ms", "", &c.gpu_sample_ms));
  FK_RETURN_IF_ERROR(c.Validate());
  return c;
}

Result<ServerConfig> ServerConfig::FromFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("server config '" + path + "' cannot be opened");
  std::stringstream ss;
  ss << f.rdbuf();
  auto c = FromJson(ss.str());
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

Status ServerConfig::Validate() const {
  if (port < 0 || port > 65535) return InvalidArgument("listen.port must be 0..65535, got " + std::to_string(port));
  if (http_threads < 0) return InvalidArgument("listen.http_threads must be >= 0");
  if (auth != "required" && auth != "none")
    return InvalidArgument("auth must be \"required\" or \"none\", got \"" + auth + "\"");
  if (auth == "required" && api_keys_file.empty())
    return InvalidArgument("auth is \"required\" but no api_keys_file is set (set one, or \"auth\": \"none\" for a "
                           "trusted network; docs/server.md)");
  if (max_image_bytes < 1024) return InvalidArgument("limits.max_image_bytes must be >= 1024");
  if (max_image_pixels < 1) return InvalidArgument("limits.max_image_pixels must be >= 1");
  if (max_batch_photos < 1 || max_batch_photos > 4096) return InvalidArgument("limits.max_batch_photos must be 1..4096");
  if (max_request_bytes < 1024) return InvalidArgument("limits.max_request_bytes must be >= 1024");
  if (gpu_sample_ms < 0) return InvalidArgument("gpu_sample_ms must be >= 0");
  FK_RETURN_IF_ERROR(limits.Validate());
  BatcherOptions b = batching;
  if (b.workers == 0) b.workers = 1;  // 0 = automatic (Server::Create)
  FK_RETURN_IF_ERROR(b.Validate());
  return face.Validate();
}

// ---- Server -------------------------------------------------------------------------------

struct Server::Impl {
  ServerConfig cfg;
  std::unique_ptr<FaceEngine> engine;
  std::optional<ApiKeys> keys;
  std::unique_ptr<JobScheduler> scheduler;
  std::unique_ptr<DynamicBatcher<DetectedPhoto, std::vector<Face>>> batcher;
  std::unique_ptr<GalleryDb> db;
  std::atomic<uint64_t> export_seq{0};  // unique names of export/import staging files
  std::mutex galleries_mu;
  // Open galleries (their search indexes), shared with the requests using them: a gallery
  // deleted over HTTP leaves the map at once and goes when its last request ends.
  std::map<std::string, std::shared_ptr<Gallery>> galleries;
  std::unique_ptr<GpuMonitor> gpu;
  httplib::Server http;
  std::thread listener;
  int bound_port = 0;
  int listen_socket = -1;
  Clock::time_point started = Clock::now();
  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopped = false;

  // Request log for /status: the last kRing finished /v1 requests.
  struct Done {
    Clock::time_point at;
    double ms;
    int faces;
  };
  static constexpr size_t kRing = 4096;
  std::mutex stats_mu;
  std::vector<Done> ring;
  size_t ring_next = 0;
  std::map<int, int64_t> by_status;
  int64_t photos = 0, faces = 0;
  std::atomic<int64_t> refined{0};  // photos decoded a second time, finer, for small faces

  void Record(int status, double ms, int nfaces) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++by_status[status];
    if (status == 200) {
      ++photos;
      faces += nfaces;
      const Done d{Clock::now(), ms, nfaces};
      if (ring.size() < kRing) ring.push_back(d);
      else ring[ring_next] = d;
      ring_next = (ring_next + 1) % kRing;
    }
  }

  // A request that is not a photo (gallery administration): counted by HTTP status only.
  void RecordStatus(int status) {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++by_status[status];
  }

  // Who is asking: the key's user (and its own limit), or an error already written to `res`.
  std::optional<ApiKeys::Identity> Authenticate(const httplib::Request& req, httplib::Response& res) {
    if (cfg.auth == "none") return ApiKeys::Identity{"anonymous", 0, /*admin=*/true};
    const std::string key = KeyFromHeaders(req.get_header_value("X-API-Key"), req.get_header_value("Authorization"));
    if (key.empty()) {
      SendJson(res, 401, {{"error", {{"code", "Unauthenticated"},
                                     {"message", "an API key is required: send it as 'X-API-Key: KEY' or "
                                                 "'Authorization: Bearer KEY'"}}}});
      res.set_header("WWW-Authenticate", "Bearer");
      return std::nullopt;
    }
    auto user = keys->Identify(key);
    if (!user) {
      SendJson(res, 401, {{"error", {{"code", "Unauthenticated"}, {"message", "unknown API key"}}}});
      res.set_header("WWW-Authenticate", "Bearer");
      return std::nullopt;
    }
    return user;
  }

  // Decoding and detection, on the request's own thread (in parallel with the batch workers):
  // FaceEngine::DetectEncoded decodes as ProcessFile does (a JPEG at the smallest DCT scale that
  // leaves the detector its 640 px; finer, reusing the detections, only for faces too small for
  // their chip). The byte limit is checked first, the pixel limit from the file header.
  Result<DetectedPhoto> DetectBody(const std::string& body, const std::string& name) {
    if (body.empty()) return InvalidArgument(name + ": empty request body (send the image bytes)");
    if (static_cast<int64_t>(body.size()) > cfg.max_image_bytes)
      return ResourceExhausted(name + ": " + std::to_string(body.size()) + " bytes is over limits.max_image_bytes = " +
                               std::to_string(cfg.max_image_bytes));
    DecodeOptions o;
    o.max_side = cfg.face.max_image_side;
    o.max_pixels = cfg.max_image_pixels;
    auto photo = engine->DetectEncoded(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()), o, name);
    if (photo.ok() && photo->stats().decodes > 1) ++refined;
    return photo;
  }

  // `?attributes=age_gender,emotion,liveness|all|none`: what this request's faces get, a subset of
  // the server's face.attributes (without the parameter: all of them). InvalidArgument naming
  // what is not enabled.
  Result<std::optional<AttributeConfig>> RequestAttributes(const httplib::Request& req) const {
    if (!req.has_param("attributes")) return std::optional<AttributeConfig>();
    const std::string v = req.get_param_value("attributes");
    FK_ASSIGN_OR_RETURN(AttributeConfig a, v == "all" ? Result<AttributeConfig>(cfg.face.attributes)
                                                         : AttributeConfig::Parse(v));
    if (!cfg.face.attributes.covers(a))
      return InvalidArgument("attributes '" + a.ToString() + "' asked for, but this server computes only '" +
                             cfg.face.attributes.ToString() + "' (start it with --attributes, or face.attributes in its config)");
    return std::optional<AttributeConfig>(a);
  }

  // Decode/detect errors: too large -> 413, the rest by code (corrupt 400, unknown format 415).
  static void SendDecodeError(httplib::Response& res, const Status& st) {
    SendError(res, st.code() == StatusCode::kResourceExhausted ? 413 : HttpCode(st.code()), st);
  }

  // The common shape of a photo job: authenticate, take a slot, run `job`, record.
  // `job` returns the HTTP status it wrote and the number of faces.
  template <typename Job>
  void RunJob(const httplib::Request& req, httplib::Response& res, Job&& job) {
    const auto t0 = Clock::now();
    auto user = Authenticate(req, res);
    if (!user) {
      Record(401, 0, 0);
      return;
    }
    auto slot = scheduler->Acquire(user->user, user->max_concurrent);
    if (!slot.ok()) {
      SendError(res, slot.status());
      Record(res.status, 0, 0);
      return;
    }
    const int nfaces = job();
    slot->Release();
    Record(res.status, std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), nfaces);
  }

  // The open gallery `name` (opened and its index built on first use). `for_templates`: the
  // caller enrolls or identifies with this server's templates, so the gallery must hold that
  // model's (administration of any gallery passes false).
  Result<std::shared_ptr<Gallery>> OpenGallery(const std::string& name, bool for_templates = true) {
    if (!db) return FailedPrecondition("this server has no gallery database (set \"gallery_db\" in its config)");
    std::shared_ptr<Gallery> g;
    {
      std::lock_guard<std::mutex> lock(galleries_mu);
      auto it = galleries.find(name);
      if (it != galleries.end()) {
        g = it->second;
      } else {
        FK_ASSIGN_OR_RETURN(std::unique_ptr<Gallery> opened, db->OpenGallery(name));
        g = std::move(opened);
        galleries.emplace(name, g);
      }
    }
    const GalleryInfo info = g->info();
    if (for_templates && info.model_id != engine->recognizer())
      return FailedPrecondition("gallery '" + name + "' holds templates of model '" + info.model_id +
                                "' but this server makes '" + engine->recognizer() +
                                "' templates (configure face.recognizer or face.tier to match)");
    return g;
  }

  // Authentication for the gallery administration routes (no scheduler slot: database work
  // only); `admin`: the key must have "admin": true. nullopt when the answer is already sent.
  std::optional<ApiKeys::Identity> AuthenticateAdmin(const httplib::Request& req, httplib::Response& res,
                                                     bool admin) {
    auto user = Authenticate(req, res);
    if (!user) {
      RecordStatus(401);
      return std::nullopt;
    }
    if (admin && !user->admin) {
      SendError(res, 403, FailedPrecondition("creating and deleting galleries needs a key with \"admin\": true "
                                             "in the keys file (user '" + user->user + "' has none)"));
      RecordStatus(403);
      return std::nullopt;
    }
    if (!db) {
      SendError(res, FailedPrecondition("this server has no gallery database (set \"gallery_db\" in its config)"));
      RecordStatus(res.status);
      return std::nullopt;
    }
    return user;
  }

  void Routes();
  json StatusJson();
  static std::string MetricsText(const json& status);
  bool finished = false;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(0); }

Result<std::unique_ptr<Server>> Server::Create(const ServerConfig& config) {
  FK_RETURN_IF_ERROR(config.Validate());
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  // batching.workers 0 = automatic. CPU: one batch worker per core, each running the models on
  // one thread (measured with bench server on 2 cores, 64 deepface-13 photos, 8 clients: 73.5
  // photos/s vs 46.0 with one worker on 2 model threads — per-call thread fork/join costs more
  // than it gains at these batch sizes, and the idle core decodes). GPU: two workers, so one
  // batch's CPU work (detection regions, crops) overlaps the other's GPU runs.
  if (impl->cfg.batching.workers == 0) {
    if (config.face.use_cuda) {
      impl->cfg.batching.workers = 2;
    } else {
      impl->cfg.batching.workers = std::max(1u, std::thread::hardware_concurrency());
      if (impl->cfg.face.num_threads == 0) impl->cfg.face.num_threads = 1;
    }
  }
  if (config.auth == "required") {
    FK_ASSIGN_OR_RETURN(ApiKeys k, ApiKeys::Load(config.api_keys_file));
    if (k.size() == 0) return InvalidArgument(config.api_keys_file + ": no keys listed (auth is \"required\")");
    impl->keys = std::move(k);
  }
  FK_ASSIGN_OR_RETURN(impl->engine, FaceEngine::Create(impl->cfg.face));
  impl->scheduler = std::make_unique<JobScheduler>(config.limits);
  const FaceEngine* engine = impl->engine.get();
  FK_ASSIGN_OR_RETURN(impl->batcher, (DynamicBatcher<DetectedPhoto, std::vector<Face>>::Create(
                                         [engine](std::span<DetectedPhoto* const> photos) {
                                           return engine->FinishBatch(photos);
                                         },
                                         impl->cfg.batching)));
  if (!config.gallery_db.empty()) {
    FK_ASSIGN_OR_RETURN(impl->db, GalleryDb::Open(config.gallery_db));
  }
  impl->gpu = GpuMonitor::Create();
  if (config.gpu_sample_ms > 0 && config.face.use_cuda)
    impl->gpu->StartSampling(std::chrono::milliseconds(config.gpu_sample_ms), 60);
  impl->Routes();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Impl::Routes() {
  const size_t threads = cfg.http_threads > 0 ? cfg.http_threads : static_cast<size_t>(cfg.limits.max_concurrent) + 16;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // A request body (a batch request carries several images) is refused by httplib above
  // max_request_bytes (413); single images are checked against max_image_bytes by us, with a
  // message.
  http.set_payload_max_length(static_cast<size_t>(std::max(cfg.max_request_bytes, cfg.max_image_bytes + (1 << 20))));
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);
  http.set_keep_alive_max_count(100000);
  // Without TCP_NODELAY a small answer waits for the client's delayed ACK (~40 ms per request
  // at concurrency 1, measured with the load client).
  http.set_tcp_nodelay(true);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with which a second server
  // on the same port would bind silently and share the traffic instead of failing.
  // The socket is remembered so that Start() can raise the listen backlog afterwards.
  http.set_socket_options([this](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
    listen_socket = sock;
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, 500, Internal("unexpected exception in the request handler: " + what));
  });

  http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    if (stopping) return SendJson(res, 503, {{"ok", false}, {"status", "stopping"}});
    SendJson(res, 200, {{"ok", true}});
  });

  http.Get("/status", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authenticate(req, res)) return;
    SendJson(res, 200, StatusJson());
  });

  // Prometheus text format (version 0.0.4): the counters and gauges of /status, for scraping.
  http.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authenticate(req, res)) return;
    res.status = 200;
    res.set_content(MetricsText(StatusJson()), "text/plain; version=0.0.4");
  });

  // Every face of a photo: box, score, landmarks, pose, quality, template.
  http.Post("/v1/faces", [this](const httplib::Request& req, httplib::Response& res) {
    RunJob(req, res, [&]() -> int {
      auto attrs = RequestAttributes(req);
      if (!attrs.ok()) return SendError(res, attrs.status()), 0;
      auto photo = DetectBody(req.body, "request body");
      if (!photo.ok()) return SendDecodeError(res, photo.status()), 0;
      if (*attrs) photo->set_attributes(**attrs);
      auto faces = batcher->Process(*photo);
      if (!faces.ok()) return SendError(res, faces.status()), 0;
      const bool templates = req.get_param_value("templates") != "0";
      json arr = json::array();
      for (const Face& f : *faces) arr.push_back(FaceToJson(f, templates ? pipeline::TemplateJson::kBase64 : pipeline::TemplateJson::kNone));
      SendJson(res, 200, {{"faces", arr},
                          {"image", {{"width", photo->source_width()}, {"height", photo->source_height()}}}});
      return static_cast<int>(faces->size());
    });
  });

  // Several photos in one request (multipart form, one file field per photo, any field names):
  // one job for the scheduler; the photos are decoded and detected in parallel on up to
  // `cores` threads, then queued to the batcher together. Each photo gets its own result or
  // error: {"results": [{"name", "faces", "image"} | {"name", "error"}]}.
  http.Post("/v1/faces/batch", [this](const httplib::Request& req, httplib::Response& res) {
    RunJob(req, res, [&]() -> int {
      if (!req.is_multipart_form_data())
        return SendError(res, InvalidArgument("send a multipart form with one image file per field")), 0;
      auto attrs = RequestAttributes(req);
      if (!attrs.ok()) return SendError(res, attrs.status()), 0;
      std::vector<const httplib::MultipartFormData*> files;
      for (const auto& [field, f] : req.files) files.push_back(&f);
      if (files.empty()) return SendError(res, InvalidArgument("the form has no files")), 0;
      if (static_cast<int>(files.size()) > cfg.max_batch_photos)
        return SendError(res, 413, ResourceExhausted(std::to_string(files.size()) + " photos is over limits.max_batch_photos = " +
                                                     std::to_string(cfg.max_batch_photos))), 0;
      const size_t n = files.size();
      std::vector<std::optional<Result<DetectedPhoto>>> detected(n);
      std::atomic<size_t> next{0};
      auto work = [&] {
        for (size_t i; (i = next++) < n;) {
          const std::string name = files[i]->filename.empty() ? files[i]->name : files[i]->filename;
          detected[i].emplace(DetectBody(files[i]->content, "photo '" + name + "'"));
        }
      };
      const size_t threads = std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency()));
      std::vector<std::thread> pool;
      for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
      work();
      for (auto& t : pool) t.join();
      std::vector<DetectedPhoto*> ok_photos;
      std::vector<size_t> ok_index;
      for (size_t i = 0; i < n; ++i)
        if (detected[i]->ok()) {
          if (*attrs) detected[i]->value().set_attributes(**attrs);
          ok_photos.push_back(&detected[i]->value());
          ok_index.push_back(i);
        }
      std::vector<Result<std::vector<Face>>> faces = batcher->ProcessAll(ok_photos);
      const bool templates = req.get_param_value("templates") != "0";
      json results = json::array();
      int nfaces = 0;
      size_t k = 0;
      for (size_t i = 0; i < n; ++i) {
        json r;
        r["name"] = files[i]->filename.empty() ? files[i]->name : files[i]->filename;
        const Status* err = nullptr;
        Status st;
        if (!detected[i]->ok()) {
          st = detected[i]->status();
        } else {
          const auto& fr = faces[k++];
          if (!fr.ok()) {
            st = fr.status();
          } else {
            json arr = json::array();
            for (const Face& f : *fr) arr.push_back(FaceToJson(f, templates ? pipeline::TemplateJson::kBase64 : pipeline::TemplateJson::kNone));
            nfaces += static_cast<int>(fr->size());
            r["faces"] = arr;
            r["image"] = {{"width", detected[i]->value().source_width()},
                          {"height", detected[i]->value().source_height()}};
          }
        }
        if (!st.ok()) err = &st;
        if (err) r["error"] = {{"code", StatusCodeName(err->code())}, {"message", err->message()}};
        results.push_back(r);
      }
      SendJson(res, 200, {{"results", results}});
      return nfaces;
    });
  });

  // 1:1. Either JSON {"a": "<template base64>", "b": "<template base64>"} or a multipart
  // form with image files "a" and "b" (the largest face of each).
  http.Post("/v1/verify", [this](const httplib::Request& req, httplib::Response& res) {
    RunJob(req, res, [&]() -> int {
      FaceTemplate t[2];
      int nfaces = 0;
      if (req.is_multipart_form_data()) {
        for (int k = 0; k < 2; ++k) {
          const char* name = k == 0 ? "a" : "b";
          if (!req.has_file(name))
            return SendError(res, InvalidArgument(std::string("multipart field '") + name + "' (an image) is missing")), 0;
          auto photo = DetectBody(req.get_file_value(name).content, std::string("image '") + name + "'");
          if (!photo.ok()) return SendDecodeError(res, photo.status()), 0;
          photo->set_attributes(AttributeConfig{});  // verification answers with templates only
          auto faces = batcher->Process(*photo);
          if (!faces.ok()) return SendError(res, faces.status()), 0;
          const Face* f = LargestFace(*faces);
          if (!f) return SendError(res, 422, InvalidArgument(std::string("no face found in image '") + name + "'")), 0;
          t[k] = f->templ;
          ++nfaces;
        }
      } else {
        json j = json::parse(req.body, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("a") || !j.contains("b") || !j["a"].is_string() ||
            !j["b"].is_string())
          return SendError(res, InvalidArgument("send JSON {\"a\": TEMPLATE_BASE64, \"b\": TEMPLATE_BASE64} or a "
                                                "multipart form with images 'a' and 'b'")), 0;
        for (int k = 0; k < 2; ++k) {
          auto bytes = pipeline::Base64Decode(j[k == 0 ? "a" : "b"].get<std::string>());
          if (!bytes.ok()) return SendError(res, bytes.status()), 0;
          auto tt = FaceTemplate::Deserialize(*bytes);
          if (!tt.ok()) return SendError(res, tt.status().WithContext(k == 0 ? "template a" : "template b")), 0;
          t[k] = std::move(*tt);
        }
      }
      auto v = engine->Verify(t[0], t[1]);
      if (!v.ok()) return SendError(res, v.status()), 0;
      SendJson(res, 200, {{"similarity", v->similarity}, {"match", v->match}, {"threshold", v->threshold},
                          {"far", v->far}, {"frr", v->frr}, {"calibrated", v->calibrated},
                          {"model", t[0].model}});
      return nfaces;
    });
  });

  http.Get("/v1/galleries", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authenticate(req, res)) return;
    if (!db) return SendError(res, FailedPrecondition("this server has no gallery database (\"gallery_db\")"));
    auto list = db->ListGalleries();
    if (!list.ok()) return SendError(res, list.status());
    json arr = json::array();
    for (const GalleryInfo& g : *list) arr.push_back(GalleryJson(g));
    SendJson(res, 200, {{"galleries", arr}});
  });

  // ---- gallery administration (docs/server.md "Galleries over HTTP") ----
  auto subject_json = [](const SubjectInfo& s) {
    json meta = json::parse(s.metadata_json, nullptr, false);
    return json{{"external_id", s.external_id}, {"display_name", s.display_name},
                {"metadata", meta.is_discarded() ? json::object() : meta}, {"templates", s.num_templates},
                {"created_at", s.created_at}};
  };
  // A new gallery for this server's templates: {"name": "staff"} -> 201 (admin keys only).
  http.Post("/v1/galleries", [this](const httplib::Request& req, httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/true)) return;
    const json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("name") || !body["name"].is_string() ||
        body.size() != 1) {
      SendError(res, InvalidArgument("expected a JSON body {\"name\": \"GALLERY\"} (the gallery takes this server's "
                                     "templates: model '" + engine->recognizer() + "')"));
      return RecordStatus(res.status);
    }
    if (engine->template_dim() <= 0) {
      SendError(res, FailedPrecondition("this server makes no templates (\"embed\": false)"));
      return RecordStatus(res.status);
    }
    GalleryConfig gc{body["name"].get<std::string>(), engine->recognizer(),
                     std::to_string(engine->recognizer_version()), engine->template_dim()};
    auto g = db->CreateGallery(gc);
    if (!g.ok()) {
      SendError(res, g.status());
      return RecordStatus(res.status);
    }
    SendJson(res, 201, GalleryJson(*g));
    RecordStatus(201);
  });
  http.Get(R"(/v1/galleries/([A-Za-z0-9_.\-]+))", [this](const httplib::Request& req,
                                                                      httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/false)) return;
    auto g = db->GetGallery(req.matches[1]);
    if (!g.ok()) SendError(res, g.status());
    else SendJson(res, 200, GalleryJson(*g));
    RecordStatus(res.status);
  });
  http.Delete(R"(/v1/galleries/([A-Za-z0-9_.\-]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/true)) return;
    const std::string name = req.matches[1];
    {
      std::lock_guard<std::mutex> lock(galleries_mu);
      galleries.erase(name);  // requests holding it finish on their copy
    }
    const Status st = db->DeleteGallery(name);
    if (!st.ok()) SendError(res, st);
    else SendJson(res, 200, {{"deleted", name}});
    RecordStatus(res.status);
  });
  // Export (GET, admin): the gallery in the export format of docs/gallery.md ("facekit-gallery"
  // JSONL v1, what `facekit gallery export` writes), streamed from a temporary file. Import (POST
  // /v1/galleries/import[?name=NEW], admin): such a file as the body, a new gallery in one
  // transaction (all or nothing); the request size limit (max_request_bytes) bounds it.
  http.Get(R"(/v1/galleries/([A-Za-z0-9_.\-]+)/export)", [this](const httplib::Request& req,
                                                                   httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/true)) return;
    const std::string name = req.matches[1];
    std::error_code ec;
    const std::filesystem::path tmp = std::filesystem::temp_directory_path(ec) /
                                      ("facekit-export-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(export_seq.fetch_add(1)) + ".jsonl");
    const Status st = db->ExportGallery(name, tmp.string());
    const auto size = st.ok() ? std::filesystem::file_size(tmp, ec) : 0;
    if (!st.ok() || ec) {
      std::filesystem::remove(tmp, ec);
      SendError(res, st.ok() ? Internal("export of '" + name + "' wrote no readable file") : st);
      return RecordStatus(res.status);
    }
    auto in = std::make_shared<std::ifstream>(tmp, std::ios::binary);
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + ".facekit-gallery.jsonl\"");
    res.set_content_provider(
        static_cast<size_t>(size), "application/x-ndjson",
        [in](size_t offset, size_t length, httplib::DataSink& sink) {
          std::vector<char> buf(std::min<size_t>(length, 1 << 20));
          in->seekg(static_cast<std::streamoff>(offset));
          in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
          const std::streamsize got = in->gcount();
          return got > 0 && sink.write(buf.data(), static_cast<size_t>(got));
        },
        [in, tmp](bool) {
          in->close();
          std::error_code e;
          std::filesystem::remove(tmp, e);
        });
    RecordStatus(200);
  });
  http.Post("/v1/galleries/import", [this](const httplib::Request& req, httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/true)) return;
    if (req.body.empty()) {
      SendError(res, InvalidArgument("expected a gallery export file (GET /v1/galleries/G/export) as the body"));
      return RecordStatus(res.status);
    }
    std::error_code ec;
    const std::filesystem::path tmp = std::filesystem::temp_directory_path(ec) /
                                      ("facekit-import-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(export_seq.fetch_add(1)) + ".jsonl");
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(req.body.data(), static_cast<std::streamsize>(req.body.size()));
      if (!out) {
        std::filesystem::remove(tmp, ec);
        SendError(res, Internal("could not stage the import in " + tmp.string()));
        return RecordStatus(res.status);
      }
    }
    const std::string name = req.has_param("name") ? req.get_param_value("name") : "";
    auto g = db->ImportGallery(tmp.string(), name);
    std::filesystem::remove(tmp, ec);
    if (!g.ok()) {
      SendError(res, g.status());
      return RecordStatus(res.status);
    }
    SendJson(res, 201, GalleryJson(*g));
    RecordStatus(201);
  });
  // Subjects, a page at a time, ordered by external id: ?limit=100 (<= 10000) and either
  // ?offset=N or ?after=ID (keyset: the page after that id; `next_after` of a full page says where
  // the next one starts). The database pages (Gallery::ListSubjects(offset, limit, after)).
  http.Get(R"(/v1/galleries/([A-Za-z0-9_.\-]+)/subjects)", [this, subject_json](const httplib::Request& req,
                                                                               httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/false)) return;
    const long long offset = req.has_param("offset") ? std::atoll(req.get_param_value("offset").c_str()) : 0;
    const long long limit = req.has_param("limit") ? std::atoll(req.get_param_value("limit").c_str()) : 100;
    if (offset < 0 || limit < 1 || limit > 10000) {
      SendError(res, InvalidArgument("offset must be >= 0 and limit 1..10000"));
      return RecordStatus(res.status);
    }
    auto g = OpenGallery(req.matches[1], /*for_templates=*/false);
    if (!g.ok()) {
      SendError(res, g.status());
      return RecordStatus(res.status);
    }
    const std::string after = req.has_param("after") ? req.get_param_value("after") : "";
    auto page = (*g)->ListSubjects(offset, limit, after);
    if (!page.ok()) {
      SendError(res, page.status());
      return RecordStatus(res.status);
    }
    json arr = json::array();
    for (const SubjectInfo& s : page->subjects) arr.push_back(subject_json(s));
    json body = {{"gallery", req.matches[1]}, {"total", page->total}, {"offset", offset}, {"subjects", arr}};
    if (!after.empty()) body["after"] = after;
    if (static_cast<long long>(page->subjects.size()) == limit) body["next_after"] = page->subjects.back().external_id;
    SendJson(res, 200, body);
    RecordStatus(200);
  });
  // One subject with its templates.
  http.Get(R"(/v1/galleries/([A-Za-z0-9_.\-]+)/subjects/([^/]+))", [this, subject_json](const httplib::Request& req,
                                                                                       httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/false)) return;
    auto g = OpenGallery(req.matches[1], /*for_templates=*/false);
    if (!g.ok()) {
      SendError(res, g.status());
      return RecordStatus(res.status);
    }
    auto s = (*g)->GetSubject(req.matches[2]);
    auto t = s.ok() ? (*g)->ListTemplates(req.matches[2]) : Result<std::vector<TemplateInfo>>(s.status());
    if (!t.ok()) {
      SendError(res, t.status());
      return RecordStatus(res.status);
    }
    json j = subject_json(*s);
    json ts = json::array();
    for (const TemplateInfo& x : *t)
      ts.push_back({{"id", x.id}, {"model", x.model_id}, {"model_version", x.model_version}, {"dim", x.dim},
                    {"quality", x.quality}, {"source_image_hash", x.source_image_hash}, {"created_at", x.created_at}});
    j["template_list"] = ts;
    SendJson(res, 200, j);
    RecordStatus(200);
  });
  // Deleting a subject (and its templates) or one template: committed, and out of the search
  // index, before the answer.
  http.Delete(R"(/v1/galleries/([A-Za-z0-9_.\-]+)/subjects/([^/]+))", [this](const httplib::Request& req,
                                                                             httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/false)) return;
    auto g = OpenGallery(req.matches[1], /*for_templates=*/false);
    const Status st = g.ok() ? (*g)->DeleteSubject(req.matches[2]) : g.status();
    if (!st.ok()) SendError(res, st);
    else SendJson(res, 200, {{"gallery", req.matches[1]}, {"deleted_subject", req.matches[2]}});
    RecordStatus(res.status);
  });
  http.Delete(R"(/v1/galleries/([A-Za-z0-9_.\-]+)/templates/([0-9]{1,18}))", [this](const httplib::Request& req,
                                                                                   httplib::Response& res) {
    if (!AuthenticateAdmin(req, res, /*admin=*/false)) return;
    auto g = OpenGallery(req.matches[1], /*for_templates=*/false);
    const int64_t id = std::atoll(req.matches[2].str().c_str());
    const Status st = g.ok() ? (*g)->RemoveTemplate(id) : g.status();
    if (!st.ok()) SendError(res, st);
    else SendJson(res, 200, {{"gallery", req.matches[1]}, {"deleted_template", id}});
    RecordStatus(res.status);
  });

  // 1:N: the top-k subjects for every face of the photo.
  http.Post(R"(/v1/galleries/([A-Za-z0-9_.\-]+)/identify)", [this](const httplib::Request& req, httplib::Response& res) {
    RunJob(req, res, [&]() -> int {
      auto g = OpenGallery(req.matches[1]);
      if (!g.ok()) return SendError(res, g.status()), 0;
      int k = 5;
      if (req.has_param("k")) k = std::atoi(req.get_param_value("k").c_str());
      if (k < 1 || k > 1000) return SendError(res, InvalidArgument("k must be 1..1000")), 0;
      auto photo = DetectBody(req.body, "request body");
      if (!photo.ok()) return SendDecodeError(res, photo.status()), 0;
      auto faces = batcher->Process(*photo);
      if (!faces.ok()) return SendError(res, faces.status()), 0;
      json arr = json::array();
      const GalleryInfo info = (*g)->info();
      for (const Face& f : *faces) {
        json jf = FaceToJson(f, pipeline::TemplateJson::kNone);
        auto m = (*g)->Identify(f.templ.data, ModelTag{f.templ.model, info.model_version}, k);
        if (!m.ok()) return SendError(res, m.status()), 0;
        json ms = json::array();
        for (const Match& x : *m)
          ms.push_back({{"external_id", x.external_id}, {"display_name", x.display_name}, {"score", x.score},
                        {"far", x.far}});
        jf["matches"] = ms;
        arr.push_back(jf);
      }
      SendJson(res, 200, {{"gallery", req.matches[1]}, {"faces", arr}});
      return static_cast<int>(faces->size());
    });
  });

  // Enrolment of the largest face of the photo; acknowledged = committed (the gallery's
  // store is durable: docs/gallery.md, crash safety).
  http.Post(R"(/v1/galleries/([A-Za-z0-9_.\-]+)/subjects/([^/]+)/enroll)",
            [this](const httplib::Request& req, httplib::Response& res) {
              RunJob(req, res, [&]() -> int {
                auto g = OpenGallery(req.matches[1]);
                if (!g.ok()) return SendError(res, g.status()), 0;
                auto photo = DetectBody(req.body, "request body");
                if (!photo.ok()) return SendDecodeError(res, photo.status()), 0;
                auto faces = batcher->Process(*photo);
                if (!faces.ok()) return SendError(res, faces.status()), 0;
                const Face* f = LargestFace(*faces);
                if (!f) return SendError(res, 422, InvalidArgument("no face found in the photo")), 0;
                TemplateInput in;
                in.vector = f->templ.data;
                in.quality = f->quality.score;
                in.source_image_hash = ApiKeys::Sha256Hex(req.body);
                EnrollOptions eo;
                eo.display_name = req.get_param_value("name");
                const GalleryInfo info = (*g)->info();
                auto ids = (*g)->Enroll(req.matches[2], ModelTag{f->templ.model, info.model_version}, {in}, eo);
                if (!ids.ok()) return SendError(res, ids.status()), 0;
                SendJson(res, 201, {{"gallery", req.matches[1]}, {"subject", req.matches[2]},
                                    {"template_ids", *ids}, {"face", FaceToJson(*f, pipeline::TemplateJson::kNone)}});
                return 1;
              });
            });
}

json Server::Impl::StatusJson() {
  const SchedulerStats s = scheduler->Stats();
  const BatcherStats b = batcher->Stats();
  json j;
  j["version"] = FK_VERSION;
  j["uptime_s"] = std::chrono::duration<double>(Clock::now() - started).count();
  j["state"] = stopping ? "stopping" : "serving";
  j["engine"] = engine->description();
  j["device"] = {{"use_cuda", cfg.face.use_cuda}, {"gpu_index", cfg.face.gpu_index}, {"precision", cfg.face.precision}};
  j["auth"] = cfg.auth;
  j["limits"] = {{"max_concurrent", cfg.limits.max_concurrent}, {"max_per_user", cfg.limits.max_per_user},
                 {"max_queue", cfg.limits.max_queue}, {"max_queue_per_user", cfg.limits.max_queue_per_user},
                 {"queue_timeout_ms", cfg.limits.queue_timeout.count()}, {"max_image_bytes", cfg.max_image_bytes},
                 {"max_image_pixels", cfg.max_image_pixels}, {"max_batch_photos", cfg.max_batch_photos},
                 {"max_request_bytes", cfg.max_request_bytes}};
  json users = json::array();
  for (const UserLoad& u : s.users) users.push_back({{"user", u.user}, {"running", u.running}, {"queued", u.queued}});
  j["jobs"] = {{"running", s.running}, {"queued", s.queued}, {"admitted", s.admitted},
               {"rejected_queue_full", s.rejected_full}, {"timed_out", s.timed_out},
               {"refused_shutdown", s.refused_shutdown}, {"max_wait_ms", s.max_wait_ms}, {"users", users}};
  json hist = json::object();
  for (size_t i = 1; i < b.histogram.size(); ++i)
    if (b.histogram[i]) hist[std::to_string(i)] = b.histogram[i];
  j["batching"] = {{"max_batch", cfg.batching.max_batch}, {"max_delay_us", cfg.batching.max_delay.count()},
                   {"workers", cfg.batching.workers}, {"batches", b.batches}, {"photos", b.photos},
                   {"mean_batch", b.mean_batch}, {"max_batch_seen", b.max_batch_seen}, {"histogram", hist},
                   {"busy_s", b.busy_s}, {"mean_queue_ms", b.mean_queue_ms}, {"queued", b.queued}};
  {
    // The engine's detector batching across request threads (FaceConfig::detect_batching).
    const DetectBatchingStats d = engine->detect_batching_stats();
    j["batching"]["detect"] = {{"enabled", d.enabled},       {"max_batch", d.max_batch},
                               {"batches", d.batches},       {"photos", d.photos},
                               {"mean_batch", d.mean_batch}, {"max_batch_seen", d.max_batch_seen},
                               {"busy_s", d.busy_s},         {"mean_queue_ms", d.mean_queue_ms},
                               {"queued", d.queued}};
  }
  {
    // Where the engine's time went since the start, step by step (FaceEngine::StepTimes): wall
    // and calling-thread CPU seconds summed over threads; the batch workers run mesh_*, embed_*,
    // attributes_* and quality, the request threads decode and detect_*.
    json steps = json::object();
    for (const StepTime& t : engine->StepTimes())
      steps[t.step] = {{"wall_s", t.wall_ms / 1e3}, {"cpu_s", t.cpu_ms / 1e3}, {"calls", t.calls}, {"items", t.items}};
    j["steps"] = steps;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    json codes = json::object();
    for (const auto& [code, n] : by_status) codes[std::to_string(code)] = n;
    std::vector<double> lat;
    lat.reserve(ring.size());
    const auto now = Clock::now();
    Clock::time_point oldest = now;
    int64_t recent_faces = 0, recent_photos = 0;
    for (const Done& d : ring) {
      lat.push_back(d.ms);
      if (now - d.at <= std::chrono::seconds(10)) {
        ++recent_photos;
        recent_faces += d.faces;
        oldest = std::min(oldest, d.at);
      }
    }
    // Rate over the last 10 s (or since the start, when younger; or the span the ring
    // covers when it holds less than 10 s of requests).
    const double up = std::chrono::duration<double>(now - started).count();
    const bool ring_full = ring.size() == kRing;
    const double span = std::max(1e-3, ring_full ? std::min(10.0, std::chrono::duration<double>(now - oldest).count())
                                                 : std::min(10.0, up));
    j["requests"] = {{"by_status", codes}, {"photos", photos}, {"faces", faces}, {"decoded_twice", refined.load()},
                     {"last_10s", {{"photos_per_s", recent_photos ? recent_photos / span : 0.0},
                                   {"faces_per_s", recent_photos ? recent_faces / span : 0.0}}},
                     {"latency_ms", {{"window", lat.size()}, {"p50", Percentile(lat, 0.5)},
                                     {"p90", Percentile(lat, 0.9)}, {"p99", Percentile(lat, 0.99)}}}};
  }
  json gj = GpuReportToJson(gpu->Sample());
  json win = json::array();
  for (const auto& w : gpu->WindowSummary())
    win.push_back({{"index", w.index}, {"mean_util_pct", w.mean_util_pct}, {"max_util_pct", w.max_util_pct},
                   {"max_mem_used_bytes", w.max_mem_used_bytes}, {"samples", w.samples}});
  gj["window"] = win;
  j["gpu"] = gj;
  if (db) {
    std::lock_guard<std::mutex> lock(galleries_mu);
    json gs = json::array();
    for (const auto& [name, g] : galleries) {
      const GalleryInfo i = g->info();
      gs.push_back({{"name", name}, {"subjects", i.num_subjects}, {"templates", i.num_templates},
                    {"search", g->index_device()}});
    }
    j["galleries_open"] = gs;
  }
  return j;
}

// Every number is taken from StatusJson(), so /metrics and /status cannot disagree.
std::string Server::Impl::MetricsText(const json& j) {
  std::ostringstream o;
  auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  auto num = [](const json& v) { return v.is_number() ? v.get<double>() : 0.0; };
  metric("facekit_uptime_seconds", "gauge", "Seconds since the server started.");
  o << "facekit_uptime_seconds " << num(j["uptime_s"]) << "\n";
  metric("facekit_requests_total", "counter", "Finished requests by HTTP status.");
  for (auto it = j["requests"]["by_status"].begin(); it != j["requests"]["by_status"].end(); ++it)
    o << "facekit_requests_total{status=\"" << it.key() << "\"} " << num(it.value()) << "\n";
  metric("facekit_photos_total", "counter", "Photos answered with 200.");
  o << "facekit_photos_total " << num(j["requests"]["photos"]) << "\n";
  metric("facekit_faces_total", "counter", "Faces returned.");
  o << "facekit_faces_total " << num(j["requests"]["faces"]) << "\n";
  metric("facekit_request_latency_ms", "summary", "Latency of recent successful requests (last 4096).");
  for (const char* q : {"p50", "p90", "p99"})
    o << "facekit_request_latency_ms{quantile=\"0." << (q + 1) << "\"} " << num(j["requests"]["latency_ms"][q]) << "\n";
  const json& jobs = j["jobs"];
  metric("facekit_jobs_running", "gauge", "Jobs holding a slot.");
  o << "facekit_jobs_running " << num(jobs["running"]) << "\n";
  metric("facekit_jobs_queued", "gauge", "Jobs waiting for a slot.");
  o << "facekit_jobs_queued " << num(jobs["queued"]) << "\n";
  metric("facekit_jobs_admitted_total", "counter", "Jobs that got a slot.");
  o << "facekit_jobs_admitted_total " << num(jobs["admitted"]) << "\n";
  metric("facekit_jobs_rejected_total", "counter", "Jobs refused: queue full (429), waited too long (503), shutting down.");
  o << "facekit_jobs_rejected_total{reason=\"queue_full\"} " << num(jobs["rejected_queue_full"]) << "\n"
    << "facekit_jobs_rejected_total{reason=\"timeout\"} " << num(jobs["timed_out"]) << "\n"
    << "facekit_jobs_rejected_total{reason=\"shutdown\"} " << num(jobs["refused_shutdown"]) << "\n";
  const json& b = j["batching"];
  metric("facekit_batches_total", "counter", "Pipeline batch calls.");
  o << "facekit_batches_total " << num(b["batches"]) << "\n";
  metric("facekit_batch_photos_total", "counter", "Photos processed in batches.");
  o << "facekit_batch_photos_total " << num(b["photos"]) << "\n";
  metric("facekit_batch_busy_seconds_total", "counter", "Worker time inside the pipeline's batch calls.");
  o << "facekit_batch_busy_seconds_total " << num(b["busy_s"]) << "\n";
  if (b.contains("detect") && b["detect"].value("enabled", false)) {
    const json& d = b["detect"];
    metric("facekit_detect_batches_total", "counter", "Detector runs of the detector batching (photos of several requests).");
    o << "facekit_detect_batches_total " << num(d["batches"]) << "\n";
    metric("facekit_detect_batch_photos_total", "counter", "Photos detected in those runs.");
    o << "facekit_detect_batch_photos_total " << num(d["photos"]) << "\n";
  }
  if (j.contains("steps")) {
    metric("facekit_step_seconds_total", "counter", "Engine time by pipeline step, wall seconds summed over threads.");
    for (const auto& [name, v] : j["steps"].items())
      o << "facekit_step_seconds_total{step=\"" << name << "\"} " << num(v["wall_s"]) << "\n";
    metric("facekit_step_cpu_seconds_total", "counter", "Engine time by pipeline step, calling-thread CPU seconds.");
    for (const auto& [name, v] : j["steps"].items())
      o << "facekit_step_cpu_seconds_total{step=\"" << name << "\"} " << num(v["cpu_s"]) << "\n";
  }
  const json& g = j["gpu"];
  metric("facekit_gpu_available", "gauge", "1 when NVML reports the GPUs.");
  o << "facekit_gpu_available " << (g.value("available", false) ? 1 : 0) << "\n";
  if (g.contains("gpus") && !g["gpus"].empty()) {
    metric("facekit_gpu_utilization_percent", "gauge", "GPU utilisation (NVML).");
    for (const json& x : g["gpus"]) o << "facekit_gpu_utilization_percent{gpu=\"" << num(x["index"]) << "\"} " << num(x["util_gpu_pct"]) << "\n";
    metric("facekit_gpu_memory_used_bytes", "gauge", "GPU memory used (NVML).");
    for (const json& x : g["gpus"]) o << "facekit_gpu_memory_used_bytes{gpu=\"" << num(x["index"]) << "\"} " << num(x["mem_used_bytes"]) << "\n";
    metric("facekit_gpu_memory_total_bytes", "gauge", "GPU memory (NVML).");
    for (const json& x : g["gpus"]) o << "facekit_gpu_memory_total_bytes{gpu=\"" << num(x["index"]) << "\"} " << num(x["mem_total_bytes"]) << "\n";
  }
  return o.str();
}

Status Server::Start() {
  Impl& m = *impl_;
  if (m.listener.joinable()) return FailedPrecondition("server already started");
  if (m.cfg.port == 0) {
    m.bound_port = m.http.bind_to_any_port(m.cfg.host);
    if (m.bound_port <= 0) return Unavailable("cannot bind any port on " + m.cfg.host);
  } else {
    if (!m.http.bind_to_port(m.cfg.host, m.cfg.port))
      return Unavailable("cannot listen on " + m.cfg.host + ":" + std::to_string(m.cfg.port) +
                         " (port in use or not permitted; choose another with listen.port or --port)");
    m.bound_port = m.cfg.port;
  }
  // libcpp-httplib listens with a backlog of 5 (compiled into the Debian library): a burst of
  // new connections then overflows the accept queue (dropped SYNs, 1-s client retries, resets).
  // Calling listen() again on the bound socket raises the backlog.
  if (m.listen_socket >= 0) ::listen(m.listen_socket, SOMAXCONN);
  m.listener = std::thread([&m] { m.http.listen_after_bind(); });
  if (m.cfg.auth == "none")
    std::fprintf(stderr, "facekit serve: WARNING: authentication is off (\"auth\": \"none\"): anyone who can reach "
                         "%s:%d can use this server\n", m.cfg.host.c_str(), m.bound_port);
  return OkStatus();
}

int Server::port() const { return impl_->bound_port; }

void Server::Stop(int drain_ms) {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.stop_mu);
    if (m.stopped) return;
    m.stopped = true;
  }
  m.stopping = true;
  m.scheduler->Shutdown();  // waiting and new jobs: 503
  m.scheduler->WaitIdle(std::chrono::milliseconds(drain_ms));
  m.http.stop();
  if (m.listener.joinable()) m.listener.join();
  m.batcher->Stop();
  m.gpu->StopSampling();
  {
    std::lock_guard<std::mutex> lock(m.stop_mu);
    m.finished = true;
    m.stop_cv.notify_all();
  }
}

void Server::Wait() {
  std::unique_lock<std::mutex> lock(impl_->stop_mu);
  impl_->stop_cv.wait(lock, [&] { return impl_->finished; });
}

std::string Server::Describe() const {
  const Impl& m = *impl_;
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "http://%s:%d  %s  auth=%s  limits: %d jobs (%d per user), queue %d, batch <= %d (%lld us, %d "
                "worker%s x %d model thread%s)%s",
                m.cfg.host.c_str(), m.bound_port, m.engine->description().c_str(), m.cfg.auth.c_str(),
                m.cfg.limits.max_concurrent, m.cfg.limits.max_per_user, m.cfg.limits.max_queue,
                m.cfg.batching.max_batch, static_cast<long long>(m.cfg.batching.max_delay.count()),
                m.cfg.batching.workers, m.cfg.batching.workers == 1 ? "" : "s", m.cfg.face.num_threads,
                m.cfg.face.num_threads == 1 ? "" : "s",
                m.db ? ("  galleries: " + m.cfg.gallery_db).c_str() : "");
  return buf;
}

}  // namespace fk::server
