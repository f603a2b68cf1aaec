// The SOAP CrmAdapter against scripted replies and small local servers: headers, retries
// and Retry-After, fault mapping, idempotent creates, batches, OAuth, secrets.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "codec.hpp"
#include "crmsync/crm_soap/transport.hpp"
#include "fake_transport.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
using crmtest::Scripted;

namespace {

const char* kEnvOpen =
    R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)";
const char* kEnvClose = "</s:Body></s:Envelope>";

std::string response(const std::string& name, const std::string& results = "",
                     const std::string& type_ns_prefix = "a") {
  return std::string(kEnvOpen) +
         R"(<ExecuteResponse xmlns="http://schemas.microsoft.com/xrm/2011/Contracts/Services"><ExecuteResult xmlns:a="http://schemas.microsoft.com/xrm/2011/Contracts" xmlns:c="http://schemas.microsoft.com/crm/2011/Contracts" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type=")" +
         type_ns_prefix + ":" + name + R"(Response"><a:ResponseName>)" + name +
         R"(</a:ResponseName><a:Results xmlns:b="http://schemas.datacontract.org/2004/07/System.Collections.Generic">)" +
         results + "</a:Results></ExecuteResult></ExecuteResponse>" + kEnvClose;
}

std::string kv(const std::string& key, const std::string& value_xml) {
  return "<a:KeyValuePairOfstringanyType><b:key>" + key + "</b:key>" + value_xml +
         "</a:KeyValuePairOfstringanyType>";
}

Scripted ok(const std::string& body) {
  return Scripted{200, {}, body, std::nullopt, true};
}

Scripted fault(std::int64_t code, const std::string& message, const std::string& details = "") {
  Scripted s;
  s.status = 500;
  s.body =
      std::string(kEnvOpen) + R"(<s:Fault><faultcode>s:Client</faultcode><faultstring>)" + message +
      R"(</faultstring><detail><OrganizationServiceFault xmlns="http://schemas.microsoft.com/xrm/2011/Contracts" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><ErrorCode>)" +
      std::to_string(code) +
      R"(</ErrorCode><ErrorDetails xmlns:a="http://schemas.datacontract.org/2004/07/System.Collections.Generic">)" +
      details + R"(</ErrorDetails><Message>)" + message +
      R"(</Message><Timestamp>2025-01-01T00:00:00Z</Timestamp><InnerFault i:nil="true"/><TraceText i:nil="true"/></OrganizationServiceFault></detail></s:Fault>)" +
      kEnvClose;
  return s;
}

Scripted lost() {
  Scripted s;
  s.error = Error::Transient("connection to http://crm lost before the reply: end of stream");
  s.written = true;
  return s;
}

std::string entity_reply(const std::string& logical, const std::string& id,
                         const std::string& attrs) {
  return response("Retrieve",
                  kv("Entity", R"(<b:value i:type="a:Entity"><a:Attributes>)" + attrs +
                                   R"(</a:Attributes><a:Id>)" + id + R"(</a:Id><a:LogicalName>)" +
                                   logical + R"(</a:LogicalName></b:value>)"));
}

struct Fixture {
  std::shared_ptr<crmtest::FakeState> state = std::make_shared<crmtest::FakeState>();
  FakeClock clock;
  std::vector<std::chrono::milliseconds> waits;
  crmtest::TempDir dir;
  SoapCrmConfig config;
  std::unique_ptr<CrmAdapter> adapter;

  explicit Fixture(int max_attempts = 4) {
    { std::ofstream(dir.path() / "token") << "s3cr3t-t0ken-value\n"; }
    config.base_url = "https://crm.example.org/org1";
    config.auth.type = SoapCrmAuth::Type::kBearerFile;
    config.auth.token_file = (dir.path() / "token").string();
    config.max_attempts = max_attempts;
    config.jitter_seed = 42;
    config.sleep = [this](std::chrono::milliseconds d) {
      waits.push_back(d);
      clock.advance(d);
    };
    adapter = make_soap_crm_adapter(config, clock, std::make_unique<crmtest::FakeTransport>(state));
  }
  void reply(Scripted s) { state->replies.push_back(std::move(s)); }
  std::string request_name(std::size_t i) const {
    const std::string& b = state->requests.at(i).body;
    auto p = b.find("<a:RequestName>");
    auto e = b.rfind("</a:RequestName>");
    return b.substr(p + 15, e - p - 15);
  }
};

const CrmId kId = CrmId::parse("a1b2c3d4-0000-4000-8000-000000000001").value();

// The error of a Delete answered with `reply`, not retried.
Error error_of_remove(const Scripted& reply) {
  Fixture f(1);
  f.reply(reply);
  auto r = f.adapter->remove(CrmEntity::kTask, kId);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

}  // namespace

