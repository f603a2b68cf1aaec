// The emulators' JSON admin API (no auth, loopback peers and Host only): the routes every
// emulator has — POST /admin/faults, GET /admin/requests, GET /admin/stats, POST /admin/reset —
// and the emulator's own (users and the like) registered with on().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "emulator/http.hpp"

namespace emulator {

// JSON helpers for admin replies.
Reply json_error(int status, const std::string& message);  // {"error": message}
std::string json_string(const std::string& s);             // a quoted, escaped JSON string
// The member `key` as a string, or nullopt when absent or not a string.
std::optional<std::string> string_member(const rapidjson::Value& obj, const char* key);

// The faults every emulator injects into its protocol requests (POST /admin/faults):
// latency_ms, error_rate, drop_after_commit_rate, throttle_rate, fail_nth, seed,
// retry_after_s — rates 0..1, the others non-negative integers; `{}` clears them. A new
// configuration replaces the old one whole. An emulator adds keys of its own with extend().
class FaultInjector {
 public:
  struct Extension {
    // Checks one key: nullopt when this extension takes it and the value is fine, an error
    // message when the value is wrong, kUnknown when the key is not its own.
    std::function<std::optional<std::string>(const std::string& key, const rapidjson::Value& v)>
        check;
    std::function<void()> clear;  // before a configuration is applied (and on reset)
    std::function<void(const std::string& key, const rapidjson::Value& v)> apply;
  };
  static const std::string kUnknown;

  void extend(Extension e) { extensions_.push_back(std::move(e)); }

  // Validates the whole object first, then applies it; the error message, or nullopt.
  std::optional<std::string> configure(const rapidjson::Value& obj);
  void clear();

  // One protocol request's roll of the dice.
  struct Decision {
    enum Kind { kNone, kError, kThrottle } kind = kNone;
    bool drop = false;  // answer nothing after doing the work
    int latency_ms = 0;
    int retry_after_s = 0;  // with kThrottle
    // For the request log: "error", "throttle", "drop", "slow" or "".
    std::string label() const;
  };
  Decision roll();

 private:
  bool chance(double rate);
  int latency_ms_ = 0;
  double error_rate_ = 0, drop_rate_ = 0, throttle_rate_ = 0;
  int fail_nth_ = 0;  // 0: off; counts down per protocol request
  int retry_after_s_ = 5;
  std::mt19937_64 rng_{0};
  std::vector<Extension> extensions_;
};

// The last 10000 protocol requests (bodies cut at 1 MiB): GET /admin/requests gives
// [{"method","path","status","body","at_ms","fault", ...the emulator's own string fields}],
// status 0 for a dropped reply.
class RequestLog {
 public:
  struct Entry {
    std::string method, path, body;
    int status = 0;
    std::int64_t at_ms = 0;  // arrival, UTC ms since the epoch
    std::string fault;
    std::vector<std::pair<std::string, std::string>> extra;
  };
  void add(Entry e);
  void clear() { entries_.clear(); }
  std::uint64_t total() const { return total_; }
  std::string to_json() const;

 private:
  std::deque<Entry> entries_;
  std::uint64_t total_ = 0;
};

class Admin {
 public:
  using Route = std::function<Reply(const Request& req, const rapidjson::Document& body)>;
  // An emulator's own route; `path` matches exactly, or as a prefix when it ends in '/'.
  void on(const std::string& method, const std::string& path, Route route);
  // Called by POST /admin/reset after the log and the faults are cleared.
  void on_reset(std::function<void()> f) { reset_ = std::move(f); }

  FaultInjector& faults() { return faults_; }
  RequestLog& log() { return log_; }

  // A reply for /admin/... targets, nullopt for any other target.
  std::optional<Reply> handle(const Request& req);

 private:
  struct Entry {
    std::string method, path;
    Route route;
  };
  std::vector<Entry> routes_;
  std::function<void()> reset_;
  FaultInjector faults_;
  RequestLog log_;
};

// UTC milliseconds since the epoch.
std::int64_t now_ms();

}  // namespace emulator
