// facekit — HTTP load generator (see load_client.h for the counting contract).
#include "server/load_client.h"

#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

namespace fk::server {
namespace {

using Clock = std::chrono::steady_clock;

std::string Endpoint(const LoadOptions& o) { return o.host + ":" + std::to_string(o.port); }

Status ValidateOptions(const LoadOptions& o) {
  if (o.host.empty()) return InvalidArgument("load client: empty host");
  if (o.port <= 0 || o.port > 65535)
    return InvalidArgument("load client: port " + std::to_string(o.port) +
                           " is out of range (1..65535)");
  if (o.path.empty() || o.path[0] != '/')
    return InvalidArgument("load client: path '" + o.path + "' must start with '/'");
  if (o.bodies.empty())
    return InvalidArgument("load client: no request bodies (give at least one photo)");
  for (size_t i = 0; i < o.bodies.size(); ++i)
    if (o.bodies[i].empty())
      return InvalidArgument("load client: request body " + std::to_string(i) + " is empty");
  if (o.concurrency < 1 || o.concurrency > 4096)
    return InvalidArgument("load client: concurrency " + std::to_string(o.concurrency) +
                           " is out of range (1..4096)");
  if (!std::isfinite(o.duration_s) || !std::isfinite(o.warmup_s) || o.warmup_s < 0)
    return InvalidArgument("load client: warm-up and duration must be finite, warm-up >= 0");
  if (o.max_requests < 0) return InvalidArgument("load client: max_requests must be >= 0");
  if (o.duration_s <= 0 && o.max_requests == 0)
    return InvalidArgument("load client: give a duration > 0 or max_requests > 0");
  if (!(o.timeout_s > 0) || !std::isfinite(o.timeout_s))
    return InvalidArgument("load client: timeout must be > 0 seconds");
  if (!(o.pause_after_429_s >= 0))
    return InvalidArgument("load client: pause_after_429_s must be >= 0");
  return OkStatus();
}

// One TCP connect before the threads start, so that "nothing listens there" is an error of
// RunLoad naming host:port instead of a result made only of transport errors.
Status ProbeConnect(const LoadOptions& o) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(o.port);
  if (int rc = getaddrinfo(o.host.c_str(), port.c_str(), &hints, &list); rc != 0)
    return Unavailable("load client: cannot resolve host '" + o.host + "': " + gai_strerror(rc));
  std::string last = "no address";
  const int timeout_ms = static_cast<int>(std::min(o.timeout_s, 10.0) * 1000);
  bool connected = false;
  for (addrinfo* a = list; a != nullptr && !connected; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, timeout_ms);
      if (rc == 0) {
        last = "connect timed out";
        rc = -1;
      } else if (rc > 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
        if (err != 0) last = std::strerror(err);
      } else {
        last = std::strerror(errno);
      }
    } else if (rc != 0) {
      last = std::strerror(errno);
    }
    connected = rc == 0;
    close(fd);
  }
  freeaddrinfo(list);
  if (!connected)
    return Unavailable("load client: cannot connect to " + Endpoint(o) + " (" + last +
                       "); is the server running and listening on that port?");
  return OkStatus();
}

// Nearest-rank percentile of a sorted vector.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string Truncate(std::string s, size_t n) {
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

struct ThreadStats {
  int64_t ok = 0, rejected_429 = 0, errors = 0, faces = 0;
  std::vector<double> latencies_ms;
};

// Shared state of one run.
struct Run {
  explicit Run(const LoadOptions& o) : opts(o) {}
  const LoadOptions& opts;
  Clock::time_point t0, warm_end, window_end;  // window_end == max() without a duration
  std::atomic<bool> stop{false};
  std::atomic<int64_t> counted{0};          // for max_requests
  std::atomic<int64_t> last_counted_ns{0};  // finish time of the last counted answer (from t0)
  std::mutex error_mu;
  std::string first_error;

  void NoteError(const std::string& e) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.empty()) first_error = e;
  }
};

