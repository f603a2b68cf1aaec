#include "crmsync/api/route.hpp"

#include "decision_routes.hpp"
#include "json_out.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>

namespace crmsync::api {
namespace {

using json::key;
using json::str;
using json::time_or_null;
using json::Writer;

void write_cycle(Writer& w, const status::CycleInfo& c) {
  w.StartObject();
  key(w, "id");
  w.Int64(c.id);
  key(w, "full");
  w.Bool(c.full);
  key(w, "requests");
  w.StartArray();
  for (auto r : c.requests) w.Int64(r);
  w.EndArray();
  key(w, "started");
  str(w, c.started.iso());
  key(w, "finished");
  time_or_null(w, c.finished);
  key(w, "result");
  if (c.result.empty())
    w.Null();
  else
    str(w, c.result);
  key(w, "to_store");
  w.Int64(c.summary.to_store);
  key(w, "to_crm");
  w.Int64(c.summary.to_crm);
  key(w, "deleted_in_store");
  w.Int64(c.summary.deleted_in_store);
  key(w, "deleted_in_crm");
  w.Int64(c.summary.deleted_in_crm);
  key(w, "conflicts");
  w.Int64(c.summary.conflicts);
  key(w, "item_errors");
  w.Int64(c.summary.item_errors);
  key(w, "held_deletions");
  w.Int64(c.summary.held_deletions);
  key(w, "synced");
  w.StartObject();
  for (const auto& [k, n] : c.summary.synced) {
    str(w, k);
    w.Int64(n);
  }
  w.EndObject();
  key(w, "notices");
  w.StartArray();
  for (const auto& n : c.summary.notices) str(w, n);
  w.EndArray();
  key(w, "failure");
  if (c.failure)
    str(w, *c.failure);
  else
    w.Null();
  w.EndObject();
}

struct Query {
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;
};

Query split_target(const std::string& target) {
  Query q;
  auto qm = target.find('?');
  q.path = target.substr(0, qm);
  if (qm == std::string::npos) return q;
  std::string rest = target.substr(qm + 1);
  std::size_t pos = 0;
  while (pos <= rest.size()) {
    auto amp = rest.find('&', pos);
    std::string part = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (!part.empty()) {
      auto eq = part.find('=');
      q.params.emplace_back(part.substr(0, eq), eq == std::string::npos ? "" : part.substr(eq + 1));
    }
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return q;
}

using json::parse_int;

struct RouteDef {
  const char* path;
  const char* method;  // the one allowed method
  bool public_route;
};
constexpr RouteDef kRoutes[] = {
    {"/", "GET", true},
    {"/v1/health", "GET", true},
    {"/v1/status", "GET", false},
    {"/v1/sync", "POST", false},
    {"/v1/errors", "GET", false},
    {"/v1/conflicts", "GET", false},
    {"/v1/events", "GET", false},
    {"/metrics", "GET", false},
    // SPEC U2: the user's decisions (decision_routes.cpp).
    {"/v1/items", "GET", false},
    {"/v1/regarding/candidates", "GET", false},
    {"/v1/deletions", "GET", false},
    {"/v1/items/track", "POST", false},
    {"/v1/items/untrack", "POST", false},
    {"/v1/items/regarding", "POST", false},
    {"/v1/conflicts/resolve", "POST", false},
    {"/v1/deletions/confirm", "POST", false},
    {"/v1/deletions/reject", "POST", false},
    {"/v1/errors/retry", "POST", false},
    {"/v1/errors/ignore", "POST", false},
};

Response text_response(std::string content_type, std::string body) {
  Response r;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

std::string escape_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_double(double v) {
  if (std::isnan(v) || std::isinf(v)) return "0";
  return fmt::format("{}", v);
}

}  // namespace

Response error_response(int status, const std::string& message) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "error");
  str(w, message);
  w.EndObject();
  return json::response(status, buf);
}

bool is_loopback_host_header(const std::string& host, std::uint16_t port) {
  std::string name = host;
  std::string port_text;
  if (!name.empty() && name[0] == '[') {
    auto close = name.find(']');
    if (close == std::string::npos) return false;
    port_text = name.substr(close + 1);
    name = name.substr(0, close + 1);
    if (!port_text.empty()) {
      if (port_text[0] != ':') return false;
      port_text.erase(0, 1);
    }
  } else if (auto colon = name.find(':'); colon != std::string::npos) {
    port_text = name.substr(colon + 1);
    name = name.substr(0, colon);
  }
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name != "localhost" && name != "127.0.0.1" && name != "[::1]") return false;
  if (host.find(':') != std::string::npos && name != "[::1]" && port_text.empty()) return false;
  if (port_text.empty()) return true;
  std::int64_t p = 0;
  return parse_int(port_text, p) && p == port;
}

