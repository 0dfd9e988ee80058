// Gallery store + index through the public API: enroll, identify, model checks,
// bad input, concurrency, disk full, read-only, corrupt file, backup, import/export.
#include "facekit/gallery.h"
#include "gallery_test_support.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace fk {
namespace {

namespace fs = std::filesystem;
using namespace fk::testing_support;  // TempDir, kModel, RandVec, OpenDb, MakeGallery, GalleryBackendTest

// Scenarios written once, run on every backend: TEST_P(GalleryBackendTest, ...)
// below, instantiated for SQLite here and for PostgreSQL in postgres_test.cpp.
INSTANTIATE_TEST_SUITE_P(Sqlite, GalleryBackendTest, ::testing::Values(std::string("sqlite")), BackendName);

TEST_P(GalleryBackendTest, CreateListDeleteAndSchema) {
  const std::string loc = NewLocation();
  auto db = OpenDb(loc);
  EXPECT_EQ(db->schema_version(), 1);
  ASSERT_TRUE(db->CreateGallery({"staff", "faceres", "v1", 128}).ok());
  ASSERT_TRUE(db->CreateGallery({"visitors", "mobileface", "v2", 192}).ok());
  EXPECT_EQ(db->CreateGallery({"staff", "faceres", "v1", 128}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(db->CreateGallery({"bad name!", "faceres", "v1", 128}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(db->CreateGallery({"x", "faceres", "v1", 0}).status().code(), StatusCode::kInvalidArgument);
  auto list = db->ListGalleries();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "staff");
  EXPECT_EQ((*list)[1].dim, 192);
  EXPECT_TRUE(db->DeleteGallery("visitors").ok());
  EXPECT_EQ(db->DeleteGallery("visitors").code(), StatusCode::kNotFound);
  EXPECT_EQ(db->OpenGallery("nope").status().code(), StatusCode::kNotFound);
  db.reset();
  // Reopen: schema migration table is not re-applied; data is there.
  auto db2 = OpenDb(loc);
  EXPECT_EQ(db2->schema_version(), 1);
  EXPECT_EQ(db2->ListGalleries()->size(), 1u);
  EXPECT_TRUE(db2->IntegrityCheck().ok());
}

TEST_P(GalleryBackendTest, EnrollIdentifyAndDelete) {
  const std::string loc = NewLocation();
  auto db = OpenDb(loc);
  auto g = MakeGallery(db.get(), "staff");
  std::mt19937 rng(1);
  std::vector<std::vector<float>> first;
  for (int s = 0; s < 30; ++s) {
    std::vector<TemplateInput> tpl(2);
    tpl[0].vector = RandVec(32, rng);
    tpl[1].vector = tpl[0].vector;
    for (auto& x : tpl[1].vector) x += 0.05f;
    tpl[0].source_image_hash = "sha256:abc";
    tpl[0].quality = 0.9f;
    first.push_back(tpl[0].vector);
    EnrollOptions eo;
    eo.display_name = "Person " + std::to_string(s);
    eo.metadata_json = "{\"n\":" + std::to_string(s) + "}";
    auto ids = g->Enroll("p" + std::to_string(s), kModel, tpl, eo);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    EXPECT_EQ(ids->size(), 2u);
  }
  EXPECT_EQ(g->info().num_subjects, 30);
  EXPECT_EQ(g->info().num_templates, 60);
  auto m = g->Identify(first[7], kModel, 5);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 5u);  // 5 distinct subjects although each has 2 templates
  EXPECT_EQ((*m)[0].external_id, "p7");
  EXPECT_EQ((*m)[0].display_name, "Person 7");
  EXPECT_NEAR((*m)[0].score, 1.0f, 1e-5);
  EXPECT_EQ((*m)[0].far, -1.0);
  for (size_t i = 1; i < m->size(); ++i) EXPECT_NE((*m)[i].external_id, "p7");

  auto subj = g->GetSubject("p7");
  ASSERT_TRUE(subj.ok());
  EXPECT_EQ(subj->metadata_json, "{\"n\":7}");
  EXPECT_EQ(subj->num_templates, 2);
  auto tpls = g->ListTemplates("p7");
  ASSERT_TRUE(tpls.ok());
  ASSERT_EQ(tpls->size(), 2u);
  EXPECT_EQ((*tpls)[0].source_image_hash, "sha256:abc");
  EXPECT_FLOAT_EQ((*tpls)[0].quality, 0.9f);
  EXPECT_EQ((*tpls)[0].model_id, "faceres");

  ASSERT_TRUE(g->DeleteSubject("p7").ok());
  EXPECT_EQ(g->DeleteSubject("p7").code(), StatusCode::kNotFound);
  m = g->Identify(first[7], kModel, 3);
  ASSERT_TRUE(m.ok());
  for (const auto& x : *m) EXPECT_NE(x.external_id, "p7");
  EXPECT_EQ(g->info().num_templates, 58);

  // Remove one template of p8; its other template still finds p8.
  auto t8 = g->ListTemplates("p8");
  ASSERT_TRUE(g->RemoveTemplate((*t8)[0].id).ok());
  EXPECT_EQ(g->RemoveTemplate((*t8)[0].id).code(), StatusCode::kNotFound);
  m = g->Identify(first[8], kModel, 1);
  EXPECT_EQ((*m)[0].external_id, "p8");
  EXPECT_EQ((*m)[0].template_id, (*t8)[1].id);

  // Everything is rebuilt from the store on reopen.
  g.reset();
  db.reset();
  db = OpenDb(loc);
  auto g2 = db->OpenGallery("staff");
  ASSERT_TRUE(g2.ok());
  EXPECT_EQ((*g2)->info().num_templates, 57);
  m = (*g2)->Identify(first[3], kModel, 1);
  EXPECT_EQ((*m)[0].external_id, "p3");
}

// Subject pages (ListSubjects(offset, limit, after)): the database's order and counts, offset and
// keyset paging agree with the full list, templates counted per subject, other galleries apart.
TEST_P(GalleryBackendTest, SubjectPagesByOffsetAndKeyset) {
  const std::string loc = NewLocation();
  auto db = OpenDb(loc);
  auto g = MakeGallery(db.get(), "staff");
  auto other = MakeGallery(db.get(), "visitors");
  std::mt19937 rng(3);
  for (int s = 0; s < 23; ++s) {
    std::vector<TemplateInput> tpl(1 + s % 3);
    for (auto& t : tpl) t.vector = RandVec(32, rng);
    char id[16];
    std::snprintf(id, sizeof id, "s%02d", (s * 7) % 23);  // enrolled out of order
    ASSERT_TRUE(g->Enroll(id, kModel, tpl).ok());
  }
  std::vector<TemplateInput> one(1);
  one[0].vector = RandVec(32, rng);
  ASSERT_TRUE(other->Enroll("s05x", kModel, one).ok());
  auto all = g->ListSubjects();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 23u);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].external_id, (*all)[i].external_id);
  // By offset, pages of 5.
  std::vector<std::string> by_offset, by_keyset;
  for (int64_t off = 0;; off += 5) {
    auto p = g->ListSubjects(off, 5);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->total, 23);
    for (const auto& s : p->subjects) by_offset.push_back(s.external_id);
    if (p->subjects.size() < 5) break;
  }
  // By keyset, pages of 4.
  std::string after;
  for (;;) {
    auto p = g->ListSubjects(0, 4, after);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (const auto& s : p->subjects) by_keyset.push_back(s.external_id);
    if (p->subjects.size() < 4) break;
    after = p->subjects.back().external_id;
  }
  ASSERT_EQ(by_offset.size(), 23u);
  ASSERT_EQ(by_keyset.size(), 23u);
  for (size_t i = 0; i < 23; ++i) {
    EXPECT_EQ(by_offset[i], (*all)[i].external_id) << i;
    EXPECT_EQ(by_keyset[i], (*all)[i].external_id) << i;
  }
  // Template counts come with the page; after + offset combine.
  auto p = g->ListSubjects(1, 2, "s10");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->subjects.size(), 2u);
  EXPECT_EQ(p->subjects[0].external_id, "s12");
  for (const auto& s : p->subjects) {
    auto t = g->ListTemplates(s.external_id);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(s.num_templates, static_cast<int64_t>(t->size())) << s.external_id;
  }
  EXPECT_EQ(g->ListSubjects(0, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g->ListSubjects(-1, 5).status().code(), StatusCode::kInvalidArgument);
  auto o = other->ListSubjects(0, 10);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->total, 1);
  ASSERT_EQ(o->subjects.size(), 1u);
  EXPECT_EQ(o->subjects[0].external_id, "s05x");
}

