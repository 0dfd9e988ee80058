#include "gallery/sqlite_db.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "gallery/store.h"

namespace fk::gallery {

Status SqliteStatus(int rc, const std::string& file, const std::string& what, const char* sqlite_msg) {
  const std::string detail = std::string(" (sqlite: ") + (sqlite_msg ? sqlite_msg : sqlite3_errstr(rc)) + ")";
  const std::string where = what + " in database '" + file + "'";
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLoss(where + " failed: the file is corrupt or not a facekit gallery database" + detail +
                      "; restore it from a backup (facekit gallery backup) or move it away");
    case SQLITE_FULL:
      return IoError(where + " failed: disk full or database size limit reached; nothing was written" + detail +
                     "; free space (or raise the limit) and retry");
    case SQLITE_READONLY:
      return IoError(where + " failed: the database is read-only" + detail +
                     "; check file permissions or open it writable");
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return IoError(where + " failed: I/O error" + detail + "; check the path, permissions and free space");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable(where + " failed: the database is locked by another writer" + detail +
                         "; retry, or raise the busy timeout");
    case SQLITE_CONSTRAINT:
      return AlreadyExists(where + " failed: a constraint was violated" + detail);
    case SQLITE_NOMEM:
      return ResourceExhausted(where + " failed: out of memory" + detail);
    default:
      return Internal(where + " failed" + detail);
  }
}

