// GalleryDb / Gallery: the SQLite store and the in-memory index kept in step.
// Design and schema: docs/gallery.md.
#include "facekit/gallery.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "gallery/gallery_internal.h"
#include "gallery/search_index.h"
#include "gallery/sqlite_db.h"

namespace fk {

using gallery::SqlDb;
using gallery::Stmt;
using gallery::Txn;

namespace {

constexpr int kSchemaVersion = 1;

// Migrations, applied in order inside one transaction each. Never edit a shipped
// one: add a new entry.
const char* const kMigrations[] = {
    // 1: initial schema
    R"sql(
CREATE TABLE galleries(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  model_id TEXT NOT NULL,
  model_version TEXT NOT NULL,
  dim INTEGER NOT NULL CHECK(dim > 0),
  calibration TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL);
CREATE TABLE subjects(
  id INTEGER PRIMARY KEY,
  gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
  external_id TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  metadata TEXT NOT NULL DEFAULT '{}',
  created_at INTEGER NOT NULL,
  UNIQUE(gallery_id, external_id));
CREATE TABLE templates(
  id INTEGER PRIMARY KEY,
  subject_id INTEGER NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
  model_id TEXT NOT NULL,
  model_version TEXT NOT NULL,
  dim INTEGER NOT NULL,
  vector BLOB NOT NULL,
  source_hash TEXT NOT NULL DEFAULT '',
  quality REAL NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL);
CREATE INDEX templates_by_subject ON templates(subject_id);
)sql",
};

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

Result<std::string> NormalizeMetadata(const std::string& m) {
  if (m.empty()) return std::string("{}");
  auto j = nlohmann::json::parse(m, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return InvalidArgument("subject metadata must be a JSON object, e.g. {\"team\":\"blue\"}; got: " + m.substr(0, 80));
  return j.dump();
}

std::string CalibrationToJson(const std::vector<CalibrationPoint>& t) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& p : t) j.push_back({p.score, p.far});
  return j.dump();
}

std::vector<CalibrationPoint> CalibrationFromJson(const std::string& s) {
  std::vector<CalibrationPoint> t;
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (!j.is_array()) return t;
  for (const auto& p : j)
    if (p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number())
      t.push_back({p[0].get<float>(), p[1].get<double>()});
  return t;
}

}  // namespace

// ------------------------------------------------------------ calibration ----

Result<std::vector<CalibrationPoint>> gallery::NormalizeCalibration(std::vector<CalibrationPoint> t) {
  for (const auto& p : t)
    if (!std::isfinite(p.score) || !(p.far > 0.0) || p.far > 1.0)
      return InvalidArgument("calibration point (" + std::to_string(p.score) + ", " + std::to_string(p.far) +
                             ") is invalid: score must be finite and FAR in (0, 1]");
  std::sort(t.begin(), t.end(), [](const auto& a, const auto& b) { return a.score < b.score; });
  // FAR must not increase with the score: take the running minimum.
  for (size_t i = 1; i < t.size(); ++i) t[i].far = std::min(t[i].far, t[i - 1].far);
  return t;
}

double InterpolateFar(const std::vector<CalibrationPoint>& t, float score) {
  if (t.empty()) return -1.0;
  if (score <= t.front().score) return t.front().far;
  if (score >= t.back().score) return t.back().far;
  auto it = std::upper_bound(t.begin(), t.end(), score, [](float s, const CalibrationPoint& p) { return s < p.score; });
  const auto& hi = *it;
  const auto& lo = *(it - 1);
  if (hi.score == lo.score) return hi.far;
  const double a = (score - lo.score) / static_cast<double>(hi.score - lo.score);
  return std::pow(10.0, std::log10(lo.far) + a * (std::log10(hi.far) - std::log10(lo.far)));
}

// ------------------------------------------------------------------ db ----

struct GalleryDb::Impl {
  std::string location;
  DbOptions options;
  std::mutex mu;  // serialises use of `sql`
  std::unique_ptr<SqlDb> sql;
  int schema_version = 0;
};

