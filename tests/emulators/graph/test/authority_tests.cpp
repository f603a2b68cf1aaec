// --authority: graph-emulator takes login-emulator's RS256 JWTs (aud https://graph.microsoft.com,
// the delegated scope of the resource in scp), maps oid/upn to the mailbox and makes the
// mailbox on first sight of a valid token.
#include "graph_test.hpp"

using graph_test::Emulator;
using graph_test::str;
using namespace std::chrono_literals;

namespace {

class Login {
 public:
  Login() {
    proc_ = std::make_unique<crmsync::test::Spawned>(
        std::vector<std::string>{LOGIN_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                                 dir_.file("login.db"), "--interval-s", "0"},
        dir_.file("stderr.txt"));
    auto line = proc_->read_line(60s);
    REQUIRE(line.has_value());
    port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
  }
  std::string authority() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/organizations";
  }
  graph_test::Response post(const std::string& path, const std::string& body, const char* ct) {
    return graph_test::http_request(port_, "POST", path, body, {{"Content-Type", ct}});
  }
  // A delegated access token of `upn` for `scope` (device flow, approved by the admin API).
  std::string token(const std::string& upn, const std::string& scope) {
    const std::string client = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    auto dc = post("/organizations/oauth2/v2.0/devicecode",
                   "client_id=" + client + "&scope=" + graph_test::url_encode(scope),
                   "application/x-www-form-urlencoded");
    REQUIRE(dc.status == 200);
    auto dj = dc.json();
    auto ok = post("/admin/device/approve",
                   "{\"user_code\":\"" + str(dj, "user_code") + "\",\"upn\":\"" + upn + "\"}",
                   "application/json");
    INFO(ok.body);
    REQUIRE(ok.status == 200);
    auto t = post("/organizations/oauth2/v2.0/token",
                  "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=" +
                      client + "&device_code=" + str(dj, "device_code"),
                  "application/x-www-form-urlencoded");
    INFO(t.body);
    REQUIRE(t.status == 200);
    return str(t.json(), "access_token");
  }
  void add_user(const std::string& upn) {
    REQUIRE(post("/admin/users", "{\"upn\":\"" + upn + "\"}", "application/json").status == 200);
  }

 private:
  crmsync::test::TempDir dir_;
  std::unique_ptr<crmsync::test::Spawned> proc_;
  unsigned short port_ = 0;
};

}  // namespace

TEST_CASE("with --authority: login-emulator's JWTs, scopes per resource, mailbox on first sight",
          "[graph][auth][authority]") {
  REQUIRE_CSDL();
  Login login;
  login.add_user("dave@example.com");
  Emulator e({"--authority", login.authority()});
  std::string contacts = login.token("dave@example.com", "Contacts.ReadWrite");
  auto mine = e.call_as(contacts, "POST", "/v1.0/me/contacts", R"({"givenName":"From JWT"})");
  INFO(mine.body);
  REQUIRE(mine.status == 201);
  CHECK(e.call_as(contacts, "GET", "/v1.0/users/dave@example.com/contacts").status == 200);
  // /me needs User.Read, which this token does not carry.
  auto me = e.call_as(contacts, "GET", "/v1.0/me");
  CHECK(me.status == 403);
  CHECK(str(me.json()["error"], "code") == "Authorization_RequestDenied");
  std::string user_read = login.token("dave@example.com", "User.Read");
  auto me2 = e.call_as(user_read, "GET", "/v1.0/me");
  REQUIRE(me2.status == 200);
  CHECK(str(me2.json(), "userPrincipalName") == "dave@example.com");
  // The token carries no Calendars scope.
  auto cal = e.call_as(contacts, "GET", "/v1.0/me/events");
  CHECK(cal.status == 403);
  CHECK(str(cal.json()["error"], "code") == "ErrorAccessDenied");
  // A read scope reads and does not write.
  std::string read = login.token("dave@example.com", "Calendars.Read");
  CHECK(e.call_as(read, "GET", "/v1.0/me/events").status == 200);
  CHECK(e.call_as(read, "POST", "/v1.0/me/events", R"({"subject":"x"})").status == 403);
  // A token for another resource (CRM) is not a Graph token.
  std::string crm =
      login.token("dave@example.com", "https://org.crm.dynamics.com/user_impersonation");
  auto other = e.call_as(crm, "GET", "/v1.0/me/contacts");
  CHECK(other.status == 401);
  CHECK(str(other.json()["error"], "code") == "InvalidAuthenticationToken");
  // A forged token (signature broken) is refused.
  std::string forged = contacts;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  CHECK(e.call_as(forged, "GET", "/v1.0/me/contacts").status == 401);
  // The emulator's own opaque tokens still work beside the JWTs.
  CHECK(e.call("GET", "/v1.0/me/contacts").status == 200);
}