TEST_P(GalleryBackendTest, BadInputIsRefusedWithoutPartialWrite) {
  auto db = OpenDb(NewLocation());
  auto g = MakeGallery(db.get(), "staff", 8);
  std::mt19937 rng(2);
  std::vector<TemplateInput> one(1);
  one[0].vector = RandVec(8, rng);
  // Another model: never compared.
  auto r = g->Enroll("a", {"mobileface", "v1"}, one);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("never compared"), std::string::npos);
  EXPECT_EQ(g->Enroll("a", {"faceres", "v2"}, one).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(g->Identify(one[0].vector, {"mobileface", "v1"}).status().code(), StatusCode::kFailedPrecondition);
  // Wrong dimension in the 2nd template: nothing of the call is written.
  std::vector<TemplateInput> two(2);
  two[0].vector = RandVec(8, rng);
  two[1].vector = RandVec(7, rng);
  EXPECT_EQ(g->Enroll("a", kModel, two).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g->GetSubject("a").status().code(), StatusCode::kNotFound);
  two[1].vector.assign(8, 0.0f);
  EXPECT_EQ(g->Enroll("a", kModel, two).status().code(), StatusCode::kInvalidArgument);
  two[1].vector[0] = NAN;
  EXPECT_EQ(g->Enroll("a", kModel, two).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Enroll("a", kModel, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Identify(RandVec(9, rng), kModel).status().code(), StatusCode::kInvalidArgument);
  // Unknown subject when not creating.
  EnrollOptions no_create;
  no_create.create_subject = false;
  EXPECT_EQ(g->Enroll("ghost", kModel, one, no_create).status().code(), StatusCode::kNotFound);
  // Bad metadata.
  EXPECT_EQ(g->AddSubject("m", "", "[1,2]").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(g->AddSubject("m", "", "{oops").status().code(), StatusCode::kInvalidArgument);
  // Duplicate subject id.
  ASSERT_TRUE(g->AddSubject("dup", "D").ok());
  EXPECT_EQ(g->AddSubject("dup", "D2").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(g->info().num_templates, 0);
  EXPECT_EQ(g->info().num_subjects, 1);
  // Identify on an empty gallery: no matches, no error.
  auto m = g->Identify(one[0].vector, kModel);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->empty());
}

TEST(GalleryTest, CorruptFileIsDataLossNamingTheFile) {
  TempDir t;
  const std::string path = t.File("junk.db");
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 2000; ++i) f << "this is not a database ";
  }
  auto db = GalleryDb::Open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(db.status().message().find(path), std::string::npos);

  // A real database whose header was overwritten.
  const std::string p2 = t.File("g.db");
  {
    auto d = OpenDb(p2);
    auto g = MakeGallery(d.get(), "staff", 8);
  }
  {
    std::fstream f(p2, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(0);
    f.write("garbagegarbage!!", 16);
  }
  fs::remove(p2 + "-wal");
  fs::remove(p2 + "-shm");
  auto db2 = GalleryDb::Open(p2);
  EXPECT_EQ(db2.status().code(), StatusCode::kDataLoss);
}

TEST(GalleryTest, DiskFullIsIoErrorAndNothingIsWritten) {
  TempDir t;
  DbOptions o;
  o.max_size_bytes = 256 * 1024;  // a small quota stands in for a full disk
  auto db = OpenDb(t.File("g.db"), o);
  auto g = MakeGallery(db.get(), "staff", 512);
  std::mt19937 rng(3);
  std::vector<TemplateInput> many(200);  // 200 * 2 KiB > 256 KiB
  for (auto& x : many) x.vector = RandVec(512, rng);
  auto r = g->Enroll("big", kModel, many);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_NE(r.status().message().find("disk full"), std::string::npos) << r.status().message();
  EXPECT_EQ(g->GetSubject("big").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(g->info().num_templates, 0);
  // A small enrollment still fits afterwards.
  many.resize(2);
  EXPECT_TRUE(g->Enroll("small", kModel, many).ok());
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST_P(GalleryBackendTest, ReadOnlyDatabaseIsIoErrorOnWrite) {
  const std::string loc = NewLocation();
  {
    auto db = OpenDb(loc);
    MakeGallery(db.get(), "staff", 8);
  }
  DbOptions o;
  o.read_only = true;
  auto db = OpenDb(loc, o);
  auto g = db->OpenGallery("staff");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  std::mt19937 rng(4);
  std::vector<TemplateInput> one(1);
  one[0].vector = RandVec(8, rng);
  auto r = (*g)->Enroll("a", kModel, one);
  EXPECT_EQ(r.status().code(), StatusCode::kIoError) << r.status().ToString();
  EXPECT_EQ(db->CreateGallery({"x", "m", "v", 4}).status().code(), StatusCode::kIoError);
  EXPECT_EQ(db->GetGallery("staff")->num_subjects, 0);  // nothing was written
  // A missing database in read-only mode is not created.
  EXPECT_FALSE(GalleryDb::Open(MissingLocation(), o).ok());
}

TEST_P(GalleryBackendTest, ConcurrentWritersFromSeveralConnections) {
  const std::string loc = NewLocation();
  {
    auto db = OpenDb(loc);
    MakeGallery(db.get(), "staff", 16);
  }
  const int kThreads = 4, kPer = 25;
  std::vector<std::thread> th;
  std::atomic<int> failures{0};
  for (int w = 0; w < kThreads; ++w) {
    th.emplace_back([&, w] {
      auto db = GalleryDb::Open(loc);  // own connection, like another process
      if (!db.ok()) { ++failures; return; }
      auto g = (*db)->OpenGallery("staff");
      if (!g.ok()) { ++failures; return; }
      std::mt19937 rng(100 + w);
      for (int i = 0; i < kPer; ++i) {
        std::vector<TemplateInput> one(1);
        one[0].vector = RandVec(16, rng);
        auto r = (*g)->Enroll("w" + std::to_string(w) + "_" + std::to_string(i), kModel, one);
        if (!r.ok()) { ++failures; std::fprintf(stderr, "%s\n", r.status().ToString().c_str()); }
      }
    });
  }
  for (auto& x : th) x.join();
  EXPECT_EQ(failures, 0);
  auto db = OpenDb(loc);
  auto info = db->GetGallery("staff");
  EXPECT_EQ(info->num_subjects, kThreads * kPer);
  EXPECT_EQ(info->num_templates, kThreads * kPer);
  EXPECT_TRUE(db->IntegrityCheck().ok());
}

TEST_P(GalleryBackendTest, SearchWhileEnrollingSameHandle) {
  auto db = OpenDb(NewLocation());
  auto g = MakeGallery(db.get(), "staff", 16);
  std::mt19937 rng(5);
  std::vector<TemplateInput> one(1);
  one[0].vector = RandVec(16, rng);
  auto anchor = one[0].vector;
  ASSERT_TRUE(g->Enroll("anchor", kModel, one).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!stop) {
      auto m = g->Identify(anchor, kModel, 1);
      if (!m.ok() || m->empty() || (*m)[0].external_id != "anchor") ++bad;
    }
  });
  for (int i = 0; i < 40; ++i) {
    one[0].vector = RandVec(16, rng);
    ASSERT_TRUE(g->Enroll("s" + std::to_string(i), kModel, one).ok());
    if (i % 4 == 3) {
      ASSERT_TRUE(g->DeleteSubject("s" + std::to_string(i - 1)).ok());
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad, 0);
}

TEST_P(GalleryBackendTest, CalibrationMonotoneInterpolationAndStorage) {
  std::vector<CalibrationPoint> table = {{0.6f, 1e-4}, {0.2f, 1e-1}, {0.4f, 1e-2}, {0.5f, 2e-2}};
  auto db = OpenDb(NewLocation());
  auto g = MakeGallery(db.get(), "staff", 4);
  EXPECT_EQ(g->SetCalibration({{0.1f, 0.0}}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(g->SetCalibration(table).ok());
  auto c = g->calibration();
  ASSERT_EQ(c.size(), 4u);
  EXPECT_FLOAT_EQ(c[0].score, 0.2f);
  EXPECT_DOUBLE_EQ(c[2].far, 1e-2);  // 2e-2 at 0.5 clipped: FAR never increases with score
  EXPECT_DOUBLE_EQ(InterpolateFar(c, 0.0f), 1e-1);
  EXPECT_DOUBLE_EQ(InterpolateFar(c, 0.9f), 1e-4);
  EXPECT_NEAR(InterpolateFar(c, 0.3f), std::sqrt(1e-1 * 1e-2), 1e-6);  // geometric mid-point
  double prev = 1.0;
  for (float s = -1.0f; s <= 1.0f; s += 0.01f) {
    const double f = InterpolateFar(c, s);
    EXPECT_LE(f, prev);
    prev = f;
  }
  std::vector<TemplateInput> one(1);
  one[0].vector = {1, 0, 0, 0};
  ASSERT_TRUE(g->Enroll("a", kModel, one).ok());
  auto m = g->Identify({1, 0, 0, 0}, kModel, 1);
  EXPECT_DOUBLE_EQ((*m)[0].far, 1e-4);
  // Stored with the gallery.
  g.reset();
  auto g2 = db->OpenGallery("staff");
  EXPECT_EQ((*g2)->calibration().size(), 4u);
}

TEST_P(GalleryBackendTest, ExportImportRoundTripAndBackup) {
  TempDir t;
  auto db = OpenDb(NewLocation());
  auto g = MakeGallery(db.get(), "staff", 24);
  ASSERT_TRUE(g->SetCalibration({{0.3f, 1e-3}, {0.5f, 1e-5}}).ok());
  std::mt19937 rng(6);
  std::vector<std::vector<float>> probes;
  for (int s = 0; s < 12; ++s) {
    std::vector<TemplateInput> tpl(1 + s % 3);
    for (auto& x : tpl) {
      x.vector = RandVec(24, rng);
      x.source_image_hash = "h" + std::to_string(s);
      x.quality = 0.5f;
    }
    probes.push_back(tpl[0].vector);
    EnrollOptions eo;
    eo.display_name = "N\"ame " + std::to_string(s);
    eo.metadata_json = "{\"k\":[1,2,\"x\"]}";
    ASSERT_TRUE(g->Enroll("id" + std::to_string(s), kModel, tpl, eo).ok());
  }
  const std::string file = t.File("staff.fkg.jsonl");
  ASSERT_TRUE(db->ExportGallery("staff", file).ok());
  EXPECT_EQ(db->ExportGallery("nope", t.File("x")).code(), StatusCode::kNotFound);

  // Into another database of the same backend, under the same name.
  auto db2 = OpenDb(NewLocation());
  auto info = db2->ImportGallery(file);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->num_subjects, 12);
  EXPECT_EQ(info->num_templates, g->info().num_templates);
  EXPECT_EQ(info->model_id, "faceres");
  EXPECT_EQ(db2->ImportGallery(file).status().code(), StatusCode::kAlreadyExists);
  auto g2 = db2->OpenGallery("staff");
  ASSERT_TRUE(g2.ok());
  EXPECT_EQ((*g2)->calibration().size(), 2u);
  auto s3 = (*g2)->GetSubject("id3");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->display_name, "N\"ame 3");
  EXPECT_EQ(s3->metadata_json, "{\"k\":[1,2,\"x\"]}");
  for (int s = 0; s < 12; ++s) {
    auto a = g->Identify(probes[s], kModel, 3);
    auto b = (*g2)->Identify(probes[s], kModel, 3);
    ASSERT_EQ(a->size(), b->size());
    for (size_t i = 0; i < a->size(); ++i) {
      EXPECT_EQ((*a)[i].external_id, (*b)[i].external_id);
      EXPECT_FLOAT_EQ((*a)[i].score, (*b)[i].score);  // vectors are bit-exact
    }
  }
  // Re-export of the import is identical (round trip is lossless).
  ASSERT_TRUE(db2->ExportGallery("staff", t.File("again.jsonl")).ok());
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  EXPECT_EQ(slurp(file), slurp(t.File("again.jsonl")));

  // Truncated / damaged files are refused and leave nothing behind.
  const std::string content = slurp(file);
  {
    std::ofstream f(t.File("trunc.jsonl"));
    f << content.substr(0, content.size() * 2 / 3);
  }
  auto bad = db2->ImportGallery(t.File("trunc.jsonl"), "trunc");
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss) << bad.status().ToString();
  EXPECT_EQ(db2->GetGallery("trunc").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db2->ImportGallery(t.File("missing.jsonl")).status().code(), StatusCode::kNotFound);

  // Across backends: the file imports into SQLite whatever wrote it.
  if (pg()) {
    auto lite = OpenDb(t.File("from_pg.db"));
    ASSERT_TRUE(lite->ImportGallery(file).ok());
    ASSERT_TRUE(lite->ExportGallery("staff", t.File("from_pg.jsonl")).ok());
    EXPECT_EQ(slurp(file), slurp(t.File("from_pg.jsonl")));
    // Online backup of a PostgreSQL database is pg_dump's job: a clear Unsupported.
    Status bs = db->Backup(t.File("backup.db"));
    EXPECT_EQ(bs.code(), StatusCode::kUnsupported);
    EXPECT_NE(bs.message().find("pg_dump"), std::string::npos) << bs.message();
    return;
  }

  // Online backup while another thread enrolls.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937 r2(7);
    for (int i = 0; !stop && i < 200; ++i) {
      std::vector<TemplateInput> one(1);
      one[0].vector = RandVec(24, r2);
      (void)g->Enroll("bk" + std::to_string(i), kModel, one);
    }
  });
  const std::string bk = t.File("backup.db");
  Status bs = db->Backup(bk);
  stop = true;
  writer.join();
  ASSERT_TRUE(bs.ok()) << bs.ToString();
  auto db3 = OpenDb(bk);
  EXPECT_TRUE(db3->IntegrityCheck().ok());
  auto gi = db3->GetGallery("staff");
  ASSERT_TRUE(gi.ok());
  EXPECT_GE(gi->num_subjects, 12);
}

}  // namespace
}  // namespace fk