bool token_matches(const std::string& authorization, const std::string& token) {
  static const std::string kPrefix = "Bearer ";
  if (token.empty() || authorization.size() != kPrefix.size() + token.size()) return false;
  if (authorization.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  return CRYPTO_memcmp(authorization.data() + kPrefix.size(), token.data(), token.size()) == 0;
}

std::string cycle_json(const status::CycleInfo& cycle) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  write_cycle(w, cycle);
  return buf.GetString();
}

std::string status_json(const status::Snapshot& s) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "version");
  str(w, s.version);
  key(w, "state");
  str(w, s.state);
  key(w, "role");
  str(w, s.role);
  key(w, "client_id");
  str(w, s.client_id);
  key(w, "profile");
  str(w, s.profile);
  key(w, "pid");
  w.Int64(s.pid);
  key(w, "lease");
  w.StartObject();
  key(w, "holder");
  if (s.lease)
    str(w, s.lease->holder);
  else
    w.Null();
  key(w, "epoch");
  if (s.lease)
    w.Int64(s.lease->epoch);
  else
    w.Null();
  key(w, "expires");
  if (s.lease)
    str(w, s.lease->expires.iso());
  else
    w.Null();
  w.EndObject();
  key(w, "last_cycle");
  if (s.last_cycle)
    write_cycle(w, *s.last_cycle);
  else {
    // The contract's keys are there even before the first cycle.
    w.StartObject();
    key(w, "started");
    w.Null();
    key(w, "finished");
    w.Null();
    key(w, "result");
    w.Null();
    w.EndObject();
  }
  key(w, "current_cycle");
  if (s.current_cycle)
    write_cycle(w, *s.current_cycle);
  else
    w.Null();
  key(w, "step");
  if (s.step.empty())
    w.Null();
  else
    str(w, s.step);
  key(w, "progress");
  w.StartObject();
  key(w, "done");
  w.Int64(s.step_done);
  key(w, "total");
  w.Int64(s.step_total);
  w.EndObject();
  key(w, "counts");
  w.StartObject();
  for (const auto& [kind, c] : s.counts) {
    str(w, kind);
    w.StartObject();
    key(w, "mapped");
    w.Int64(c.mapped);
    key(w, "pending");
    w.Int64(c.pending);
    key(w, "errors");
    w.Int64(c.errors);
    key(w, "conflicts");
    w.Int64(c.conflicts);
    key(w, "held");
    w.Int64(c.held);
    w.EndObject();
  }
  w.EndObject();
  key(w, "queue_depth");
  w.Int64(s.queue_depth);
  key(w, "pending_changes");
  w.Int64(s.pending_changes);
  key(w, "pending_requests");
  w.Int64(s.pending_requests);
  key(w, "notices");
  w.StartArray();
  for (const auto& n : s.notices) str(w, n);
  w.EndArray();
  key(w, "needs_login");
  w.StartArray();
  for (const auto& n : s.needs_login) str(w, n);
  w.EndArray();
  key(w, "next_sync");
  time_or_null(w, s.next_sync);
  key(w, "interval_minutes");
  w.Int(s.interval_minutes);
  key(w, "last_event_id");
  w.Int64(s.events.empty() ? 0 : s.events.back().id);
  key(w, "errors");
  w.Int64(static_cast<std::int64_t>(s.errors.size()));
  key(w, "conflicts");
  w.Int64(static_cast<std::int64_t>(s.conflicts.size()));
  key(w, "deletions");
  w.Int64(static_cast<std::int64_t>(s.deletions.size()));
  w.EndObject();
  return buf.GetString();
}