GalleryDb::GalleryDb(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
GalleryDb::~GalleryDb() = default;
const std::string& GalleryDb::location() const { return impl_->location; }
int GalleryDb::schema_version() const { return impl_->schema_version; }

Result<std::unique_ptr<GalleryDb>> GalleryDb::Open(const std::string& location, const DbOptions& options) {
  if (location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0)
    return Unsupported("PostgreSQL gallery backend is not implemented yet ('" + location +
                       "'); use an SQLite file path");
  if (location.empty()) return InvalidArgument("empty gallery database path");
  auto impl = std::make_shared<Impl>();
  impl->location = location;
  impl->options = options;
  FK_ASSIGN_OR_RETURN(impl->sql, SqlDb::Open(location, options.read_only, options.busy_timeout_ms));
  SqlDb* db = impl->sql.get();
  // Reading the schema catches "not a database" and a corrupt first page.
  FK_RETURN_IF_ERROR(db->Exec("SELECT count(*) FROM sqlite_master"));
  if (!options.read_only) {
    FK_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  }
  FK_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  FK_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  if (options.max_size_bytes > 0) {
    FK_ASSIGN_OR_RETURN(Stmt ps, db->Prepare("PRAGMA page_size"));
    FK_ASSIGN_OR_RETURN(bool row, ps.Step());
    const int64_t page = row ? ps.Int(0) : 4096;
    FK_RETURN_IF_ERROR(
        db->Exec("PRAGMA max_page_count=" + std::to_string(std::max<int64_t>(1, options.max_size_bytes / page))));
  }
  // Schema migrations.
  auto current_version = [&]() -> Result<int> {
    FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare("SELECT count(*) FROM sqlite_master WHERE name='schema_migrations'"));
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row || s.Int(0) == 0) return 0;
    FK_ASSIGN_OR_RETURN(Stmt v, db->Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations"));
    FK_ASSIGN_OR_RETURN(bool r2, v.Step());
    return r2 ? static_cast<int>(v.Int(0)) : 0;
  };
  FK_ASSIGN_OR_RETURN(int version, current_version());
  if (version > kSchemaVersion)
    return FailedPrecondition("gallery database '" + location + "' has schema version " + std::to_string(version) +
                              ", newer than this facekit supports (" + std::to_string(kSchemaVersion) +
                              "); upgrade facekit");
  if (version < kSchemaVersion) {
    if (options.read_only)
      return FailedPrecondition("gallery database '" + location + "' is at schema version " +
                                std::to_string(version) + " and was opened read-only; open it writable once to migrate");
    Txn txn(db);
    FK_RETURN_IF_ERROR(txn.Begin());
    FK_RETURN_IF_ERROR(db->Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL, "
        "description TEXT NOT NULL)"));
    FK_ASSIGN_OR_RETURN(version, current_version());  // another process may have migrated meanwhile
    for (int v = version + 1; v <= kSchemaVersion; ++v) {
      FK_RETURN_IF_ERROR(db->Exec(kMigrations[v - 1]).WithContext("schema migration " + std::to_string(v)));
      FK_ASSIGN_OR_RETURN(Stmt ins, db->Prepare("INSERT INTO schema_migrations VALUES(?, ?, ?)"));
      FK_RETURN_IF_ERROR(ins.Bind(1, static_cast<int64_t>(v))
                             .Bind(2, NowUnix())
                             .Bind(3, std::string(v == 1 ? "initial schema" : "migration"))
                             .Run());
    }
    FK_RETURN_IF_ERROR(txn.Commit());
    version = kSchemaVersion;
  }
  impl->schema_version = version;
  return std::unique_ptr<GalleryDb>(new GalleryDb(std::move(impl)));
}

namespace {

const char* kGallerySelect =
    "SELECT g.id, g.name, g.model_id, g.model_version, g.dim, g.created_at, "
    "(SELECT count(*) FROM subjects s WHERE s.gallery_id=g.id), "
    "(SELECT count(*) FROM templates t JOIN subjects s ON t.subject_id=s.id WHERE s.gallery_id=g.id) "
    "FROM galleries g";

GalleryInfo ReadGalleryRow(const Stmt& s) {
  GalleryInfo g;
  g.id = s.Int(0);
  g.name = s.Text(1);
  g.model_id = s.Text(2);
  g.model_version = s.Text(3);
  g.dim = static_cast<int>(s.Int(4));
  g.created_at = s.Int(5);
  g.num_subjects = s.Int(6);
  g.num_templates = s.Int(7);
  return g;
}

Result<GalleryInfo> GetGalleryLocked(SqlDb* db, const std::string& name) {
  FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare(std::string(kGallerySelect) + " WHERE g.name=?"));
  s.Bind(1, name);
  FK_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row)
    return NotFound("no gallery named '" + name + "' in '" + db->path() +
                    "'; list them with `facekit gallery list` or create it with `facekit gallery create`");
  return ReadGalleryRow(s);
}

}  // namespace

Result<GalleryInfo> GalleryDb::CreateGallery(const GalleryConfig& c) {
  if (!ValidName(c.name))
    return InvalidArgument("invalid gallery name '" + c.name +
                           "': use 1-128 letters, digits, '_', '-' or '.'");
  if (c.model_id.empty()) return InvalidArgument("gallery '" + c.name + "': a model id is required");
  if (c.dim <= 0 || c.dim > 8192)
    return InvalidArgument("gallery '" + c.name + "': dimension must be in 1..8192, got " + std::to_string(c.dim));
  std::lock_guard lock(impl_->mu);
  SqlDb* db = impl_->sql.get();
  Txn txn(db);
  FK_RETURN_IF_ERROR(txn.Begin());
  FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare(
                                  "INSERT INTO galleries(name, model_id, model_version, dim, created_at) "
                                  "VALUES(?, ?, ?, ?, ?)"));
  Status st = s.Bind(1, c.name).Bind(2, c.model_id).Bind(3, c.model_version).Bind(4, static_cast<int64_t>(c.dim))
                  .Bind(5, NowUnix())
                  .Run();
  if (st.code() == StatusCode::kAlreadyExists)
    return AlreadyExists("a gallery named '" + c.name + "' already exists in '" + impl_->location + "'");
  FK_RETURN_IF_ERROR(st);
  FK_RETURN_IF_ERROR(txn.Commit());
  return GetGalleryLocked(db, c.name);
}

