// The facekit processing server: an HTTP front end (cpp-httplib) over the face pipeline,
// with admission control (server/scheduler.h), dynamic batching (common/batcher.h), API keys
// (server/api_keys.h), galleries for 1:N identification and GPU monitoring.
// Endpoints and config: docs/server.md.
//
//   auto cfg = ServerConfig::FromFile("server.json");
//   auto srv = Server::Create(*cfg);       // loads the models, the keys, the gallery database
//   (*srv)->Start();                       // binds and serves on background threads
//   ... (*srv)->Stop();                    // drains: running jobs finish, queued ones get 503
//
// Thread-safety: Start/Stop/Wait from one controlling thread; requests are served
// concurrently on the HTTP thread pool.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "facekit/face.h"
#include "facekit/status.h"
#include "common/batcher.h"
#include "server/scheduler.h"

namespace fk::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;          // 0 = any free port (Server::port() tells which)
  int http_threads = 0;     // 0 = limits.max_concurrent + 16 (waiting jobs hold a thread)
  // Authentication: "required" (default; every /v1 and /status request needs a key from
  // api_keys_file) or "none" (every request is user "anonymous"; a warning is printed).
  std::string auth = "required";
  std::string api_keys_file;
  SchedulerLimits limits;
  int64_t max_image_bytes = 20 << 20;     // request body limit (413 above)
  int64_t max_image_pixels = 50'000'000;  // width * height in the image header (413 above)
  int max_batch_photos = 64;              // photos in one POST /v1/faces/batch (413 above)
  int64_t max_request_bytes = 256 << 20;  // whole request body, e.g. a batch (413 above)
  // batching.workers 0 (default) = automatic: on the CPU one worker per core with one model
  // thread each (face.num_threads 0 becomes 1), on a GPU 2 workers.
  BatcherOptions batching = AutoWorkers();
  FaceConfig face;          // the pipeline (tier, detector, device: use_cuda, gpu_index, ...)
  std::string gallery_db;   // SQLite path or postgresql:// URL; empty = no gallery endpoints
  int gpu_sample_ms = 1000; // GPU monitor sampling interval for /status (0 = off)

  // JSON (docs/server.md): {"listen": {"host", "port", "http_threads"}, "auth",
  // "api_keys_file", "limits": {max_concurrent, max_per_user, max_queue, max_queue_per_user,
  // queue_timeout_ms, max_image_bytes, max_image_pixels, max_batch_photos, max_request_bytes}, "batching": {max_batch,
  // max_delay_us, workers}, "face": {FaceConfig JSON}, "gallery_db", "gpu_sample_ms"}.
  // Unknown keys and wrong types are InvalidArgument naming the key.
  static Result<ServerConfig> FromJson(const std::string& json_text);
  static BatcherOptions AutoWorkers() {
    BatcherOptions b;
    b.workers = 0;
    return b;
  }
  static Result<ServerConfig> FromFile(const std::string& path);
  Status Validate() const;
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Create(const ServerConfig& config);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port and serves on background threads. Unavailable when the port cannot be
  // bound (in use, permission).
  Status Start();
  int port() const;
  // Graceful stop: new jobs get 503, waiting ones 503, running ones finish (up to
  // `drain_ms`), then the listener closes.
  void Stop(int drain_ms = 30000);
  // Blocks until Stop() (from another thread or a signal handler's thread) has finished.
  void Wait();
  // One-line summary: address, tier, models, device, auth, limits.
  std::string Describe() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fk::server