std::string metrics_text(const status::Snapshot& s) {
  std::string out;
  out += "# HELP crmsync_lease_changes_total Times the primary lease changed holder.\n";
  out += "# TYPE crmsync_lease_changes_total counter\n";
  out += fmt::format("crmsync_lease_changes_total {}\n", s.metrics.lease_changes_total);
  out += "# HELP crmsync_cycles_total Sync cycles finished, by result.\n";
  out += "# TYPE crmsync_cycles_total counter\n";
  for (const char* r : {"ok", "item-errors", "mass-delete-held", "failed"}) {
    auto it = s.metrics.cycles_total.find(r);
    out += fmt::format("crmsync_cycles_total{{result=\"{}\"}} {}\n", r,
                       it == s.metrics.cycles_total.end() ? 0 : it->second);
  }
  out += "# HELP crmsync_items_synced_total Items written, by kind and direction.\n";
  out += "# TYPE crmsync_items_synced_total counter\n";
  for (const auto& [k, n] : s.metrics.items_synced)
    out += fmt::format("crmsync_items_synced_total{{kind=\"{}\",direction=\"{}\"}} {}\n",
                       escape_label(k.first), escape_label(k.second), n);
  std::int64_t errors = 0, pending = 0, mapped = 0;
  for (const auto& [kind, c] : s.counts) {
    errors += c.errors;
    pending += c.pending;
    mapped += c.mapped;
  }
  out += "# HELP crmsync_item_errors Items whose last sync attempt failed.\n";
  out += "# TYPE crmsync_item_errors gauge\n";
  out += fmt::format("crmsync_item_errors {}\n", errors);
  out += "# HELP crmsync_pending_changes Changes waiting in the cache.\n";
  out += "# TYPE crmsync_pending_changes gauge\n";
  out += fmt::format("crmsync_pending_changes {}\n", pending);
  out += "# HELP crmsync_mapped_items Linked store item / CRM record pairs.\n";
  out += "# TYPE crmsync_mapped_items gauge\n";
  out += fmt::format("crmsync_mapped_items {}\n", mapped);
  out += "# HELP crmsync_conflicts_total Field conflicts resolved.\n";
  out += "# TYPE crmsync_conflicts_total counter\n";
  out += fmt::format("crmsync_conflicts_total {}\n", s.metrics.conflicts_total);
  out += "# HELP crmsync_cycle_duration_seconds Duration of sync cycles.\n";
  out += "# TYPE crmsync_cycle_duration_seconds histogram\n";
  std::int64_t cumulative = 0;
  for (std::size_t i = 0; i < std::size(status::kDurationBuckets); ++i) {
    cumulative += s.metrics.duration_bucket_counts[i];
    out += fmt::format("crmsync_cycle_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                       format_double(status::kDurationBuckets[i]), cumulative);
  }
  out += fmt::format("crmsync_cycle_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
                     s.metrics.duration_count);
  out +=
      fmt::format("crmsync_cycle_duration_seconds_sum {}\n", format_double(s.metrics.duration_sum));
  out += fmt::format("crmsync_cycle_duration_seconds_count {}\n", s.metrics.duration_count);
  return out;
}

Response sync_accepted_response(std::int64_t request_id) {
  Response r;
  r.status = 202;
  r.body = fmt::format("{{\"accepted\":true,\"request\":{}}}", request_id);
  return r;
}

Response sync_done_response(std::int64_t request_id, const status::CycleInfo& cycle) {
  Response r;
  r.body = fmt::format("{{\"request\":{},\"cycle\":{}}}", request_id, cycle_json(cycle));
  return r;
}

std::optional<Response> events_response(const status::Snapshot& state, std::int64_t after) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  int n = 0;
  for (const auto& e : state.events) {
    if (e.id <= after) continue;
    if (++n > 200) break;
    w.StartObject();
    key(w, "id");
    w.Int64(e.id);
    key(w, "type");
    str(w, e.type);
    key(w, "at");
    str(w, e.at.iso());
    key(w, "data");
    w.RawValue(e.data.c_str(), e.data.size(), rapidjson::kObjectType);
    w.EndObject();
  }
  w.EndArray();
  if (n == 0) return std::nullopt;
  return json::response(200, buf);
}

Response empty_events_response() {
  return text_response("application/json", "[]");
}

Response decision_response(const status::DecisionReply& reply) {
  Response r;
  r.status = reply.status;
  r.body = reply.body;
  return r;
}

