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

// What to do next, decided where the error is born (isync's FAIL_TEMP / FAIL_WAIT /
// FAIL_FINAL, STYLE.md 5). The factories give each kind its usual class; a birth site that
// knows better says so (with_retry). The engine acts on the class (rules::ends_cycle), and the
// adapters retry kWait, and only that, in their own request loops.
enum class Retry {
  kItem,  // this item's own failure: it keeps its change and is tried again after its
          // backoff (E1); the cycle goes on with the others
  kWait,  // the service cannot answer now (network, timeout, throttling, busy): stop asking
          // it; the next cycle resumes after a backoff, or retry_after_ms (E3)
  kStop,  // the service refuses us, or our own state is unusable: the cycle ends, and
          // retrying helps only once something changes (sign-in, privilege, config, repair)
};

std::string_view to_string(ErrorKind kind);

class Error {
 public:
  // An item's own failures: kItem.
  static Error NotFound(std::string what) { return {ErrorKind::kNotFound, std::move(what)}; }
  static Error Conflict(std::string what) { return {ErrorKind::kConflict, std::move(what)}; }
  static Error Invalid(std::string what) { return {ErrorKind::kInvalid, std::move(what)}; }
  static Error Internal(std::string what) { return {ErrorKind::kInternal, std::move(what)}; }
  // kWait, with the server's wait when it named one.
  static Error Transient(std::string what, std::optional<int> retry_after_ms = std::nullopt) {
    Error e{ErrorKind::kTransient, std::move(what), Retry::kWait};
    e.retry_after_ms_ = retry_after_ms;
    return e;
  }
  // kStop.
  static Error Permission(std::string what) {
    return {ErrorKind::kPermission, std::move(what), Retry::kStop};
  }
  static Error Corrupt(std::string what) {
    return {ErrorKind::kCorrupt, std::move(what), Retry::kStop};
  }

  ErrorKind kind() const { return kind_; }
  Retry retry() const { return retry_; }
  const std::string& message() const { return message_; }
  // Server-requested wait (Retry-After, BackOffMilliseconds), when there is one.
  std::optional<int> retry_after_ms() const { return retry_after_ms_; }

  // Worth asking again soon, in the same request loop (kWait).
  bool retryable() const { return retry_ == Retry::kWait; }
  bool is(ErrorKind k) const { return kind_ == k; }

  // Where the birth site knows better than the kind's usual class: a refusal of one record
  // is that item's (kItem), not the whole service's.
  Error with_retry(Retry r) && {
    retry_ = r;
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
  Error(ErrorKind k, std::string m, Retry r = Retry::kItem)
      : kind_(k), retry_(r), message_(std::move(m)) {}
  ErrorKind kind_;
  Retry retry_;
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
