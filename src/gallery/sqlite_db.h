// Thin RAII wrapper over SQLite with errors mapped to fk::Status (internal).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "facekit/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fk::gallery {

// Maps an SQLite result code to a Status naming the database file and the action.
Status SqliteStatus(int rc, const std::string& file, const std::string& what, const char* sqlite_msg);

class SqlDb;

class Stmt {
 public:
  Stmt() = default;
  Stmt(SqlDb* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  ~Stmt();

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, const std::string& v);
  Stmt& BindBlob(int i, const void* data, size_t n);
  Stmt& BindNull(int i);
  // true: a row is ready; false: done.
  Result<bool> Step();
  Status Run();  // Step until done
  void Reset();

  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;
  const void* Blob(int col, size_t* n) const;

 private:
  SqlDb* db_ = nullptr;
  sqlite3_stmt* s_ = nullptr;
};

class SqlDb {
 public:
  static Result<std::unique_ptr<SqlDb>> Open(const std::string& path, bool read_only, int busy_timeout_ms);
  ~SqlDb();
  Status Exec(const std::string& sql);
  Result<Stmt> Prepare(const std::string& sql);
  int64_t LastInsertId() const;
  Status Error(int rc, const std::string& what) const;
  sqlite3* raw() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  SqlDb() = default;
  sqlite3* db_ = nullptr;
  std::string path_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
class Txn {
 public:
  explicit Txn(SqlDb* db) : db_(db) {}
  Status Begin();
  Status Commit();
  ~Txn();

 private:
  SqlDb* db_;
  bool open_ = false;
};

}  // namespace fk::gallery