Result<std::vector<GalleryInfo>> GalleryDb::ListGalleries() {
  std::lock_guard lock(impl_->mu);
  FK_ASSIGN_OR_RETURN(Stmt s, impl_->sql->Prepare(std::string(kGallerySelect) + " ORDER BY g.name"));
  std::vector<GalleryInfo> out;
  for (;;) {
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadGalleryRow(s));
  }
  return out;
}

Result<GalleryInfo> GalleryDb::GetGallery(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  return GetGalleryLocked(impl_->sql.get(), name);
}

Status GalleryDb::DeleteGallery(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  SqlDb* db = impl_->sql.get();
  Txn txn(db);
  FK_RETURN_IF_ERROR(txn.Begin());
  FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare("DELETE FROM galleries WHERE name=?"));
  FK_RETURN_IF_ERROR(s.Bind(1, name).Run());
  if (sqlite3_changes(db->raw()) == 0) return NotFound("no gallery named '" + name + "' in '" + impl_->location + "'");
  return txn.Commit();
}

Status GalleryDb::IntegrityCheck() {
  std::lock_guard lock(impl_->mu);
  FK_ASSIGN_OR_RETURN(Stmt s, impl_->sql->Prepare("PRAGMA integrity_check"));
  std::string report;
  for (;;) {
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (!report.empty()) report += "; ";
    report += s.Text(0);
  }
  if (report != "ok")
    return DataLoss("integrity check of '" + impl_->location + "' failed: " + report.substr(0, 500) +
                    "; restore from a backup");
  FK_ASSIGN_OR_RETURN(Stmt fk, impl_->sql->Prepare("PRAGMA foreign_key_check"));
  FK_ASSIGN_OR_RETURN(bool bad, fk.Step());
  if (bad) return DataLoss("foreign key check of '" + impl_->location + "' failed (orphan rows in " + fk.Text(0) + ")");
  return OkStatus();
}

Status GalleryDb::Backup(const std::string& dest_path) {
  sqlite3* dest = nullptr;
  int rc = sqlite3_open_v2(dest_path.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    Status s = gallery::SqliteStatus(rc, dest_path, "creating the backup", dest ? sqlite3_errmsg(dest) : nullptr);
    sqlite3_close(dest);
    return s;
  }
  Status result;
  {
    // The backup copies pages in steps; between steps other connections (other
    // processes, or this one after we release the mutex) may write: SQLite then
    // restarts the copy, so the result is a consistent snapshot.
    std::unique_lock lock(impl_->mu);
    sqlite3_backup* b = sqlite3_backup_init(dest, "main", impl_->sql->raw(), "main");
    if (!b) {
      result = gallery::SqliteStatus(sqlite3_errcode(dest), dest_path, "starting the backup", sqlite3_errmsg(dest));
    } else {
      for (;;) {
        rc = sqlite3_backup_step(b, 256);
        if (rc == SQLITE_DONE) break;
        if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
          lock.unlock();
          std::this_thread::sleep_for(std::chrono::milliseconds(rc == SQLITE_OK ? 0 : 5));
          lock.lock();
          continue;
        }
        break;
      }
      sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE)
        result = gallery::SqliteStatus(rc, dest_path, "copying the backup from '" + impl_->location + "'",
                                       sqlite3_errmsg(dest));
    }
  }
  sqlite3_close(dest);
  return result;
}

// ------------------------------------------------------------- gallery ----

struct Gallery::Impl {
  std::shared_ptr<GalleryDb::Impl> db;
  GalleryInfo info;  // id, name, model, dim (counts are recomputed)
  IndexOptions index_options;
  std::unique_ptr<gallery::SearchIndex> index;
  mutable std::mutex meta_mu;  // guards the maps and calibration below
  std::unordered_map<int64_t, int64_t> template_subject;
  struct SubjectName {
    std::string external_id, display_name;
  };
  std::unordered_map<int64_t, SubjectName> subjects;
  std::vector<CalibrationPoint> calibration;

  Status CheckModel(const ModelTag& m, const char* what) const {
    if (m.model_id != info.model_id || m.model_version != info.model_version)
      return FailedPrecondition(std::string(what) + " from model '" + m.model_id + "' version '" + m.model_version +
                                "' cannot be used with gallery '" + info.name + "' of model '" + info.model_id +
                                "' version '" + info.model_version +
                                "': templates of different models are never compared; use the gallery's model or "
                                "another gallery");
    return OkStatus();
  }

