// The gallery store behind GalleryDb (internal): a small SQL connection interface
// with one implementation per backend — SQLite (sqlite_db.cpp, the embedded
// default) and PostgreSQL (pg_store.cpp, selected by a postgresql:// URL).
//
// gallery.cpp writes its queries once, in the SQL both dialects understand, with
// '?' placeholders (1-based binds); the PostgreSQL store rewrites them to $1..$n.
// What differs between the backends lives here: connection setup, schema DDL
// (gallery.cpp holds one migration list per Dialect), write serialisation,
// read snapshots, integrity check and online backup.
//
// Thread safety: none. GalleryDb serialises all use of one Store with its mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "facekit/gallery.h"
#include "facekit/status.h"

namespace fk::gallery {

enum class Dialect { kSqlite, kPostgres };

// True for "postgresql://..." and "postgres://..." locations.
bool IsPostgresUrl(const std::string& location);

// One statement of a backend. Binds are 1-based; columns 0-based.
class StmtImpl {
 public:
  virtual ~StmtImpl() = default;
  virtual void Bind(int i, int64_t v) = 0;
  virtual void Bind(int i, double v) = 0;
  virtual void Bind(int i, const std::string& v) = 0;
  virtual void BindBlob(int i, const void* data, size_t n) = 0;
  virtual void BindNull(int i) = 0;
  // true: a row is ready; false: done. The first call executes the statement.
  virtual Result<bool> Step() = 0;
  // Back to "not executed"; clears the bindings.
  virtual void Reset() = 0;
  virtual int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  virtual bool IsNull(int col) const = 0;
  // Valid until the next Step/Reset of this statement.
  virtual const void* Blob(int col, size_t* n) const = 0;
};

// A statement handle by value, with chainable binds.
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(std::unique_ptr<StmtImpl> s) : s_(std::move(s)) {}
  Stmt& Bind(int i, int64_t v) {
    s_->Bind(i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    s_->Bind(i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    s_->Bind(i, v);
    return *this;
  }
  Stmt& BindBlob(int i, const void* data, size_t n) {
    s_->BindBlob(i, data, n);
    return *this;
  }
  Stmt& BindNull(int i) {
    s_->BindNull(i);
    return *this;
  }
  Result<bool> Step() { return s_->Step(); }
  Status Run() {  // Step until done
    for (;;) {
      FK_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return OkStatus();
    }
  }
  void Reset() { s_->Reset(); }
  int64_t Int(int col) const { return s_->Int(col); }
  double Double(int col) const { return s_->Double(col); }
  std::string Text(int col) const { return s_->Text(col); }
  bool IsNull(int col) const { return s_->IsNull(col); }
  const void* Blob(int col, size_t* n) const { return s_->Blob(col, n); }

 private:
  std::unique_ptr<StmtImpl> s_;
};

class Store {
 public:
  // A file path (SQLite) or a postgresql:// URL. Sets the connection up
  // (durability, foreign keys, timeouts) but does not touch the schema.
  static Result<std::unique_ptr<Store>> Open(const std::string& location, const DbOptions& options);
  virtual ~Store() = default;

  virtual Dialect dialect() const = 0;
  // For messages: the file path, or the URL without its password.
  virtual const std::string& location() const = 0;

  // One or more statements without parameters.
  virtual Status Exec(const std::string& sql) = 0;
  virtual Result<Stmt> Prepare(const std::string& sql) = 0;
  // Id given to the row inserted last on this connection.
  virtual Result<int64_t> LastInsertId() = 0;
  // Rows changed by the last INSERT/UPDATE/DELETE.
  virtual int64_t Changes() const = 0;
  virtual Result<bool> TableExists(const std::string& name) = 0;

  // A write transaction; writers are serialised (a second one waits up to
  // DbOptions::busy_timeout_ms, then Unavailable).
  virtual Status BeginWrite() = 0;
  // A read transaction that sees one consistent snapshot.
  virtual Status BeginRead() = 0;
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;

  // Backend check of the stored data; DataLoss with the report when it fails.
  virtual Status IntegrityCheck() = 0;
  // Online backup to a new SQLite file. `lock` holds the GalleryDb mutex; the
  // store may release it between steps so that other threads keep writing.
  virtual Status Backup(const std::string& dest_path, std::unique_lock<std::mutex>& lock) = 0;
};

// A write transaction that rolls back in its destructor unless committed.
class Txn {
 public:
  explicit Txn(Store* db) : db_(db) {}
  Status Begin() {
    FK_RETURN_IF_ERROR(db_->BeginWrite());
    open_ = true;
    return OkStatus();
  }
  Status Commit() {
    Status s = db_->Commit();
    if (s.ok()) open_ = false;  // else the destructor rolls back what is left
    return s;
  }
  ~Txn() {
    if (open_) (void)db_->Rollback();
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

 private:
  Store* db_;
  bool open_ = false;
};

// Factories of the two implementations (store.cpp dispatches on the location).
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const DbOptions& options);
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, const DbOptions& options);

}  // namespace fk::gallery
