// route(): the endpoint's logic without sockets (STYLE.md 7, 12).
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "crmsync/api/route.hpp"

using namespace crmsync;
using namespace crmsync::api;
using namespace crmsync::status;

namespace {

const std::string kToken(64, 'a');
constexpr std::uint16_t kPort = 8787;

RouteContext context() {
  RouteContext c;
  c.token = kToken;
  c.port = kPort;
  c.max_body = 1024;
  return c;
}

Request request(std::string method, std::string target, bool auth = true) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.host = "127.0.0.1:8787";
  if (auth) r.authorization = "Bearer " + kToken;
  return r;
}

Snapshot sample_state() {
  Snapshot s;
  s.version = "0.1.0";
  s.state = "idle";
  s.role = "primary";
  s.client_id = "desk-1";
  s.profile = "alice";
  CycleInfo c;
  c.id = 3;
  c.started = UtcTime::from_seconds(1'767'225'600);
  c.finished = UtcTime::from_seconds(1'767'225'660);
  c.result = "ok";
  c.summary.to_crm = 2;
  c.summary.to_store = 5;
  c.summary.synced = {{"contact:crm-to-store", 5}};
  s.last_cycle = c;
  s.counts["contact"] = KindCounts{301, 1, 1, 2, 0};
  s.counts["task"] = KindCounts{20, 0, 0, 0, 0};
  s.queue_depth = 1;
  s.notices = {"G5: no privilege"};
  s.errors.push_back({"contact", "6f1c0000-0000-4000-8000-000000000001", "AB", "too long", 2,
                      UtcTime::from_seconds(1'767'225'700)});
  s.conflicts.push_back({7, "contact", "6f1c0000-0000-4000-8000-000000000001", "AB", "JobTitle",
                         "CEO", "CTO", "crm", UtcTime::from_seconds(1'767'225'650)});
  for (int i = 1; i <= 3; ++i)
    s.events.push_back(
        {i, "progress", UtcTime::from_seconds(1'767'225'600 + i), "{\"step\":\"prepare\"}"});
  s.metrics.cycles_total["ok"] = 3;
  s.metrics.items_synced[{"contact", "crm-to-store"}] = 5;
  s.metrics.duration_bucket_counts[1] = 2;
  s.metrics.duration_bucket_counts[3] = 1;
  s.metrics.duration_count = 3;
  s.metrics.duration_sum = 2.75;
  return s;
}

rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

std::string header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

}  // namespace

TEST_CASE("X4: health needs no token - everything with data does", "[api][route]") {
  auto s = sample_state();
  auto health = route(request("GET", "/v1/health", false), s, context());
  CHECK(health.response.status == 200);
  for (const char* path : {"/v1/status", "/v1/errors", "/v1/conflicts", "/v1/events", "/metrics"}) {
    INFO(path);
    auto r = route(request("GET", path, false), s, context());
    CHECK(r.response.status == 401);
    CHECK(header(r.response, "WWW-Authenticate").rfind("Bearer", 0) == 0);
    CHECK(parse(r.response.body)["error"].IsString());
  }
  auto post = route(request("POST", "/v1/sync", false), s, context());
  CHECK(post.response.status == 401);
  CHECK(post.defer == Routed::Defer::kNone);
}

TEST_CASE("wrong tokens are refused", "[api][route]") {
  auto s = sample_state();
  for (std::string auth :
       {std::string("Bearer ") + std::string(64, 'b'), std::string("Bearer "), "Basic " + kToken,
        "bearer " + kToken, "Bearer " + kToken + "x", kToken}) {
    INFO(auth);
    auto req = request("GET", "/v1/status");
    req.authorization = auth;
    CHECK(route(req, s, context()).response.status == 401);
  }
  CHECK_FALSE(token_matches("Bearer ", ""));  // an empty configured token never matches
}

TEST_CASE("X4: Host must be a loopback name with our port (DNS rebinding)", "[api][route]") {
  auto s = sample_state();
  for (std::string host : {"127.0.0.1:8787", "localhost:8787", "LOCALHOST:8787", "[::1]:8787",
                           "localhost", "127.0.0.1", "[::1]"}) {
    INFO(host);
    auto req = request("GET", "/v1/health");
    req.host = host;
    CHECK(route(req, s, context()).response.status == 200);
  }
  for (std::string host : {"", "evil.example:8787", "127.0.0.1:8788", "127.0.0.1.evil.com:8787",
                           "localhost:", "[::1", "[::2]:8787", "localhost:8787x", "0.0.0.0:8787"}) {
    INFO(host);
    auto req = request("GET", "/v1/status");
    req.host = host;
    auto r = route(req, s, context());
    CHECK(r.response.status == 403);
    CHECK(parse(r.response.body)["error"].IsString());
  }
}

TEST_CASE("unknown paths 404 - wrong methods 405 with Allow", "[api][route]") {
  auto s = sample_state();
  CHECK(route(request("GET", "/v2/status"), s, context()).response.status == 404);
  CHECK(route(request("GET", "/v1/status/"), s, context()).response.status == 404);
  CHECK(route(request("GET", "/../etc/passwd"), s, context()).response.status == 404);
  auto r = route(request("POST", "/v1/status"), s, context());
  CHECK(r.response.status == 405);
  CHECK(header(r.response, "Allow") == "GET");
  auto g = route(request("GET", "/v1/sync"), s, context());
  CHECK(g.response.status == 405);
  CHECK(header(g.response, "Allow") == "POST");
  CHECK(route(request("DELETE", "/"), s, context()).response.status == 405);
}

TEST_CASE("bodies over the cap are 413", "[api][route]") {
  auto s = sample_state();
  auto req = request("POST", "/v1/sync");
  req.body = std::string(2048, ' ');
  CHECK(route(req, s, context()).response.status == 413);
}

TEST_CASE("/v1/status has the contract's shape", "[api][route]") {
  auto s = sample_state();
  auto r = route(request("GET", "/v1/status"), s, context());
  REQUIRE(r.response.status == 200);
  CHECK(r.response.content_type == "application/json");
  auto d = parse(r.response.body);
  CHECK(std::string(d["state"].GetString()) == "idle");
  CHECK(std::string(d["role"].GetString()) == "primary");
  CHECK(std::string(d["client_id"].GetString()) == "desk-1");
  REQUIRE(d["lease"].IsObject());
  CHECK(d["lease"]["holder"].IsNull());
  CHECK(d["lease"]["epoch"].IsNull());
  CHECK(d["lease"]["expires"].IsNull());
  REQUIRE(d["last_cycle"].IsObject());
  CHECK(std::string(d["last_cycle"]["started"].GetString()) == "2026-01-01T00:00:00Z");
  CHECK(std::string(d["last_cycle"]["finished"].GetString()) == "2026-01-01T00:01:00Z");
  CHECK(std::string(d["last_cycle"]["result"].GetString()) == "ok");
  CHECK(d["last_cycle"]["synced"]["contact:crm-to-store"].GetInt() == 5);
  REQUIRE(d["counts"].IsObject());
  for (const char* k : {"mapped", "pending", "errors", "conflicts"})
    CHECK(d["counts"]["contact"][k].IsInt64());
  CHECK(d["counts"]["contact"]["mapped"].GetInt() == 301);
  CHECK(d["queue_depth"].GetInt() == 1);
  CHECK(d["notices"][0].GetString() == std::string("G5: no privilege"));
  CHECK(d["progress"].IsObject());
  CHECK(d.HasMember("step"));
  CHECK(d["next_sync"].IsNull());
  CHECK(d["last_event_id"].GetInt() == 3);

  s.lease = LeaseInfo{"desk-2", 4, UtcTime::from_seconds(1'767'225'660)};
  s.last_cycle.reset();
  auto d2 = parse(route(request("GET", "/v1/status"), s, context()).response.body);
  CHECK(std::string(d2["lease"]["holder"].GetString()) == "desk-2");
  CHECK(d2["lease"]["epoch"].GetInt() == 4);
  CHECK(d2["last_cycle"]["result"].IsNull());  // keys present before the first cycle
  CHECK(d2["last_cycle"]["started"].IsNull());
}

TEST_CASE("U3: /v1/status names the sides that need a sign-in - never a token", "[api][route]") {
  auto s = sample_state();
  auto d = parse(route(request("GET", "/v1/status"), s, context()).response.body);
  REQUIRE(d["needs_login"].IsArray());
  CHECK(d["needs_login"].Empty());
  s.state = "needs_login";
  s.needs_login = {"crm"};
  auto r = route(request("GET", "/v1/status"), s, context());
  d = parse(r.response.body);
  CHECK(std::string(d["state"].GetString()) == "needs_login");
  REQUIRE(d["needs_login"].Size() == 1);
  CHECK(std::string(d["needs_login"][0].GetString()) == "crm");
  CHECK(r.response.body.find("refresh") == std::string::npos);
}

TEST_CASE("/v1/errors and /v1/conflicts are arrays", "[api][route]") {
  auto s = sample_state();
  auto e = parse(route(request("GET", "/v1/errors"), s, context()).response.body);
  REQUIRE(e.IsArray());
  CHECK(std::string(e[0]["error"].GetString()) == "too long");
  CHECK(e[0]["attempts"].GetInt() == 2);
  auto c = parse(route(request("GET", "/v1/conflicts"), s, context()).response.body);
  REQUIRE(c.IsArray());
  CHECK(std::string(c[0]["field"].GetString()) == "JobTitle");
  CHECK(std::string(c[0]["winner"].GetString()) == "crm");
}

TEST_CASE("POST /v1/sync defers with its parameters - bad bodies are 400", "[api][route]") {
  auto s = sample_state();
  auto plain = route(request("POST", "/v1/sync"), s, context());
  CHECK(plain.defer == Routed::Defer::kSync);
  CHECK_FALSE(plain.sync.wait);
  auto req = request("POST", "/v1/sync");
  req.body = R"({"wait":true,"allow_mass_delete":true})";
  auto w = route(req, s, context());
  CHECK(w.defer == Routed::Defer::kSync);
  CHECK(w.sync.wait);
  CHECK(w.sync.allow_mass_delete);
  for (std::string body : {"{", "[]", R"({"wait":"yes"})", R"({"now":true})", "null", "\"x\""}) {
    INFO(body);
    req.body = body;
    auto r = route(req, s, context());
    CHECK(r.defer == Routed::Defer::kNone);
    CHECK(r.response.status == 400);
  }
  auto accepted = sync_accepted_response(9);
  CHECK(accepted.status == 202);
  CHECK(parse(accepted.body)["request"].GetInt() == 9);
  auto done = sync_done_response(9, *s.last_cycle);
  CHECK(std::string(parse(done.body)["cycle"]["result"].GetString()) == "ok");
}

TEST_CASE("/v1/events: ids after `after` - long poll when none - 400 on bad input",
          "[api][route]") {
  auto s = sample_state();
  auto all = parse(route(request("GET", "/v1/events"), s, context()).response.body);
  REQUIRE(all.IsArray());
  REQUIRE(all.Size() == 3);
  CHECK(all[0]["id"].GetInt() == 1);
  CHECK(all[2]["id"].GetInt() == 3);
  CHECK(std::string(all[0]["data"]["step"].GetString()) == "prepare");
  auto after = parse(route(request("GET", "/v1/events?after=2"), s, context()).response.body);
  CHECK(after.Size() == 1);
  auto none = route(request("GET", "/v1/events?after=3"), s, context());
  CHECK(none.defer == Routed::Defer::kNone);
  CHECK(none.response.body == "[]");
  auto poll = route(request("GET", "/v1/events?after=3&timeout=5"), s, context());
  CHECK(poll.defer == Routed::Defer::kEvents);
  CHECK(poll.events_after == 3);
  CHECK(poll.events_timeout == std::chrono::seconds(5));
  for (const char* bad : {"/v1/events?after=-1", "/v1/events?after=x", "/v1/events?timeout=61",
                          "/v1/events?after=99999999999999999999", "/v1/events?foo=1"}) {
    INFO(bad);
    CHECK(route(request("GET", bad), s, context()).response.status == 400);
  }
}

TEST_CASE("/metrics is Prometheus text", "[api][route]") {
  auto s = sample_state();
  auto r = route(request("GET", "/metrics"), s, context());
  REQUIRE(r.response.status == 200);
  CHECK_THAT(r.response.content_type, Catch::StartsWith("text/plain; version=0.0.4"));
  const auto& t = r.response.body;
  CHECK_THAT(t, Catch::Contains("# TYPE crmsync_cycles_total counter\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_cycles_total{result=\"ok\"} 3\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_cycles_total{result=\"failed\"} 0\n"));
  CHECK_THAT(t, Catch::Contains(
                    "crmsync_items_synced_total{kind=\"contact\",direction=\"crm-to-store\"} 5\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_item_errors 1\n"));
  CHECK_THAT(t, Catch::Contains("# TYPE crmsync_cycle_duration_seconds histogram\n"));
  // Buckets are cumulative and end with +Inf == count.
  CHECK_THAT(t, Catch::Contains("crmsync_cycle_duration_seconds_bucket{le=\"0.1\"} 0\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_cycle_duration_seconds_bucket{le=\"0.5\"} 2\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_cycle_duration_seconds_bucket{le=\"5\"} 3\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_cycle_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_cycle_duration_seconds_sum 2.75\n"));
  CHECK_THAT(t, Catch::Contains("crmsync_cycle_duration_seconds_count 3\n"));
  CHECK(t.back() == '\n');
}

TEST_CASE("GET / is a self-contained page without data", "[api][route]") {
  auto s = sample_state();
  auto r = route(request("GET", "/", false), s, context());
  REQUIRE(r.response.status == 200);
  CHECK_THAT(r.response.content_type, Catch::StartsWith("text/html"));
  const auto& html = r.response.body;
  CHECK_THAT(html, Catch::Contains("Sync now"));
  CHECK_THAT(html, Catch::Contains("sessionStorage"));
  CHECK(html.find("desk-1") == std::string::npos);  // no data in the page itself
  CHECK(html.find("src=\"http") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK_THAT(header(r.response, "Content-Security-Policy"), Catch::Contains("default-src 'none'"));
}

TEST_CASE("error replies come from one helper", "[api][route]") {
  auto r = error_response(418, "short \"and\" stout");
  CHECK(r.status == 418);
  CHECK(r.content_type == "application/json");
  CHECK(std::string(parse(r.body)["error"].GetString()) == "short \"and\" stout");
}

// Found by fuzzing (tests/fuzz/regressions/api_route): a query parameter with a byte that is
// not UTF-8 was echoed into the JSON error as it was, and the reply no longer parsed.
TEST_CASE("replies are UTF-8 JSON whatever bytes the request held", "[api][route]") {
  auto routed = route(request("GET", "/v1/events?after=1&t\xE9meout=5"), sample_state(), context());
  REQUIRE(routed.response.status == 400);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(routed.response.body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["error"].GetString()) == "unknown parameter t\xEF\xBF\xBDmeout");
  Snapshot s = sample_state();
  s.errors.front().error = "bad \xC0\xAF text \xF0\x9F";
  auto errors = route(request("GET", "/v1/errors"), s, context());
  d.Parse<rapidjson::kParseValidateEncodingFlag>(errors.response.body.c_str());
  CHECK_FALSE(d.HasParseError());
}
