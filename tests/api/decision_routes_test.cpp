// SPEC U2: the routes of the user's decisions, without sockets: each needs the token, checks
// its input (400 naming the problem, nothing deferred) and defers what it validated to the
// worker; hostile input never reaches it.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "crmsync/api/route.hpp"

using namespace crmsync;
using namespace crmsync::api;
using namespace crmsync::status;
using Type = Decision::Type;

namespace {

const std::string kToken(64, 'd');
const std::string kEntry(48, 'A');
constexpr const char* kGuid = "6f1c0000-0000-4000-8000-000000000001";

RouteContext context() {
  RouteContext c;
  c.token = kToken;
  c.port = 8787;
  c.max_body = 4096;
  return c;
}

Request request(std::string method, std::string target, std::string body = "", bool auth = true) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.host = "127.0.0.1:8787";
  r.body = std::move(body);
  if (auth) r.authorization = "Bearer " + kToken;
  return r;
}

Routed post(const std::string& path, const std::string& body) {
  return route(request("POST", path, body), Snapshot{}, context());
}
Routed get(const std::string& target) {
  return route(request("GET", target), Snapshot{}, context());
}

// A 400 whose JSON error says `why`, with nothing handed to the worker.
void refused(const Routed& r, const std::string& why) {
  CHECK(r.defer == Routed::Defer::kNone);
  CHECK(r.response.status == 400);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(r.response.body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d["error"].IsString());
  CHECK_THAT(std::string(d["error"].GetString()), Catch::Contains(why));
}

Decision deferred(const Routed& r) {
  INFO(r.response.body);
  REQUIRE(r.defer == Routed::Defer::kDecision);
  return r.decision;
}

const char* const kPosts[] = {
    "/v1/items/track",       "/v1/items/untrack",    "/v1/items/regarding", "/v1/conflicts/resolve",
    "/v1/deletions/confirm", "/v1/deletions/reject", "/v1/errors/retry",    "/v1/errors/ignore"};
const char* const kGets[] = {"/v1/items", "/v1/regarding/candidates?search=x", "/v1/deletions"};

}  // namespace

TEST_CASE("U2 X4: every decision route needs the token - one method each", "[api][route][U2]") {
  for (const char* path : kPosts) {
    INFO(path);
    auto r = route(request("POST", path, R"({"id":1})", false), Snapshot{}, context());
    CHECK(r.response.status == 401);
    CHECK(r.defer == Routed::Defer::kNone);
    auto wrong = route(request("GET", path), Snapshot{}, context());
    CHECK(wrong.response.status == 405);
  }
  for (const char* target : kGets) {
    INFO(target);
    CHECK(route(request("GET", target, "", false), Snapshot{}, context()).response.status == 401);
    CHECK(route(request("POST", target), Snapshot{}, context()).response.status == 405);
  }
  auto big = request("POST", "/v1/items/track", std::string(5000, ' '));
  CHECK(route(big, Snapshot{}, context()).response.status == 413);
}

TEST_CASE("U2: track - untrack - regarding defer what they were given", "[api][route][U2]") {
  const auto& t = deferred(post("/v1/items/track", R"({"entry_id":")" + kEntry + "\"}"));
  CHECK(t.type == Type::kTrack);
  CHECK(t.entry_id == kEntry);
  const auto& u =
      deferred(post("/v1/items/untrack", R"({"entry_id":"AAMk+/=_-x","delete_in_crm":true})"));
  CHECK(u.type == Type::kUntrack);
  CHECK(u.delete_in_crm);
  CHECK(u.entry_id == "AAMk+/=_-x");  // EWS (base64) and Graph (base64url) ids pass
  CHECK_FALSE(deferred(post("/v1/items/untrack", R"({"entry_id":"E1"})")).delete_in_crm);
  const auto& g = deferred(post("/v1/items/regarding", R"({"entry_id":"E1","regarding":"account:)" +
                                                           std::string(kGuid) + "\"}"));
  CHECK(g.type == Type::kRegarding);
  CHECK(g.regarding == std::string("account:") + kGuid);
}

