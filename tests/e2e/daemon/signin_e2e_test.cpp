// SPEC U3 end to end: `crmsync login` against the real login-emulator (the approval made
// through its admin API, as the user in a browser), then `crmsync once` and crmsyncd sync as
// Alice against a crm-emulator that trusts that authority - no token pasted anywhere. Alice's
// refresh token revoked: needs_login everywhere, nothing lost; a second login resumes.
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "crmsync/http/client.hpp"
#include "crmsync/model/ids.hpp"
#include "crmsync/test/crm_requests.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

namespace {

const char* kClientId = "4a1aa1d5-c567-49d0-ad0b-cd957a47f842";

std::uint16_t port_of(test::Spawned& p) {
  auto first = p.read_line(30s);
  REQUIRE(first);
  std::smatch m;
  REQUIRE(std::regex_match(*first, m, std::regex("listening on 127\\.0\\.0\\.1:(\\d+)")));
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

rapidjson::Document json_of(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  return d;
}

struct SignInWorld {
  test::TempDir dir;
  std::unique_ptr<test::Spawned> login, crm, daemon;
  std::uint16_t login_port = 0, crm_port = 0;
  http::Client http;
  std::string alice_id;

  SignInWorld() {
    // Every crmsync process of this test keeps its refresh tokens here.
    ::setenv("XDG_STATE_HOME", dir.file("xdg-state").c_str(), 1);
    login = std::make_unique<test::Spawned>(
        std::vector<std::string>{LOGIN_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                                 dir.file("login.db"), "--interval-s", "1", "--token-lifetime-s",
                                 "4"},
        dir.file("login.log"));
    login_port = port_of(*login);
    REQUIRE(post(login_port, "/admin/users", R"({"upn":"alice@contoso.test"})").status == 200);
    crm = std::make_unique<test::Spawned>(
        std::vector<std::string>{
            CRM_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db", dir.file("crm.db"), "--authority",
            "http://127.0.0.1:" + std::to_string(login_port) + "/organizations"},
        dir.file("crm.log"));
    crm_port = port_of(*crm);
    auto made =
        post(crm_port, "/admin/users",
             R"({"fullname":"Alice Adams","upn":"alice@contoso.test","token":"alice-admin-only"})");
    REQUIRE(made.status == 200);
    alice_id = json_of(made.body)["systemuserid"].GetString();
    post(crm_port, "/admin/users", R"({"fullname":"Bob Other","token":"bob-token"})");
    // In CRM: a contact of Alice's and one of Bob's (Bob's never reaches her mailbox).
    crm_create("bob-token", "Alice's customer", alice_id);
    crm_create("bob-token", "Bob's customer", "");
    std::ofstream(dir.file("config.json"))
        << R"({"profile":"alice","client_id":"laptop","role":"primary","cache":"state/cache.db",)"
        << R"("store":{"type":"mock","path":"mailbox.db"},)"
        << R"("crm":{"url":"http://127.0.0.1:)" << crm_port << R"(/","auth":{"type":"device_code",)"
        << R"("tenant":"organizations","client_id":")" << kClientId
        << R"(","authority":"http://127.0.0.1:)" << login_port << R"(/"}},)"
        << R"("sync":{"interval_minutes":0},"lease":{"ttl_seconds":60},)"
        << R"("http":{"listen":"127.0.0.1:0","token_file":"state/api-token"}})";
  }
  ~SignInWorld() {
    for (auto* p : {daemon.get(), crm.get(), login.get()})
      if (p) {
        p->signal(SIGTERM);
        p->wait(20s);
      }
  }

  http::Response post(std::uint16_t port, const std::string& path, const std::string& body) {
    http::Request r;
    r.url = "http://127.0.0.1:" + std::to_string(port) + path;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = body;
    auto res = http.send(r);
    REQUIRE(res.ok());
    return *res;
  }
  void crm_create(const std::string& token, const std::string& lastname, const std::string& owner) {
    using namespace test::crm;
    std::string attrs = str_attr("lastname", lastname);
    if (!owner.empty()) attrs += ref_attr("ownerid", "systemuser", owner);
    http::Request r;
    r.url = "http://127.0.0.1:" + std::to_string(crm_port) + kOrganizationPath;
    r.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                 {"SOAPAction", kExecuteAction},
                 {"Authorization", "Bearer " + token}};
    r.body = execute_envelope(org_request(
        "CreateRequest", "Create", target_entity("contact", CrmId::generate().str(), attrs)));
    auto res = http.send(r);
    REQUIRE(res.ok());
    INFO(res->body);
    REQUIRE(res->status == 200);
  }
  test::RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), CRMSYNC_BIN);
    args.push_back("--config");
    args.push_back(dir.file("config.json"));
    return test::run_program(args);
  }
  // `crmsync login --json`, the user approving the code it printed in the "browser".
  void sign_in(const char* as_upn = "alice@contoso.test") {
    test::Spawned p({CRMSYNC_BIN, "login", "--json", "--config", dir.file("config.json")},
                    dir.file("login-cli.log"));
    auto first = p.read_line(30s);
    REQUIRE(first);
    auto prompt = json_of(*first);
    REQUIRE(prompt.IsObject());
    REQUIRE(prompt["verification_uri"].IsString());
    REQUIRE(prompt["expires_in"].IsInt64());
    const std::string code = prompt["user_code"].GetString();
    REQUIRE(post(login_port, "/admin/device/approve",
                 R"({"user_code":")" + code + R"(","upn":")" + as_upn + "\"}")
                .status == 200);
    CHECK(p.wait(60s) == std::optional<int>(0));
  }
  std::vector<std::string> mailbox_names() const {
    auto r = test::run_program({CRMSYNC_BIN, "mailbox", "--db", dir.file("mailbox.db"), "list",
                                "--kind", "contact", "--json"});
    REQUIRE(r.exit_code == 0);
    auto d = json_of(r.out);
    std::vector<std::string> names;
    for (const auto& i : d.GetArray())
      if (i["fields"].HasMember("LastName")) names.push_back(i["fields"]["LastName"].GetString());
    std::sort(names.begin(), names.end());
    return names;
  }
  rapidjson::Document status() const { return json_of(cli({"status", "--json"}).out); }
};

}  // namespace

