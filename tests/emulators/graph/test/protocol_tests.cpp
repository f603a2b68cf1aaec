// The protocol around the resources: $batch, paging, throttling and errors, hostile input,
// delta tokens of another mailbox, auth, the CSDL prerequisite.
#include <set>

#include "crmsync/test/process.hpp"
#include "graph_test.hpp"

using graph_test::check_entities;
using graph_test::Emulator;
using graph_test::str;

namespace {

int contact_count(Emulator& e) {
  auto r = e.call("GET", "/v1.0/me/contacts?$top=999");
  REQUIRE(r.status == 200);
  return static_cast<int>(r.json()["value"].Size());
}

void check_error_shape(const graph_test::Response& r, int status, const std::string& code = "") {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.header("content-type").find("application/json") == 0);
  auto j = r.json();
  REQUIRE(j.HasMember("error"));
  const auto& err = j["error"];
  CHECK_FALSE(str(err, "code").empty());
  CHECK_FALSE(str(err, "message").empty());
  REQUIRE(err.HasMember("innerError"));
  CHECK(str(err["innerError"], "request-id").size() == 36);
  CHECK(str(err["innerError"], "client-request-id").size() > 0);
  CHECK(str(err["innerError"], "date").size() == 19);
  if (!code.empty()) CHECK(str(err, "code") == code);
}

std::string batch_request(const std::string& id, const std::string& method, const std::string& url,
                          const std::string& body = "", const std::string& depends = "") {
  std::string r = "{\"id\":\"" + id + "\",\"method\":\"" + method + "\",\"url\":\"" + url + "\"";
  if (!body.empty()) r += ",\"headers\":{\"Content-Type\":\"application/json\"},\"body\":" + body;
  if (!depends.empty()) r += ",\"dependsOn\":[\"" + depends + "\"]";
  return r + "}";
}

}  // namespace