TEST_CASE("who_am_i: endpoint - SOAP headers - bearer token - parsed ids", "[adapter]") {
  Fixture f;
  f.reply(ok(response(
      "WhoAmI",
      kv("UserId",
         R"(<b:value i:type="d:guid" xmlns:d="http://schemas.microsoft.com/2003/10/Serialization/">0ec243d4-1aaf-ea11-a812-000d3a44a2a9</b:value>)") +
          kv("BusinessUnitId",
             R"(<b:value i:type="d:guid" xmlns:d="http://schemas.microsoft.com/2003/10/Serialization/">b78fd0c3-ae25-e811-a83f-000d3a2af321</b:value>)") +
          kv("OrganizationId",
             R"(<b:value i:type="d:guid" xmlns:d="http://schemas.microsoft.com/2003/10/Serialization/">820d7afa-a6a6-44ea-8279-ba5621810971</b:value>)"),
      "c")));
  auto who = f.adapter->who_am_i();
  REQUIRE(who.ok());
  CHECK(who->user_id.str() == "0ec243d4-1aaf-ea11-a812-000d3a44a2a9");
  REQUIRE(f.state->requests.size() == 1);
  const auto& r = f.state->requests[0];
  CHECK(r.url == "https://crm.example.org/org1/XRMServices/2011/Organization.svc/web");
  auto header = [&](const char* n) {
    for (const auto& [k, v] : r.headers)
      if (k == n) return v;
    return std::string{};
  };
  CHECK(header("SOAPAction") ==
        "http://schemas.microsoft.com/xrm/2011/Contracts/Services/IOrganizationService/Execute");
  CHECK(header("Content-Type") == "text/xml; charset=utf-8");
  CHECK(header("Authorization") == "Bearer s3cr3t-t0ken-value");
}

TEST_CASE("HTTP 429 is retried after Retry-After", "[adapter][retry]") {
  Fixture f;
  Scripted throttled{429, {{"Retry-After", "7"}}, "", std::nullopt, true};
  f.reply(throttled);
  f.reply(ok(response("Delete")));
  REQUIRE(f.adapter->remove(CrmEntity::kTask, kId).ok());
  REQUIRE(f.waits.size() == 1);
  CHECK(f.waits[0] >= 7000ms);
  CHECK(f.state->requests.size() == 2);
}

TEST_CASE("throttling faults are retried after their Retry-After detail", "[adapter][retry]") {
  Fixture f;
  f.reply(fault(
      -2147015902, "Number of requests exceeded the limit",
      R"(<a:KeyValuePairOfstringanyType><a:key>Retry-After</a:key><a:value i:type="b:duration" xmlns:b="http://schemas.microsoft.com/2003/10/Serialization/">00:00:05</a:value></a:KeyValuePairOfstringanyType>)"));
  f.reply(fault(-2147204784, "SQL timeout"));
  f.reply(ok(response("Delete")));
  REQUIRE(f.adapter->remove(CrmEntity::kTask, kId).ok());
  REQUIRE(f.waits.size() == 2);
  CHECK(f.waits[0] >= 5000ms);
  CHECK(f.waits[1] >= 250ms);  // backoff base 500 ms * 2 with jitter in [0.5, 1]
}

TEST_CASE("503 and lost connections back off exponentially - then give up", "[adapter][retry]") {
  Fixture f(4);
  f.state->fallback = [](const auto&) { return Scripted{503, {}, "busy", std::nullopt, true}; };
  auto r = f.adapter->remove(CrmEntity::kTask, kId);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kTransient));
  CHECK_THAT(r.error().message(), Catch::Contains("gave up after 4 attempts"));
  CHECK(f.state->requests.size() == 4);
  REQUIRE(f.waits.size() == 3);
  CHECK(f.waits[0] >= 250ms);
  CHECK(f.waits[0] <= 500ms);
  CHECK(f.waits[1] >= 500ms);
  CHECK(f.waits[2] >= 1000ms);
  CHECK(f.waits[2] <= 2000ms);
}

TEST_CASE("a Retry-After beyond the budget stops the retries at once", "[adapter][retry]") {
  Fixture f;
  f.reply(Scripted{429, {{"Retry-After", "20000"}}, "", std::nullopt, true});
  auto r = f.adapter->remove(CrmEntity::kTask, kId);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kTransient));
  CHECK(r.error().retry_after_ms() == 20'000'000);
  CHECK(f.waits.empty());
}

TEST_CASE("fault codes map to error kinds", "[adapter][errors]") {
  struct Case {
    Scripted reply;
    ErrorKind kind;
    const char* text;
  };
  std::vector<Case> cases = {
      {fault(-2147220969, "task With Id = x Does Not Exist"), ErrorKind::kNotFound,
       "Does Not Exist"},
      {fault(-2147220937, "Cannot insert duplicate key"), ErrorKind::kConflict, "duplicate"},
      {fault(-2147204270, "Version stamp associated with the client has expired"),
       ErrorKind::kConflict, "full sync"},
      {fault(-2147220960, "Principal user is missing prvDeleteActivity privilege"),
       ErrorKind::kPermission, "prvDeleteActivity"},
      {fault(-2147204303, "A validation error occurred. The length of the 'subject' attribute"),
       ErrorKind::kInvalid, "length of the 'subject'"},
      {fault(-2147217149, "'task' entity doesn't contain attribute with Name = 'bogus'"),
       ErrorKind::kInvalid, "bogus"},
      {Scripted{401, {}, "", std::nullopt, true}, ErrorKind::kPermission, "401"},
      {Scripted{403, {}, "", std::nullopt, true}, ErrorKind::kPermission, "403"},
      {Scripted{200, {}, "<html>not soap</html>", std::nullopt, true}, ErrorKind::kInvalid, "SOAP"},
      {Scripted{200, {}, "<a><b></a>", std::nullopt, true}, ErrorKind::kInvalid, "malformed"},
  };
  for (auto& c : cases) {
    const Error e = error_of_remove(c.reply);
    INFO(e.describe());
    CHECK(e.is(c.kind));
    CHECK_THAT(e.message(), Catch::Contains(c.text));
  }
}

TEST_CASE("E1 E3: each fault carries what to do next - decided where it is read",
          "[adapter][errors]") {
  struct Case {
    Scripted reply;
    ErrorKind kind;
    Retry retry;
  };
  const std::string five_seconds =
      R"(<a:KeyValuePairOfstringanyType><a:key>Retry-After</a:key><a:value i:type="b:duration" xmlns:b="http://schemas.microsoft.com/2003/10/Serialization/">00:00:05</a:value></a:KeyValuePairOfstringanyType>)";
  std::vector<Case> cases = {
      // One record refused to this user (the access check after the privilege check).
      {fault(-2147187962,
             "Principal with id = 1 does not have WriteAccess right(s) for record with id = 2 of "
             "entity contact"),
       ErrorKind::kPermission, Retry::kItem},
      // The user lacks the privilege for the whole entity, or is disabled: stop.
      {fault(-2147220960, "Principal user is missing prvWriteContact privilege"),
       ErrorKind::kPermission, Retry::kStop},
      {fault(-2147204720, "The user is disabled"), ErrorKind::kPermission, Retry::kStop},
      {Scripted{401, {}, "", std::nullopt, true}, ErrorKind::kPermission, Retry::kStop},
      // Throttled or busy: wait (with the server's wait, below).
      {fault(-2147015902, "Number of requests exceeded the limit", five_seconds),
       ErrorKind::kTransient, Retry::kWait},
      {Scripted{503, {}, "busy", std::nullopt, true}, ErrorKind::kTransient, Retry::kWait},
      // This item's own: validation, not found, a lost race.
      {fault(-2147204303, "A validation error occurred. The length of the 'subject' attribute"),
       ErrorKind::kInvalid, Retry::kItem},
      {fault(-2147220969, "task With Id = x Does Not Exist"), ErrorKind::kNotFound, Retry::kItem},
      {fault(-2147088254, "The version of the existing record doesn't match"), ErrorKind::kConflict,
       Retry::kItem},
  };
  for (auto& c : cases) {
    const Error e = error_of_remove(c.reply);
    INFO(e.describe());
    CHECK(e.is(c.kind));
    CHECK(e.retry() == c.retry);
    CHECK(e.retryable() == (c.retry == Retry::kWait));
    if (c.reply.body.find("Retry-After") != std::string::npos) CHECK(e.retry_after_ms() == 5000);
  }
}

TEST_CASE("create: the chosen id is sent - a duplicate is kConflict", "[adapter][create]") {
  Fixture f;
  f.reply(fault(-2147220937, "Cannot insert duplicate key"));
  auto r = f.adapter->create(CrmEntity::kContact, kId, {{"lastname", std::string("Doe")}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kConflict));
  REQUIRE(f.state->requests.size() == 1);
  CHECK_THAT(f.state->requests[0].body, Catch::Contains("<a:Id>" + kId.str() + "</a:Id>"));
}

TEST_CASE("create whose reply was lost: retried - duplicate - found → ok (SPEC X1)",
          "[adapter][create]") {
  Fixture f;
  f.reply(lost());
  f.reply(fault(-2147220937, "Cannot insert duplicate key"));
  f.reply(ok(entity_reply("contact", kId.str(), "")));
  auto r = f.adapter->create(CrmEntity::kContact, kId, {{"lastname", std::string("Doe")}});
  INFO((r.ok() ? "" : r.error().describe()));
  REQUIRE(r.ok());
  REQUIRE(f.state->requests.size() == 3);
  CHECK(f.request_name(0) == "Create");
  CHECK(f.request_name(1) == "Create");
  CHECK(f.request_name(2) == "Retrieve");
}

TEST_CASE("create with a state: Create without it - then SetState", "[adapter][create]") {
  Fixture f;
  f.reply(ok(response("Create")));
  f.reply(ok(response("SetState", "", "c")));
  REQUIRE(f.adapter
              ->create(CrmEntity::kTask, kId,
                       {{"subject", std::string("x")},
                        {"statecode", std::int64_t{1}},
                        {"statuscode", std::int64_t{5}}})
              .ok());
  REQUIRE(f.state->requests.size() == 2);
  CHECK_THAT(f.state->requests[0].body, !Catch::Contains("statecode"));
  CHECK(f.request_name(1) == "SetState");
}

TEST_CASE("update without a row version: state through SetState - the rest through Update",
          "[adapter][update]") {
  Fixture f;
  f.reply(ok(response("Update")));
  f.reply(ok(response("SetState", "", "c")));
  REQUIRE(f.adapter
              ->update(CrmEntity::kTask, kId,
                       {{"subject", std::string("new")},
                        {"statecode", std::int64_t{1}},
                        {"statuscode", std::int64_t{5}}},
                       "")
              .ok());
  REQUIRE(f.state->requests.size() == 2);
  CHECK(f.request_name(0) == "Update");
  CHECK_THAT(f.state->requests[0].body, Catch::Contains("<b:key>subject</b:key>"));
  CHECK_THAT(f.state->requests[0].body, !Catch::Contains("statuscode"));
  CHECK(f.request_name(1) == "SetState");
  CHECK_THAT(f.state->requests[1].body, Catch::Contains("<a:Value>5</a:Value>"));

  SECTION("statuscode alone: the current statecode is read first") {
    f.state->requests.clear();
    f.reply(ok(entity_reply(
        "task", kId.str(),
        kv("statecode", R"(<b:value i:type="a:OptionSetValue"><a:Value>0</a:Value></b:value>)"))));
    f.reply(ok(response("SetState", "", "c")));
    REQUIRE(f.adapter->update(CrmEntity::kTask, kId, {{"statuscode", std::int64_t{3}}}, "").ok());
    REQUIRE(f.state->requests.size() == 2);
    CHECK(f.request_name(0) == "Retrieve");
    CHECK(f.request_name(1) == "SetState");
  }
}

TEST_CASE("update refuses text that cannot be sent - without a request", "[adapter][update]") {
  Fixture f;
  auto r = f.adapter->update(CrmEntity::kTask, kId, {{"subject", std::string("a\x02")}}, "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
  CHECK(f.state->requests.empty());
}

TEST_CASE("changes_since: request shape and page", "[adapter][changes]") {
  Fixture f;
  f.reply(ok(response(
      "RetrieveEntityChanges",
      kv("EntityChanges",
         R"(<b:value i:type="c:BusinessEntityChanges" xmlns:c="http://schemas.microsoft.com/xrm/7.1/Contracts"><c:Changes><c:anyType i:type="c:RemovedOrDeletedItem"><c:RemovedItem><a:Id>9e9cc03c-e7cc-e111-bbd7-005056b14b94</a:Id><a:LogicalName>contact</a:LogicalName></c:RemovedItem><c:Type>RemoveOrDeleted</c:Type></c:anyType></c:Changes><c:DataToken>tok-2</c:DataToken><c:MoreRecords>true</c:MoreRecords><c:PagingCookie>&lt;cookie page="2"/&gt;</c:PagingCookie></b:value>)"))));
  auto page = f.adapter->changes_since(CrmEntity::kContact, "tok-1", 2, "<cookie page=\"1\"/>");
  REQUIRE(page.ok());
  CHECK(page->removed.size() == 1);
  CHECK(page->more);
  CHECK(page->paging_cookie == "<cookie page=\"2\"/>");
  CHECK(page->data_version == "tok-2");
  CHECK(page->page_number == 2);
  const auto& body = f.state->requests.at(0).body;
  CHECK_THAT(body,
             Catch::Contains("<b:key>DataVersion</b:key><b:value i:type=\"d:string\">tok-1<"));
  CHECK_THAT(body, Catch::Contains("<a:PageNumber>2</a:PageNumber>"));
  CHECK_THAT(
      body, Catch::Contains("<a:PagingCookie>&lt;cookie page=&quot;1&quot;/&gt;</a:PagingCookie>"));
  CHECK_THAT(body, Catch::Contains("<f:string>emailaddress1</f:string>"));
}

TEST_CASE("privileges: prvSyncToOutlook looked up - then the user's privileges", "[adapter]") {
  const std::string priv_id = "11111111-2222-4333-8444-555555555555";
  auto privilege_page = ok(response(
      "RetrieveMultiple",
      kv("EntityCollection",
         R"(<b:value i:type="a:EntityCollection"><a:Entities><a:Entity><a:Attributes/><a:Id>)" +
             priv_id +
             R"(</a:Id><a:LogicalName>privilege</a:LogicalName></a:Entity></a:Entities><a:MoreRecords>false</a:MoreRecords></b:value>)")));
  auto user_privs = [&](const std::string& id) {
    return ok(response(
        "RetrieveUserPrivileges",
        kv("RolePrivileges",
           R"(<b:value i:type="c:ArrayOfRolePrivilege"><c:RolePrivilege><c:BusinessUnitId>b78fd0c3-ae25-e811-a83f-000d3a2af321</c:BusinessUnitId><c:Depth>Global</c:Depth><c:PrivilegeId>)" +
               id + "</c:PrivilegeId></c:RolePrivilege></b:value>"),
        "c"));
  };
  Fixture f;
  f.reply(privilege_page);
  f.reply(user_privs(priv_id));
  auto yes = f.adapter->privileges(kId);
  REQUIRE(yes.ok());
  CHECK(yes->sync_to_outlook);
  CHECK(f.request_name(0) == "RetrieveMultiple");
  CHECK_THAT(f.state->requests[0].body, Catch::Contains("prvSyncToOutlook"));
  CHECK(f.request_name(1) == "RetrieveUserPrivileges");
  CHECK_THAT(f.state->requests[1].body, Catch::Contains(kId.str()));
  f.reply(privilege_page);
  f.reply(user_privs("99999999-2222-4333-8444-555555555555"));
  auto no = f.adapter->privileges(kId);
  REQUIRE(no.ok());
  CHECK_FALSE(no->sync_to_outlook);
}

TEST_CASE("execute_batch: 1000 per request - per-operation results", "[adapter][batch]") {
  Fixture f;
  std::vector<CrmOperation> ops;
  for (int i = 0; i < 2500; ++i) {
    CrmOperation op;
    op.type = CrmOperation::Type::kDelete;
    op.entity = CrmEntity::kTask;
    op.id = CrmId::generate();
    ops.push_back(op);
  }
  // Each chunk: item 3 of the chunk fails with "does not exist".
  f.state->fallback = [](const http::Request&) {
    std::string items =
        R"(<b:value i:type="g:OrganizationResponseCollection" xmlns:g="http://schemas.microsoft.com/xrm/2012/Contracts"><g:ExecuteMultipleResponseItem><g:Fault><a:ErrorCode>-2147220969</a:ErrorCode><a:ErrorDetails/><a:Message>task Does Not Exist</a:Message></g:Fault><g:RequestIndex>3</g:RequestIndex><g:Response i:nil="true"/></g:ExecuteMultipleResponseItem></b:value>)";
    return ok(response(
        "ExecuteMultiple",
        kv("IsFaulted",
           R"(<b:value i:type="d:boolean" xmlns:d="http://www.w3.org/2001/XMLSchema">true</b:value>)") +
            kv("Responses", items)));
  };
  auto r = f.adapter->execute_batch(ops);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2500);
  CHECK(f.state->requests.size() == 3);
  int failed = 0;
  for (std::size_t i = 0; i < r->size(); ++i)
    if (!(*r)[i].ok()) {
      ++failed;
      CHECK((*r)[i].error().is(ErrorKind::kNotFound));
      CHECK((i == 3 || i == 1003 || i == 2003));
    }
  CHECK(failed == 3);
}

TEST_CASE("the token never appears in an error message", "[adapter][secrets]") {
  Fixture f(1);
  f.reply(fault(-2147220891, "plug-in saw Bearer s3cr3t-t0ken-value and refused"));
  auto r = f.adapter->remove(CrmEntity::kTask, kId);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), !Catch::Contains("s3cr3t-t0ken-value"));
  CHECK_THAT(r.error().message(), Catch::Contains("***"));
}

TEST_CASE("a missing token file is kPermission without a request", "[adapter][auth]") {
  Fixture f;
  std::filesystem::remove(f.dir.path() / "token");
  auto r = f.adapter->who_am_i();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kPermission));
  CHECK(f.state->requests.empty());
}

TEST_CASE("a bad base URL is kInvalid on every call", "[adapter]") {
  FakeClock clock;
  SoapCrmConfig config;
  config.base_url = "crm.example.org";
  auto adapter = make_soap_crm_adapter(config, clock);
  auto r = adapter->who_am_i();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
}

TEST_CASE("OAuth client credentials against a local token endpoint", "[adapter][auth][oauth]") {
  std::mutex mu;
  int token_requests = 0;
  std::string token_body;
  std::vector<std::string> auth_headers;
  crmtest::TestServer server([&](const crmtest::ServerRequest& r) {
    std::lock_guard lock(mu);
    crmtest::ServerReply reply;
    if (r.target == "/tenant/oauth2/v2.0/token") {
      ++token_requests;
      token_body = r.body;
      reply.content_type = "application/json";
      reply.body = R"({"token_type":"Bearer","expires_in":3599,"access_token":"at-)" +
                   std::to_string(token_requests) + R"("})";
      return reply;
    }
    auth_headers.push_back(r.header("Authorization"));
    reply.body = response("Delete");
    return reply;
  });
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  FakeClock clock;
  SoapCrmConfig config;
  config.base_url = base + "/org1/";
  config.auth.type = SoapCrmAuth::Type::kClientCredentials;
  config.auth.token_endpoint = base + "/tenant/oauth2/v2.0/token";
  config.auth.client_id = "app-id";
  config.auth.client_secret = "very secret&value";
  config.auth.scope = "https://org.crm.dynamics.com/.default";
  config.max_attempts = 1;
  auto adapter = make_soap_crm_adapter(config, clock);
  REQUIRE(adapter->remove(CrmEntity::kTask, kId).ok());
  REQUIRE(adapter->remove(CrmEntity::kTask, kId).ok());
  {
    std::lock_guard lock(mu);
    CHECK(token_requests == 1);  // cached
    CHECK_THAT(token_body, Catch::Contains("grant_type=client_credentials"));
    CHECK_THAT(token_body, Catch::Contains("client_id=app-id"));
    CHECK_THAT(token_body, Catch::Contains("client_secret=very%20secret%26value"));
    CHECK_THAT(token_body, Catch::Contains("scope=https%3A%2F%2Forg.crm.dynamics.com%2F.default"));
    CHECK(auth_headers == std::vector<std::string>{"Bearer at-1", "Bearer at-1"});
  }
  clock.advance(3600s);  // expired: a new token
  REQUIRE(adapter->remove(CrmEntity::kTask, kId).ok());
  std::lock_guard lock(mu);
  CHECK(token_requests == 2);
  CHECK(auth_headers.back() == "Bearer at-2");
}

