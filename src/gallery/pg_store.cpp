// The PostgreSQL gallery store (internal): Store over one libpq connection.
// Selected by a postgresql:// (or postgres://) URL; schema and semantics are the
// SQLite store's (docs/gallery.md, "Store (PostgreSQL)").
//
//  - Durability: the session runs with synchronous_commit=on, whatever the server
//    default, so a COMMIT that returned is flushed to the server's WAL.
//  - Writers are serialised like SQLite's BEGIN IMMEDIATE: every write
//    transaction first takes a transaction-scoped advisory lock, waiting at most
//    DbOptions::busy_timeout_ms (lock_timeout), then fails with Unavailable.
//  - Reads that must be consistent (export) run in a REPEATABLE READ snapshot.
//  - Server errors become fk::Status by SQLSTATE; connection failures say how to
//    start the server or where to point --db.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "gallery/store.h"

#ifdef FK_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

namespace fk::gallery {

#ifndef FK_HAVE_LIBPQ

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, const DbOptions&) {
  return Unsupported("this facekit was built without libpq, so it cannot open the PostgreSQL gallery '" + url +
                     "'; install libpq-dev (scripts/install_deps.sh) and rebuild, or use an SQLite file path");
}

#else

namespace {

// Advisory lock key shared by all facekit writers of one database ("fkgallry").
constexpr long long kWriterLockKey = 0x666b67616c6c7279LL;

// The URL for messages: the password (user:PASS@ or ?password=) replaced by ***.
std::string RedactUrl(const std::string& url) {
  std::string s = url;
  const size_t scheme = s.find("://");
  if (scheme != std::string::npos) {
    const size_t auth_begin = scheme + 3;
    const size_t auth_end = std::min(s.find('/', auth_begin), s.find('?', auth_begin));
    const size_t at = s.rfind('@', auth_end == std::string::npos ? s.size() : auth_end);
    if (at != std::string::npos && at >= auth_begin) {
      const size_t colon = s.find(':', auth_begin);
      if (colon != std::string::npos && colon < at) s.replace(colon + 1, at - colon - 1, "***");
    }
  }
  for (size_t p = s.find("password="); p != std::string::npos; p = s.find("password=", p + 1)) {
    const size_t end = s.find('&', p);
    s.replace(p + 9, (end == std::string::npos ? s.size() : end) - p - 9, "***");
  }
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  for (auto& c : s)
    if (c == '\n' || c == '\t') c = ' ';
  return s;
}

const char* kStartAdvice =
    "; start the server (Debian: `pg_ctlcluster 15 main start`, or `pg_ctl -D DATADIR start`) or point --db "
    "at a running one: postgresql://USER@HOST:PORT/DBNAME, or postgresql://USER@/DBNAME?host=/SOCKET/DIR for a "
    "unix socket";

// A connection that could not be made (libpq reports these without a SQLSTATE).
Status ConnectError(const std::string& loc, const std::string& libpq_msg) {
  const std::string m = Trim(libpq_msg);
  const std::string where = "connecting to the PostgreSQL gallery database '" + loc + "' failed (libpq: " + m + ")";
  auto has = [&](const char* x) { return m.find(x) != std::string::npos; };
  if (has("invalid URI") || has("invalid connection option") || has("invalid percent-encoded") ||
      has("missing \"=\"") || has("invalid integer value"))
    return InvalidArgument(where + "; the URL format is postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAM=V]");
  if (has("does not exist") && has("database"))
    return NotFound(where + "; create the database first, e.g. `createdb -h HOST -p PORT -U USER DBNAME`");
  if (has("password authentication failed") || has("no pg_hba.conf entry") || has("role \"") ||
      has("authentication") || has("no password supplied") || has("Peer authentication"))
    return FailedPrecondition(where + "; check the user and password in the URL (or ~/.pgpass) and the "
                                      "server's pg_hba.conf");
  return Unavailable(where + kStartAdvice);
}

// A statement that failed on the server.
Status ServerError(const std::string& loc, const std::string& what, const PGresult* res, PGconn* conn) {
  const char* state_c = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = state_c ? state_c : "";
  std::string msg = res ? Trim(PQresultErrorMessage(res)) : "";
  if (msg.empty() && conn) msg = Trim(PQerrorMessage(conn));
  if (res) {
    if (const char* d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) msg += std::string("; ") + d;
  }
  const std::string detail =
      " (postgres" + (state.empty() ? std::string() : " SQLSTATE " + state) + ": " + msg + ")";
  const std::string where = what + " in PostgreSQL gallery database '" + loc + "' failed";
  const std::string cls = state.substr(0, 2);
  if (state.empty() || cls == "08" || state == "57P01" || state == "57P02" || state == "57P03") {
    if (conn && PQstatus(conn) == CONNECTION_BAD)
      return Unavailable(where + ": the connection to the server was lost" + detail +
                         "; an unfinished transaction was not written; retry once the server is back" + kStartAdvice);
    if (state.empty()) return Internal(where + detail);
    return Unavailable(where + ": connection problem" + detail + "; retry" + kStartAdvice);
  }
  if (state == "23505") return AlreadyExists(where + ": a uniqueness constraint was violated" + detail);
  if (cls == "23") return InvalidArgument(where + ": a constraint was violated" + detail);
  if (state == "55P03" || state == "57014")
    return Unavailable(where + ": the database is locked by another writer" + detail +
                       "; retry, or raise the busy timeout");
  if (state == "40001" || state == "40P01")
    return Unavailable(where + ": a concurrent transaction conflicted" + detail + "; nothing was written; retry");
  if (state == "53100")
    return IoError(where + ": disk full on the database server; nothing was written" + detail +
                   "; free space on the server and retry");
  if (cls == "53") return ResourceExhausted(where + ": the server is out of resources" + detail);
  if (state == "25006")
    return IoError(where + ": the database is read-only" + detail + "; open it writable (or use a writable server)");
  if (state == "42501" || cls == "28")
    return IoError(where + ": permission denied" + detail +
                   "; grant the user rights on the database (or connect as its owner)");
  if (state == "3D000") return NotFound(where + ": no such database" + detail + "; create it with createdb");
  if (state == "XX001" || state == "XX002")
    return DataLoss(where + ": the server reports corrupt data" + detail + "; restore from a backup");
  return Internal(where + detail);
}

class PgStore;

class PgStmt final : public StmtImpl {
 public:
  PgStmt(PgStore* db, std::string sql, std::string original) : db_(db), sql_(std::move(sql)), orig_(std::move(original)) {}
  ~PgStmt() override { Clear(); }