  Status Load() {
    std::lock_guard lock(db->mu);
    SqlDb* sql = db->sql.get();
    FK_ASSIGN_OR_RETURN(GalleryInfo g, GetGalleryLocked(sql, info.name));
    info = g;
    FK_ASSIGN_OR_RETURN(Stmt cs, sql->Prepare("SELECT calibration FROM galleries WHERE id=?"));
    cs.Bind(1, info.id);
    FK_ASSIGN_OR_RETURN(bool crow, cs.Step());
    std::vector<CalibrationPoint> cal = crow ? CalibrationFromJson(cs.Text(0)) : std::vector<CalibrationPoint>{};
    std::unordered_map<int64_t, SubjectName> subs;
    FK_ASSIGN_OR_RETURN(Stmt ss, sql->Prepare("SELECT id, external_id, display_name FROM subjects WHERE gallery_id=?"));
    ss.Bind(1, info.id);
    for (;;) {
      FK_ASSIGN_OR_RETURN(bool row, ss.Step());
      if (!row) break;
      subs[ss.Int(0)] = {ss.Text(1), ss.Text(2)};
    }
    auto idx = std::make_unique<gallery::SearchIndex>(info.dim, index_options);
    std::unordered_map<int64_t, int64_t> ts;
    FK_ASSIGN_OR_RETURN(Stmt t, sql->Prepare(
                                    "SELECT t.id, t.subject_id, t.model_id, t.model_version, t.dim, t.vector "
                                    "FROM templates t JOIN subjects s ON t.subject_id=s.id WHERE s.gallery_id=? "
                                    "ORDER BY t.id"));
    t.Bind(1, info.id);
    const SearchMode saved = index_options.mode;
    std::vector<int64_t> ids;
    std::vector<float> vecs;
    auto flush = [&]() -> Status {
      Status s = idx->Add(ids.data(), vecs.data(), static_cast<int64_t>(ids.size()));
      ids.clear();
      vecs.clear();
      return s;
    };
    for (;;) {
      FK_ASSIGN_OR_RETURN(bool row, t.Step());
      if (!row) break;
      size_t n = 0;
      const void* blob = t.Blob(5, &n);
      if (t.Text(2) != info.model_id || t.Text(3) != info.model_version || t.Int(4) != info.dim ||
          n != sizeof(float) * static_cast<size_t>(info.dim))
        return DataLoss("template " + std::to_string(t.Int(0)) + " in gallery '" + info.name + "' of '" +
                        db->location + "' does not match the gallery's model/dimension (blob of " +
                        std::to_string(n) + " bytes); the database was modified outside facekit");
      ids.push_back(t.Int(0));
      ts[t.Int(0)] = t.Int(1);
      const auto* f = static_cast<const float*>(blob);
      vecs.insert(vecs.end(), f, f + info.dim);
      if (ids.size() == 65536) FK_RETURN_IF_ERROR(flush());
    }
    FK_RETURN_IF_ERROR(flush());
    (void)saved;
    if (index_options.mode == SearchMode::kApprox && idx->size() >= 1024 && !idx->approximate())
      FK_RETURN_IF_ERROR(idx->BuildApprox());
    std::lock_guard ml(meta_mu);
    index = std::move(idx);
    template_subject = std::move(ts);
    subjects = std::move(subs);
    calibration = std::move(cal);
    return OkStatus();
  }
};

Gallery::Gallery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gallery::~Gallery() = default;

Result<std::unique_ptr<Gallery>> GalleryDb::OpenGallery(const std::string& name, const IndexOptions& index) {
  auto impl = std::make_unique<Gallery::Impl>();
  impl->db = impl_;
  impl->info.name = name;
  impl->index_options = index;
#ifndef FK_HAVE_FAISS
  if (index.mode == SearchMode::kApprox)
    return Unsupported("approximate search (SearchMode::kApprox) needs FAISS; this facekit was built without it");
#endif
  FK_RETURN_IF_ERROR(impl->Load());
  return std::unique_ptr<Gallery>(new Gallery(std::move(impl)));
}

Status Gallery::Reload() { return impl_->Load(); }

GalleryInfo Gallery::info() const {
  GalleryInfo g = impl_->info;
  std::lock_guard lock(impl_->meta_mu);
  g.num_subjects = static_cast<int64_t>(impl_->subjects.size());
  g.num_templates = impl_->index->size();
  return g;
}
const IndexOptions& Gallery::index_options() const { return impl_->index_options; }
bool Gallery::approximate() const {
  std::lock_guard lock(impl_->meta_mu);
  return impl_->index->approximate();
}
size_t Gallery::index_memory_bytes() const {
  std::lock_guard lock(impl_->meta_mu);
  return impl_->index->MemoryBytes();
}

namespace {

Result<SubjectInfo> FindSubjectLocked(SqlDb* db, int64_t gallery_id, const std::string& gallery_name,
                                      const std::string& external_id) {
  FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare(
                                  "SELECT s.id, s.external_id, s.display_name, s.metadata, s.created_at, "
                                  "(SELECT count(*) FROM templates t WHERE t.subject_id=s.id) "
                                  "FROM subjects s WHERE s.gallery_id=? AND s.external_id=?"));
  s.Bind(1, gallery_id).Bind(2, external_id);
  FK_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("no subject '" + external_id + "' in gallery '" + gallery_name + "'");
  SubjectInfo si;
  si.id = s.Int(0);
  si.external_id = s.Text(1);
  si.display_name = s.Text(2);
  si.metadata_json = s.Text(3);
  si.created_at = s.Int(4);
  si.num_templates = s.Int(5);
  return si;
}

