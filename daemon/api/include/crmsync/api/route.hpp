// The HTTP endpoint's logic as a pure function (STYLE.md 7, 12): a request and a state
// snapshot in, a response out; no sockets, tested without them. The session (server.cpp)
// does only the I/O and the deferred cases: a sync request, a long poll, and a decision of
// the user's (SPEC U2), which the worker acts on.
//
// Order of checks: Host must be a loopback name (403, DNS rebinding), unknown path 404,
// wrong method 405 with Allow, missing/wrong bearer token 401 (all but GET /v1/health and
// the token-less page GET /), body too large 413, bad parameters 400. Errors are
// {"error": "..."} (error_response()).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crmsync/status/state.hpp"

namespace crmsync::api {

struct Request {
  std::string method;  // "GET"
  std::string target;  // "/v1/events?after=3"
  std::string host;    // the Host header, "" when absent
  std::string authorization;
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct RouteContext {
  std::string token;       // the API token (SPEC X4)
  std::uint16_t port = 0;  // the port the endpoint listens on (for the Host check)
  std::size_t max_body = 64 * 1024;
};

struct Routed {
  enum class Defer { kNone, kSync, kEvents, kDecision };
  Defer defer = Defer::kNone;
  Response response;                            // when defer == kNone
  status::SyncParams sync;                      // kSync
  std::int64_t events_after = 0;                // kEvents
  std::chrono::milliseconds events_timeout{0};  // kEvents
  status::Decision decision;                    // kDecision (decision_routes.cpp validated it)
};

inline constexpr std::chrono::seconds kMaxEventsTimeout{60};

Routed route(const Request& request, const status::Snapshot& state, const RouteContext& context);

// The one helper for error replies: {"error": message}.
Response error_response(int status, const std::string& message);

// Answers of the deferred cases.
Response sync_accepted_response(std::int64_t request_id);
Response sync_done_response(std::int64_t request_id, const status::CycleInfo& cycle);
// Events with id > after (at most 200), or nullopt when there are none.
std::optional<Response> events_response(const status::Snapshot& state, std::int64_t after);
Response empty_events_response();
// A decision's answer as the worker gave it (its status and JSON body).
Response decision_response(const status::DecisionReply& reply);

// Bodies, exposed for tests and the CLI's --json.
std::string status_json(const status::Snapshot& state);
std::string cycle_json(const status::CycleInfo& cycle);
std::string metrics_text(const status::Snapshot& state);
const std::string& status_page_html();

// "localhost", "127.0.0.1", "[::1]", each optionally with ":port" (which must be `port`).
bool is_loopback_host_header(const std::string& host, std::uint16_t port);
bool token_matches(const std::string& authorization, const std::string& token);

}  // namespace crmsync::api