TEST_CASE(
    "U3: crmsync login, then once and crmsyncd sync as the user - revoked: needs_login, "
    "nothing lost; a second login resumes",
    "[e2e][daemon][signin]") {
  SignInWorld w;
  // Before any sign-in: a clear stop, exit 5, and the mailbox untouched.
  auto before = w.cli({"once"});
  INFO(before.out << before.err);
  CHECK(before.exit_code == 5);
  CHECK_THAT(before.out, Catch::Contains("crmsync login"));

  w.sign_in();
  const std::string store = w.dir.file("xdg-state/crmsync/alice.crm.refresh-token");
  struct stat st {};
  REQUIRE(::stat(store.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto once = w.cli({"once"});
  INFO(once.out << once.err);
  REQUIRE(once.exit_code == 0);
  // As Alice: her contact, not Bob's (R2 with the right user).
  CHECK(w.mailbox_names() == std::vector<std::string>{"Alice's customer"});
  // No secret of the sign-in in what the CLI printed.
  const std::string refresh = [&] {
    std::ifstream in(store);
    std::string t;
    in >> t;
    return t;
  }();
  CHECK(once.out.find(refresh) == std::string::npos);

  w.daemon = std::make_unique<test::Spawned>(
      std::vector<std::string>{CRMSYNCD_BIN, "--config", w.dir.file("config.json")},
      w.dir.file("crmsyncd.log"));
  REQUIRE(test::eventually(
      [&] { return std::filesystem::exists(w.dir.file("state/cache.db.runtime.json")); }, 60s));
  REQUIRE(w.cli({"sync", "--wait"}).exit_code == 0);

  // Alice signs out everywhere: within one cycle after the access token runs out, the CRM
  // side stops with needs_login.
  REQUIRE(w.post(w.login_port, "/admin/refresh/revoke", R"({"upn":"alice@contoso.test"})").status ==
          200);
  const std::string queued = [&] {
    auto r = test::run_program({CRMSYNC_BIN, "mailbox", "--db", w.dir.file("mailbox.db"), "add",
                                "contact", "--track", "LastName=Made while signed out"});
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, r.out.find('\n'));
  }();
  REQUIRE(test::eventually(
      [&] {
        w.cli({"sync", "--wait"});
        auto s = w.status();
        return s.IsObject() && s["needs_login"].IsArray() && s["needs_login"].Size() == 1;
      },
      60s));
  auto s = w.status();
  CHECK(std::string(s["state"].GetString()) == "needs_login");
  CHECK(std::string(s["needs_login"][0].GetString()) == "crm");
  auto text = w.cli({"status"});
  CHECK_THAT(text.out, Catch::Contains("sign-in     needed for crm"));
  CHECK(text.out.find(refresh) == std::string::npos);

  // Signed in again: the next cycle resumes and what waited reaches CRM.
  w.sign_in();
  REQUIRE(test::eventually(
      [&] {
        auto r = w.cli({"sync", "--wait"});
        auto st2 = w.status();
        return r.exit_code == 0 && st2.IsObject() && st2["needs_login"].Empty();
      },
      60s));
  auto shown = test::run_program(
      {CRMSYNC_BIN, "mailbox", "--db", w.dir.file("mailbox.db"), "show", queued, "--json"});
  REQUIRE(shown.exit_code == 0);
  CHECK(json_of(shown.out)["crm_id"].IsString());
  CHECK(std::string(w.status()["state"].GetString()) == "idle");
}
