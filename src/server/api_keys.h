// API keys of the processing server: which user a request belongs to (the per-user
// concurrency limit counts jobs per user).
//
// Keys file (JSON; docs/server.md):
//   {"keys": [{"user": "alice", "key_sha256": "<64 hex>"},     // preferred: only the hash
//             {"user": "bob",   "key": "<plain key>"},         // accepted, for tests/dev
//             {"user": "batch", "key_sha256": "...", "max_concurrent": 32}]}  // own per-user limit
// `facekit serve --new-key USER` prints a fresh random key and the line to put in the file.
// Clients send the key as `X-API-Key: KEY` or `Authorization: Bearer KEY`.
//
// Thread-safety: immutable after Load(); Lookup() may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "facekit/status.h"

namespace fk::server {

class ApiKeys {
 public:
  // InvalidArgument naming the entry for a malformed file (missing user, key of < 16
  // characters, bad hex, duplicate key); NotFound / IoError for the file itself.
  static Result<ApiKeys> Load(const std::string& path);
  static Result<ApiKeys> FromJson(const std::string& json_text, const std::string& source = "<keys>");

  struct Identity {
    std::string user;
    int max_concurrent = 0;  // this key's own per-user limit; 0 = limits.max_per_user
    bool admin = false;      // may create and delete galleries ("admin": true in the keys file)
  };
  // The user of `key`, or nullopt. Compares SHA-256 digests in constant time.
  std::optional<std::string> Lookup(const std::string& key) const;
  std::optional<Identity> Identify(const std::string& key) const;
  size_t size() const { return entries_.size(); }

  // 32 random bytes from the OS as 64 hex characters (std::random_device).
  static std::string NewKey();
  static std::string Sha256Hex(const std::string& data);

 private:
  struct Entry {
    std::string user;
    int max_concurrent = 0;
    bool admin = false;
    std::array<uint8_t, 32> digest{};
  };
  std::vector<Entry> entries_;
};

// The key of a request from its headers (X-API-Key first, then "Authorization: Bearer").
std::string KeyFromHeaders(const std::string& x_api_key, const std::string& authorization);

}  // namespace fk::server
