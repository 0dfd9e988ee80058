// facekit — errors as values.
//
// Every fallible function at a module boundary returns `fk::Status` or
// `fk::Result<T>`. Messages are written for the user: what failed, on which
// input, and what to do about it. No exception crosses a library boundary.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace fk {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // bad input from the caller (shape, dtype, value)
  kNotFound,           // a file, model, subject... does not exist
  kAlreadyExists,      // duplicate id
  kIoError,            // read/write failed (disk full, permission, truncated)
  kDataLoss,           // corrupt file: model, image, database
  kUnsupported,        // valid but not implemented (unsupported op, format)
  kFailedPrecondition, // wrong state (e.g. template of another model)
  kResourceExhausted,  // memory limit, queue full
  kUnavailable,        // device or service not available (no GPU, no driver)
  kInternal,           // a bug in facekit
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: <message>" (or "OK").
  std::string ToString() const;

  // Returns a copy with `context + ": "` prepended to the message.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or an error. Access the value only after checking ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { check(); return std::get<T>(v_); }
  const T& value() const& { check(); return std::get<T>(v_); }
  T&& value() && { check(); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void check() const {
    if (!ok()) {
      std::fprintf(stderr, "facekit: value() on error Result: %s\n", std::get<Status>(v_).ToString().c_str());
      std::abort();
    }
  }
  std::variant<T, Status> v_;
};

}  // namespace fk

#define FK_CONCAT_INNER_(a, b) a##b
#define FK_CONCAT_(a, b) FK_CONCAT_INNER_(a, b)

#define FK_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::fk::Status fk_status_ = (expr);            \
    if (!fk_status_.ok()) return fk_status_;     \
  } while (0)

#define FK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#define FK_ASSIGN_OR_RETURN(lhs, expr) \
  FK_ASSIGN_OR_RETURN_IMPL_(FK_CONCAT_(fk_result_, __LINE__), lhs, expr)

// Aborts on a broken internal invariant (a bug, never bad user input).
#define FK_ASSERT(cond)                                                              \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "facekit: assertion failed: %s at %s:%d\n", #cond, __FILE__, \
                   __LINE__);                                                        \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
