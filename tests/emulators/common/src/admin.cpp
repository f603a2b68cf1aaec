#include "emulator/admin.hpp"

#include <chrono>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace emulator {

namespace {

constexpr std::size_t kLogEntries = 10000;
constexpr std::size_t kLogBody = 1u << 20;

// The Host header names loopback (127.0.0.1, localhost or [::1], with or without a port).
bool loopback_host(std::string_view host) {
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(']') == std::string_view::npos &&
      host.find(':') == colon)
    host = host.substr(0, colon);
  else if (!host.empty() && host.front() == '[')
    host = host.substr(0, host.find(']') + 1);
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

bool is_rate_key(const std::string& k) {
  return k == "error_rate" || k == "drop_after_commit_rate" || k == "throttle_rate";
}
bool is_count_key(const std::string& k) {
  return k == "latency_ms" || k == "fail_nth" || k == "retry_after_s" || k == "seed";
}

}  // namespace

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string json_string(const std::string& s) {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  return b.GetString();
}

Reply json_error(int status, const std::string& message) {
  return Reply::json(status, "{\"error\":" + json_string(message) + "}\n");
}

std::optional<std::string> string_member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return std::nullopt;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// ------------------------------------------------------------------ faults

const std::string FaultInjector::kUnknown = "\x01unknown";

std::optional<std::string> FaultInjector::configure(const rapidjson::Value& obj) {
  if (!obj.IsObject()) return "the body must be a JSON object";
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    std::string k(it->name.GetString(), it->name.GetStringLength());
    const auto& v = it->value;
    if (is_rate_key(k)) {
      if (!v.IsNumber() || v.GetDouble() < 0 || v.GetDouble() > 1)
        return "\"" + k + "\" must be a number within 0..1";
    } else if (is_count_key(k)) {
      if (!v.IsNumber()) return "\"" + k + "\" must be a number";
      double d = v.GetDouble();
      if (d < 0 || d > 1e9 || d != static_cast<double>(static_cast<long long>(d)))
        return "\"" + k + "\" must be a non-negative integer";
    } else {
      std::optional<std::string> verdict = kUnknown;
      for (const auto& e : extensions_) {
        verdict = e.check(k, v);
        if (!verdict || *verdict != kUnknown) break;
      }
      if (verdict && *verdict == kUnknown) return "unknown key \"" + k + "\"";
      if (verdict) return verdict;
    }
  }
  clear();
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    std::string k(it->name.GetString(), it->name.GetStringLength());
    const auto& v = it->value;
    if (is_rate_key(k)) {
      (k == "error_rate"      ? error_rate_
       : k == "throttle_rate" ? throttle_rate_
                              : drop_rate_) = v.GetDouble();
    } else if (is_count_key(k)) {
      auto n = static_cast<long long>(v.GetDouble());
      if (k == "latency_ms") latency_ms_ = static_cast<int>(n);
      if (k == "fail_nth") fail_nth_ = static_cast<int>(n);
      if (k == "retry_after_s") retry_after_s_ = static_cast<int>(n);
      if (k == "seed") rng_.seed(static_cast<std::uint64_t>(n));
    } else {
      for (const auto& e : extensions_)
        if (!e.check(k, v)) {
          e.apply(k, v);
          break;
        }
    }
  }
  return std::nullopt;
}

void FaultInjector::clear() {
  latency_ms_ = 0;
  error_rate_ = drop_rate_ = throttle_rate_ = 0;
  fail_nth_ = 0;
  retry_after_s_ = 5;
  rng_.seed(0);
  for (const auto& e : extensions_) e.clear();
}

bool FaultInjector::chance(double rate) {
  if (rate <= 0) return false;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < rate;
}

FaultInjector::Decision FaultInjector::roll() {
  Decision d;
  d.latency_ms = latency_ms_;
  bool nth = fail_nth_ > 0 && --fail_nth_ == 0;
  if (nth || chance(error_rate_)) {
    d.kind = Decision::kError;
  } else if (chance(throttle_rate_)) {
    d.kind = Decision::kThrottle;
    d.retry_after_s = retry_after_s_ > 0 ? retry_after_s_ : 1;
  } else {
    d.drop = chance(drop_rate_);
  }
  return d;
}

std::string FaultInjector::Decision::label() const {
  if (kind == kError) return "error";
  if (kind == kThrottle) return "throttle";
  if (drop) return "drop";
  if (latency_ms > 0) return "slow";
  return "";
}

// ------------------------------------------------------------------ request log

void RequestLog::add(Entry e) {
  ++total_;
  if (e.body.size() > kLogBody) e.body.resize(kLogBody);
  if (entries_.size() >= kLogEntries) entries_.pop_front();
  entries_.push_back(std::move(e));
}

std::string RequestLog::to_json() const {
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  auto str = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartArray();
  for (const auto& e : entries_) {
    w.StartObject();
    str("method", e.method);
    str("path", e.path);
    w.Key("status");
    w.Int(e.status);
    str("body", e.body);
    w.Key("at_ms");
    w.Int64(e.at_ms);
    str("fault", e.fault);
    for (const auto& [k, v] : e.extra) str(k.c_str(), v);
    w.EndObject();
  }
  w.EndArray();
  return b.GetString();
}

// ------------------------------------------------------------------ routes

void Admin::on(const std::string& method, const std::string& path, Route route) {
  routes_.push_back({method, path, std::move(route)});
}

std::optional<Reply> Admin::handle(const Request& req) {
  if (req.path.rfind("/admin/", 0) != 0) return std::nullopt;
  if (!req.peer_loopback || !loopback_host(req.header("Host")))
    return json_error(403, "the admin API is served on loopback only");
  rapidjson::Document doc;
  if (req.method == "POST" || req.method == "PUT") {
    const std::string& b = req.body;
    if (b.find_first_not_of(" \t\r\n") == std::string::npos)
      doc.Parse("{}");
    else
      doc.Parse(b.c_str(), b.size());
    if (doc.HasParseError() || !doc.IsObject())
      return json_error(400, "the body must be a JSON object");
  }
  try {
    const std::string& p = req.path;
    if (p == "/admin/faults" && req.method == "POST") {
      if (auto err = faults_.configure(doc)) return json_error(400, *err);
      return Reply::json(200, "{}\n");
    }
    if (p == "/admin/requests" && req.method == "GET")
      return Reply::json(200, log_.to_json() + "\n");
    if (p == "/admin/stats" && req.method == "GET")
      return Reply::json(200, "{\"requests\":" + std::to_string(log_.total()) + "}\n");
    if (p == "/admin/reset" && req.method == "POST") {
      log_.clear();
      faults_.clear();
      if (reset_) reset_();
      return Reply::json(200, "{}\n");
    }
    for (const auto& r : routes_) {
      bool match = r.path.back() == '/' ? p.rfind(r.path, 0) == 0 : p == r.path;
      if (match && r.method == req.method) return r.route(req, doc);
    }
  } catch (const std::exception& e) {
    return json_error(500, e.what());
  }
  return json_error(404, "unknown admin endpoint " + req.method + " " + req.path);
}

}  // namespace emulator
