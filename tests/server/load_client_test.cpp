// Tests for the load generator against a tiny in-process httplib server.
#include "server/load_client.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

namespace fk::server {
namespace {

// /v1/faces: {"faces":[{},{}]}, but 429 for every 5th request; /fail: 500 with a JSON error;
// /notjson: 200 with a body that is not the expected JSON.
class FakeServer {
 public:
  FakeServer() {
    srv_.set_keep_alive_max_count(100000);
    srv_.set_tcp_nodelay(true);
    srv_.Post("/v1/faces", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = ++total_;
      {
        std::lock_guard<std::mutex> lock(mu_);
        remote_ports_.insert(req.remote_port);
        last_api_key_ = req.get_header_value("X-API-Key");
        last_content_type_ = req.get_header_value("Content-Type");
        last_body_size_ = req.body.size();
      }
      if (n % 5 == 0) {
        res.status = 429;
        res.set_header("Retry-After", "1");
        res.set_content(R"({"error":{"code":"queue_full","message":"busy"}})", "application/json");
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      res.set_content(R"({"faces":[{},{}],"ms":1})", "application/json");
    });
    srv_.Post("/fail", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content(R"({"error":{"code":"internal","message":"boom"}})", "application/json");
    });
    srv_.Post("/notjson", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello", "text/plain");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
  }
  ~FakeServer() {
    srv_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  int total() const { return total_.load(); }
  size_t connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return remote_ports_.size();
  }
  std::string last_api_key() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_api_key_;
  }
  std::string last_content_type() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_content_type_;
  }
  size_t last_body_size() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_body_size_;
  }

 private:
  httplib::Server srv_;
  int port_ = -1;
  std::thread thread_;
  std::atomic<int> total_{0};
  std::mutex mu_;
  std::set<int> remote_ports_;
  std::string last_api_key_, last_content_type_;
  size_t last_body_size_ = 0;
};

LoadOptions Options(int port) {
  LoadOptions o;
  o.port = port;
  o.bodies = {std::vector<uint8_t>(1000, 0xAB), std::vector<uint8_t>(1000, 0xCD)};
  o.concurrency = 4;
  o.duration_s = 0.8;
  o.warmup_s = 0.2;
  o.timeout_s = 5;
  return o;
}

TEST(LoadClient, CountsFacesRejectionsAndLatency) {
  FakeServer srv;
  ASSERT_GT(srv.port(), 0);
  LoadOptions o = Options(srv.port());
  o.api_key = "secret-key";
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->ok, 10);
  EXPECT_EQ(r->faces, 2 * r->ok);
  EXPECT_GT(r->rejected_429, 0);
  EXPECT_EQ(r->errors, 0) << r->first_error;
  EXPECT_TRUE(r->first_error.empty());
  EXPECT_EQ(r->requests, r->ok + r->rejected_429 + r->errors);
  // Warm-up answers (and the in-flight ones dropped at the end) are not counted.
  EXPECT_LT(r->requests, srv.total());
  // Roughly one in five requests is a 429 (the server counts globally, warm-up included).
  EXPECT_NEAR(static_cast<double>(r->rejected_429) / static_cast<double>(r->requests), 0.2, 0.05);
  EXPECT_DOUBLE_EQ(r->wall_s, 0.8);
  EXPECT_NEAR(r->requests_per_s, static_cast<double>(r->requests) / 0.8, 1e-9);
  EXPECT_NEAR(r->faces_per_s, static_cast<double>(r->faces) / 0.8, 1e-9);
  EXPECT_GT(r->p50_ms, 0);
  EXPECT_LE(r->p50_ms, r->p90_ms);
  EXPECT_LE(r->p90_ms, r->p99_ms);
  EXPECT_LE(r->p99_ms, r->max_ms);
  EXPECT_GE(r->p50_ms, 1.5);  // the handler sleeps 2 ms
  // Keep-alive: one connection per client thread, and what the server saw.
  EXPECT_LE(srv.connections(), 4u);
  EXPECT_EQ(srv.last_api_key(), "secret-key");
  EXPECT_EQ(srv.last_content_type(), "image/jpeg");
  EXPECT_EQ(srv.last_body_size(), 1000u);

  nlohmann::json j = LoadResultToJson(*r);
  EXPECT_EQ(j["faces"].get<int64_t>(), r->faces);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["p90"].get<double>(), r->p90_ms);
}

TEST(LoadClient, MaxRequestsEndsTheRunEarly) {
  FakeServer srv;
  LoadOptions o = Options(srv.port());
  o.duration_s = 30;  // would time the test out if max_requests were ignored
  o.warmup_s = 0;
  o.max_requests = 25;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
  EXPECT_EQ(r->requests, 25);
  EXPECT_EQ(r->faces, 2 * r->ok);
  EXPECT_GT(r->wall_s, 0);
  EXPECT_LT(r->wall_s, 30);
}

TEST(LoadClient, ErrorsAreCountedWithTheFirstOneKept) {
  FakeServer srv;
  LoadOptions o = Options(srv.port());
  o.concurrency = 2;
  o.duration_s = 0.3;
  o.warmup_s = 0;
  o.path = "/fail";
  auto r = RunLoad(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->errors, 0);
  EXPECT_EQ(r->ok, 0);
  EXPECT_EQ(r->faces, 0);
  EXPECT_EQ(r->p50_ms, 0);
  EXPECT_NE(r->first_error.find("500"), std::string::npos) << r->first_error;
  EXPECT_NE(r->first_error.find("boom"), std::string::npos) << r->first_error;

  o.path = "/notjson";
  r = RunLoad(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->errors, 0);
  EXPECT_EQ(r->ok, 0);
  EXPECT_NE(r->first_error.find("faces"), std::string::npos) << r->first_error;
}

TEST(LoadClient, ConnectionRefusedNamesThePort) {
  // A port that was free a moment ago: bind to an ephemeral port, read it, close it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  close(fd);

  auto r = RunLoad(Options(port));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.status().message();
}

TEST(LoadClient, BadOptionsAreRefused) {
  LoadOptions o = Options(8080);
  o.port = 0;
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(8080);
  o.bodies.clear();
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(8080);
  o.concurrency = 0;
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(8080);
  o.duration_s = 0;
  o.max_requests = 0;
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(8080);
  o.timeout_s = 0;
  EXPECT_EQ(RunLoad(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fk::server
