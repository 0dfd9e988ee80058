#include "server/api_keys.h"

#include <openssl/evp.h>

#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace fk::server {
namespace {

std::array<uint8_t, 32> Sha256(const std::string& data) {
  std::array<uint8_t, 32> d{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

std::string Hex(const uint8_t* p, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = k[p[i] >> 4];
    s[2 * i + 1] = k[p[i] & 15];
  }
  return s;
}

bool FromHex(const std::string& hex, std::array<uint8_t, 32>* out) {
  if (hex.size() != 64) return false;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = v(hex[2 * i]), lo = v(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

std::string ApiKeys::Sha256Hex(const std::string& data) {
  const auto d = Sha256(data);
  return Hex(d.data(), d.size());
}

std::string ApiKeys::NewKey() {
  std::random_device rd;
  uint8_t b[32];
  for (size_t i = 0; i < sizeof(b); i += 4) {
    const uint32_t r = rd();
    for (size_t k = 0; k < 4; ++k) b[i + k] = static_cast<uint8_t>(r >> (8 * k));
  }
  return Hex(b, sizeof(b));
}

Result<ApiKeys> ApiKeys::FromJson(const std::string& json_text, const std::string& source) {
  using nlohmann::json;
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("keys") || !j["keys"].is_array())
    return InvalidArgument(source + ": expected a JSON object {\"keys\": [{\"user\": ..., \"key_sha256\": ...}, ...]}");
  ApiKeys keys;
  std::set<std::array<uint8_t, 32>> seen;
  int i = 0;
  for (const json& e : j["keys"]) {
    const std::string where = source + ": keys[" + std::to_string(i++) + "]";
    if (!e.is_object()) return InvalidArgument(where + " is not an object");
    if (!e.contains("user") || !e["user"].is_string() || e["user"].get<std::string>().empty())
      return InvalidArgument(where + ": \"user\" (a non-empty string) is required");
    Entry en;
    en.user = e["user"].get<std::string>();
    if (e.contains("key_sha256")) {
      if (!e["key_sha256"].is_string() || !FromHex(e["key_sha256"].get<std::string>(), &en.digest))
        return InvalidArgument(where + ": \"key_sha256\" must be 64 hex characters (ApiKeys::Sha256Hex of the key)");
    } else if (e.contains("key")) {
      if (!e["key"].is_string() || e["key"].get<std::string>().size() < 16)
        return InvalidArgument(where + ": \"key\" must be a string of at least 16 characters");
      en.digest = Sha256(e["key"].get<std::string>());
    } else {
      return InvalidArgument(where + ": needs \"key_sha256\" (or \"key\")");
    }
    if (e.contains("max_concurrent")) {
      if (!e["max_concurrent"].is_number_integer() || e["max_concurrent"].get<int>() < 1)
        return InvalidArgument(where + ": \"max_concurrent\" must be an integer >= 1 (this user's own concurrency limit)");
      en.max_concurrent = e["max_concurrent"].get<int>();
    }
    if (e.contains("admin")) {
      if (!e["admin"].is_boolean()) return InvalidArgument(where + ": \"admin\" must be true or false");
      en.admin = e["admin"].get<bool>();
    }
    for (auto it = e.begin(); it != e.end(); ++it)
      if (it.key() != "user" && it.key() != "key" && it.key() != "key_sha256" && it.key() != "max_concurrent" &&
          it.key() != "admin")
        return InvalidArgument(where + ": unknown key '" + it.key() +
                               "' (known: user, key_sha256, key, max_concurrent, admin)");
    if (!seen.insert(en.digest).second) return InvalidArgument(where + ": the same key is listed twice");
    keys.entries_.push_back(std::move(en));
  }
  return keys;
}

Result<ApiKeys> ApiKeys::Load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("API keys file '" + path + "' cannot be opened (create it: docs/server.md, \"API keys\")");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return IoError("API keys file '" + path + "': read error");
  return FromJson(ss.str(), path);
}

std::optional<ApiKeys::Identity> ApiKeys::Identify(const std::string& key) const {
  if (key.empty()) return std::nullopt;
  const auto d = Sha256(key);
  const Entry* found = nullptr;
  // Every entry is compared in full (no early exit), so timing does not tell which matched.
  for (const Entry& e : entries_) {
    uint8_t diff = 0;
    for (size_t i = 0; i < d.size(); ++i) diff |= static_cast<uint8_t>(d[i] ^ e.digest[i]);
    if (diff == 0 && !found) found = &e;
  }
  if (!found) return std::nullopt;
  return Identity{found->user, found->max_concurrent, found->admin};
}

std::optional<std::string> ApiKeys::Lookup(const std::string& key) const {
  auto id = Identify(key);
  if (!id) return std::nullopt;
  return id->user;
}

std::string KeyFromHeaders(const std::string& x_api_key, const std::string& authorization) {
  if (!x_api_key.empty()) return x_api_key;
  static const std::string kBearer = "Bearer ";
  if (authorization.size() > kBearer.size() && authorization.compare(0, kBearer.size(), kBearer) == 0)
    return authorization.substr(kBearer.size());
  return "";
}

}  // namespace fk::server
