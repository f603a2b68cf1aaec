// crm-emulator as the user (SPEC U3, U4): JWTs of a real login-emulator, application users and
// CallerId, NTLM users (requests_ntlm as the independent client), the Outlook filters
// (userquery, savedquery) and FetchXML in RetrieveMultiple. Real processes over loopback.
#include <utility>  // before Asio (Boost 1.74 needs std::exchange declared)

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <catch2/catch.hpp>

#include "crmsync/test/crm_schema_v8.hpp"
#include "crmsync/test/prerequisite.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
namespace prereq = crmsync::test::prereq;

namespace {

const fs::path kEnvelopeXsd =
    fs::path(CRM_REFERENCE_DIR) / "crm/xrm2011/xsd/crm-envelope-validate.xsd";
const std::string kAction =
    "http://schemas.microsoft.com/xrm/2011/Contracts/Services/IOrganizationService/";
const std::string kClient = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

struct Response {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;
  std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "" : it->second;
  }
  rapidjson::Document json() const {
    rapidjson::Document d;
    d.Parse(body.c_str(), body.size());
    INFO(body);
    REQUIRE((d.IsObject() || d.IsArray()));
    return d;
  }
};

std::string str(const rapidjson::Value& v, const char* k) {
  return v.IsObject() && v.HasMember(k) && v[k].IsString() ? v[k].GetString() : "";
}

Response request(unsigned short port, http::verb verb, const std::string& target,
                 const std::string& body, const std::map<std::string, std::string>& headers = {}) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(120s);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  Response out;
  beast::error_code ec;
  http::write(stream, req, ec);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256u * 1024u * 1024u);
  http::read(stream, buf, parser, ec);
  if (ec) return out;
  auto res = parser.release();
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& f : res)
    out.headers.emplace(std::string(f.name_string()), std::string(f.value()));
  return out;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string xml_unescape(std::string s) {
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&amp;", "&"}}) {
    for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
      s.replace(p, from.size(), to);
  }
  return s;
}

// A started emulator process: its port from the "listening on" line.
struct Process {
  crmsync::test::TempDir dir;
  std::unique_ptr<crmsync::test::Spawned> proc;
  unsigned short port = 0;