TEST_CASE("OAuth: a refused secret is kPermission and the secret is not shown",
          "[adapter][auth][oauth]") {
  crmtest::TestServer server([&](const crmtest::ServerRequest& r) {
    crmtest::ServerReply reply;
    reply.status = 401;
    reply.content_type = "application/json";
    reply.body = R"({"error":"invalid_client","error_description":"bad secret )" + r.body + "\"}";
    return reply;
  });
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  FakeClock clock;
  SoapCrmConfig config;
  config.base_url = base;
  config.auth.type = SoapCrmAuth::Type::kClientCredentials;
  config.auth.token_endpoint = base + "/token";
  config.auth.client_id = "app-id";
  config.auth.client_secret = "hunter2-secret";
  auto adapter = make_soap_crm_adapter(config, clock);
  auto r = adapter->who_am_i();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kPermission));
  CHECK_THAT(r.error().message(), Catch::Contains("invalid_client"));
  CHECK_THAT(r.error().message(), !Catch::Contains("hunter2-secret"));
}

TEST_CASE("a CRM that never answers: kTransient within the deadline", "[adapter][deadline]") {
  crmtest::TestServer server([](const auto&) {
    crmtest::ServerReply r;
    r.hang = true;
    return r;
  });
  FakeClock clock;
  SoapCrmConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(server.port());
  config.request_timeout = 300ms;
  config.max_attempts = 1;
  auto adapter = make_soap_crm_adapter(config, clock);
  auto start = std::chrono::steady_clock::now();
  auto r = adapter->who_am_i();
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kTransient));
  CHECK(took < 3s);
}