Result<int64_t> InsertSubjectLocked(SqlDb* db, int64_t gallery_id, const std::string& gallery_name,
                                    const std::string& external_id, const std::string& display_name,
                                    const std::string& metadata) {
  if (external_id.empty() || external_id.size() > 256)
    return InvalidArgument("subject external id must be 1-256 characters, got '" + external_id + "'");
  FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare(
                                  "INSERT INTO subjects(gallery_id, external_id, display_name, metadata, created_at) "
                                  "VALUES(?, ?, ?, ?, ?)"));
  Status st = s.Bind(1, gallery_id).Bind(2, external_id).Bind(3, display_name).Bind(4, metadata).Bind(5, NowUnix()).Run();
  if (st.code() == StatusCode::kAlreadyExists)
    return AlreadyExists("subject '" + external_id + "' already exists in gallery '" + gallery_name + "'");
  FK_RETURN_IF_ERROR(st);
  return db->LastInsertId();
}

}  // namespace

Result<SubjectInfo> Gallery::AddSubject(const std::string& external_id, const std::string& display_name,
                                        const std::string& metadata_json) {
  FK_ASSIGN_OR_RETURN(std::string meta, NormalizeMetadata(metadata_json));
  std::lock_guard lock(impl_->db->mu);
  SqlDb* db = impl_->db->sql.get();
  Txn txn(db);
  FK_RETURN_IF_ERROR(txn.Begin());
  FK_ASSIGN_OR_RETURN(int64_t id,
                      InsertSubjectLocked(db, impl_->info.id, impl_->info.name, external_id, display_name, meta));
  FK_RETURN_IF_ERROR(txn.Commit());
  {
    std::lock_guard ml(impl_->meta_mu);
    impl_->subjects[id] = {external_id, display_name};
  }
  return FindSubjectLocked(db, impl_->info.id, impl_->info.name, external_id);
}

Result<SubjectInfo> Gallery::GetSubject(const std::string& external_id) {
  std::lock_guard lock(impl_->db->mu);
  return FindSubjectLocked(impl_->db->sql.get(), impl_->info.id, impl_->info.name, external_id);
}

Result<std::vector<SubjectInfo>> Gallery::ListSubjects() {
  std::lock_guard lock(impl_->db->mu);
  FK_ASSIGN_OR_RETURN(Stmt s, impl_->db->sql->Prepare(
                                  "SELECT s.id, s.external_id, s.display_name, s.metadata, s.created_at, "
                                  "(SELECT count(*) FROM templates t WHERE t.subject_id=s.id) "
                                  "FROM subjects s WHERE s.gallery_id=? ORDER BY s.external_id"));
  s.Bind(1, impl_->info.id);
  std::vector<SubjectInfo> out;
  for (;;) {
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    SubjectInfo si;
    si.id = s.Int(0);
    si.external_id = s.Text(1);
    si.display_name = s.Text(2);
    si.metadata_json = s.Text(3);
    si.created_at = s.Int(4);
    si.num_templates = s.Int(5);
    out.push_back(std::move(si));
  }
  return out;
}

Status Gallery::DeleteSubject(const std::string& external_id) {
  std::vector<int64_t> removed;
  int64_t sid = 0;
  {
    std::lock_guard lock(impl_->db->mu);
    SqlDb* db = impl_->db->sql.get();
    Txn txn(db);
    FK_RETURN_IF_ERROR(txn.Begin());
    FK_ASSIGN_OR_RETURN(SubjectInfo si, FindSubjectLocked(db, impl_->info.id, impl_->info.name, external_id));
    sid = si.id;
    FK_ASSIGN_OR_RETURN(Stmt t, db->Prepare("SELECT id FROM templates WHERE subject_id=?"));
    t.Bind(1, sid);
    for (;;) {
      FK_ASSIGN_OR_RETURN(bool row, t.Step());
      if (!row) break;
      removed.push_back(t.Int(0));
    }
    FK_ASSIGN_OR_RETURN(Stmt d, db->Prepare("DELETE FROM subjects WHERE id=?"));
    FK_RETURN_IF_ERROR(d.Bind(1, sid).Run());
    FK_RETURN_IF_ERROR(txn.Commit());
  }
  std::lock_guard ml(impl_->meta_mu);
  for (int64_t id : removed) {
    (void)impl_->index->Remove(id);  // absent if added by another process since Load()
    impl_->template_subject.erase(id);
  }
  impl_->subjects.erase(sid);
  return OkStatus();
}