TEST_CASE("$batch: per-request status, dependsOn and 424, at most 20 requests", "[graph][batch]") {
  REQUIRE_CSDL();
  Emulator e;
  std::string reqs = batch_request("1", "POST", "/me/contacts", R"({"givenName":"B1"})") + "," +
                     batch_request("2", "GET", "/me/contacts", "", "1") + "," +
                     batch_request("3", "GET", "me/contacts/nonexistent") + "," +
                     batch_request("4", "POST", "/me/contacts", R"({"givenName":"B4"})", "3") +
                     "," + batch_request("5", "POST", "/me/contacts", R"({"bogus":1})");
  auto r = e.call("POST", "/v1.0/$batch", "{\"requests\":[" + reqs + "]}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = r.json();
  std::map<std::string, int> status;
  for (const auto& resp : j["responses"].GetArray()) {
    status[str(resp, "id")] = resp["status"].GetInt();
    if (str(resp, "id") == "1") check_entities(resp["body"], "contact");
    if (str(resp, "id") == "2") check_entities(resp["body"], "contact");
    if (resp["status"].GetInt() >= 400) CHECK(resp["body"].HasMember("error"));
  }
  CHECK(status ==
        std::map<std::string, int>{{"1", 201}, {"2", 200}, {"3", 404}, {"4", 424}, {"5", 400}});
  CHECK(contact_count(e) == 1);

  std::string twenty_one;
  for (int i = 1; i <= 21; ++i)
    twenty_one += (i > 1 ? "," : "") +
                  batch_request(std::to_string(i), "POST", "/me/contacts", R"({"givenName":"N"})");
  auto too_many = e.call("POST", "/v1.0/$batch", "{\"requests\":[" + twenty_one + "]}");
  check_error_shape(too_many, 400);
  CHECK(contact_count(e) == 1);  // nothing of a refused batch runs
  auto twenty = twenty_one.substr(0, twenty_one.rfind(",{"));
  auto full = e.call("POST", "/v1.0/$batch", "{\"requests\":[" + twenty + "]}");
  REQUIRE(full.status == 200);
  CHECK(full.json()["responses"].Size() == 20);
  CHECK(contact_count(e) == 21);
  auto dup = e.call("POST", "/v1.0/$batch",
                    "{\"requests\":[" + batch_request("a", "GET", "/me/contacts") + "," +
                        batch_request("A", "GET", "/me/contacts") + "]}");
  check_error_shape(dup, 400);
  auto no_type = e.call(
      "POST", "/v1.0/$batch",
      R"({"requests":[{"id":"1","method":"POST","url":"/me/contacts","body":{"givenName":"x"}}]})");
  check_error_shape(no_type, 400);
  check_error_shape(e.call("POST", "/v1.0/$batch", "{not json"), 400);
  CHECK(contact_count(e) == 21);
}

TEST_CASE("lists page with $top and @odata.nextLink", "[graph][paging]") {
  REQUIRE_CSDL();
  Emulator e;
  for (int i = 0; i < 25; ++i)
    REQUIRE(e.call("POST", "/v1.0/me/contacts", "{\"givenName\":\"P" + std::to_string(i) + "\"}")
                .status == 201);
  std::set<std::string> ids;
  auto page = e.call("GET", "/v1.0/me/contacts?$top=10&$select=givenName");
  int pages = 0;
  for (;;) {
    REQUIRE(page.status == 200);
    auto j = page.json();
    check_entities(j, "contact");
    ++pages;
    for (const auto& v : j["value"].GetArray()) {
      ids.insert(str(v, "id"));
      CHECK_FALSE(v.HasMember("surname"));
    }
    if (!j.HasMember("@odata.nextLink")) break;
    page = e.follow(str(j, "@odata.nextLink"));
  }
  CHECK(pages == 3);
  CHECK(ids.size() == 25);
  auto defaulted = e.call("GET", "/v1.0/me/contacts").json();
  CHECK(defaulted["value"].Size() == 10);  // Outlook's default page
  auto pref = e.call("GET", "/v1.0/me/contacts", "", {{"Prefer", "odata.maxpagesize=7"}}).json();
  CHECK(pref["value"].Size() == 7);
  auto ordered = e.call("GET", "/v1.0/me/contacts?$orderby=givenName%20desc&$top=2").json();
  CHECK(str(ordered["value"][0], "givenName") == "P9");
  CHECK(str(ordered["value"][1], "givenName") == "P8");
  auto since = [&](const std::string& op, const std::string& at) {
    auto r = e.call("GET", "/v1.0/me/contacts?$top=100&$filter=" +
                               graph_test::url_encode("lastModifiedDateTime " + op + " " + at));
    INFO(r.body);
    REQUIRE(r.status == 200);
    return r.json()["value"].Size();
  };
  CHECK(since("ge", "2000-01-01T00:00:00Z") == 25);
  CHECK(since("lt", "2000-01-01T00:00:00Z") == 0);
  check_error_shape(e.call("GET", "/v1.0/me/contacts?$orderby=children"), 400);
  check_error_shape(e.call("GET", "/v1.0/me/contacts/delta?$filter=" +
                                      graph_test::url_encode("lastModifiedDateTime ge 2000-01-01")),
                    400);
  check_error_shape(e.call("GET", "/v1.0/me/contacts?$select=nonsense"), 400,
                    "RequestBroker--ParseUri");
  check_error_shape(e.call("GET", "/v1.0/me/contacts?$top=abc"), 400);
}

TEST_CASE("throttling and unavailability: 429 and 503 with Retry-After, in Graph's error shape",
          "[graph][faults]") {
  REQUIRE_CSDL();
  Emulator e;
  e.faults(R"({"throttle_rate":1,"retry_after_s":3})");
  auto t = e.call("GET", "/v1.0/me/contacts", "",
                  {{"client-request-id", "c0ffee00-0000-4000-8000-000000000001"}});
  check_error_shape(t, 429, "TooManyRequests");
  CHECK(t.header("retry-after") == "3");
  auto tj = t.json();
  CHECK(str(tj["error"]["innerError"], "code") == "429");
  CHECK(str(tj["error"]["innerError"], "status") == "429");
  CHECK(str(tj["error"]["innerError"], "client-request-id") ==
        "c0ffee00-0000-4000-8000-000000000001");
  e.faults(R"({"error_rate":1})");
  auto u = e.call("POST", "/v1.0/me/contacts", R"({"givenName":"x"})");
  check_error_shape(u, 503);
  CHECK_FALSE(u.header("retry-after").empty());
  e.faults("{}");
  CHECK(contact_count(e) == 0);
  // Inside a batch, the throttled request is answered 429 on its own.
  e.faults(R"({"fail_nth":2})");
  auto b = e.call("POST", "/v1.0/$batch",
                  "{\"requests\":[" + batch_request("1", "GET", "/me/contacts") + "]}");
  REQUIRE(b.status == 200);
  CHECK(b.json()["responses"][0]["status"].GetInt() == 503);
  // A dropped reply: the work is done, no answer.
  e.faults(R"({"drop_after_commit_rate":1})");
  auto dropped = e.call("POST", "/v1.0/me/contacts", R"({"givenName":"dropped"})");
  CHECK(dropped.status == 0);
  e.faults("{}");
  CHECK(contact_count(e) == 1);
  auto log = e.admin("GET", "/admin/requests").json();
  CHECK(log.IsArray());
  CHECK(log.Size() >= 5);
  CHECK(e.admin("POST", "/admin/faults", R"({"sync_state_not_found":"x"})").status == 400);
}

TEST_CASE("hostile input: a clear error and nothing written", "[graph][errors]") {
  REQUIRE_CSDL();
  Emulator e;
  auto expect = [&](const std::string& body, const std::string& code, const std::string& ct = "") {
    graph_test::Headers h;
    if (!ct.empty()) h["Content-Type"] = ct;
    auto r = e.call("POST", "/v1.0/me/contacts", body, h);
    check_error_shape(r, 400, code);
    return r;
  };
  expect("{\"givenName\":", "BadRequest");
  expect("[1,2]", "RequestBodyRead");
  expect(R"({"givenName":"x","shoeSize":44})", "RequestBodyRead");
  expect(R"({"givenName":"x","emailAddresses":[{"address":"a@b.c","nme":"x"}]})",
         "RequestBodyRead");
  expect(R"({"@odata.type":"#microsoft.graph.notAType","givenName":"x"})", "RequestBodyRead");
  expect(R"({"@odata.type":"#microsoft.graph.event","givenName":"x"})", "RequestBodyRead");
  expect(R"({"givenName":5})", "RequestBodyRead");
  expect(R"({"businessPhones":"555"})", "RequestBodyRead");
  expect(R"({"givenName":"x","givenName":"y"})", "RequestBodyRead");
  expect(R"({"givenName":"x"})", "BadRequest", "text/plain");
  std::string deep(100000, '[');
  expect(deep, "BadRequest");
  auto big =
      e.call("POST", "/v1.0/me/contacts", "{\"givenName\":\"" + std::string(5u << 20, 'x') + "\"}");
  check_error_shape(big, 413);
  // What the listener refuses before the emulator sees it is in Graph's shape too.
  auto huge_header =
      e.call("GET", "/v1.0/me/contacts", "",
             {{"X-Big-1", std::string(40000, 'h')}, {"X-Big-2", std::string(40000, 'h')}});
  check_error_shape(huge_header, 431);
  CHECK(contact_count(e) == 0);
  check_error_shape(e.call("GET", "/v1.0/me/nothingHere"), 400, "BadRequest");
  check_error_shape(e.call("PUT", "/v1.0/me/contacts"), 405);
  check_error_shape(e.call("GET", "/v1.0/me/contacts/AAMkAnope="), 404, "ErrorItemNotFound");
  check_error_shape(e.call("GET", "/beta/me/contacts"), 404);
  check_error_shape(e.call("GET", "/v1.0/me/contacts?$filter=givenName%20eq%20'x'"), 400,
                    "ErrorInvalidUrlQueryFilter");
}

TEST_CASE("delta tokens belong to one mailbox and collection, syncStateNotFound resets",
          "[graph][delta][errors]") {
  REQUIRE_CSDL();
  Emulator e;
  auto [bob_id, bob_token] = e.add_user("bob@example.com");
  REQUIRE(e.call("POST", "/v1.0/me/contacts", R"({"givenName":"A"})").status == 201);
  auto first = e.call("GET", "/v1.0/me/contacts/delta").json();
  std::string link = str(first, "@odata.deltaLink");
  std::string tail = link.substr(link.find("?$deltatoken="));
  // Bob presents Alice's token on his own contacts: 410, with where to start over.
  auto theirs = e.call_as(bob_token, "GET", "/v1.0/me/contacts/delta" + tail);
  check_error_shape(theirs, 410, "syncStateNotFound");
  CHECK(theirs.header("location").find("/contacts/delta?$deltatoken=") != std::string::npos);
  // Alice's contact token on her calendar: 410 too.
  auto other_collection = e.call("GET", "/v1.0/me/calendarView/delta" + tail);
  check_error_shape(other_collection, 410, "syncStateNotFound");
  check_error_shape(e.call("GET", "/v1.0/me/contacts/delta?$deltatoken=garbage"), 410);
  // The admin fault forces a resync once.
  e.faults(R"({"sync_state_not_found":1})");
  check_error_shape(e.follow(link), 410, "syncStateNotFound");
  CHECK(e.follow(link).status == 200);
  e.faults(R"({"expire_delta_tokens":true})");
  check_error_shape(e.follow(link), 410, "syncStateNotFound");
  auto fresh = e.call("GET", "/v1.0/me/contacts/delta").json();
  CHECK(fresh["value"].Size() == 1);
  CHECK(e.call_as(bob_token, "GET", "/v1.0/me/contacts").json()["value"].Size() == 0);
}

TEST_CASE("auth: no token 401, another mailbox 403, an unknown user 404", "[graph][auth]") {
  REQUIRE_CSDL();
  Emulator e;
  auto [bob_id, bob_token] = e.add_user("bob@example.com");
  check_error_shape(e.call_as("", "GET", "/v1.0/me/contacts"), 401, "InvalidAuthenticationToken");
  check_error_shape(e.call_as("nope", "GET", "/v1.0/me/contacts"), 401,
                    "InvalidAuthenticationToken");
  check_error_shape(e.call_as(bob_token, "GET", "/v1.0/users/alice@example.com/contacts"), 403,
                    "ErrorAccessDenied");
  check_error_shape(e.call("GET", "/v1.0/users/carol@example.com/contacts"), 404,
                    "ErrorInvalidUser");
  // GET /me: the user's default properties.
  auto me = e.call("GET", "/v1.0/me");
  REQUIRE(me.status == 200);
  auto mj = me.json();
  check_entities(mj, "user");
  CHECK(str(mj, "userPrincipalName") == "alice@example.com");
  CHECK(str(mj, "id") == e.user_id);
  auto mail_only = e.call("GET", "/v1.0/users/alice%40example.com?$select=mail").json();
  CHECK(str(mail_only, "mail") == "alice@example.com");
  CHECK_FALSE(mail_only.HasMember("displayName"));
  CHECK(e.call("GET", "/v1.0/users/" + e.user_id + "/contacts").status == 200);
  CHECK(e.admin("POST", "/admin/users", R"({"upn":"bob@example.com"})").status == 409);
  CHECK(e.admin("POST", "/admin/reset").status == 200);
  CHECK(e.call("GET", "/v1.0/me/contacts").status == 401);
}

TEST_CASE("graph-emulator refuses to start without the CSDL, naming the path", "[graph][csdl]") {
  crmsync::test::TempDir dir;
  std::string missing = dir.file("no-such.csdl");
  auto r = crmsync::test::run_program(
      {GRAPH_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db", dir.file("g.db"), "--csdl", missing});
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK(r.err.find(missing) != std::string::npos);
}

TEST_CASE("every property of every item type refuses a value of the wrong kind, writing nothing",
          "[graph][errors][csdl]") {
  REQUIRE_CSDL();
  Emulator e;
  const auto& schema = graph_test::Schema::get();
  std::string list = str(e.call("GET", "/v1.0/me/todo/lists").json()["value"][0], "id");
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"contact", "/v1.0/me/contacts"},
      {"event", "/v1.0/me/events"},
      {"message", "/v1.0/me/messages"},
      {"todoTask", "/v1.0/me/todo/lists/" + list + "/tasks"}};
  int tried = 0;
  for (const auto& [type, path] : kinds) {
    for (const auto& [name, p] : schema.properties(type)) {
      if (p.navigation) continue;
      // A value of another JSON kind than the property's: the CSDL says which.
      std::string wrong;
      if (p.collection)
        wrong = "\"not an array\"";
      else if (p.type == "Edm.String" || p.type == "Edm.Binary")
        wrong = "{\"a\":1}";
      else if (p.type == "Edm.Boolean")
        wrong = "\"yes\"";
      else if (p.type.rfind("Edm.Int", 0) == 0 || p.type == "Edm.Double")
        wrong = "\"many\"";
      else if (p.type == "Edm.DateTimeOffset" || p.type == "Edm.Date")
        wrong = "\"yesterday\"";
      else if (schema.is_enum(p.type))
        wrong = "\"notAMember\"";
      else
        wrong = "[1]";  // a complex type
      auto r = e.call("POST", path, "{\"" + name + "\":" + wrong + "}");
      INFO(type << "." << name << " = " << wrong << ": " << r.body);
      CHECK(r.status == 400);
      CHECK(str(r.json()["error"], "code") == "RequestBodyRead");
      ++tried;
    }
  }
  CHECK(tried > 120);  // 130 with this CSDL
  CHECK(e.call("GET", "/v1.0/me/contacts").json()["value"].Size() == 0);
  CHECK(e.call("GET", "/v1.0/me/events").json()["value"].Size() == 0);
  CHECK(e.call("GET", "/v1.0/me/messages").json()["value"].Size() == 0);
  CHECK(e.call("GET", "/v1.0/me/todo/lists/" + list + "/tasks").json()["value"].Size() == 0);
}
