// The Graph adapter on a scripted transport: hostile answers (malformed or truncated JSON,
// oversized pages, unknown @odata.type, links of another mailbox) give a clear error and write
// nothing (X3); throttling answers are retried after Retry-After (E3); error statuses map to
// crmsync's kinds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "client.hpp"
#include "graph_support.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

namespace {

constexpr const char* kRoot = "http://127.0.0.1:1/v1.0/me/";

// A mailbox that answers the adapter's set-up requests and empty delta rounds; `contacts`
// answers the contacts' delta requests.
struct Scripted {
  test::TempDir dir;
  std::shared_ptr<graphtest::Script> script = std::make_shared<graphtest::Script>();
  std::function<Result<http::Response>(const http::Request&)> contacts;
  std::vector<std::chrono::milliseconds> waits;
  FakeClock clock;

  Scripted() {
    std::ofstream(dir.file("token")) << "t0ken\n";
    script->answer = [this](const http::Request& r, http::SendInfo*) -> Result<http::Response> {
      const std::string& u = r.url;
      if (u.find("/v1.0/me?") != std::string::npos)
        return graphtest::json_response(200,
                                        R"({"id":"user-1","userPrincipalName":"a@b.example"})");
      if (u.find("mailFolders/") != std::string::npos && u.find("delta") == std::string::npos) {
        auto at = u.find("mailFolders/") + 12;
        return graphtest::json_response(200,
                                        R"({"id":")" + u.substr(at, u.find('?') - at) + R"(-id"})");
      }
      if (u.find("todo/lists") != std::string::npos && u.find("delta") == std::string::npos)
        return graphtest::json_response(
            200, R"({"value":[{"id":"list-1","wellknownListName":"defaultList"}]})");
      if (u.find("contacts/delta") != std::string::npos && contacts) return contacts(r);
      if (u.find("delta") != std::string::npos)
        return graphtest::json_response(200, std::string(R"({"value":[],"@odata.deltaLink":")") +
                                                 kRoot + R"(x/delta?$deltatoken=empty"})");
      return graphtest::json_response(404,
                                      R"({"error":{"code":"ErrorItemNotFound","message":"no"}})");
    };
  }
  GraphStoreConfig config() {
    GraphStoreConfig c;
    c.url = "http://127.0.0.1:1/";
    c.auth.token_file = dir.file("token");
    c.state_path = dir.file("state.db");
    c.time_zone = "UTC";
    c.page_size = 2;
    c.backoff_base = 1ms;
    c.sleep = [this](std::chrono::milliseconds d) { waits.push_back(d); };
    return c;
  }
  std::unique_ptr<GraphStore> open() {
    auto r =
        open_graph_store(config(), clock, std::make_unique<graphtest::ScriptedTransport>(script));
    REQUIRE(r.ok());
    return std::move(r).value();
  }
  std::size_t sent(const std::string& part) {
    std::lock_guard<std::mutex> lock(script->mu);
    return static_cast<std::size_t>(std::count_if(
        script->requests.begin(), script->requests.end(),
        [&](const http::Request& r) { return r.url.find(part) != std::string::npos; }));
  }
};

std::string contact_entry(const std::string& id, const std::string& first) {
  return R"({"@odata.type":"#microsoft.graph.contact","@odata.etag":"W/\"k-)" + id +
         R"(\"","id":")" + id + R"(","lastModifiedDateTime":"2026-01-01T00:00:00Z","givenName":")" +
         first + R"("})";
}

std::string page(const std::string& entries, const std::string& link_kind = "@odata.deltaLink",
                 const std::string& link = std::string(kRoot) +
                                           "contactfolders/f1/contacts/delta?$deltatoken=d1") {
  return R"({"value":[)" + entries + R"(],")" + link_kind + R"(":")" + link + R"("})";
}

}  // namespace