void ClientThread(Run& run, int index, ThreadStats& st) {
  const LoadOptions& o = run.opts;
  httplib::Client cli(o.host, o.port);
  cli.set_keep_alive(true);
  cli.set_tcp_nodelay(true);  // headers and body go out in two writes: no Nagle / delayed-ACK stall
  const auto to_sec = static_cast<time_t>(o.timeout_s);
  const auto to_usec = static_cast<time_t>((o.timeout_s - static_cast<double>(to_sec)) * 1e6);
  cli.set_connection_timeout(to_sec, to_usec);
  cli.set_read_timeout(to_sec, to_usec);
  cli.set_write_timeout(to_sec, to_usec);
  httplib::Headers headers;
  if (!o.api_key.empty()) headers.emplace("X-API-Key", o.api_key);

  size_t next = static_cast<size_t>(index) % o.bodies.size();
  while (!run.stop.load(std::memory_order_relaxed)) {
    const auto start = Clock::now();
    if (start >= run.window_end) break;
    const std::vector<uint8_t>& body = o.bodies[next];
    next = (next + 1) % o.bodies.size();

    auto res = cli.Post(o.path, headers, reinterpret_cast<const char*>(body.data()), body.size(),
                        o.content_type);
    const auto end = Clock::now();

    // Classify the answer.
    enum { kOk, k429, kError } kind = kError;
    int64_t faces = 0;
    std::string error;
    if (!res) {
      error = "transport error talking to " + Endpoint(o) + ": " + httplib::to_string(res.error());
    } else if (res->status == 200) {
      nlohmann::json j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("faces") && j["faces"].is_array()) {
        kind = kOk;
        faces = static_cast<int64_t>(j["faces"].size());
      } else {
        error = "HTTP 200 without a JSON \"faces\" array: " + Truncate(res->body, 300);
      }
    } else if (res->status == 429) {
      kind = k429;
    } else {
      error = "HTTP " + std::to_string(res->status) + ": " + Truncate(res->body, 300);
    }
    if (kind == kError) run.NoteError(error);

    // Count it when it finished inside the window (and within max_requests).
    bool counts = end >= run.warm_end && end < run.window_end;
    if (counts && o.max_requests > 0) {
      const int64_t n = run.counted.fetch_add(1);
      if (n >= o.max_requests) counts = false;
      if (n + 1 >= o.max_requests) run.stop.store(true);
    }
    if (counts) {
      const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(end - run.t0).count();
      int64_t prev = run.last_counted_ns.load();
      while (prev < ns && !run.last_counted_ns.compare_exchange_weak(prev, ns)) {
      }
      switch (kind) {
        case kOk:
          ++st.ok;
          st.faces += faces;
          st.latencies_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
          break;
        case k429:
          ++st.rejected_429;
          break;
        case kError:
          ++st.errors;
          break;
      }
    }
    if (kind == k429 && o.pause_after_429_s > 0)
      std::this_thread::sleep_for(std::chrono::duration<double>(o.pause_after_429_s));
    if (kind == kError && !res) {
      // The server went away (or timed out): do not spin on connection refusals.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace

Result<LoadResult> RunLoad(const LoadOptions& opts) {
  FK_RETURN_IF_ERROR(ValidateOptions(opts));
  FK_RETURN_IF_ERROR(ProbeConnect(opts));

  Run run(opts);
  run.t0 = Clock::now();
  run.warm_end = run.t0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(opts.warmup_s));
  run.window_end = opts.duration_s > 0
                       ? run.warm_end + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(opts.duration_s))
                       : Clock::time_point::max();

  std::vector<ThreadStats> stats(static_cast<size_t>(opts.concurrency));
  std::vector<std::thread> threads;
  threads.reserve(stats.size());
  for (int i = 0; i < opts.concurrency; ++i)
    threads.emplace_back(ClientThread, std::ref(run), i, std::ref(stats[static_cast<size_t>(i)]));
  for (auto& t : threads) t.join();

  LoadResult r;
  std::vector<double> lat;
  for (auto& s : stats) {
    r.ok += s.ok;
    r.rejected_429 += s.rejected_429;
    r.errors += s.errors;
    r.faces += s.faces;
    lat.insert(lat.end(), s.latencies_ms.begin(), s.latencies_ms.end());
  }
  r.requests = r.ok + r.rejected_429 + r.errors;
  // The window: warm-up end to the window end, or to the last counted answer when
  // max_requests ended the run first.
  const bool ended_by_max = opts.max_requests > 0 && run.counted.load() >= opts.max_requests;
  if (ended_by_max || opts.duration_s <= 0) {
    const auto last = run.t0 + std::chrono::nanoseconds(run.last_counted_ns.load());
    r.wall_s = std::max(0.0, std::chrono::duration<double>(last - run.warm_end).count());
  } else {
    r.wall_s = opts.duration_s;
  }
  if (r.wall_s > 0) {
    r.requests_per_s = static_cast<double>(r.requests) / r.wall_s;
    r.faces_per_s = static_cast<double>(r.faces) / r.wall_s;
  }
  std::sort(lat.begin(), lat.end());
  r.p50_ms = Percentile(lat, 50);
  r.p90_ms = Percentile(lat, 90);
  r.p99_ms = Percentile(lat, 99);
  r.max_ms = lat.empty() ? 0 : lat.back();
  r.first_error = run.first_error;
  return r;
}

nlohmann::json LoadResultToJson(const LoadResult& r) {
  return {
      {"requests", r.requests},
      {"ok", r.ok},
      {"rejected_429", r.rejected_429},
      {"errors", r.errors},
      {"faces", r.faces},
      {"wall_s", r.wall_s},
      {"requests_per_s", r.requests_per_s},
      {"faces_per_s", r.faces_per_s},
      {"latency_ms", {{"p50", r.p50_ms}, {"p90", r.p90_ms}, {"p99", r.p99_ms}, {"max", r.max_ms}}},
      {"first_error", r.first_error}};
}

}  // namespace fk::server