TEST_CASE("hostile replies through the adapter: kInvalid - not retried", "[adapter][hostile]") {
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "<x>";
  for (int i = 0; i < 1000; ++i) deep += "</x>";
  const std::string bad_option =
      entity_reply("task", kId.str(),
                   kv("prioritycode",
                      R"(<b:value i:type="a:OptionSetValue"><a:Value>urgent</a:Value></b:value>)"));
  std::vector<std::pair<std::string, std::string>> cases = {
      {"malformed", std::string(kEnvOpen) + "<ExecuteResponse>"},
      {"DOCTYPE",
       R"(<!DOCTYPE s [<!ENTITY x "y">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>)"},
      {"deep nesting", deep},
      {"invalid UTF-8", std::string(kEnvOpen) + "\xFF\xFE" + kEnvClose},
      {"non-numeric OptionSetValue", bad_option},
      {"wrong body", std::string(kEnvOpen) + "<Unexpected/>" + kEnvClose},
  };
  for (const auto& [name, body] : cases) {
    INFO(name);
    Fixture f(4);
    f.reply(ok(body));
    auto r = f.adapter->retrieve(CrmEntity::kTask, kId);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    CHECK(f.state->requests.size() == 1);  // final: not retried
  }
}

TEST_CASE("an oversized reply is kInvalid", "[adapter][hostile]") {
  crmtest::TestServer server([](const auto&) {
    crmtest::ServerReply r;
    r.body = std::string(kEnvOpen) + "<x>" + std::string(200'000, 'a') + "</x>" + kEnvClose;
    return r;
  });
  FakeClock clock;
  SoapCrmConfig config;
  config.base_url = "http://127.0.0.1:" + std::to_string(server.port());
  config.max_response_bytes = 50'000;
  auto adapter = make_soap_crm_adapter(config, clock);
  auto r = adapter->who_am_i();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
  CHECK(server.requests() == 1);
}

TEST_CASE("bearer token from an environment variable", "[adapter][auth]") {
  auto state = std::make_shared<crmtest::FakeState>();
  state->replies.push_back(ok(response("Delete")));
  FakeClock clock;
  SoapCrmConfig config;
  config.base_url = "https://crm.example.org";
  config.auth.type = SoapCrmAuth::Type::kBearerEnv;
  config.auth.token_env = "CRMSYNC_TEST_CRM_TOKEN";
  ::setenv("CRMSYNC_TEST_CRM_TOKEN", "env-token-42", 1);
  auto adapter =
      make_soap_crm_adapter(config, clock, std::make_unique<crmtest::FakeTransport>(state));
  REQUIRE(adapter->remove(CrmEntity::kTask, kId).ok());
  bool found = false;
  for (const auto& [k, v] : state->requests.at(0).headers)
    if (k == "Authorization") found = v == "Bearer env-token-42";
  CHECK(found);
  ::unsetenv("CRMSYNC_TEST_CRM_TOKEN");
  auto r = adapter->remove(CrmEntity::kTask, kId);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kPermission));
}