Routed route(const Request& req, const status::Snapshot& state, const RouteContext& ctx) {
  Routed out;
  auto& resp = out.response;
  if (!is_loopback_host_header(req.host, ctx.port)) {
    resp = error_response(403, "Host must be a loopback name (localhost, 127.0.0.1, [::1])");
    return out;
  }
  Query q = split_target(req.target);
  const RouteDef* def = nullptr;
  for (const auto& d : kRoutes)
    if (q.path == d.path) def = &d;
  if (!def) {
    resp = error_response(404, "no such resource");
    return out;
  }
  if (req.method != def->method) {
    resp = error_response(
        405, fmt::format("method {} not allowed; use {}", req.method.substr(0, 16), def->method));
    resp.headers.emplace_back("Allow", def->method);
    return out;
  }
  if (!def->public_route && !token_matches(req.authorization, ctx.token)) {
    resp = error_response(401, "missing or wrong bearer token (see http.token_file)");
    resp.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"crmsync\"");
    return out;
  }
  if (req.body.size() > ctx.max_body) {
    resp = error_response(413, "request body too large");
    return out;
  }
  if (q.path == "/") {
    resp = text_response("text/html; charset=utf-8", status_page_html());
    resp.headers.emplace_back("Cache-Control", "no-store");
    resp.headers.emplace_back(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'");
    return out;
  }
  if (auto decided = route_decision(q.path, q.params, req.body, state)) return std::move(*decided);
  if (q.path == "/v1/health") {
    resp = text_response("application/json", "{\"ok\":true}");
    return out;
  }
  if (q.path == "/v1/status") {
    resp.body = status_json(state);
    return out;
  }
  if (q.path == "/metrics") {
    resp = text_response("text/plain; version=0.0.4; charset=utf-8", metrics_text(state));
    return out;
  }
  if (q.path == "/v1/errors" || q.path == "/v1/conflicts") {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartArray();
    if (q.path == "/v1/errors") {
      for (const auto& e : state.errors) {
        w.StartObject();
        key(w, "entity");
        str(w, e.entity);
        key(w, "crm_id");
        str(w, e.crm_id);
        key(w, "entry_id");
        str(w, e.entry_id);
        key(w, "error");
        str(w, e.error);
        key(w, "attempts");
        w.Int(e.attempts);
        key(w, "next_attempt");
        str(w, e.next_attempt.iso());
        key(w, "id");
        w.Int64(e.id);
        w.EndObject();
      }
    } else {
      for (const auto& c : state.conflicts) {
        w.StartObject();
        key(w, "id");
        w.Int64(c.id);
        key(w, "entity");
        str(w, c.entity);
        key(w, "crm_id");
        str(w, c.crm_id);
        key(w, "entry_id");
        str(w, c.entry_id);
        key(w, "field");
        str(w, c.field);
        key(w, "store_value");
        str(w, c.store_value);
        key(w, "crm_value");
        str(w, c.crm_value);
        key(w, "winner");
        str(w, c.winner);
        key(w, "at");
        str(w, c.at.iso());
        key(w, "base_value");
        if (c.base_value)
          str(w, *c.base_value);
        else
          w.Null();
        w.EndObject();
      }
    }
    w.EndArray();
    resp = json::response(200, buf);
    return out;
  }
  if (q.path == "/v1/sync") {
    if (!q.params.empty()) {
      resp = error_response(400, "no query parameters here; send a JSON body");
      return out;
    }
    bool blank = req.body.find_first_not_of(" \t\r\n") == std::string::npos;
    if (!blank) {
      rapidjson::Document d;
      d.Parse<rapidjson::kParseIterativeFlag>(req.body.data(), req.body.size());
      if (d.HasParseError() || !d.IsObject()) {
        resp = error_response(
            400, "body must be a JSON object {\"wait\":bool,\"allow_mass_delete\":bool}");
        return out;
      }
      for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
        std::string k(it->name.GetString(), it->name.GetStringLength());
        if (k != "wait" && k != "allow_mass_delete") {
          resp = error_response(400, "unknown key " + k.substr(0, 64));
          return out;
        }
        if (!it->value.IsBool()) {
          resp = error_response(400, k + " must be true or false");
          return out;
        }
        (k == "wait" ? out.sync.wait : out.sync.allow_mass_delete) = it->value.GetBool();
      }
    }
    out.defer = Routed::Defer::kSync;
    return out;
  }
  // /v1/events
  std::int64_t after = 0, timeout = 0;
  for (const auto& [k, v] : q.params) {
    if (k == "after") {
      if (!parse_int(v, after)) {
        resp = error_response(400, "after must be a non-negative integer");
        return out;
      }
    } else if (k == "timeout") {
      if (!parse_int(v, timeout) || timeout > kMaxEventsTimeout.count()) {
        resp = error_response(
            400, fmt::format("timeout must be an integer from 0 to {}", kMaxEventsTimeout.count()));
        return out;
      }
    } else {
      resp = error_response(400, "unknown parameter " + k.substr(0, 64));
      return out;
    }
  }
  if (auto r = events_response(state, after)) {
    resp = std::move(*r);
    return out;
  }
  if (timeout == 0) {
    resp = empty_events_response();
    return out;
  }
  out.defer = Routed::Defer::kEvents;
  out.events_after = after;
  out.events_timeout = std::chrono::seconds(timeout);
  return out;
}

}  // namespace crmsync::api