TEST_CASE("U2: malformed or hostile bodies are 400 naming the problem", "[api][route][U2]") {
  refused(post("/v1/items/track", ""), "body must be a JSON object");
  refused(post("/v1/items/track", "[1]"), "body must be a JSON object");
  refused(post("/v1/items/track", "{\"entry_id\":"), "body must be a JSON object");
  refused(post("/v1/items/track", std::string(200, '[')), "body must be a JSON object");
  refused(post("/v1/items/track", "{}"), "entry_id is required");
  refused(post("/v1/items/track", R"({"entry_id":"E1","x":1})"), "unknown key x");
  refused(post("/v1/items/track", R"({"entry_id":"E1","entry_id":"E2"})"), "given twice");
  for (std::string bad : {std::string("\"\""), std::string("\"a b\""), std::string("\"a\\u0000b\""),
                          std::string("\"caf\xc3\xa9\""), std::string("42"), std::string("null"),
                          '"' + std::string(513, 'A') + '"', std::string("\"../../etc\"")}) {
    INFO(bad);
    refused(post("/v1/items/track", R"({"entry_id":)" + bad + "}"), "entry_id");
  }
  refused(post("/v1/items/untrack", R"({"entry_id":"E1","delete_in_crm":"yes"})"),
          "delete_in_crm must be true or false");
  for (std::string bad : {std::string("\"account\""), std::string("\"account:nope\""),
                          std::string("\"Acc ount:") + kGuid + "\"", std::string("7"),
                          std::string("\":") + kGuid + "\""}) {
    INFO(bad);
    refused(post("/v1/items/regarding", R"({"entry_id":"E1","regarding":)" + bad + "}"),
            "regarding must be ENTITY:GUID");
  }
  refused(post("/v1/items/regarding", R"({"entry_id":"E1"})"), "regarding is required");
  refused(post("/v1/items/track?entry_id=E1", R"({"entry_id":"E1"})"), "no query parameters");
  // A key that is not UTF-8 is echoed as U+FFFD: the reply still parses.
  refused(post("/v1/items/track", "{\"entry_id\":\"E1\",\"k\xff\":1}"), "unknown key k");
}

TEST_CASE("U2: conflicts - deletions - errors take positive ids", "[api][route][U2]") {
  const auto& c = deferred(post("/v1/conflicts/resolve", R"({"id":7,"keep":"mailbox"})"));
  CHECK(c.type == Type::kResolveConflict);
  CHECK(c.id == 7);
  CHECK(c.keep == "mailbox");
  for (const char* keep : {"crm", "merged"})
    CHECK(deferred(post("/v1/conflicts/resolve", std::string(R"({"id":7,"keep":")") + keep + "\"}"))
              .keep == keep);
  refused(post("/v1/conflicts/resolve", R"({"id":7,"keep":"store"})"),
          "keep must be crm, mailbox or merged");
  refused(post("/v1/conflicts/resolve", R"({"keep":"crm"})"), "id is required");
  for (const char* bad : {"0", "-3", "1.5", "\"7\"", "99999999999999999999999", "true"}) {
    INFO(bad);
    refused(post("/v1/errors/retry", std::string(R"({"id":)") + bad + "}"),
            "id must be a positive integer");
  }
  CHECK(deferred(post("/v1/errors/retry", R"({"id":12})")).type == Type::kRetryError);
  CHECK(deferred(post("/v1/errors/ignore", R"({"id":12})")).type == Type::kIgnoreError);

  const auto& all = deferred(post("/v1/deletions/confirm", ""));  // no body: every held one
  CHECK(all.type == Type::kConfirmDeletions);
  CHECK(all.ids.empty());
  const auto& some = deferred(post("/v1/deletions/reject", R"({"ids":[3,5]})"));
  CHECK(some.type == Type::kRejectDeletions);
  CHECK(some.ids == std::vector<std::int64_t>{3, 5});
  refused(post("/v1/deletions/confirm", R"({"ids":[3,3]})"), "names an id twice");
  refused(post("/v1/deletions/confirm", R"({"ids":[0]})"), "positive integers");
  refused(post("/v1/deletions/confirm", R"({"ids":"3"})"), "ids must be an array");
  std::string many = "{\"ids\":[";
  for (int i = 1; i <= 1001; ++i) many += (i > 1 ? "," : "") + std::to_string(i);
  auto r = route(request("POST", "/v1/deletions/confirm", many + "]}"), Snapshot{}, [] {
    auto c = context();
    c.max_body = 64 * 1024;
    return c;
  }());
  refused(r, "at most 1000 ids");
}