TEST_CASE("OAuth: a token the CRM refuses is fetched again once", "[adapter][auth][oauth]") {
  std::mutex mu;
  int token_requests = 0;
  int crm_requests = 0;
  crmtest::TestServer server([&](const crmtest::ServerRequest& r) {
    std::lock_guard lock(mu);
    crmtest::ServerReply reply;
    if (r.target == "/token") {
      ++token_requests;
      reply.content_type = "application/json";
      reply.body =
          R"({"access_token":"tok-)" + std::to_string(token_requests) + R"(","expires_in":"3600"})";
      return reply;
    }
    ++crm_requests;
    if (r.header("Authorization") == "Bearer tok-1") {
      reply.status = 401;
      reply.body = "";
      return reply;
    }
    reply.body = response("Delete");
    return reply;
  });
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  FakeClock clock;
  SoapCrmConfig config;
  config.base_url = base;
  config.auth.type = SoapCrmAuth::Type::kClientCredentials;
  config.auth.token_endpoint = base + "/token";
  config.auth.client_id = "app";
  config.auth.client_secret = "app-secret";
  config.auth.resource = "https://org.crm.dynamics.com/";
  config.max_attempts = 1;
  auto adapter = make_soap_crm_adapter(config, clock);
  REQUIRE(adapter->remove(CrmEntity::kTask, kId).ok());
  std::lock_guard lock(mu);
  CHECK(token_requests == 2);
  CHECK(crm_requests == 2);
}