  void Bind(int i, int64_t v) override { Set(i, std::to_string(v), 0); }
  void Bind(int i, double v) override {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    Set(i, buf, 0);
  }
  void Bind(int i, const std::string& v) override { Set(i, v, 0); }
  void BindBlob(int i, const void* data, size_t n) override {
    Set(i, std::string(static_cast<const char*>(data), n), 1);  // binary bytea
  }
  void BindNull(int i) override {
    Grow(i);
    values_[static_cast<size_t>(i - 1)].reset();
  }
  Result<bool> Step() override;
  void Reset() override {
    Clear();
    values_.clear();
    formats_.clear();
  }
  int64_t Int(int col) const override { return std::strtoll(Value(col), nullptr, 10); }
  double Double(int col) const override { return std::strtod(Value(col), nullptr); }
  std::string Text(int col) const override {
    return std::string(Value(col), static_cast<size_t>(PQgetlength(res_, row_, col)));
  }
  bool IsNull(int col) const override { return PQgetisnull(res_, row_, col) != 0; }
  const void* Blob(int col, size_t* n) const override;

 private:
  void Grow(int i) {
    if (static_cast<size_t>(i) > values_.size()) {
      values_.resize(static_cast<size_t>(i));
      formats_.resize(static_cast<size_t>(i), 0);
    }
  }
  void Set(int i, std::string v, int format) {
    Grow(i);
    values_[static_cast<size_t>(i - 1)] = std::move(v);
    formats_[static_cast<size_t>(i - 1)] = format;
  }
  const char* Value(int col) const { return PQgetvalue(res_, row_, col); }
  void Clear() {
    if (res_) PQclear(res_);
    res_ = nullptr;
    row_ = -1;
    ntuples_ = 0;
  }

