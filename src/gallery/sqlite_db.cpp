#include "gallery/sqlite_db.h"

#include <sqlite3.h>

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

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    db_ = o.db_;
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}
Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}
Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, double v) {
  sqlite3_bind_double(s_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, const std::string& v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindBlob(int i, const void* data, size_t n) {
  sqlite3_bind_blob(s_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}
Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, "executing '" + std::string(sqlite3_sql(s_)).substr(0, 60) + "'");
}
Status Stmt::Run() {
  for (;;) {
    FK_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return OkStatus();
  }
}
void Stmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(s_, col); }
double Stmt::Double(int col) const { return sqlite3_column_double(s_, col); }
std::string Stmt::Text(int col) const {
  const auto* t = sqlite3_column_text(s_, col);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(s_, col)))
           : std::string();
}
bool Stmt::IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
const void* Stmt::Blob(int col, size_t* n) const {
  const void* p = sqlite3_column_blob(s_, col);
  *n = static_cast<size_t>(sqlite3_column_bytes(s_, col));
  return p;
}

Result<std::unique_ptr<SqlDb>> SqlDb::Open(const std::string& path, bool read_only, int busy_timeout_ms) {
  std::unique_ptr<SqlDb> db(new SqlDb());
  db->path_ = path;
  const int flags = (read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                    SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(rc, path, "opening", db->db_ ? sqlite3_errmsg(db->db_) : nullptr);
    return s;
  }
  sqlite3_extended_result_codes(db->db_, 1);
  sqlite3_busy_timeout(db->db_, busy_timeout_ms);
  return db;
}

SqlDb::~SqlDb() {
  if (db_) sqlite3_close_v2(db_);
}

Status SqlDb::Exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(rc, path_, "executing '" + sql.substr(0, 60) + "'", err);
    sqlite3_free(err);
    return s;
  }
  return OkStatus();
}

Result<Stmt> SqlDb::Prepare(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "preparing '" + sql.substr(0, 60) + "'");
  return Stmt(this, s);
}

int64_t SqlDb::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

Status SqlDb::Error(int rc, const std::string& what) const { return SqliteStatus(rc, path_, what, sqlite3_errmsg(db_)); }

Status Txn::Begin() {
  FK_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
  open_ = true;
  return OkStatus();
}
Status Txn::Commit() {
  Status s = db_->Exec("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}
Txn::~Txn() {
  if (open_) (void)db_->Exec("ROLLBACK");
}

}  // namespace fk::gallery