Result<std::vector<int64_t>> Gallery::Enroll(const std::string& external_id, const ModelTag& model,
                                             const std::vector<TemplateInput>& templates,
                                             const EnrollOptions& options) {
  FK_RETURN_IF_ERROR(impl_->CheckModel(model, "a template"));
  if (templates.empty()) return InvalidArgument("enroll '" + external_id + "': no templates given");
  const int dim = impl_->info.dim;
  std::vector<float> vecs;
  vecs.reserve(templates.size() * static_cast<size_t>(dim));
  for (size_t i = 0; i < templates.size(); ++i) {
    const auto& t = templates[i];
    if (static_cast<int>(t.vector.size()) != dim)
      return InvalidArgument("enroll '" + external_id + "': template " + std::to_string(i) + " has dimension " +
                             std::to_string(t.vector.size()) + " but gallery '" + impl_->info.name +
                             "' (model '" + impl_->info.model_id + "') expects " + std::to_string(dim));
    vecs.insert(vecs.end(), t.vector.begin(), t.vector.end());
    if (!gallery::NormalizeL2(vecs.data() + i * dim, dim))
      return InvalidArgument("enroll '" + external_id + "': template " + std::to_string(i) +
                             " is a zero or non-finite vector");
  }
  FK_ASSIGN_OR_RETURN(std::string meta, NormalizeMetadata(options.metadata_json));
  std::vector<int64_t> ids;
  int64_t sid = 0;
  bool created = false;
  {
    std::lock_guard lock(impl_->db->mu);
    SqlDb* db = impl_->db->sql.get();
    Txn txn(db);
    FK_RETURN_IF_ERROR(txn.Begin());
    auto found = FindSubjectLocked(db, impl_->info.id, impl_->info.name, external_id);
    if (found.ok()) {
      sid = found->id;
    } else if (found.status().code() == StatusCode::kNotFound && options.create_subject) {
      FK_ASSIGN_OR_RETURN(sid, InsertSubjectLocked(db, impl_->info.id, impl_->info.name, external_id,
                                                   options.display_name, meta));
      created = true;
    } else {
      return found.status();
    }
    FK_ASSIGN_OR_RETURN(Stmt ins, db->Prepare(
                                      "INSERT INTO templates(subject_id, model_id, model_version, dim, vector, "
                                      "source_hash, quality, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
    const int64_t now = NowUnix();
    for (size_t i = 0; i < templates.size(); ++i) {
      ins.Reset();
      FK_RETURN_IF_ERROR(ins.Bind(1, sid)
                             .Bind(2, model.model_id)
                             .Bind(3, model.model_version)
                             .Bind(4, static_cast<int64_t>(dim))
                             .BindBlob(5, vecs.data() + i * dim, sizeof(float) * static_cast<size_t>(dim))
                             .Bind(6, templates[i].source_image_hash)
                             .Bind(7, static_cast<double>(templates[i].quality))
                             .Bind(8, now)
                             .Run());
      ids.push_back(db->LastInsertId());
    }
    FK_RETURN_IF_ERROR(txn.Commit());
  }
  // Committed: now visible to searches through this handle.
  std::lock_guard ml(impl_->meta_mu);
  Status s = impl_->index->Add(ids.data(), vecs.data(), static_cast<int64_t>(ids.size()));
  if (!s.ok()) return Internal("enrollment was committed but updating the search index failed: " + s.message() +
                               "; reopen the gallery");
  for (int64_t id : ids) impl_->template_subject[id] = sid;
  if (created) impl_->subjects[sid] = {external_id, options.display_name};
  return ids;
}

Result<std::vector<TemplateInfo>> Gallery::ListTemplates(const std::string& external_id) {
  std::lock_guard lock(impl_->db->mu);
  SqlDb* db = impl_->db->sql.get();
  FK_ASSIGN_OR_RETURN(SubjectInfo si, FindSubjectLocked(db, impl_->info.id, impl_->info.name, external_id));
  FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare(
                                  "SELECT id, subject_id, model_id, model_version, dim, source_hash, quality, "
                                  "created_at FROM templates WHERE subject_id=? ORDER BY id"));
  s.Bind(1, si.id);
  std::vector<TemplateInfo> out;
  for (;;) {
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    TemplateInfo t;
    t.id = s.Int(0);
    t.subject_id = s.Int(1);
    t.model_id = s.Text(2);
    t.model_version = s.Text(3);
    t.dim = static_cast<int>(s.Int(4));
    t.source_image_hash = s.Text(5);
    t.quality = static_cast<float>(s.Double(6));
    t.created_at = s.Int(7);
    out.push_back(std::move(t));
  }
  return out;
}

Status Gallery::RemoveTemplate(int64_t template_id) {
  {
    std::lock_guard lock(impl_->db->mu);
    SqlDb* db = impl_->db->sql.get();
    Txn txn(db);
    FK_RETURN_IF_ERROR(txn.Begin());
    FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare(
                                    "DELETE FROM templates WHERE id=? AND subject_id IN "
                                    "(SELECT id FROM subjects WHERE gallery_id=?)"));
    FK_RETURN_IF_ERROR(s.Bind(1, template_id).Bind(2, impl_->info.id).Run());
    if (sqlite3_changes(db->raw()) == 0)
      return NotFound("no template " + std::to_string(template_id) + " in gallery '" + impl_->info.name + "'");
    FK_RETURN_IF_ERROR(txn.Commit());
  }
  std::lock_guard ml(impl_->meta_mu);
  (void)impl_->index->Remove(template_id);
  impl_->template_subject.erase(template_id);
  return OkStatus();
}