TEST_CASE("U2: GET /v1/items - its parameters URL-decoded and checked", "[api][route][U2]") {
  const auto& all = deferred(get("/v1/items"));
  CHECK(all.type == Type::kItems);
  CHECK(all.kind.empty());
  CHECK_FALSE(all.tracked);
  CHECK(all.limit == 200);
  const auto& some =
      deferred(get("/v1/items?kind=task&search=Caf%C3%A9+au+lait&tracked=false&limit=5"));
  CHECK(some.kind == "task");
  CHECK(some.text == "Caf\xc3\xa9 au lait");
  REQUIRE(some.tracked);
  CHECK_FALSE(*some.tracked);
  CHECK(some.limit == 5);
  refused(get("/v1/items?kind=account"), "kind must be");
  refused(get("/v1/items?tracked=yes"), "tracked must be true or false");
  refused(get("/v1/items?limit=0"), "limit must be an integer from 1 to 1000");
  refused(get("/v1/items?limit=1001"), "limit must be");
  refused(get("/v1/items?search=%zz"), "is not URL-encoded");
  refused(get("/v1/items?search=%4"), "is not URL-encoded");
  refused(get("/v1/items?search=a%00b"), "search must be UTF-8 text without control");
  refused(get("/v1/items?search=%ff%fe"), "search must be UTF-8");
  refused(get("/v1/items?search=" + std::string(201, 'x')), "at most 200 bytes");
  refused(get("/v1/items?kind=task&kind=contact"), "given twice");
  refused(get("/v1/items?sort=name"), "unknown parameter sort");
}

TEST_CASE("U2: GET /v1/regarding/candidates - a search by name in CRM", "[api][route][U2]") {
  const auto& d = deferred(get("/v1/regarding/candidates?search=Contoso"));
  CHECK(d.type == Type::kFindRegarding);
  CHECK(d.text == "Contoso");
  CHECK(d.entities == std::vector<std::string>{"account", "contact"});
  CHECK(d.limit == 20);
  CHECK(deferred(get("/v1/regarding/candidates?search=x&entity=opportunity&limit=50")).entities ==
        std::vector<std::string>{"opportunity"});
  refused(get("/v1/regarding/candidates"), "search is required");
  refused(get("/v1/regarding/candidates?search="), "search must be 1 to 200 bytes");
  refused(get("/v1/regarding/candidates?search=x&entity=Account"), "entity must be a CRM");
  refused(get("/v1/regarding/candidates?search=x&entity=a%3Bb"), "entity must be a CRM");
  refused(get("/v1/regarding/candidates?search=x&limit=51"), "limit must be");
}

TEST_CASE(
    "U2 D10: GET /v1/deletions lists the held deletions of the snapshot - conflicts have "
    "their base - errors their id",
    "[api][route][U2]") {
  Snapshot s;
  s.deletions.push_back({12, "task", kGuid, kEntry, "crm", "delete", UtcTime::from_seconds(100)});
  s.conflicts.push_back({7, "contact", kGuid, "AB", "JobTitle", "CEO", "CTO", "crm",
                         UtcTime::from_seconds(1), std::string("Founder")});
  s.errors.push_back({"contact", kGuid, "AB", "too long", 2, UtcTime::from_seconds(2), 31});
  auto r = route(request("GET", "/v1/deletions"), s, context());
  REQUIRE(r.response.status == 200);
  rapidjson::Document d;
  d.Parse(r.response.body.c_str());
  REQUIRE(d.IsArray());
  REQUIRE(d.Size() == 1);
  CHECK(d[0]["id"].GetInt64() == 12);
  CHECK(std::string(d[0]["side"].GetString()) == "crm");
  CHECK(std::string(d[0]["change"].GetString()) == "delete");
  CHECK(std::string(d[0]["entry_id"].GetString()) == kEntry);
  refused(route(request("GET", "/v1/deletions?all=1"), s, context()), "no query parameters");

  d.Parse(route(request("GET", "/v1/conflicts"), s, context()).response.body.c_str());
  CHECK(std::string(d[0]["base_value"].GetString()) == "Founder");
  s.conflicts[0].base_value.reset();
  d.Parse(route(request("GET", "/v1/conflicts"), s, context()).response.body.c_str());
  CHECK(d[0]["base_value"].IsNull());
  d.Parse(route(request("GET", "/v1/errors"), s, context()).response.body.c_str());
  CHECK(d[0]["id"].GetInt64() == 31);
  d.Parse(route(request("GET", "/v1/status"), s, context()).response.body.c_str());
  CHECK(d["deletions"].GetInt64() == 1);
}
