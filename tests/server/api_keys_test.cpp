#include <gtest/gtest.h>

#include "server/api_keys.h"

namespace fk::server {
namespace {

TEST(ApiKeys, Sha256MatchesTheStandardVector) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(ApiKeys::Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKeys, LooksUpPlainAndHashedKeys) {
  const std::string k1 = "alice-key-0123456789", k2 = ApiKeys::NewKey();
  auto keys = ApiKeys::FromJson(R"({"keys": [{"user": "alice", "key": ")" + k1 + R"("},
                                             {"user": "bob", "key_sha256": ")" + ApiKeys::Sha256Hex(k2) + R"("}]})");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_EQ(keys->Lookup(k1).value_or(""), "alice");
  EXPECT_EQ(keys->Lookup(k2).value_or(""), "bob");
  EXPECT_FALSE(keys->Lookup("").has_value());
  EXPECT_FALSE(keys->Lookup(k1 + "x").has_value());
  EXPECT_FALSE(keys->Lookup(ApiKeys::Sha256Hex(k2)).has_value());  // the hash is not the key
}

TEST(ApiKeys, NewKeysAreLongAndDistinct) {
  const std::string a = ApiKeys::NewKey(), b = ApiKeys::NewKey();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
}

TEST(ApiKeys, MalformedFilesNameTheEntry) {
  EXPECT_EQ(ApiKeys::FromJson("nope").status().code(), StatusCode::kInvalidArgument);
  auto r = ApiKeys::FromJson(R"({"keys": [{"key": "0123456789abcdef0"}]})");
  EXPECT_NE(r.status().message().find("keys[0]"), std::string::npos);
  EXPECT_NE(r.status().message().find("user"), std::string::npos);
  r = ApiKeys::FromJson(R"({"keys": [{"user": "a", "key": "short"}]})");
  EXPECT_NE(r.status().message().find("16"), std::string::npos);
  r = ApiKeys::FromJson(R"({"keys": [{"user": "a", "key_sha256": "zz"}]})");
  EXPECT_NE(r.status().message().find("64 hex"), std::string::npos);
  r = ApiKeys::FromJson(R"({"keys": [{"user": "a", "key": "0123456789abcdef0"}, {"user": "b", "key": "0123456789abcdef0"}]})");
  EXPECT_NE(r.status().message().find("twice"), std::string::npos);
  EXPECT_EQ(ApiKeys::Load("/nonexistent/keys.json").status().code(), StatusCode::kNotFound);
}

TEST(ApiKeys, PerKeyConcurrencyLimit) {
  auto keys = ApiKeys::FromJson(R"({"keys": [{"user": "batch", "key": "batch-key-0123456789", "max_concurrent": 32},
                                             {"user": "web", "key": "web-key-0123456789ab"}]})");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  auto b = keys->Identify("batch-key-0123456789");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->user, "batch");
  EXPECT_EQ(b->max_concurrent, 32);
  EXPECT_EQ(keys->Identify("web-key-0123456789ab")->max_concurrent, 0);  // the server's default
  auto bad = ApiKeys::FromJson(R"({"keys": [{"user": "a", "key": "0123456789abcdef0", "max_concurrent": 0}]})");
  EXPECT_NE(bad.status().message().find("max_concurrent"), std::string::npos);
  bad = ApiKeys::FromJson(R"({"keys": [{"user": "a", "key": "0123456789abcdef0", "limit": 3}]})");
  EXPECT_NE(bad.status().message().find("unknown key 'limit'"), std::string::npos);
}

TEST(ApiKeys, AdminFlag) {
  auto keys = ApiKeys::FromJson(R"({"keys": [{"user": "root", "key": "root-key-0123456789", "admin": true},
                                             {"user": "app", "key": "app-key-0123456789a"},
                                             {"user": "ro", "key": "ro-key-0123456789ab", "admin": false}]})");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_TRUE(keys->Identify("root-key-0123456789")->admin);
  EXPECT_FALSE(keys->Identify("app-key-0123456789a")->admin);
  EXPECT_FALSE(keys->Identify("ro-key-0123456789ab")->admin);
  auto bad = ApiKeys::FromJson(R"({"keys": [{"user": "a", "key": "0123456789abcdef0", "admin": 1}]})");
  EXPECT_NE(bad.status().message().find("admin"), std::string::npos) << bad.status().ToString();
}

TEST(ApiKeys, KeyFromHeaders) {
  EXPECT_EQ(KeyFromHeaders("k1", "Bearer k2"), "k1");
  EXPECT_EQ(KeyFromHeaders("", "Bearer k2"), "k2");
  EXPECT_EQ(KeyFromHeaders("", "Basic xyz"), "");
  EXPECT_EQ(KeyFromHeaders("", ""), "");
}

}  // namespace
}  // namespace fk::server