Result<std::vector<std::vector<Match>>> Gallery::IdentifyBatch(const std::vector<float>& probes,
                                                               const ModelTag& model, int k) {
  FK_RETURN_IF_ERROR(impl_->CheckModel(model, "a probe"));
  const int dim = impl_->info.dim;
  if (probes.empty() || probes.size() % static_cast<size_t>(dim) != 0)
    return InvalidArgument("probe has " + std::to_string(probes.size()) + " values; gallery '" + impl_->info.name +
                           "' expects a multiple of its dimension " + std::to_string(dim));
  if (k <= 0) return InvalidArgument("top-k must be >= 1, got " + std::to_string(k));
  const int64_t nq = static_cast<int64_t>(probes.size() / static_cast<size_t>(dim));
  std::vector<std::vector<Match>> out(static_cast<size_t>(nq));
  // Searching templates; widen until k distinct subjects are found (or all are seen).
  int kk = k;
  std::vector<int64_t> pending(static_cast<size_t>(nq));
  for (int64_t i = 0; i < nq; ++i) pending[static_cast<size_t>(i)] = i;
  const int64_t total = impl_->index->size();
  while (!pending.empty()) {
    std::vector<float> q;
    for (int64_t i : pending) q.insert(q.end(), probes.begin() + i * dim, probes.begin() + (i + 1) * dim);
    std::vector<std::vector<gallery::Hit>> hits;
    FK_RETURN_IF_ERROR(impl_->index->Search(q.data(), static_cast<int64_t>(pending.size()), kk, &hits));
    std::vector<int64_t> again;
    std::lock_guard ml(impl_->meta_mu);
    for (size_t p = 0; p < pending.size(); ++p) {
      auto& res = out[static_cast<size_t>(pending[p])];
      res.clear();
      std::unordered_set<int64_t> seen;
      for (const auto& h : hits[p]) {
        auto ts = impl_->template_subject.find(h.id);
        if (ts == impl_->template_subject.end()) continue;  // removed meanwhile
        if (!seen.insert(ts->second).second) continue;
        Match m;
        m.template_id = h.id;
        m.subject_id = ts->second;
        auto sn = impl_->subjects.find(ts->second);
        if (sn != impl_->subjects.end()) {
          m.external_id = sn->second.external_id;
          m.display_name = sn->second.display_name;
        }
        m.score = h.score;
        m.far = InterpolateFar(impl_->calibration, h.score);
        res.push_back(std::move(m));
        if (static_cast<int>(res.size()) == k) break;
      }
      if (static_cast<int>(res.size()) < k && static_cast<int64_t>(hits[p].size()) >= kk && kk < total)
        again.push_back(pending[p]);
    }
    pending = std::move(again);
    kk = static_cast<int>(std::min<int64_t>(static_cast<int64_t>(kk) * 4, total));
  }
  return out;
}

Result<std::vector<Match>> Gallery::Identify(const std::vector<float>& probe, const ModelTag& model, int k) {
  if (static_cast<int>(probe.size()) != impl_->info.dim) {
    FK_RETURN_IF_ERROR(impl_->CheckModel(model, "a probe"));
    return InvalidArgument("probe has dimension " + std::to_string(probe.size()) + " but gallery '" +
                           impl_->info.name + "' expects " + std::to_string(impl_->info.dim));
  }
  FK_ASSIGN_OR_RETURN(auto all, IdentifyBatch(probe, model, k));
  return std::move(all[0]);
}

Status Gallery::SetCalibration(const std::vector<CalibrationPoint>& points) {
  FK_ASSIGN_OR_RETURN(auto table, gallery::NormalizeCalibration(points));
  {
    std::lock_guard lock(impl_->db->mu);
    SqlDb* db = impl_->db->sql.get();
    Txn txn(db);
    FK_RETURN_IF_ERROR(txn.Begin());
    FK_ASSIGN_OR_RETURN(Stmt s, db->Prepare("UPDATE galleries SET calibration=? WHERE id=?"));
    FK_RETURN_IF_ERROR(s.Bind(1, CalibrationToJson(table)).Bind(2, impl_->info.id).Run());
    FK_RETURN_IF_ERROR(txn.Commit());
  }
  std::lock_guard ml(impl_->meta_mu);
  impl_->calibration = std::move(table);
  return OkStatus();
}

std::vector<CalibrationPoint> Gallery::calibration() const {
  std::lock_guard ml(impl_->meta_mu);
  return impl_->calibration;
}

// ------------------------------------------------------ import / export ----