namespace {

class SqliteStore;

class SqliteStmt final : public StmtImpl {
 public:
  SqliteStmt(SqliteStore* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~SqliteStmt() override { sqlite3_finalize(s_); }
  void Bind(int i, int64_t v) override { sqlite3_bind_int64(s_, i, v); }
  void Bind(int i, double v) override { sqlite3_bind_double(s_, i, v); }
  void Bind(int i, const std::string& v) override {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, const void* data, size_t n) override {
    sqlite3_bind_blob(s_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
  }
  void BindNull(int i) override { sqlite3_bind_null(s_, i); }
  Result<bool> Step() override;
  void Reset() override {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t Int(int col) const override { return sqlite3_column_int64(s_, col); }
  double Double(int col) const override { return sqlite3_column_double(s_, col); }
  std::string Text(int col) const override {
    const auto* t = sqlite3_column_text(s_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  bool IsNull(int col) const override { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  const void* Blob(int col, size_t* n) const override {
    const void* p = sqlite3_column_blob(s_, col);
    *n = static_cast<size_t>(sqlite3_column_bytes(s_, col));
    return p;
  }

 private:
  SqliteStore* db_;
  sqlite3_stmt* s_;
};

class SqliteStore final : public Store {
 public:
  ~SqliteStore() override {
    if (db_) sqlite3_close_v2(db_);
  }
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const DbOptions& options);

  Dialect dialect() const override { return Dialect::kSqlite; }
  const std::string& location() const override { return path_; }

  Status Exec(const std::string& sql) override {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      Status s = SqliteStatus(rc, path_, "executing '" + sql.substr(0, 60) + "'", err);
      sqlite3_free(err);
      return s;
    }
    return OkStatus();
  }
  Result<Stmt> Prepare(const std::string& sql) override {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &s, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "preparing '" + sql.substr(0, 60) + "'");
    return Stmt(std::make_unique<SqliteStmt>(this, s));
  }
  Result<int64_t> LastInsertId() override { return static_cast<int64_t>(sqlite3_last_insert_rowid(db_)); }
  int64_t Changes() const override { return sqlite3_changes(db_); }
  Result<bool> TableExists(const std::string& name) override {
    FK_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT count(*) FROM sqlite_master WHERE name=?"));
    s.Bind(1, name);
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    return row && s.Int(0) > 0;
  }
  // BEGIN IMMEDIATE takes the write lock at once: writers are serialised and a
  // read-then-write transaction never fails half-way with SQLITE_BUSY.
  Status BeginWrite() override { return Exec("BEGIN IMMEDIATE"); }
  Status BeginRead() override { return Exec("BEGIN"); }
  Status Commit() override { return Exec("COMMIT"); }
  Status Rollback() override { return Exec("ROLLBACK"); }
  Status IntegrityCheck() override;
  Status Backup(const std::string& dest_path, std::unique_lock<std::mutex>& lock) override;

  Status Error(int rc, const std::string& what) const { return SqliteStatus(rc, path_, what, sqlite3_errmsg(db_)); }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

Result<bool> SqliteStmt::Step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, "executing '" + std::string(sqlite3_sql(s_)).substr(0, 60) + "'");
}

Result<std::unique_ptr<Store>> SqliteStore::Open(const std::string& path, const DbOptions& options) {
  std::unique_ptr<SqliteStore> db(new SqliteStore());
  db->path_ = path;
  const int flags = (options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                    SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, path, "opening", db->db_ ? sqlite3_errmsg(db->db_) : nullptr);
  sqlite3_extended_result_codes(db->db_, 1);
  sqlite3_busy_timeout(db->db_, options.busy_timeout_ms);
  // Reading the schema catches "not a database" and a corrupt first page.
  FK_RETURN_IF_ERROR(db->Exec("SELECT count(*) FROM sqlite_master"));
  if (!options.read_only) FK_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  FK_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  FK_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  if (options.max_size_bytes > 0) {
    FK_ASSIGN_OR_RETURN(Stmt ps, db->Prepare("PRAGMA page_size"));
    FK_ASSIGN_OR_RETURN(bool row, ps.Step());
    const int64_t page = row ? ps.Int(0) : 4096;
    FK_RETURN_IF_ERROR(
        db->Exec("PRAGMA max_page_count=" + std::to_string(std::max<int64_t>(1, options.max_size_bytes / page))));
  }
  return std::unique_ptr<Store>(std::move(db));
}

Status SqliteStore::IntegrityCheck() {
  FK_ASSIGN_OR_RETURN(Stmt s, Prepare("PRAGMA integrity_check"));
  std::string report;
  for (;;) {
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    if (!report.empty()) report += "; ";
    report += s.Text(0);
  }
  if (report != "ok")
    return DataLoss("integrity check of '" + path_ + "' failed: " + report.substr(0, 500) + "; restore from a backup");
  FK_ASSIGN_OR_RETURN(Stmt fk, Prepare("PRAGMA foreign_key_check"));
  FK_ASSIGN_OR_RETURN(bool bad, fk.Step());
  if (bad) return DataLoss("foreign key check of '" + path_ + "' failed (orphan rows in " + fk.Text(0) + ")");
  return OkStatus();
}

Status SqliteStore::Backup(const std::string& dest_path, std::unique_lock<std::mutex>& lock) {
  sqlite3* dest = nullptr;
  int rc = sqlite3_open_v2(dest_path.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(rc, dest_path, "creating the backup", dest ? sqlite3_errmsg(dest) : nullptr);
    sqlite3_close(dest);
    return s;
  }
  Status result;
  // The backup copies pages in steps; between steps other connections (other
  // processes, or this one after we release the mutex) may write: SQLite then
  // restarts the copy, so the result is a consistent snapshot.
  sqlite3_backup* b = sqlite3_backup_init(dest, "main", db_, "main");
  if (!b) {
    result = SqliteStatus(sqlite3_errcode(dest), dest_path, "starting the backup", sqlite3_errmsg(dest));
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
      result = SqliteStatus(rc, dest_path, "copying the backup from '" + path_ + "'", sqlite3_errmsg(dest));
  }
  sqlite3_close(dest);
  return result;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const DbOptions& options) {
  return SqliteStore::Open(path, options);
}

bool IsPostgresUrl(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& location, const DbOptions& options) {
  if (location.empty()) return InvalidArgument("empty gallery database path");
  if (IsPostgresUrl(location)) return OpenPostgresStore(location, options);
  return OpenSqliteStore(location, options);
}

}  // namespace fk::gallery