TEST_CASE("supports_change_tracking probes once - a fault means no", "[adapter][tracking]") {
  Fixture f;
  f.reply(fault(-2147220989, "The request RetrieveEntityChanges is not supported"));
  CHECK_FALSE(f.adapter->supports_change_tracking(CrmEntity::kFax));
  CHECK_FALSE(f.adapter->supports_change_tracking(CrmEntity::kFax));
  CHECK(f.state->requests.size() == 1);
  CHECK(f.request_name(0) == "RetrieveEntityChanges");
  CHECK_THAT(f.state->requests[0].body, Catch::Contains("<a:Count>1</a:Count>"));
  // A transient failure is not remembered.
  Fixture g(1);
  g.reply(Scripted{503, {}, "", std::nullopt, true});
  CHECK(g.adapter->supports_change_tracking(CrmEntity::kTask));
  g.reply(ok(response(
      "RetrieveEntityChanges",
      kv("EntityChanges",
         R"(<b:value i:type="c:BusinessEntityChanges" xmlns:c="http://schemas.microsoft.com/xrm/7.1/Contracts"><c:Changes/><c:DataToken>t</c:DataToken><c:MoreRecords>false</c:MoreRecords></b:value>)"))));
  CHECK(g.adapter->supports_change_tracking(CrmEntity::kTask));
  CHECK(g.state->requests.size() == 2);
}

TEST_CASE("modified_since and sweep_ids: query shape", "[adapter][tracking]") {
  Fixture f;
  const std::string empty_page =
      ok(response(
             "RetrieveMultiple",
             kv("EntityCollection",
                R"(<b:value i:type="a:EntityCollection"><a:Entities/><a:MoreRecords>false</a:MoreRecords></b:value>)")))
          .body;
  f.reply(ok(empty_page));
  auto p = f.adapter->modified_since(
      CrmEntity::kTask, UtcTime::parse("2025-03-01T08:00:00.750Z").value(), 2, "<cookie/>");
  REQUIRE(p.ok());
  CHECK(p->page_number == 2);
  const auto& body = f.state->requests.at(0).body;
  CHECK_THAT(
      body,
      Catch::Contains(
          "<a:AttributeName>modifiedon</a:AttributeName><a:Operator>GreaterEqual</a:Operator>"));
  CHECK_THAT(body, Catch::Contains("i:type=\"d:dateTime\">2025-03-01T08:00:00Z<"));
  CHECK_THAT(body, Catch::Contains("<a:OrderExpression><a:AttributeName>modifiedon</"
                                   "a:AttributeName><a:OrderType>Ascending</a:OrderType>"));
  CHECK_THAT(body,
             Catch::Contains(
                 "<a:PageNumber>2</a:PageNumber><a:PagingCookie>&lt;cookie/&gt;</a:PagingCookie>"));
  // A watermark before 1970 (the engine's "everything") sends no condition.
  f.reply(ok(empty_page));
  REQUIRE(f.adapter->modified_since(CrmEntity::kTask, UtcTime{-1'000'000'000'000'000}, 1, "").ok());
  CHECK_THAT(f.state->requests.at(1).body, !Catch::Contains("GreaterEqual"));
  f.reply(ok(empty_page));
  REQUIRE(f.adapter->sweep_ids(CrmEntity::kAppointment, 1, "").ok());
  const auto& sweep = f.state->requests.at(2).body;
  CHECK_THAT(sweep, Catch::Contains("<f:string>activityid</f:string><f:string>ownerid</f:string>"));
  CHECK_THAT(sweep, Catch::Contains("<f:string>requiredattendees</f:string>"));
  CHECK_THAT(sweep, !Catch::Contains("<f:string>subject</f:string>"));
}

TEST_CASE("execute_batch whose reply was lost: created items count as done (SPEC X1)",
          "[adapter][batch][create]") {
  Fixture f;
  const CrmId a = CrmId::generate();
  std::vector<CrmOperation> ops(2);
  ops[0] = {CrmOperation::Type::kCreate, CrmEntity::kTask, a, {{"subject", std::string("A")}}};
  ops[1] = {CrmOperation::Type::kDelete, CrmEntity::kTask, kId, {}};
  f.reply(lost());
  f.reply(ok(response(
      "ExecuteMultiple",
      kv("IsFaulted",
         R"(<b:value i:type="d:boolean" xmlns:d="http://www.w3.org/2001/XMLSchema">true</b:value>)") +
          kv("Responses",
             R"(<b:value i:type="g:OrganizationResponseCollection" xmlns:g="http://schemas.microsoft.com/xrm/2012/Contracts"><g:ExecuteMultipleResponseItem><g:Fault><a:ErrorCode>-2147220937</a:ErrorCode><a:Message>Cannot insert duplicate key</a:Message></g:Fault><g:RequestIndex>0</g:RequestIndex></g:ExecuteMultipleResponseItem><g:ExecuteMultipleResponseItem><g:Fault><a:ErrorCode>-2147220969</a:ErrorCode><a:Message>task Does Not Exist</a:Message></g:Fault><g:RequestIndex>1</g:RequestIndex></g:ExecuteMultipleResponseItem></b:value>)"))));
  f.reply(ok(entity_reply("task", a.str(), "")));
  auto r = f.adapter->execute_batch(ops);
  REQUIRE(r.ok());
  CHECK((*r)[0].ok());
  REQUIRE_FALSE((*r)[1].ok());
  CHECK((*r)[1].error().is(ErrorKind::kNotFound));  // the delete's result stands as is
  REQUIRE(f.state->requests.size() == 3);
  CHECK(f.request_name(2) == "Retrieve");
}

TEST_CASE("a delete whose reply was lost and whose retry finds nothing succeeded",
          "[adapter][retry]") {
  Fixture f;
  f.reply(lost());
  f.reply(fault(-2147220969, "task With Id = x Does Not Exist"));
  CHECK(f.adapter->remove(CrmEntity::kTask, kId).ok());
  // Without a lost reply, not found stays not found.
  f.reply(fault(-2147220969, "task With Id = x Does Not Exist"));
  auto r = f.adapter->remove(CrmEntity::kTask, kId);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kNotFound));
}

TEST_CASE("U6: an update with a row version is one conditional Update - state included",
          "[adapter][update]") {
  Fixture f;
  f.reply(ok(response("Update")));
  REQUIRE(f.adapter
              ->update(CrmEntity::kTask, kId,
                       {{"subject", std::string("new")},
                        {"statecode", std::int64_t{1}},
                        {"statuscode", std::int64_t{5}}},
                       "1289570")
              .ok());
  REQUIRE(f.state->requests.size() == 1);  // no SetState: it would not be conditional
  CHECK(f.request_name(0) == "Update");
  const std::string& body = f.state->requests[0].body;
  CHECK_THAT(body, Catch::Contains("<a:RowVersion>1289570</a:RowVersion>"));
  CHECK_THAT(body, Catch::Contains(">IfRowVersionMatches</b:value>"));
  CHECK_THAT(body, Catch::Contains("<b:key>statecode</b:key><b:value "
                                   "i:type=\"a:OptionSetValue\"><a:Value>1</a:Value>"));
  CHECK_THAT(body, Catch::Contains("<b:key>statuscode</b:key>"));

  SECTION("in a batch too") {
    f.state->requests.clear();
    f.reply(ok(response(
        "ExecuteMultiple",
        kv("IsFaulted",
           R"(<b:value i:type="d:boolean" xmlns:d="http://www.w3.org/2001/XMLSchema">false</b:value>)") +
            kv("Responses",
               R"(<b:value i:type="g:OrganizationResponseCollection" xmlns:g="http://schemas.microsoft.com/xrm/2012/Contracts"/>)"))));
    CrmOperation op;
    op.type = CrmOperation::Type::kUpdate;
    op.entity = CrmEntity::kTask;
    op.id = kId;
    op.attributes = {{"subject", std::string("x")}, {"statecode", std::int64_t{1}}};
    op.row_version = "77";
    auto r = f.adapter->execute_batch({op});
    REQUIRE(r.ok());
    REQUIRE((*r)[0].ok());
    REQUIRE(f.state->requests.size() == 1);
    CHECK_THAT(f.state->requests[0].body, Catch::Contains("<a:RowVersion>77</a:RowVersion>"));
    CHECK_THAT(f.state->requests[0].body, !Catch::Contains("SetState"));
  }
}

TEST_CASE("U6: ConcurrencyVersionMismatch is kConflict and is not retried", "[adapter][update]") {
  Fixture f;
  f.reply(fault(-2147088254,
                "The version of the existing record doesn't match the RowVersion property "
                "provided."));
  auto r = f.adapter->update(CrmEntity::kContact, kId, {{"jobtitle", std::string("CEO")}}, "41");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kConflict));
  CHECK_THAT(r.error().message(), Catch::Contains("doesn't match the RowVersion"));
  CHECK(f.state->requests.size() == 1);
  CHECK(f.waits.empty());

  // No version where one is required is the client's fault: final for the item.
  f.reply(fault(-2147088243,
                "The RowVersion property must be provided when the value of ConcurrencyBehavior "
                "is IfVersionMatches."));
  auto missing =
      f.adapter->update(CrmEntity::kContact, kId, {{"jobtitle", std::string("CEO")}}, "41");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().is(ErrorKind::kInvalid));
}