  PgStore* db_;
  std::string sql_, orig_;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;
  PGresult* res_ = nullptr;
  int row_ = -1, ntuples_ = 0;
  mutable std::vector<uint8_t> blob_;
};

class PgStore final : public Store {
 public:
  ~PgStore() override {
    if (conn_) PQfinish(conn_);
  }
  static Result<std::unique_ptr<Store>> Open(const std::string& url, const DbOptions& options);

  Dialect dialect() const override { return Dialect::kPostgres; }
  const std::string& location() const override { return location_; }

  Status Exec(const std::string& sql) override {
    FK_RETURN_IF_ERROR(EnsureConnected());
    PGresult* r = PQexec(conn_, sql.c_str());
    if (LostOutsideTxn(r)) {  // the server restarted since the last statement: reconnect, once
      PQclear(r);
      FK_RETURN_IF_ERROR(EnsureConnected());
      r = PQexec(conn_, sql.c_str());
    }
    Status s = Check(r, "executing '" + sql.substr(0, 60) + "'");
    PQclear(r);
    return s;
  }
  Result<Stmt> Prepare(const std::string& sql) override {
    return Stmt(std::make_unique<PgStmt>(this, ToDollarParams(sql), sql));
  }
  Result<int64_t> LastInsertId() override {
    FK_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT lastval()"));
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return Internal("SELECT lastval() returned no row in '" + location_ + "'");
    return s.Int(0);
  }
  int64_t Changes() const override { return changes_; }
  Result<bool> TableExists(const std::string& name) override {
    FK_ASSIGN_OR_RETURN(Stmt s, Prepare(
                                    "SELECT count(*) FROM information_schema.tables "
                                    "WHERE table_schema = current_schema() AND table_name = ?"));
    s.Bind(1, name);
    FK_ASSIGN_OR_RETURN(bool row, s.Step());
    return row && s.Int(0) > 0;
  }

