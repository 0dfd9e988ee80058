// facekit — HTTP load generator for the processing-server benchmark (`facekit bench server`).
//
// Closed loop: `concurrency` client threads, each with one keep-alive connection (TCP_NODELAY),
// each sending the next request as soon as the previous answer arrived (a short pause after
// a 429, pause_after_429_s, and 10 ms after a transport error, so that a rejecting or dead
// server is not spun on). Bodies are used round robin (thread t
// starts at body t). The same client measures facekit's server and the peer service, so
// both are driven exactly alike.
//
// Counting (contract):
//   - a request counts when it *finishes* inside the measurement window
//     [warmup_s, warmup_s + duration_s) from the start; answers finishing during warm-up or
//     after the window are dropped (threads stop sending at the end of the window and the
//     in-flight answers are waited for, then dropped);
//   - with max_requests > 0 the run also ends as soon as max_requests answers were counted
//     (exactly max_requests are counted; duration_s <= 0 then means "no time limit");
//   - ok: HTTP 200 whose body is JSON with a "faces" array; faces += that array's size;
//     rejected_429: HTTP 429 (not an error); errors: everything else (other statuses,
//     transport errors, timeouts, a 200 that is not the expected JSON);
//     requests = ok + rejected_429 + errors;
//   - latency percentiles (nearest rank) are over the OK requests only; wall_s is the
//     measurement window actually used (shorter when max_requests ended the run).
//
// Thread safety: RunLoad is reentrant; it blocks until the run is over: warm-up + duration,
// plus the wait for the answers in flight at the end (at most timeout_s).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "facekit/status.h"

namespace fk::server {

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/v1/faces";
  std::string api_key;                       // sent as X-API-Key when non-empty
  std::vector<std::vector<uint8_t>> bodies;  // request bodies (photos), used round robin
  std::string content_type = "image/jpeg";
  int concurrency = 1;               // client threads, each one keep-alive connection, closed loop
  double duration_s = 10;            // measurement window after warm-up
  double warmup_s = 1;               // requests finishing during warm-up are not counted
  int max_requests = 0;              // 0 = until duration
  double timeout_s = 60;             // connect / read / write timeout of one request
  double pause_after_429_s = 0.005;  // a thread waits this long after a 429 before its next request
};

struct LoadResult {
  int64_t requests = 0, ok = 0, rejected_429 = 0, errors = 0;  // counted after warm-up
  int64_t faces = 0;  // sum of the "faces" array sizes of the 200 answers
  double wall_s = 0, requests_per_s = 0, faces_per_s = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;  // latency of OK requests
  std::string first_error;  // status + body of the first failure (warm-up included), for the report
};

// Runs the load. Errors (the run does not start): InvalidArgument for bad options
// (port, concurrency, no bodies, no duration and no max_requests...), Unavailable when
// host:port cannot be resolved or connected to. Failures during the run are counted in
// the result, not returned.
Result<LoadResult> RunLoad(const LoadOptions& opts);

// {"requests", "ok", "rejected_429", "errors", "faces", "wall_s", "requests_per_s",
//  "faces_per_s", "latency_ms": {"p50", "p90", "p99", "max"}, "first_error"} for --json reports.
nlohmann::json LoadResultToJson(const LoadResult& r);

}  // namespace fk::server