TEST_CASE("X3: a hostile delta page is refused with a clear error - nothing written",
          "[graph][adapter]") {
  std::string many;
  for (int i = 0; i < 130; ++i)
    many += (i ? "," : "") + contact_entry("c" + std::to_string(i), "x");
  struct Case {
    const char* what;
    std::string body;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", R"({"value":[{"id":"c1",)", "malformed JSON"},
      {"a truncated 200 body", page(contact_entry("c1", "Ann")).substr(0, 60), "malformed JSON"},
      {"invalid UTF-8", page(contact_entry("c1", "bad \xC3\x28")), "malformed JSON"},
      {"not an object", "[1,2]", "not an object"},
      {"an oversized page", page(many), "over the 120 allowed"},
      {"an unknown @odata.type", page(R"({"@odata.type":"#microsoft.graph.event","id":"e1"})"),
       "of type '#microsoft.graph.event'"},
      {"an entry without an id", page(R"({"givenName":"x"})"), "without a usable id"},
      {"categories that are no list",
       page(
           R"({"id":"c1","@odata.etag":"W/\"k\"","lastModifiedDateTime":"2026-01-01T00:00:00Z","categories":"Red"})"),
       "'categories' is not an array"},
      {"a delta link of another mailbox",
       page(contact_entry("c1", "Ann"), "@odata.deltaLink",
            "http://127.0.0.1:1/v1.0/users/mallory@example.com/contacts/delta?$deltatoken=x"),
       "another mailbox"},
      {"a next link to another host",
       page(contact_entry("c1", "Ann"), "@odata.nextLink",
            "http://evil.example/v1.0/me/contacts/delta?$skiptoken=x"),
       "another mailbox"},
      {"no link", R"({"value":[]})", "needs one of"},
      {"both links",
       R"({"value":[],"@odata.nextLink":")" + std::string(kRoot) + R"(a","@odata.deltaLink":")" +
           kRoot + R"(b"})",
       "needs one of"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Scripted env;
    auto s = env.open();
    env.contacts = [&](const http::Request&) { return graphtest::json_response(200, c.body); };
    auto r = s->events_after(0, 100);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    CHECK_THAT(r.error().message(), Catch::Contains(c.error));
    // Nothing was written: the next round starts from the same initial request, as a baseline.
    bool first = true;
    env.contacts = [&](const http::Request& req) {
      if (first) CHECK(req.url.find("$deltatoken") == std::string::npos);
      first = false;
      return graphtest::json_response(200, page(contact_entry("c1", "Ann")));
    };
    auto ok = s->events_after(0, 100);
    REQUIRE(ok.ok());
    CHECK(ok->empty());
    auto known = s->scan_headers_since(ItemKind::kContact, UtcTime{0});
    REQUIRE(known.ok());
    REQUIRE(known->size() == 1);
    CHECK(known->front().entry_id.str() == "contact:c1");
  }
}

TEST_CASE("E3: 429 and 503 are retried after Retry-After - seconds, fractions or a date",
          "[graph][adapter]") {
  Scripted env;
  auto s = env.open();
  int calls = 0;
  const std::string date = "Thu, 01 Jan 2026 00:00:03 GMT";  // FakeClock's now + 3 s
  env.contacts = [&](const http::Request&) -> Result<http::Response> {
    ++calls;
    if (calls == 1)
      return graphtest::json_response(429,
                                      R"({"error":{"code":"TooManyRequests","message":"slow"}})",
                                      {{"Retry-After", "2.5"}});
    if (calls == 2)
      return graphtest::json_response(
          503, R"({"error":{"code":"serviceNotAvailable","message":"busy"}})",
          {{"Retry-After", date}});
    return graphtest::json_response(200, page(""));
  };
  REQUIRE(s->events_after(0, 10).ok());
  CHECK(calls == 3);
  REQUIRE(env.waits.size() == 2);
  CHECK(env.waits[0] == 2500ms);
  CHECK(env.waits[1] == 3000ms);
  // A throttling that never ends is a transient error naming Graph's code, retried later.
  env.contacts = [&](const http::Request&) -> Result<http::Response> {
    return graphtest::json_response(429, R"({"error":{"code":"TooManyRequests","message":"slow"}})",
                                    {{"Retry-After", "1"}});
  };
  auto stuck = s->scan_headers_since(ItemKind::kContact, UtcTime{0});
  // The stored delta link is followed now: the script answers it like the first request.
  REQUIRE_FALSE(stuck.ok());
  CHECK(stuck.error().retryable());
  CHECK(stuck.error().retry_after_ms() == 1000);
  CHECK_THAT(stuck.error().message(), Catch::Contains("TooManyRequests"));
}

TEST_CASE("Graph's error statuses become crmsync's kinds", "[graph][adapter]") {
  FakeClock clock;
  auto kind = [&](int status) {
    return graph::error_of(status, {}, R"({"error":{"code":"X","message":"m"}})", clock).kind();
  };
  CHECK(kind(400) == ErrorKind::kInvalid);
  CHECK(kind(401) == ErrorKind::kPermission);
  CHECK(kind(403) == ErrorKind::kPermission);
  CHECK(kind(404) == ErrorKind::kNotFound);
  CHECK(kind(409) == ErrorKind::kConflict);
  CHECK(kind(412) == ErrorKind::kConflict);
  CHECK(kind(413) == ErrorKind::kInvalid);
  for (int s : {429, 500, 502, 503, 504}) CHECK(kind(s) == ErrorKind::kTransient);
  // A body that is not Graph's error shape still names the status.
  CHECK_THAT(graph::error_of(502, {}, "<html>", clock).message(), Catch::Contains("502"));
  CHECK(graph::retry_after_ms("2.128", UtcTime{0}) == 2128);
  CHECK(graph::retry_after_ms("7", UtcTime{0}) == 7000);
  CHECK(graph::retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", UtcTime{4000}) == 6000);
  CHECK_FALSE(graph::retry_after_ms("soon", UtcTime{0}));
  CHECK_FALSE(graph::retry_after_ms("-3", UtcTime{0}));
  CHECK(graph::retry_after_ms("99999999", UtcTime{0}) == 3'600'000);  // capped at an hour
}

TEST_CASE("a bad config is refused before anything is opened", "[graph][adapter]") {
  Scripted env;
  auto bad = [&](auto change) {
    GraphStoreConfig c = env.config();
    change(c);
    auto r =
        open_graph_store(c, env.clock, std::make_unique<graphtest::ScriptedTransport>(env.script));
    REQUIRE_FALSE(r.ok());
    return r.error();
  };
  CHECK(bad([](auto& c) { c.url = "ftp://x"; }).is(ErrorKind::kInvalid));
  CHECK(bad([](auto& c) { c.user = "a/../b"; }).is(ErrorKind::kInvalid));
  CHECK(bad([](auto& c) { c.state_path.clear(); }).is(ErrorKind::kInvalid));
  CHECK(bad([](auto& c) { c.auth.token_file.clear(); }).is(ErrorKind::kInvalid));
  CHECK(bad([](auto& c) { c.auth.type = GraphAuth::Type::kDeviceCode; }).is(ErrorKind::kInvalid));
  CHECK(bad([](auto& c) { c.batch_size = 21; }).is(ErrorKind::kInvalid));
  CHECK(bad([](auto& c) { c.track_category = "a,b"; }).is(ErrorKind::kInvalid));
  CHECK_THAT(bad([](auto& c) { c.time_zone = "Mars/Olympus"; }).message(), Catch::Contains("Mars"));
  CHECK(env.sent("") == 0);
}