  Status BeginWrite() override {
    // lock_timeout 0 would mean "wait forever"; SQLite's busy timeout 0 means "do not wait".
    const int ms = std::max(1, options_.busy_timeout_ms);
    FK_RETURN_IF_ERROR(Exec("BEGIN"));
    in_txn_ = true;
    Status s = Exec("SET LOCAL lock_timeout = " + std::to_string(ms) + "; SELECT pg_advisory_xact_lock(" +
                    std::to_string(kWriterLockKey) + ")");
    if (!s.ok()) {
      (void)Rollback();
      return s.WithContext("waiting for the gallery writer lock");
    }
    return OkStatus();
  }
  Status BeginRead() override {
    FK_RETURN_IF_ERROR(Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    in_txn_ = true;
    return OkStatus();
  }
  Status Commit() override {
    FK_RETURN_IF_ERROR(EnsureConnected());
    PGresult* r = PQexec(conn_, "COMMIT");
    Status s = Check(r, "committing");
    // COMMIT of a transaction that already failed answers "ROLLBACK": nothing was written.
    if (s.ok() && std::strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
      s = Internal("committing in PostgreSQL gallery database '" + location_ +
                   "' failed: the server rolled the transaction back after an earlier error; nothing was written");
    PQclear(r);
    if (s.ok() || PQstatus(conn_) == CONNECTION_BAD || PQtransactionStatus(conn_) == PQTRANS_IDLE) in_txn_ = false;
    return s;
  }
  Status Rollback() override {
    in_txn_ = false;
    if (PQstatus(conn_) == CONNECTION_BAD) return OkStatus();  // the server dropped it already
    PGresult* r = PQexec(conn_, "ROLLBACK");
    Status s = Check(r, "rolling back");
    PQclear(r);
    return s;
  }

  Status IntegrityCheck() override {
    // Foreign keys and uniqueness are enforced by the server; what it cannot know is
    // that every template matches its gallery's model and dimension.
    FK_ASSIGN_OR_RETURN(Stmt s, Prepare(
                                    "SELECT t.id, g.name FROM templates t JOIN subjects s ON t.subject_id = s.id "
                                    "JOIN galleries g ON s.gallery_id = g.id WHERE t.dim <> g.dim OR "
                                    "octet_length(t.vector) <> 4 * g.dim OR t.model_id <> g.model_id OR "
                                    "t.model_version <> g.model_version LIMIT 1"));
    FK_ASSIGN_OR_RETURN(bool bad, s.Step());
    if (bad)
      return DataLoss("integrity check of '" + location_ + "' failed: template " + std::to_string(s.Int(0)) +
                      " does not match the model/dimension of gallery '" + s.Text(1) +
                      "' (modified outside facekit); restore from a backup or delete it");
    return OkStatus();
  }
  Status Backup(const std::string& dest_path, std::unique_lock<std::mutex>&) override {
    return Unsupported("online backup to a file ('" + dest_path + "') is for SQLite gallery databases; back up the "
                       "PostgreSQL database '" + location_ + "' with `pg_dump -Fc` (consistent while writers run), "
                       "or export galleries with `facekit gallery export`");
  }

  // Executes a statement for PgStmt; records the changed-row count.
  Result<PGresult*> Run(const std::string& sql, const std::string& original,
                        const std::vector<std::optional<std::string>>& values, const std::vector<int>& formats) {
    FK_RETURN_IF_ERROR(EnsureConnected());
    std::vector<const char*> ptrs(values.size());
    std::vector<int> lengths(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      ptrs[i] = values[i] ? values[i]->data() : nullptr;
      lengths[i] = values[i] ? static_cast<int>(values[i]->size()) : 0;
    }
    auto exec = [&] {
      return PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, ptrs.data(), lengths.data(),
                          formats.data(), /*text results*/ 0);
    };
    PGresult* r = exec();
    if (LostOutsideTxn(r)) {  // the server restarted since the last statement: reconnect, once
      PQclear(r);
      FK_RETURN_IF_ERROR(EnsureConnected());
      r = exec();
    }
    Status s = Check(r, "executing '" + original.substr(0, 60) + "'");
    if (!s.ok()) {
      PQclear(r);
      return s;
    }
    return r;
  }

 private:
  // A statement outside a transaction failed because the connection is gone
  // (e.g. the server was restarted): safe to reconnect and run it again, since
  // nothing of it can have been executed or committed.
  bool LostOutsideTxn(const PGresult* r) const {
    return !in_txn_ && (!r || PQresultStatus(r) == PGRES_FATAL_ERROR) && PQstatus(conn_) == CONNECTION_BAD;
  }

  Status Check(PGresult* r, const std::string& what) {
    const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      const char* n = PQcmdTuples(r);
      changes_ = (n && *n) ? std::strtoll(n, nullptr, 10) : 0;
      return OkStatus();
    }
    return ServerError(location_, what, r, conn_);
  }

