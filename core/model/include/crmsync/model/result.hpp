// Error and Result: the one error value of crmsync (STYLE.md 4, 5).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace crmsync {

// What the caller does with an error decides its kind, not where it came from.
enum class ErrorKind {
  kNotFound,   // the thing asked for does not exist: caller treats it as deleted/missing
  kConflict,   // optimistic concurrency lost (stale change key) or duplicate id: re-read, merge
  kInvalid,    // bad input (malformed data, unknown field, value out of range): final for that item
  kTransient,  // network, timeout, throttling, busy: retry later with backoff
  kPermission,  // not allowed (auth, privilege): stop until reconfigured
  kCorrupt,     // local state unusable (schema too new, integrity): stop, do not touch
  kInternal,    // a bug or an unexpected library failure
};

// How far an error reaches: one item, one folder/entity, or the whole store/CRM.
enum class ErrorScope { kItem, kFolder, kService };

std::string_view to_string(ErrorKind kind);

class Error {
 public:
  static Error NotFound(std::string what) { return {ErrorKind::kNotFound, std::move(what)}; }
  static Error Conflict(std::string what) { return {ErrorKind::kConflict, std::move(what)}; }
  static Error Invalid(std::string what) { return {ErrorKind::kInvalid, std::move(what)}; }
  static Error Transient(std::string what, std::optional<int> retry_after_ms = std::nullopt) {
    Error e{ErrorKind::kTransient, std::move(what), ErrorScope::kService};
    e.retry_after_ms_ = retry_after_ms;
    return e;
  }
  static Error Permission(std::string what) {
    return {ErrorKind::kPermission, std::move(what), ErrorScope::kService};
  }
  static Error Corrupt(std::string what) {
    return {ErrorKind::kCorrupt, std::move(what), ErrorScope::kService};
  }
  static Error Internal(std::string what) { return {ErrorKind::kInternal, std::move(what)}; }

  ErrorKind kind() const { return kind_; }
  ErrorScope scope() const { return scope_; }
  const std::string& message() const { return message_; }
  // Server-requested wait (Retry-After, BackOffMilliseconds), when there is one.
  std::optional<int> retry_after_ms() const { return retry_after_ms_; }

  bool retryable() const { return kind_ == ErrorKind::kTransient; }
  bool is(ErrorKind k) const { return kind_ == k; }

  Error with_scope(ErrorScope s) && {
    scope_ = s;
    return std::move(*this);
  }
  // Adds context where the error passes through: "contact 1a2b: " + message.
  Error context(std::string_view where) const& {
    Error e = *this;
    e.message_ = std::string(where) + ": " + message_;
    return e;
  }

  // "transient: connection refused"
  std::string describe() const;

 private:
  Error(ErrorKind k, std::string m, ErrorScope s = ErrorScope::kItem)
      : kind_(k), scope_(s), message_(std::move(m)) {}
  ErrorKind kind_;
  ErrorScope scope_;
  std::string message_;
  std::optional<int> retry_after_ms_;
};

// Result<T>: a value or an Error. One alias so the underlying type can change
// (std::expected once the toolchain has C++23).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  // Asserts success, like Result<T>::value().
  void value() const { assert(ok()); }
  const Error& error() const {
    assert(!ok());
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

inline Result<void> Ok() {
  return {};
}

}  // namespace crmsync

// Propagates an error from an expression returning Result<...>.
#define CRMSYNC_TRY(expr)                                                                  \
  do {                                                                                     \
    if (auto crmsync_try_r_ = (expr); !crmsync_try_r_.ok()) return crmsync_try_r_.error(); \
  } while (0)