  Process(const std::string& bin, std::vector<std::string> extra) {
    std::vector<std::string> argv{bin, "--listen", "127.0.0.1:0", "--db",
                                  (dir.path() / "db.sqlite").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<crmsync::test::Spawned>(argv, (dir.path() / "stderr").string());
    auto line = proc->read_line(30s);
    REQUIRE(line.has_value());
    REQUIRE(line->rfind("listening on 127.0.0.1:", 0) == 0);
    port = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
  Response admin(http::verb v, const std::string& path, const std::string& body = "") {
    return request(port, v, path, body, {{"Content-Type", "application/json"}});
  }
};

struct Crm : Process {
  explicit Crm(std::vector<std::string> extra = {}) : Process(CRM_EMULATOR_BIN, std::move(extra)) {}

  std::string add_user(const std::string& json) {
    auto r = admin(http::verb::post, "/admin/users", json);
    INFO(r.body);
    REQUIRE(r.status == 200);
    return str(r.json(), "systemuserid");
  }

  Response soap(const std::string& op, const std::string& body, const std::string& token,
                const std::string& caller_id = "") {
    std::string env = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">";
    if (!caller_id.empty())
      env += "<s:Header><CallerId xmlns=\"http://schemas.microsoft.com/xrm/2011/Contracts\">" +
             caller_id + "</CallerId></s:Header>";
    env += "<s:Body>" + body + "</s:Body></s:Envelope>";
    last_request = env;
    std::map<std::string, std::string> h{{"Content-Type", "text/xml; charset=utf-8"},
                                         {"SOAPAction", kAction + op}};
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    return request(port, http::verb::post, "/XRMServices/2011/Organization.svc/web", env, h);
  }

  Response execute(const std::string& request_xml, const std::string& token,
                   const std::string& caller_id = "") {
    return soap("Execute",
                "<Execute xmlns=\"http://schemas.microsoft.com/xrm/2011/Contracts/Services\" "
                "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">" +
                    request_xml + "</Execute>",
                token, caller_id);
  }
  std::string last_request;
};

struct Login : Process {
  Login() : Process(LOGIN_EMULATOR_BIN, {"--interval-s", "0"}) {}
  std::string authority() const { return base() + "/organizations"; }

  // A user's access token through the device code flow, approved through the admin API.
  std::string device_token(const std::string& upn, const std::string& scope) {
    auto dc = request(port, http::verb::post, "/organizations/oauth2/v2.0/devicecode",
                      "client_id=" + kClient + "&scope=" + url_encode(scope),
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
    INFO(dc.body);
    REQUIRE(dc.status == 200);
    auto d = dc.json();
    auto ok = admin(http::verb::post, "/admin/device/approve",
                    "{\"user_code\":\"" + str(d, "user_code") + "\",\"upn\":\"" + upn + "\"}");
    REQUIRE(ok.status == 200);
    auto tok = request(port, http::verb::post, "/organizations/oauth2/v2.0/token",
                       "grant_type=" + url_encode("urn:ietf:params:oauth:grant-type:device_code") +
                           "&client_id=" + kClient + "&device_code=" + str(d, "device_code"),
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
    INFO(tok.body);
    REQUIRE(tok.status == 200);
    return str(tok.json(), "access_token");
  }
};

const std::string kWhoAmI =
    "<request i:type=\"b:WhoAmIRequest\" "
    "xmlns:a=\"http://schemas.microsoft.com/xrm/2011/Contracts\" "
    "xmlns:b=\"http://schemas.microsoft.com/crm/2011/Contracts\"><a:Parameters/>"
    "<a:RequestId i:nil=\"true\"/><a:RequestName>WhoAmI</a:RequestName></request>";

std::string who(const Response& r) {
  std::smatch m;
  static const std::regex re("<b:key>UserId</b:key><b:value[^>]*>([0-9a-f-]{36})<");
  return std::regex_search(r.body, m, re) ? std::string(m[1]) : "";
}

std::string error_code(const Response& r) {
  std::smatch m;
  static const std::regex re("<ErrorCode>(-?[0-9]+)</ErrorCode>");
  return std::regex_search(r.body, m, re) ? std::string(m[1]) : "";
}

// Attribute builders (prefixes a = xrm 2011 contracts, b = the generic collections).
std::string kv(const std::string& key, const std::string& value_xml) {
  return "<a:KeyValuePairOfstringanyType><b:key>" + key + "</b:key>" + value_xml +
         "</a:KeyValuePairOfstringanyType>";
}
std::string s_attr(const std::string& k, const std::string& v) {
  return kv(k, "<b:value i:type=\"c:string\" xmlns:c=\"http://www.w3.org/2001/XMLSchema\">" +
                   xml_escape(v) + "</b:value>");
}
std::string i_attr(const std::string& k, int v) {
  return kv(k, "<b:value i:type=\"c:int\" xmlns:c=\"http://www.w3.org/2001/XMLSchema\">" +
                   std::to_string(v) + "</b:value>");
}
std::string dt_attr(const std::string& k, const std::string& v) {
  return kv(k, "<b:value i:type=\"c:dateTime\" xmlns:c=\"http://www.w3.org/2001/XMLSchema\">" + v +
                   "</b:value>");
}
std::string opt_attr(const std::string& k, int v) {
  return kv(k, "<b:value i:type=\"a:OptionSetValue\"><a:Value>" + std::to_string(v) +
                   "</a:Value></b:value>");
}
std::string ref_attr(const std::string& k, const std::string& entity, const std::string& id) {
  return kv(k, "<b:value i:type=\"a:EntityReference\"><a:Id>" + id + "</a:Id><a:LogicalName>" +
                   entity + "</a:LogicalName><a:Name i:nil=\"true\"/></b:value>");
}
std::string parties_attr(const std::string& k, const std::vector<std::string>& user_ids) {
  std::string v = "<b:value i:type=\"a:EntityCollection\"><a:Entities>";
  for (const auto& id : user_ids)
    v += "<a:Entity><a:Attributes>" + ref_attr("partyid", "systemuser", id) +
         "</a:Attributes><a:EntityState i:nil=\"true\"/><a:FormattedValues/>"
         "<a:Id>00000000-0000-0000-0000-000000000000</a:Id><a:LogicalName>activityparty"
         "</a:LogicalName><a:RelatedEntities/></a:Entity>";
  v += "</a:Entities><a:EntityName>activityparty</a:EntityName><a:MinActiveRowVersion "
       "i:nil=\"true\"/><a:MoreRecords>false</a:MoreRecords><a:PagingCookie i:nil=\"true\"/>"
       "<a:TotalRecordCount>-1</a:TotalRecordCount><a:TotalRecordCountLimitExceeded>false"
       "</a:TotalRecordCountLimitExceeded></b:value>";
  return kv(k, v);
}

std::string entity_xml(const std::string& entity, const std::string& attrs) {
  return "<a:Attributes>" + attrs +
         "</a:Attributes><a:EntityState i:nil=\"true\"/><a:FormattedValues/>"
         "<a:Id>00000000-0000-0000-0000-000000000000</a:Id><a:LogicalName>" +
         entity + "</a:LogicalName><a:RelatedEntities/>";
}

std::string create_req(const std::string& entity, const std::string& attrs) {
  return "<request i:type=\"a:CreateRequest\" xmlns:a=\"http://schemas.microsoft.com/xrm/2011/"
         "Contracts\"><a:Parameters xmlns:b=\"http://schemas.datacontract.org/2004/07/"
         "System.Collections.Generic\">" +
         kv("Target", "<b:value i:type=\"a:Entity\">" + entity_xml(entity, attrs) + "</b:value>") +
         "</a:Parameters><a:RequestId i:nil=\"true\"/><a:RequestName>Create</a:RequestName>"
         "</request>";
}

// Many creates in ExecuteMultiple batches of 1000.
void create_many(Crm& crm, const std::string& token,
                 const std::vector<std::pair<std::string, std::string>>& items) {
  for (std::size_t i = 0; i < items.size(); i += 1000) {
    std::string reqs;
    for (std::size_t j = i; j < std::min(items.size(), i + 1000); ++j) {
      std::string one = create_req(items[j].first, items[j].second);
      one.replace(0, std::string("<request").size(), "<c:OrganizationRequest");
      one.replace(one.size() - std::string("</request>").size(), std::string::npos,
                  "</c:OrganizationRequest>");
      reqs += one;
    }
    std::string em =
        "<request i:type=\"a:ExecuteMultipleRequest\" xmlns:a=\"http://schemas.microsoft.com/xrm/"
        "2011/Contracts\"><a:Parameters xmlns:b=\"http://schemas.datacontract.org/2004/07/"
        "System.Collections.Generic\">" +
        kv("Requests",
           "<b:value i:type=\"c:OrganizationRequestCollection\" "
           "xmlns:c=\"http://schemas.microsoft.com/xrm/2012/Contracts\">" +
               reqs + "</b:value>") +
        kv("Settings",
           "<b:value i:type=\"c:ExecuteMultipleSettings\" "
           "xmlns:c=\"http://schemas.microsoft.com/xrm/2012/Contracts\"><c:ContinueOnError>false"
           "</c:ContinueOnError><c:ReturnResponses>false</c:ReturnResponses></b:value>") +
        "</a:Parameters><a:RequestId i:nil=\"true\"/><a:RequestName>ExecuteMultiple"
        "</a:RequestName></request>";
    auto r = crm.execute(em, token);
    INFO(r.body.substr(0, 2000));
    REQUIRE(r.status == 200);
    REQUIRE(r.body.find("<b:key>IsFaulted</b:key><b:value i:type=\"d:boolean\" "
                        "xmlns:d=\"http://www.w3.org/2001/XMLSchema\">false<") !=
            std::string::npos);
  }
}

std::string create(Crm& crm, const std::string& token, const std::string& entity,
                   const std::string& attrs, const std::string& caller_id = "") {
  auto r = crm.execute(create_req(entity, attrs), token, caller_id);
  INFO(r.body);
  REQUIRE(r.status == 200);
  std::smatch m;
  REQUIRE(
      std::regex_search(r.body, m, std::regex("<b:key>id</b:key><b:value[^>]*>([0-9a-f-]{36})<")));
  return m[1];
}

std::string fetch_req(const std::string& fetchxml) {
  return "<request i:type=\"a:RetrieveMultipleRequest\" xmlns:a=\"http://schemas.microsoft.com/"
         "xrm/2011/Contracts\"><a:Parameters xmlns:b=\"http://schemas.datacontract.org/2004/07/"
         "System.Collections.Generic\">" +
         kv("Query", "<b:value i:type=\"a:FetchExpression\"><a:Query>" + xml_escape(fetchxml) +
                         "</a:Query></b:value>") +
         "</a:Parameters><a:RequestId i:nil=\"true\"/><a:RequestName>RetrieveMultiple"
         "</a:RequestName></request>";
}

// The ids of the entities of a RetrieveMultiple answer, in order.
std::vector<std::string> ids_of(const Response& r) {
  std::vector<std::string> out;
  static const std::regex re("<a:FormattedValues/><a:Id>([0-9a-f-]{36})</a:Id>");
  for (auto it = std::sregex_iterator(r.body.begin(), r.body.end(), re);
       it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

std::string cookie_of(const Response& r) {
  std::smatch m;
  return std::regex_search(r.body, m, std::regex("<a:PagingCookie>([^<]*)</a:PagingCookie>"))
             ? xml_unescape(m[1])
             : "";
}

bool more_of(const Response& r) {
  return r.body.find("<a:MoreRecords>true</a:MoreRecords>") != std::string::npos;
}

// xmllint against the reference schemas with the 2016+ members the emulator's records carry
// (RowVersion, KeyAttributes: SPEC U6): "" when valid, else what it said.
std::string schema_problem(const std::string& xml) {
#ifdef CRMSYNC_XMLLINT
  static crmsync::test::TempDir schemas;
  static const fs::path v8 =
      crmsync::test::write_crm_schema_v8(fs::path(CRM_REFERENCE_DIR), schemas.path());
  crmsync::test::TempDir d;
  auto f = d.path() / "doc.xml";
  std::ofstream(f) << xml;
  auto r = crmsync::test::run_program(
      {CRMSYNC_XMLLINT, "--noout", "--nonet", "--schema", v8.string(), f.string()});
  return r.exit_code == 0 ? "" : r.err;
#else
  (void)xml;
  return "";
#endif
}

bool can_check_schemas() {
#ifdef CRMSYNC_XMLLINT
  const bool xmllint = true;
#else
  const bool xmllint = false;
#endif
  return crmsync::test::prerequisite(prereq::kXmllint, xmllint, "not found at configure time") &&
         crmsync::test::prerequisite(prereq::kReference, fs::exists(kEnvelopeXsd),
                                     kEnvelopeXsd.string());
}

}  // namespace

TEST_CASE("U3: JWTs of the authority are checked and map to the user by oid or upn") {
  Login login;
  Crm crm({"--authority", login.authority(), "--token-leeway-s", "0"});
  auto made = login.admin(http::verb::post, "/admin/users", R"({"upn":"alice@contoso.test"})");
  REQUIRE(made.status == 200);
  const std::string oid = str(made.json(), "oid");
  REQUIRE(
      login.admin(http::verb::post, "/admin/users", R"({"upn":"mallory@contoso.test"})").status ==
      200);
  // Alice by upn only; Bob by oid; the admin-made opaque token keeps working beside JWTs.
  std::string alice = crm.add_user(R"({"fullname":"Alice Adams","upn":"Alice@Contoso.test"})");
  std::string legacy = crm.add_user(R"({"fullname":"Old Test","token":"opaque-1"})");
  const std::string scope = crm.base() + "/user_impersonation";
  std::string token = login.device_token("alice@contoso.test", scope);
  REQUIRE(token.size() > 100);

  auto ok = crm.execute(kWhoAmI, token);
  INFO(ok.body);
  CHECK(ok.status == 200);
  CHECK(who(ok) == alice);
  CHECK(who(crm.execute(kWhoAmI, "opaque-1")) == legacy);

  SECTION("a wrong signature is refused") {
    std::string bad = token;
    bad[bad.size() - 5] = bad[bad.size() - 5] == 'A' ? 'B' : 'A';
    auto r = crm.execute(kWhoAmI, bad);
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate").find("error=\"invalid_token\"") != std::string::npos);
    CHECK(r.header("WWW-Authenticate").find("authorization_uri=" + login.authority()) !=
          std::string::npos);
  }
  SECTION("another organization's audience is refused") {
    auto other = login.device_token("alice@contoso.test",
                                    "https://other.crm.dynamics.com/user_impersonation");
    auto r = crm.execute(kWhoAmI, other);
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate").find("aud") != std::string::npos);
  }
  SECTION("a token without user_impersonation is refused") {
    auto r =
        crm.execute(kWhoAmI, login.device_token("alice@contoso.test", crm.base() + "/Other.Read"));
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate").find("user_impersonation") != std::string::npos);
  }
  SECTION("an expired token is refused") {
    REQUIRE(login.admin(http::verb::post, "/admin/faults", R"({"token_lifetime_s":1})").status ==
            200);
    auto short_lived = login.device_token("alice@contoso.test", scope);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    Response r;
    do {
      r = crm.execute(kWhoAmI, short_lived);
    } while (r.status == 200 && std::chrono::steady_clock::now() < deadline);
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate").find("expired") != std::string::npos);
  }
  SECTION("a good token of someone who is no user here: 403 and the fault") {
    auto r = crm.execute(kWhoAmI, login.device_token("mallory@contoso.test", scope));
    CHECK(r.status == 403);
    CHECK(error_code(r) == "-2147015328");
  }
  SECTION("the oid maps too") {
    std::string bob = crm.add_user("{\"fullname\":\"Bob By Oid\",\"oid\":\"" + oid +
                                   "\",\"upn\":\"someone.else@contoso.test\"}");
    // oid wins over upn: alice@'s token is now Bob's (oid), not Alice's (upn).
    CHECK(who(crm.execute(kWhoAmI, login.device_token("alice@contoso.test", scope))) == bob);
  }
}

TEST_CASE(
    "U3: an app-only token is its application user - CallerId needs prvActOnBehalfOfAnotherUser") {
  Login login;
  Crm crm({"--authority", login.authority()});
  const std::string app = "7a1b2c3d-0000-4000-8000-00000000abcd";
  REQUIRE(login
              .admin(http::verb::post, "/admin/apps",
                     "{\"client_id\":\"" + app + "\",\"client_secret\":\"s3cret\"}")
              .status == 200);
  std::string sync_app = crm.add_user(
      "{\"fullname\":\"Sync App\",\"application\":true,"
      "\"client_id\":\"" +
      app + "\"}");
  std::string alice = crm.add_user(R"({"fullname":"Alice Adams","upn":"alice@contoso.test"})");
  auto tok = request(login.port, http::verb::post, "/organizations/oauth2/v2.0/token",
                     "grant_type=client_credentials&client_id=" + app +
                         "&client_secret=s3cret&scope=" + url_encode(crm.base() + "/.default"),
                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  INFO(tok.body);
  REQUIRE(tok.status == 200);
  std::string token = str(tok.json(), "access_token");

  CHECK(who(crm.execute(kWhoAmI, token)) == sync_app);
  // Without the privilege: Dynamics' privilege fault, nothing done.
  auto refused = crm.execute(kWhoAmI, token, alice);
  CHECK(refused.status == 500);
  CHECK(error_code(refused) == "-2147220960");
  CHECK(refused.body.find("prvActOnBehalfOfAnotherUser") != std::string::npos);
  auto none = crm.execute(create_req("contact", s_attr("lastname", "Nobody")), token, alice);
  CHECK(error_code(none) == "-2147220960");
  CHECK(crm.admin(http::verb::get, "/admin/records/contact").body.find("Nobody") ==
        std::string::npos);

  REQUIRE(crm.admin(http::verb::put, "/admin/users/" + sync_app + "/privileges",
                    R"({"prvActOnBehalfOfAnotherUser":true})")
              .status == 200);
  CHECK(who(crm.execute(kWhoAmI, token, alice)) == alice);
  // What it writes is Alice's: owner, createdby, modifiedby.
  std::string id = create(crm, token, "contact", s_attr("lastname", "Impersonated"), alice);
  auto rec = crm.admin(http::verb::get, "/admin/records/contact").body;
  auto at = rec.find(id);
  REQUIRE(at != std::string::npos);
  auto one = rec.substr(at, rec.find("}}", at) - at);
  for (const char* k : {"ownerid", "createdby", "modifiedby"}) {
    INFO(k << " in " << one);
    CHECK(one.find(std::string("\"") + k + "\":{\"logicalname\":\"systemuser\",\"id\":\"" +
                   alice) != std::string::npos);
  }
  // The application user's privileges list it now; an unknown CallerId is Dynamics' not found.
  auto privs = crm.execute(
      "<request i:type=\"b:RetrieveUserPrivilegesRequest\" xmlns:a=\"http://schemas.microsoft.com/"
      "xrm/2011/Contracts\" xmlns:b=\"http://schemas.microsoft.com/crm/2011/Contracts\">"
      "<a:Parameters "
      "xmlns:c=\"http://schemas.datacontract.org/2004/07/System.Collections.Generic\">"
      "<a:KeyValuePairOfstringanyType><c:key>UserId</c:key><c:value i:type=\"d:guid\" "
      "xmlns:d=\"http://schemas.microsoft.com/2003/10/Serialization/\">" +
          sync_app +
          "</c:value></a:KeyValuePairOfstringanyType></a:Parameters><a:RequestId i:nil=\"true\"/>"
          "<a:RequestName>RetrieveUserPrivileges</a:RequestName></request>",
      token);
  CHECK(privs.body.find("6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900009") != std::string::npos);
  CHECK(error_code(crm.execute(kWhoAmI, token, "11111111-2222-4333-8444-555555555555")) ==
        "-2147220969");
}

TEST_CASE("U3: CallerId with and without the privilege (opaque tokens)") {
  Crm crm;
  std::string svc = crm.add_user(R"({"fullname":"Service Account","token":"svc"})");
  std::string alice = crm.add_user(R"({"fullname":"Alice Adams","token":"alice"})");
  auto refused = crm.execute(kWhoAmI, "svc", alice);
  CHECK(error_code(refused) == "-2147220960");
  if (can_check_schemas()) CHECK(schema_problem(crm.last_request).empty());
  CHECK(who(crm.execute(kWhoAmI, "svc", svc)) == svc);  // itself: no privilege needed
  CHECK(who(crm.execute(kWhoAmI, "svc", "00000000-0000-0000-0000-000000000000")) == svc);
  CHECK(error_code(crm.execute(kWhoAmI, "svc", "not-a-guid")) == "-2147220970");
  CHECK(crm.admin(http::verb::put, "/admin/users/" + svc + "/privileges",
                  R"({"prvActOnBehalfOfAnotherUser":"yes"})")
            .status == 400);
  REQUIRE(crm.admin(http::verb::put, "/admin/users/" + svc + "/privileges",
                    R"({"prvActOnBehalfOfAnotherUser":true,"prvSyncToOutlook":false})")
              .status == 200);
  auto ok = crm.execute(kWhoAmI, "svc", alice);
  CHECK(who(ok) == alice);
  if (can_check_schemas()) CHECK(schema_problem(ok.body).empty());
  // eq-userid is the impersonated user's.
  create(crm, "alice", "contact", s_attr("lastname", "Hers"));
  create(crm, "svc", "contact", s_attr("lastname", "Mine"));
  const std::string mine =
      "<fetch><entity name=\"contact\"><attribute name=\"lastname\"/><filter>"
      "<condition attribute=\"ownerid\" operator=\"eq-userid\"/></filter>"
      "</entity></fetch>";
  auto as_alice = crm.execute(fetch_req(mine), "svc", alice);
  CHECK(as_alice.body.find("Hers") != std::string::npos);
  CHECK(as_alice.body.find("Mine") == std::string::npos);
}

TEST_CASE("U3: an NTLM user signs in with requests_ntlm - Bearer is refused for that user") {
  REQUIRE_PREREQUISITE(
      prereq::kRequestsNtlm,
      crmsync::test::run_program({"/usr/bin/python3", "-c", "import requests_ntlm"}).exit_code ==
          0);
  Crm crm;
  auto made = crm.admin(http::verb::post, "/admin/users",
                        R"({"fullname":"Bob Brown","auth":"negotiate","ntlm_user":"CONTOSO\\bob",)"
                        R"("password":"Pa55word!"})");
  REQUIRE_PREREQUISITE(
      prereq::kNtlm,
      !(made.status == 400 && made.body.find("NTLM is not available") != std::string::npos),
      made.body);
  REQUIRE(made.status == 200);
  const std::string bob = str(made.json(), "systemuserid");
  // The 401 offers Bearer, Negotiate and NTLM.
  auto anon = crm.execute(kWhoAmI, "");
  CHECK(anon.status == 401);
  std::set<std::string> offered;
  for (auto [it, end] = anon.headers.equal_range("WWW-Authenticate"); it != end; ++it)
    offered.insert(it->second.substr(0, it->second.find(' ')));
  CHECK(offered == std::set<std::string>{"Bearer", "Negotiate", "NTLM"});
  CHECK(crm.admin(http::verb::post, "/admin/users",
                  R"({"fullname":"X","auth":"negotiate","ntlm_user":"nodomain","password":"p"})")
            .status == 400);
  CHECK(
      crm.admin(http::verb::post, "/admin/users",
                R"({"fullname":"Y","auth":"negotiate","ntlm_user":"contoso\\BOB","password":"p"})")
          .status == 409);

  crmsync::test::TempDir d;
  auto script = d.path() / "whoami.py";
  std::ofstream(script) << "import sys, requests\nfrom requests_ntlm import HttpNtlmAuth\n"
                           "r = requests.post(sys.argv[1], data=sys.argv[2].encode(), headers={"
                           "'Content-Type': 'text/xml; charset=utf-8', 'SOAPAction': sys.argv[3]},"
                           " auth=HttpNtlmAuth(sys.argv[4], sys.argv[5]), timeout=60)\n"
                           "print(r.status_code)\nprint(r.text)\n";
  std::string env =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
      "<Execute xmlns=\"http://schemas.microsoft.com/xrm/2011/Contracts/Services\" "
      "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">" +
      kWhoAmI + "</Execute></s:Body></s:Envelope>";
  // ntlm_auth hashes with MD4, which OpenSSL 3 keeps in its legacy provider.
  auto conf = d.path() / "openssl.cnf";
  std::ofstream(conf) << "openssl_conf = init\n[init]\nproviders = providers\n[providers]\n"
                         "default = on\nlegacy = on\n[on]\nactivate = 1\n";
  auto run = [&](const std::string& password) {
    return crmsync::test::run_program({"/usr/bin/env", "OPENSSL_CONF=" + conf.string(),
                                       "/usr/bin/python3", script.string(),
                                       crm.base() + "/XRMServices/2011/Organization.svc/web", env,
                                       kAction + "Execute", "CONTOSO\\bob", password});
  };
  auto good = run("Pa55word!");
  INFO(good.out << good.err);
  CHECK(good.out.rfind("200\n", 0) == 0);
  CHECK(good.out.find(bob) != std::string::npos);
  CHECK(run("wrong").out.rfind("401\n", 0) == 0);
}

namespace {

std::string rm_query(const std::string& entity, const std::string& conditions) {
  return "<request i:type=\"a:RetrieveMultipleRequest\" xmlns:a=\"http://schemas.microsoft.com/"
         "xrm/2011/Contracts\"><a:Parameters xmlns:b=\"http://schemas.datacontract.org/2004/07/"
         "System.Collections.Generic\">" +
         kv("Query",
            "<b:value i:type=\"a:QueryExpression\"><a:ColumnSet><a:AllColumns>true</a:AllColumns>"
            "</a:ColumnSet><a:Criteria><a:Conditions>" +
                conditions +
                "</a:Conditions><a:FilterOperator>And</a:FilterOperator><a:Filters/></a:Criteria>"
                "<a:Distinct>false</a:Distinct><a:EntityName>" +
                entity +
                "</a:EntityName><a:LinkEntities/><a:Orders/><a:PageInfo><a:Count>50</a:Count>"
                "<a:PageNumber>1</a:PageNumber><a:PagingCookie i:nil=\"true\"/>"
                "<a:ReturnTotalRecordCount>false</a:ReturnTotalRecordCount></a:PageInfo>"
                "<a:NoLock>false</a:NoLock></b:value>") +
         "</a:Parameters><a:RequestId i:nil=\"true\"/><a:RequestName>RetrieveMultiple"
         "</a:RequestName></request>";
}

std::string cond(const std::string& attr, const std::string& op, const std::string& values = "") {
  return "<a:ConditionExpression><a:AttributeName>" + attr + "</a:AttributeName><a:Operator>" + op +
         "</a:Operator><a:Values xmlns:c=\"http://schemas.microsoft.com/2003/10/Serialization/"
         "Arrays\">" +
         values + "</a:Values></a:ConditionExpression>";
}

std::string int_value(int v) {
  return "<c:anyType i:type=\"d:int\" xmlns:d=\"http://www.w3.org/2001/XMLSchema\">" +
         std::to_string(v) + "</c:anyType>";
}

}  // namespace

TEST_CASE("U4: Outlook filters - templates, a new user's defaults, userquery round trip") {
  Crm crm;
  std::string alice = crm.add_user(R"({"fullname":"Alice Adams","token":"alice"})");
  std::string bob =
      crm.add_user(R"({"fullname":"Bob Brown","token":"bob","default_filters":false})");
  // The organization's templates (querytype 131072) through the normal RetrieveMultiple.
  auto templates =
      crm.execute(rm_query("savedquery", cond("querytype", "Equal", int_value(131072))), "alice");
  INFO(templates.body.substr(0, 3000));
  REQUIRE(templates.status == 200);
  CHECK(ids_of(templates).size() == 6);
  for (const char* n :
       {"My Contacts", "My Tasks", "My Appointments", "My Phone Calls", "My Letters", "My Faxes"})
    CHECK(templates.body.find(std::string(">") + n + "<") != std::string::npos);
  if (can_check_schemas()) CHECK(schema_problem(templates.body).empty());
  // Alice got her filters (querytype 256) from them; Bob asked for none.
  const std::string mine = cond("querytype", "Equal", int_value(256)) +
                           cond("ownerid", "EqualUserId") +
                           cond("statecode", "Equal", int_value(0));
  auto hers = crm.execute(rm_query("userquery", mine), "alice");
  CHECK(ids_of(hers).size() == 6);
  CHECK(hers.body.find("eq-userid") != std::string::npos);  // the FetchXML travels escaped
  CHECK(ids_of(crm.execute(rm_query("userquery", mine), "bob")).empty());
  // Admin-made filter for Bob: a round trip; Alice does not see Bob's personal filters.
  const std::string fx =
      "<fetch><entity name=\"contact\"><attribute name=\"lastname\"/><filter>"
      "<condition attribute=\"lastname\" operator=\"like\" value=\"B%\"/>"
      "</filter></entity></fetch>";
  auto made = crm.admin(http::verb::post, "/admin/userqueries",
                        "{\"name\":\"B people\",\"returnedtypecode\":\"contact\",\"ownerid\":\"" +
                            bob + "\",\"fetchxml\":\"" +
                            std::regex_replace(fx, std::regex("\""), "\\\"") + "\"}");
  INFO(made.body);
  REQUIRE(made.status == 200);
  std::string uq = str(made.json(), "userqueryid");
  auto bobs = crm.execute(rm_query("userquery", mine), "bob");
  REQUIRE(ids_of(bobs) == std::vector<std::string>{uq});
  CHECK(bobs.body.find("B people") != std::string::npos);
  CHECK(xml_unescape(bobs.body).find(fx) != std::string::npos);
  auto all_alice_sees = crm.execute(rm_query("userquery", ""), "alice");
  CHECK(all_alice_sees.body.find("B people") == std::string::npos);
  // A filter's FetchXML is checked on the way in: nothing is written for a bad one.
  auto count_uq = [&] {
    return crm.admin(http::verb::get, "/admin/records/userquery").json().Size();
  };
  const auto before = count_uq();
  CHECK(crm.admin(http::verb::post, "/admin/userqueries",
                  "{\"name\":\"bad\",\"returnedtypecode\":\"contact\",\"ownerid\":\"" + bob +
                      "\",\"fetchxml\":\"<fetch><entity name='contact'><filter><condition "
                      "attribute='lastname' operator='sounds-like' value='x'/></filter></entity>"
                      "</fetch>\"}")
            .status == 400);
  auto soap_bad = crm.execute(
      create_req("userquery", s_attr("name", "bad") + s_attr("returnedtypecode", "contact") +
                                  i_attr("querytype", 256) +
                                  s_attr("fetchxml", "<fetch><entity name='contact'>")),
      "bob");
  CHECK(error_code(soap_bad) == "-2147220991");
  CHECK(count_uq() == before);
  // Through SOAP a user makes their own filter like Dynamics' Outlook client does.
  std::string own = create(crm, "bob", "userquery",
                           s_attr("name", "Bob's tasks") + s_attr("returnedtypecode", "task") +
                               i_attr("querytype", 256) +
                               s_attr("fetchxml",
                                      "<fetch><entity name='task'><filter><condition "
                                      "attribute='ownerid' operator='eq-userid'/>"
                                      "</filter></entity></fetch>"));
  CHECK(ids_of(crm.execute(rm_query("userquery", mine), "bob")).size() == 2);
  (void)own;
  (void)alice;
}

TEST_CASE("U4: FetchXML - each operator, nested filters, link-entity to parties and users") {
  Crm crm;
  std::string alice = crm.add_user(R"({"fullname":"Alice Adams","token":"alice"})");
  std::string bob = crm.add_user(R"({"fullname":"Bob Brown","token":"bob"})");
  // Contacts: name -> attributes.
  std::map<std::string, std::string> ids;  // lastname -> id
  auto contact = [&](const std::string& last, const std::string& extra, const std::string& token) {
    ids[last] = create(crm, token, "contact", s_attr("lastname", last) + extra);
  };
  auto now = std::chrono::system_clock::now();
  auto day = [&](int offset) {
    std::time_t t = std::chrono::system_clock::to_time_t(now + std::chrono::hours(24 * offset));
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT12:00:00Z", gmtime(&t));
    return std::string(buf);
  };
  contact("Anders",
          s_attr("firstname", "Ann") + dt_attr("birthdate", day(-3)) + opt_attr("gendercode", 2) +
              s_attr("emailaddress1", "ann@a.test"),
          "alice");
  contact("Berg",
          s_attr("firstname", "Ben") + dt_attr("birthdate", day(-40)) + opt_attr("gendercode", 1),
          "alice");
  contact("Carlsen", s_attr("firstname", "Cid") + dt_attr("birthdate", day(5)), "bob");
  contact("Dahl", dt_attr("birthdate", "2001-02-03T00:00:00Z"), "bob");
  auto q = [&](const std::string& filter, const std::string& token = "alice",
               const std::string& links = "") {
    auto r = crm.execute(fetch_req("<fetch><entity name=\"contact\"><attribute name=\"lastname\"/>"
                                   "<order attribute=\"lastname\"/>" +
                                   filter + links + "</entity></fetch>"),
                         token);
    INFO(filter << "\n" << r.body.substr(0, 1500));
    REQUIRE(r.status == 200);
    std::set<std::string> names;
    for (const auto& [n, id] : ids)
      if (r.body.find(id) != std::string::npos) names.insert(n);
    return names;
  };
  using S = std::set<std::string>;
  const S all{"Anders", "Berg", "Carlsen", "Dahl"};
  auto c = [](const std::string& a, const std::string& op, const std::string& v = "") {
    return "<filter><condition attribute=\"" + a + "\" operator=\"" + op + "\"" +
           (v.empty() ? "" : " value=\"" + v + "\"") + "/></filter>";
  };
  CHECK(q(c("lastname", "eq", "berg")) == S{"Berg"});
  CHECK(q(c("lastname", "ne", "Berg")) == S{"Anders", "Carlsen", "Dahl"});
  CHECK(q(c("lastname", "neq", "Berg")) == S{"Anders", "Carlsen", "Dahl"});
  CHECK(q(c("ownerid", "eq-userid")) == S{"Anders", "Berg"});
  CHECK(q(c("ownerid", "eq-userid"), "bob") == S{"Carlsen", "Dahl"});
  CHECK(q(c("ownerid", "ne-userid")) == S{"Carlsen", "Dahl"});
  CHECK(q(c("ownerid", "eq", "{" + bob + "}")) == S{"Carlsen", "Dahl"});
  CHECK(q(c("owningbusinessunit", "eq-businessid")).empty());  // not set on these records
  CHECK(q(c("ownerid", "eq-businessid")).empty());
  CHECK(q("<filter><condition attribute=\"lastname\" operator=\"in\"><value>Dahl</value>"
          "<value>Anders</value></condition></filter>") == S{"Anders", "Dahl"});
  CHECK(q("<filter><condition attribute=\"lastname\" operator=\"not-in\"><value>Dahl</value>"
          "</condition></filter>") == S{"Anders", "Berg", "Carlsen"});
  CHECK(q(c("firstname", "null")) == S{"Dahl"});
  CHECK(q(c("firstname", "not-null")) == S{"Anders", "Berg", "Carlsen"});
  CHECK(q(c("gendercode", "lt", "2")) == S{"Berg"});
  CHECK(q(c("gendercode", "le", "2")) == S{"Anders", "Berg"});
  CHECK(q(c("gendercode", "gt", "1")) == S{"Anders"});
  CHECK(q(c("gendercode", "ge", "1")) == S{"Anders", "Berg"});
  CHECK(q(c("lastname", "like", "%a%")) == S{"Anders", "Carlsen", "Dahl"});
  CHECK(q(c("lastname", "not-like", "%a%")) == S{"Berg"});
  CHECK(q(c("lastname", "begins-with", "c")) == S{"Carlsen"});
  CHECK(q(c("lastname", "ends-with", "RG")) == S{"Berg"});
  CHECK(q(c("birthdate", "on-or-after", day(-3).substr(0, 10))) == S{"Anders", "Carlsen"});
  CHECK(q(c("birthdate", "on-or-before", day(-3).substr(0, 10))) == S{"Anders", "Berg", "Dahl"});
  CHECK(q(c("birthdate", "on", "2001-02-03")) == S{"Dahl"});
  CHECK(q(c("birthdate", "last-x-days", "7")) == S{"Anders"});
  CHECK(q(c("birthdate", "last-x-days", "60")) == S{"Anders", "Berg"});
  CHECK(q(c("birthdate", "next-x-days", "7")) == S{"Carlsen"});
  CHECK(q(c("birthdate", "olderthan-x-days", "400")) == S{"Dahl"});
  CHECK(q(c("birthdate", "this-year")).size() <= 3);
  CHECK(q(c("birthdate", "this-year")).count("Dahl") == 0);
  CHECK(q("<filter><condition attribute=\"birthdate\" operator=\"between\"><value>" +
          day(-50).substr(0, 10) + "</value><value>" + day(0).substr(0, 10) +
          "</value></condition></filter>") == S{"Anders", "Berg"});
  // Nested: (mine and (gender 1 or email set)) or lastname = Dahl.
  CHECK(q("<filter type=\"or\"><filter type=\"and\"><condition attribute=\"ownerid\" "
          "operator=\"eq-userid\"/><filter type=\"or\"><condition attribute=\"gendercode\" "
          "operator=\"eq\" value=\"1\"/><condition attribute=\"emailaddress1\" "
          "operator=\"not-null\"/></filter></filter><condition attribute=\"lastname\" "
          "operator=\"eq\" value=\"Dahl\"/></filter>") == S{"Anders", "Berg", "Dahl"});
  CHECK(q("") == all);
  // link-entity to systemuser: contacts whose owner is called Bob Brown.
  CHECK(q("", "alice",
          "<link-entity name=\"systemuser\" from=\"systemuserid\" to=\"ownerid\"><filter>"
          "<condition attribute=\"fullname\" operator=\"eq\" value=\"Bob Brown\"/></filter>"
          "</link-entity>") == S{"Carlsen", "Dahl"});

  // Activities and their parties.
  std::string own_task = create(crm, "alice", "task", s_attr("subject", "own task"));
  std::string bobs_task = create(crm, "bob", "task", s_attr("subject", "bob's task"));
  std::string attending =
      create(crm, "bob", "appointment",
             s_attr("subject", "Alice attends") + parties_attr("requiredattendees", {alice, bob}));
  std::string not_attending =
      create(crm, "bob", "appointment",
             s_attr("subject", "Bob alone") + parties_attr("requiredattendees", {bob}));
  auto act = [&](const std::string& entity, const std::string& body) {
    auto r = crm.execute(fetch_req("<fetch distinct=\"true\"><entity name=\"" + entity +
                                   "\"><attribute name=\"subject\"/>" + body + "</entity></fetch>"),
                         "alice");
    INFO(body << "\n" << r.body.substr(0, 1500));
    REQUIRE(r.status == 200);
    auto v = ids_of(r);
    return std::set<std::string>(v.begin(), v.end());
  };
  CHECK(act("appointment",
            "<link-entity name=\"activityparty\" from=\"activityid\" "
            "to=\"activityid\"><filter><condition attribute=\"partyid\" "
            "operator=\"eq-userid\"/><condition attribute=\"participationtypemask\" "
            "operator=\"eq\" value=\"5\"/></filter></link-entity>") == S{attending});
  // The owner is a party too (mask 9), as in Dynamics.
  CHECK(act("task",
            "<link-entity name=\"activityparty\" from=\"activityid\" to=\"activityid\">"
            "<filter><condition attribute=\"partyid\" operator=\"eq-userid\"/></filter>"
            "</link-entity>") == S{own_task});
  // The default filter's shape: owner or party (outer link, condition with entityname).
  const std::string owner_or_party =
      "<filter type=\"or\"><condition attribute=\"ownerid\" operator=\"eq-userid\"/><condition "
      "entityname=\"p\" attribute=\"partyid\" operator=\"eq-userid\"/></filter><link-entity "
      "name=\"activityparty\" from=\"activityid\" to=\"activityid\" link-type=\"outer\" "
      "alias=\"p\"/>";
  CHECK(act("appointment", owner_or_party) == S{attending});
  CHECK(act("task", owner_or_party) == S{own_task});
  // Nested link: parties whose user is Alice, through systemuser.
  CHECK(act("appointment",
            "<link-entity name=\"activityparty\" from=\"activityid\" to=\"activityid\">"
            "<link-entity name=\"systemuser\" from=\"systemuserid\" to=\"partyid\"><filter>"
            "<condition attribute=\"fullname\" operator=\"eq\" value=\"Alice Adams\"/></filter>"
            "</link-entity></link-entity>") == S{attending});
  (void)bobs_task;
  (void)not_attending;
}

TEST_CASE("U4: FetchXML paging with cookies - the envelopes validate against the schemas") {
  Crm crm;
  crm.add_user(R"({"fullname":"Alice Adams","token":"alice"})");
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < 23; ++i)
    items.push_back({"contact", s_attr("lastname", "P" + std::to_string(100 + i))});
  create_many(crm, "alice", items);
  auto page = [&](int n, const std::string& cookie) {
    std::string fx = "<fetch count=\"10\" page=\"" + std::to_string(n) + "\"" +
                     (cookie.empty() ? "" : " paging-cookie=\"" + xml_escape(cookie) + "\"") +
                     " returntotalrecordcount=\"true\"><entity name=\"contact\"><attribute "
                     "name=\"lastname\"/><order attribute=\"lastname\" descending=\"true\"/>"
                     "</entity></fetch>";
    auto r = crm.execute(fetch_req(fx), "alice");
    INFO(r.body.substr(0, 1000));
    REQUIRE(r.status == 200);
    if (n == 1 && can_check_schemas()) {
      CHECK(schema_problem(crm.last_request).empty());
      CHECK(schema_problem(r.body).empty());
    }
    return r;
  };
  std::vector<std::string> seen;
  std::string cookie;
  int n = 1;
  for (;; ++n) {
    auto r = page(n, cookie);
    CHECK(r.body.find("<a:TotalRecordCount>23</a:TotalRecordCount>") != std::string::npos);
    auto ids = ids_of(r);
    seen.insert(seen.end(), ids.begin(), ids.end());
    cookie = cookie_of(r);
    CHECK(cookie.rfind("<cookie page=\"" + std::to_string(n) + "\"><contactid last=\"{", 0) == 0);
    if (!more_of(r)) break;
  }
  CHECK(n == 3);
  CHECK(seen.size() == 23);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 23);
  // The first page is P122 ... P113 (descending).
  auto first = page(1, "");
  CHECK(first.body.find("P122") < first.body.find("P113"));
  CHECK(first.body.find("P112") == std::string::npos);
  // A cookie keeps its place when a record before it goes away: page 2 still starts at P112.
  auto p1 = page(1, "");
  std::string c1 = cookie_of(p1);
  std::string p122 = ids_of(p1).front();
  REQUIRE(
      crm.execute("<request i:type=\"a:DeleteRequest\" xmlns:a=\"http://schemas.microsoft.com/"
                  "xrm/2011/Contracts\"><a:Parameters xmlns:b=\"http://schemas.datacontract.org/"
                  "2004/07/System.Collections.Generic\">" +
                      kv("Target", "<b:value i:type=\"a:EntityReference\"><a:Id>" + p122 +
                                       "</a:Id><a:LogicalName>contact</a:LogicalName><a:Name "
                                       "i:nil=\"true\"/></b:value>") +
                      "</a:Parameters><a:RequestId i:nil=\"true\"/><a:RequestName>Delete"
                      "</a:RequestName></request>",
                  "alice")
          .status == 200);
  auto p2 = page(2, c1);
  auto p2ids = ids_of(p2);
  CHECK(p2.body.find("P112") != std::string::npos);
  CHECK(p2.body.find("P113") == std::string::npos);
  CHECK(p2ids.size() == 10);
  CHECK(error_code(crm.execute(
            fetch_req("<fetch count=\"10\" page=\"2\" paging-cookie=\"&lt;cookie\"><entity "
                      "name=\"contact\"/></fetch>"),
            "alice")) == "-2147220989");
}

TEST_CASE("U4: invalid and hostile FetchXML is a clear fault, never an empty result") {
  Crm crm;
  crm.add_user(R"({"fullname":"Alice Adams","token":"alice"})");
  create(crm, "alice", "contact", s_attr("lastname", "Only"));
  auto run = [&](const std::string& fx) { return crm.execute(fetch_req(fx), "alice"); };
  auto unknown_op =
      run("<fetch><entity name=\"contact\"><filter><condition attribute=\"lastname\" "
          "operator=\"sounds-like\" value=\"x\"/></filter></entity></fetch>");
  CHECK(unknown_op.status == 500);
  CHECK(error_code(unknown_op) == "-2147220991");
  CHECK(unknown_op.body.find("The 'operator' attribute is invalid - The value 'sounds-like'") !=
        std::string::npos);
  if (can_check_schemas()) CHECK(schema_problem(unknown_op.body).empty());
  // A schema operator the emulator does not evaluate says so.
  auto unsupported =
      run("<fetch><entity name=\"contact\"><filter><condition attribute=\"createdon\" "
          "operator=\"this-fiscal-year\"/></filter></entity></fetch>");
  CHECK(error_code(unsupported) == "-2147220970");
  CHECK(unsupported.body.find("not supported by the crm-emulator") != std::string::npos);
  CHECK(error_code(run("<fetch><entity name=\"contact\"><filter><condition attribute=\"nosuch\" "
                       "operator=\"eq\" value=\"1\"/></filter></entity></fetch>")) ==
        "-2147217149");
  CHECK(error_code(run("<fetch><entity name=\"nosuch\"/></fetch>")) == "-2147217150");
  CHECK(error_code(run("<fetch><entity name=\"contact\"><bogus/></entity></fetch>")) ==
        "-2147220991");
  CHECK(error_code(run("<fetch><entity name=\"contact\">")) == "-2147220991");
  CHECK(error_code(run("")) == "-2147220991");
  CHECK(error_code(run("<fetch><entity name=\"contact\"><filter><condition attribute=\"lastname\" "
                       "operator=\"in\"/></filter></entity></fetch>")) == "-2147220989");
  CHECK(error_code(run("<fetch top=\"5\" count=\"5\"><entity name=\"contact\"/></fetch>")) ==
        "-2147220989");
  // Deep nesting, too many link-entities, too large, DTDs and entities.
  std::string deep = "<fetch><entity name=\"contact\">";
  for (int i = 0; i < 40; ++i) deep += "<filter>";
  for (int i = 0; i < 40; ++i) deep += "</filter>";
  deep += "</entity></fetch>";
  auto d = run(deep);
  CHECK(error_code(d) == "-2147220991");
  CHECK(d.body.find("deeper than") != std::string::npos);
  std::string deeper = "<fetch><entity name=\"contact\">";  // past tinyxml2's own depth limit
  for (int i = 0; i < 5000; ++i) deeper += "<filter>";
  for (int i = 0; i < 5000; ++i) deeper += "</filter>";
  deeper += "</entity></fetch>";
  CHECK(error_code(run(deeper)) == "-2147220991");
  std::string links = "<fetch><entity name=\"contact\">";
  for (int i = 0; i < 16; ++i)
    links +=
        "<link-entity name=\"systemuser\" from=\"systemuserid\" to=\"ownerid\" "
        "link-type=\"outer\"/>";
  links += "</entity></fetch>";
  CHECK(error_code(run(links)) == "-2147220991");
  std::string huge = "<fetch><entity name=\"contact\"><filter type=\"or\">";
  while (huge.size() < 300 * 1024)
    huge += "<condition attribute=\"lastname\" operator=\"eq\" value=\"xxxxxxxxxxxxxxxxxxxxx\"/>";
  huge += "</filter></entity></fetch>";
  auto h = run(huge);
  CHECK(error_code(h) == "-2147220991");
  CHECK(h.body.find("bytes") != std::string::npos);
  auto dtd =
      run("<!DOCTYPE fetch [<!ENTITY x \"Only\">]><fetch><entity name=\"contact\"><filter>"
          "<condition attribute=\"lastname\" operator=\"eq\" value=\"&x;\"/></filter>"
          "</entity></fetch>");
  CHECK(error_code(dtd) == "-2147220991");
  CHECK(dtd.body.find("DTD") != std::string::npos);
  auto ext =
      run("<!DOCTYPE fetch SYSTEM \"http://127.0.0.1:1/x.dtd\"><fetch><entity "
          "name=\"contact\"/></fetch>");
  CHECK(error_code(ext) == "-2147220991");
  // An undeclared entity reference is not expanded: it matches nothing, as text.
  auto ref =
      run("<fetch><entity name=\"contact\"><filter><condition attribute=\"lastname\" "
          "operator=\"eq\" value=\"&x;\"/></filter></entity></fetch>");
  CHECK(ids_of(ref).empty());
  // The server still serves.
  CHECK(ids_of(run("<fetch><entity name=\"contact\"/></fetch>")).size() == 1);
}

TEST_CASE("U4: 20000 contacts of others and 200 of Alice - her filters return exactly hers") {
  Crm crm({"--throttle-limit", "0"});
  std::string alice = crm.add_user(R"({"fullname":"Alice Adams","token":"alice"})");
  std::string bob = crm.add_user(R"({"fullname":"Bob Brown","token":"bob"})");
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < 20000; ++i)
    items.push_back({"contact", s_attr("lastname", "Other" + std::to_string(i)) +
                                    ref_attr("ownerid", "systemuser", bob)});
  for (int i = 0; i < 200; ++i)
    items.push_back({"contact", s_attr("lastname", "Hers" + std::to_string(i)) +
                                    ref_attr("ownerid", "systemuser", alice)});
  // Tasks: 30 hers, 30 Bob's; appointments: 20 Bob's where she attends, 20 where she does not.
  for (int i = 0; i < 30; ++i) {
    items.push_back(
        {"task", s_attr("subject", "her task") + ref_attr("ownerid", "systemuser", alice)});
    items.push_back(
        {"task", s_attr("subject", "bob task") + ref_attr("ownerid", "systemuser", bob)});
  }
  for (int i = 0; i < 20; ++i) {
    items.push_back({"appointment", s_attr("subject", "with her") +
                                        ref_attr("ownerid", "systemuser", bob) +
                                        parties_attr("requiredattendees", {bob, alice})});
    items.push_back({"appointment", s_attr("subject", "without her") +
                                        ref_attr("ownerid", "systemuser", bob) +
                                        parties_attr("optionalattendees", {bob})});
  }
  // Each owner creates their own (createdby follows), as in a real organization.
  std::vector<std::pair<std::string, std::string>> bobs, alices;
  for (auto& it : items)
    (it.second.find(bob) != std::string::npos && it.second.find(alice) == std::string::npos
         ? bobs
         : alices)
        .push_back(std::move(it));
  auto seed_start = std::chrono::steady_clock::now();
  create_many(crm, "bob", bobs);
  create_many(crm, "alice", alices);
  auto seeded = std::chrono::steady_clock::now();
  // Her filters, as a client reads them, then run page by page.
  auto filters = crm.execute(rm_query("userquery", cond("querytype", "Equal", int_value(256)) +
                                                       cond("ownerid", "EqualUserId")),
                             "alice");
  REQUIRE(ids_of(filters).size() == 6);
  std::map<std::string, std::string> fetch_of;  // returnedtypecode -> fetchxml
  auto value_after = [](const std::string& body, std::size_t from, const std::string& key) {
    auto k = body.find("<b:key>" + key + "</b:key>", from);
    if (k == std::string::npos) return std::string();
    auto gt = body.find('>', body.find("<b:value", k));
    return body.substr(gt + 1, body.find("</b:value>", gt) - gt - 1);
  };
  for (std::size_t at = filters.body.find("<a:Entity>"); at != std::string::npos;
       at = filters.body.find("<a:Entity>", at + 1))
    fetch_of[value_after(filters.body, at, "returnedtypecode")] =
        xml_unescape(value_after(filters.body, at, "fetchxml"));
  REQUIRE(fetch_of.count("contact"));
  REQUIRE(fetch_of.count("task"));
  REQUIRE(fetch_of.count("appointment"));
  auto run_all = [&](const std::string& fx, int& requests) {
    std::vector<std::string> got;
    std::string cookie;
    for (int page = 1;; ++page) {
      std::string paged = fx;
      paged.replace(0, std::string("<fetch").size(),
                    "<fetch count=\"50\" page=\"" + std::to_string(page) + "\"" +
                        (cookie.empty() ? "" : " paging-cookie=\"" + xml_escape(cookie) + "\""));
      auto r = crm.execute(fetch_req(paged), "alice");
      ++requests;
      REQUIRE(r.status == 200);
      auto ids = ids_of(r);
      got.insert(got.end(), ids.begin(), ids.end());
      cookie = cookie_of(r);
      if (!more_of(r)) break;
    }
    return got;
  };
  int requests = 0;
  auto t0 = std::chrono::steady_clock::now();
  auto contacts = run_all(fetch_of["contact"], requests);
  auto t1 = std::chrono::steady_clock::now();
  auto tasks = run_all(fetch_of["task"], requests);
  auto appts = run_all(fetch_of["appointment"], requests);
  auto t2 = std::chrono::steady_clock::now();
  CHECK(contacts.size() == 200);
  CHECK(std::set<std::string>(contacts.begin(), contacts.end()).size() == 200);
  CHECK(tasks.size() == 30);
  CHECK(appts.size() == 20);
  // Exactly hers: every contact returned is one of Alice's.
  auto recs = crm.admin(http::verb::get, "/admin/records/contact");
  REQUIRE(recs.status == 200);
  auto doc = recs.json();
  std::set<std::string> hers;
  for (const auto& r : doc.GetArray())
    if (std::string(r["attributes"]["lastname"].GetString()).rfind("Hers", 0) == 0)
      hers.insert(r["id"].GetString());
  CHECK(std::set<std::string>(contacts.begin(), contacts.end()) == hers);
  using ms = std::chrono::milliseconds;
  WARN("seeded 20,200 contacts, 60 tasks, 40 appointments in "
       << std::chrono::duration_cast<ms>(seeded - seed_start).count() << " ms; Alice's contact "
       << "filter paged (50 a page, cookies) over 20,200 contacts in "
       << std::chrono::duration_cast<ms>(t1 - t0).count() << " ms, her task and appointment "
       << "filters in " << std::chrono::duration_cast<ms>(t2 - t1).count() << " ms (" << requests
       << " requests in all)");
}