  // Reconnects a dropped connection between transactions (a server restart).
  Status EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK) return OkStatus();
    if (in_txn_)
      return Unavailable("the connection to PostgreSQL gallery database '" + location_ +
                         "' was lost during a transaction; nothing of it was written; retry");
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) return ConnectError(location_, PQerrorMessage(conn_));
    return SetupSession();
  }

  Status SetupSession() {
    std::string sql =
        "SET synchronous_commit TO on; SET client_min_messages TO warning; SET bytea_output TO hex; "
        "SET standard_conforming_strings TO on";
    if (options_.read_only) sql += "; SET default_transaction_read_only TO on";
    PGresult* r = PQexec(conn_, sql.c_str());
    Status s = Check(r, "setting up the session");
    PQclear(r);
    return s;
  }

  // '?' placeholders -> $1..$n (outside quoted literals and identifiers).
  static std::string ToDollarParams(const std::string& sql) {
    std::string out;
    out.reserve(sql.size() + 16);
    int n = 0;
    char quote = 0;
    for (char c : sql) {
      if (quote) {
        if (c == quote) quote = 0;
        out += c;
      } else if (c == '\'' || c == '"') {
        quote = c;
        out += c;
      } else if (c == '?') {
        out += '$' + std::to_string(++n);
      } else {
        out += c;
      }
    }
    return out;
  }

  PGconn* conn_ = nullptr;
  std::string location_;
  DbOptions options_;
  bool in_txn_ = false;
  int64_t changes_ = 0;
};

Result<bool> PgStmt::Step() {
  if (!res_) {
    FK_ASSIGN_OR_RETURN(res_, db_->Run(sql_, orig_, values_, formats_));
    ntuples_ = PQntuples(res_);
    row_ = -1;
  }
  if (row_ + 1 >= ntuples_) {
    row_ = ntuples_;
    return false;
  }
  ++row_;
  return true;
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const void* PgStmt::Blob(int col, size_t* n) const {
  // bytea in text results is "\x" + hex (bytea_output=hex is set per session).
  const char* v = Value(col);
  const size_t len = static_cast<size_t>(PQgetlength(res_, row_, col));
  blob_.clear();
  if (len >= 2 && v[0] == '\\' && v[1] == 'x') {
    blob_.resize((len - 2) / 2);
    for (size_t i = 0; i < blob_.size(); ++i) {
      const int hi = HexVal(v[2 + 2 * i]), lo = HexVal(v[3 + 2 * i]);
      if (hi < 0 || lo < 0) {
        blob_.clear();
        break;
      }
      blob_[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
  }
  *n = blob_.size();
  return blob_.data();
}

void IgnoreNotice(void*, const char*) {}

Result<std::unique_ptr<Store>> PgStore::Open(const std::string& url, const DbOptions& options) {
  std::unique_ptr<PgStore> db(new PgStore());
  db->location_ = RedactUrl(url);
  db->options_ = options;
  if (options.max_size_bytes > 0)
    return Unsupported("DbOptions::max_size_bytes is a quota of SQLite gallery files; for the PostgreSQL database '" +
                       db->location_ + "' limit the server's disk (a tablespace on a sized volume) instead");
  // Defaults first: values in the URL (expanded from "dbname") override them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* vals[] = {"10", "facekit", url.c_str(), nullptr};
  db->conn_ = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (!db->conn_) return ResourceExhausted("out of memory creating a PostgreSQL connection for '" + db->location_ + "'");
  if (PQstatus(db->conn_) != CONNECTION_OK) return ConnectError(db->location_, PQerrorMessage(db->conn_));
  PQsetNoticeProcessor(db->conn_, IgnoreNotice, nullptr);
  if (PQserverVersion(db->conn_) < 100000)
    return Unsupported("PostgreSQL server of '" + db->location_ + "' is version " +
                       std::to_string(PQserverVersion(db->conn_)) + "; facekit needs 10 or newer");
  FK_RETURN_IF_ERROR(db->SetupSession());
  return std::unique_ptr<Store>(std::move(db));
}

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, const DbOptions& options) {
  return PgStore::Open(url, options);
}

#endif  // FK_HAVE_LIBPQ

}  // namespace fk::gallery