Status GalleryDb::ExportGallery(const std::string& name, const std::string& path) {
  std::lock_guard lock(impl_->mu);
  SqlDb* db = impl_->sql.get();
  // A read transaction: the export is one consistent snapshot.
  FK_RETURN_IF_ERROR(db->Exec("BEGIN"));
  struct EndTxn {
    SqlDb* db;
    ~EndTxn() { (void)db->Exec("COMMIT"); }
  } end{db};
  FK_ASSIGN_OR_RETURN(GalleryInfo g, GetGalleryLocked(db, name));
  FK_ASSIGN_OR_RETURN(Stmt cs, db->Prepare("SELECT calibration FROM galleries WHERE id=?"));
  cs.Bind(1, g.id);
  FK_ASSIGN_OR_RETURN(bool crow, cs.Step());
  gallery::ExportWriter w;
  FK_RETURN_IF_ERROR(w.Open(path));
  nlohmann::json header = {{"format", "facekit-gallery"},
                           {"version", 1},
                           {"name", g.name},
                           {"model_id", g.model_id},
                           {"model_version", g.model_version},
                           {"dim", g.dim},
                           {"created_at", g.created_at},
                           {"calibration", nlohmann::json::parse(crow ? cs.Text(0) : "[]", nullptr, false)}};
  FK_RETURN_IF_ERROR(w.Line(header));
  FK_ASSIGN_OR_RETURN(Stmt ss, db->Prepare(
                                   "SELECT id, external_id, display_name, metadata, created_at FROM subjects "
                                   "WHERE gallery_id=? ORDER BY id"));
  ss.Bind(1, g.id);
  FK_ASSIGN_OR_RETURN(Stmt ts, db->Prepare(
                                   "SELECT vector, source_hash, quality, created_at, model_id, model_version FROM "
                                   "templates WHERE subject_id=? ORDER BY id"));
  int64_t nsub = 0, ntpl = 0;
  for (;;) {
    FK_ASSIGN_OR_RETURN(bool row, ss.Step());
    if (!row) break;
    nlohmann::json meta = nlohmann::json::parse(ss.Text(3), nullptr, false);
    if (meta.is_discarded()) meta = nlohmann::json::object();
    FK_RETURN_IF_ERROR(w.Line({{"type", "subject"},
                               {"external_id", ss.Text(1)},
                               {"display_name", ss.Text(2)},
                               {"metadata", meta},
                               {"created_at", ss.Int(4)}}));
    ++nsub;
    ts.Reset();
    ts.Bind(1, ss.Int(0));
    for (;;) {
      FK_ASSIGN_OR_RETURN(bool trow, ts.Step());
      if (!trow) break;
      size_t n = 0;
      const void* blob = ts.Blob(0, &n);
      FK_RETURN_IF_ERROR(w.Line({{"type", "template"},
                                 {"subject", ss.Text(1)},
                                 {"vector", gallery::Base64Encode(blob, n)},
                                 {"source_hash", ts.Text(1)},
                                 {"quality", ts.Double(2)},
                                 {"created_at", ts.Int(3)}}));
      ++ntpl;
    }
  }
  FK_RETURN_IF_ERROR(w.Line({{"type", "end"}, {"subjects", nsub}, {"templates", ntpl}}));
  return w.Close();
}

Result<GalleryInfo> GalleryDb::ImportGallery(const std::string& path, const std::string& new_name) {
  FK_ASSIGN_OR_RETURN(gallery::ExportFile f, gallery::ReadExportFile(path));
  GalleryConfig c;
  c.name = new_name.empty() ? f.name : new_name;
  c.model_id = f.model_id;
  c.model_version = f.model_version;
  c.dim = f.dim;
  if (!ValidName(c.name)) return InvalidArgument("invalid gallery name '" + c.name + "' for the import of '" + path + "'");
  std::lock_guard lock(impl_->mu);
  SqlDb* db = impl_->sql.get();
  Txn txn(db);
  FK_RETURN_IF_ERROR(txn.Begin());
  FK_ASSIGN_OR_RETURN(Stmt g, db->Prepare(
                                  "INSERT INTO galleries(name, model_id, model_version, dim, calibration, created_at) "
                                  "VALUES(?, ?, ?, ?, ?, ?)"));
  Status st = g.Bind(1, c.name).Bind(2, c.model_id).Bind(3, c.model_version).Bind(4, static_cast<int64_t>(c.dim))
                  .Bind(5, f.calibration_json)
                  .Bind(6, f.created_at)
                  .Run();
  if (st.code() == StatusCode::kAlreadyExists)
    return AlreadyExists("a gallery named '" + c.name + "' already exists in '" + impl_->location +
                         "'; import under another name");
  FK_RETURN_IF_ERROR(st);
  const int64_t gid = db->LastInsertId();
  FK_ASSIGN_OR_RETURN(Stmt si, db->Prepare(
                                   "INSERT INTO subjects(gallery_id, external_id, display_name, metadata, created_at) "
                                   "VALUES(?, ?, ?, ?, ?)"));
  FK_ASSIGN_OR_RETURN(Stmt ti, db->Prepare(
                                   "INSERT INTO templates(subject_id, model_id, model_version, dim, vector, "
                                   "source_hash, quality, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"));
  std::unordered_map<std::string, int64_t> sids;
  for (const auto& s : f.subjects) {
    si.Reset();
    Status r = si.Bind(1, gid).Bind(2, s.external_id).Bind(3, s.display_name).Bind(4, s.metadata_json)
                   .Bind(5, s.created_at)
                   .Run();
    if (r.code() == StatusCode::kAlreadyExists)
      return DataLoss("export file '" + path + "' lists subject '" + s.external_id + "' twice");
    FK_RETURN_IF_ERROR(r);
    sids[s.external_id] = db->LastInsertId();
  }
  for (const auto& t : f.templates) {
    auto it = sids.find(t.subject);
    if (it == sids.end())
      return DataLoss("export file '" + path + "': a template refers to unknown subject '" + t.subject + "'");
    ti.Reset();
    FK_RETURN_IF_ERROR(ti.Bind(1, it->second)
                           .Bind(2, c.model_id)
                           .Bind(3, c.model_version)
                           .Bind(4, static_cast<int64_t>(c.dim))
                           .BindBlob(5, t.vector.data(), t.vector.size() * sizeof(float))
                           .Bind(6, t.source_hash)
                           .Bind(7, static_cast<double>(t.quality))
                           .Bind(8, t.created_at)
                           .Run());
  }
  FK_RETURN_IF_ERROR(txn.Commit());
  return GetGalleryLocked(db, c.name);
}

}  // namespace fk
