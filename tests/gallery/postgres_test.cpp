// The PostgreSQL gallery backend against a REAL local server (PgTestServer in
// gallery_test_support.h: initdb + pg_ctl in a temp dir, once per test binary).
// Every scenario of gallery_test.cpp runs here too (the Postgres instantiation
// of GalleryBackendTest); the tests below cover what only a server has:
// connection errors, URLs, SQLSTATEs in messages, a server crash, reconnects.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "facekit/gallery.h"
#include "gallery_test_support.h"

namespace fk {
namespace {

using namespace fk::testing_support;

// Stops the shared server (and deletes its dir) at the end of the test binary.
class PgServerEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { PgTestServer::Shutdown(); }
};
const auto* const kPgEnv = ::testing::AddGlobalTestEnvironment(new PgServerEnvironment);

INSTANTIATE_TEST_SUITE_P(Postgres, GalleryBackendTest, ::testing::Values(std::string("postgres")), BackendName);

#define FK_NEED_PG_SERVER(var)                                              \
  std::string why_;                                                         \
  PgTestServer* var = PgTestServer::Get(&why_);                             \
  if (!var) GTEST_SKIP() << "PostgreSQL gallery tests skipped: " << why_

TEST(PostgresStoreTest, ConnectionRefusedSaysHowToStartTheServer) {
  // A loopback port nobody listens on (taken and released).
  int port = 0;
  {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port = ntohs(a.sin_port);
    close(s);
  }
  const std::string url = "postgresql://facekit:s3cret@127.0.0.1:" + std::to_string(port) + "/facekit";
  auto db = GalleryDb::Open(url);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kUnavailable) << db.status().ToString();
  const std::string& m = db.status().message();
  EXPECT_NE(m.find("start the server"), std::string::npos) << m;
  EXPECT_NE(m.find("pg_ctl"), std::string::npos) << m;
  EXPECT_NE(m.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << m;
  EXPECT_EQ(m.find("s3cret"), std::string::npos) << "the password leaked into: " << m;
  // A unix socket directory without a server.
  TempDir t;
  auto db2 = GalleryDb::Open("postgresql://facekit@/facekit?host=" + t.path());
  EXPECT_EQ(db2.status().code(), StatusCode::kUnavailable) << db2.status().ToString();
  // postgres:// is accepted as well.
  EXPECT_EQ(GalleryDb::Open("postgres://127.0.0.1:" + std::to_string(port) + "/x").status().code(),
            StatusCode::kUnavailable);
}

TEST(PostgresStoreTest, BadUrlAndUnknownDatabase) {
  EXPECT_EQ(GalleryDb::Open("postgresql://127.0.0.1:notaport/db").status().code(), StatusCode::kInvalidArgument);
  FK_NEED_PG_SERVER(srv);
  auto db = GalleryDb::Open("postgresql://facekit:pw@127.0.0.1:" + std::to_string(srv->port()) + "/no_such_db");
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kNotFound) << db.status().ToString();
  EXPECT_NE(db.status().message().find("createdb"), std::string::npos) << db.status().message();
  EXPECT_EQ(db.status().message().find(":pw@"), std::string::npos) << db.status().message();
  // The SQLite-only size quota is refused rather than ignored.
  DbOptions o;
  o.max_size_bytes = 1 << 20;
  EXPECT_EQ(GalleryDb::Open(srv->NewDatabase(), o).status().code(), StatusCode::kUnsupported);
}

TEST(PostgresStoreTest, UnixSocketUrlAndSqlStateInErrors) {
  FK_NEED_PG_SERVER(srv);
  const std::string url = srv->NewDatabase(/*unix_socket=*/true);
  auto db = OpenDb(url);
  ASSERT_NE(db, nullptr);
  MakeGallery(db.get(), "staff", 8);
  EXPECT_EQ(db->ListGalleries()->size(), 1u);
  // A write in a read-only session: the server's refusal, with its SQLSTATE.
  DbOptions ro;
  ro.read_only = true;
  auto rdb = OpenDb(url, ro);
  ASSERT_NE(rdb, nullptr);
  auto st = rdb->CreateGallery({"other", "faceres", "v1", 8}).status();
  EXPECT_EQ(st.code(), StatusCode::kIoError) << st.ToString();
  EXPECT_NE(st.message().find("SQLSTATE 25006"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("read-only"), std::string::npos) << st.message();
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST(PostgresStoreTest, AcknowledgedEnrollmentsSurviveAServerCrash) {
  FK_NEED_PG_SERVER(srv);
  const std::string url = srv->NewDatabase();
  auto db = OpenDb(url);
  ASSERT_NE(db, nullptr);
  auto g = MakeGallery(db.get(), "crash", 64);
  ASSERT_NE(g, nullptr);
  // The server runs with synchronous_commit=off by default (PgTestServer); facekit's
  // session turns it on, so every acknowledged enrollment is in the WAL on disk
  // before Enroll returns. An immediate stop (SIGQUIT: no checkpoint, shared
  // memory and unflushed WAL buffers are lost) right after the last ack must not
  // lose any of them.
  std::mt19937 rng(11);
  std::vector<std::vector<float>> first;
  const int kSubjects = 60;
  for (int i = 0; i < kSubjects; ++i) {
    std::vector<TemplateInput> t(2);
    for (auto& x : t) x.vector = RandVec(64, rng);
    first.push_back(t[0].vector);
    auto r = g->Enroll("s" + std::to_string(i), kModel, t);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::string log;
  ASSERT_TRUE(srv->CrashAndRestart(&log)) << log;
  // The old handle reconnects by itself between transactions.
  auto info = db->GetGallery("crash");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->num_subjects, kSubjects);
  EXPECT_EQ(info->num_templates, 2 * kSubjects);
  // A fresh handle rebuilds the index from the recovered store.
  auto db2 = OpenDb(url);
  auto g2 = db2->OpenGallery("crash");
  ASSERT_TRUE(g2.ok()) << g2.status().ToString();
  for (int i = 0; i < kSubjects; ++i) {
    auto m = (*g2)->Identify(first[static_cast<size_t>(i)], kModel, 1);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_EQ(m->size(), 1u);
    EXPECT_EQ((*m)[0].external_id, "s" + std::to_string(i));
  }
  // And the old gallery handle keeps enrolling.
  std::vector<TemplateInput> one(1);
  one[0].vector = RandVec(64, rng);
  EXPECT_TRUE(g->Enroll("after", kModel, one).ok());
  EXPECT_TRUE(db2->IntegrityCheck().ok());
}

}  // namespace
}  // namespace fk
