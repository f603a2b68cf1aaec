// `crmsync once` with a Microsoft 365 mailbox, end to end: the real crm-emulator, graph-emulator
// (over HTTPS with a test CA) and crmsync processes; the mailbox changed by the user through
// Microsoft's JavaScript Graph SDK (graph_user.js, Outlook on the web as far as the server can
// tell); CRM changed by another CRM user through the Organization service.
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "crmsync/http/client.hpp"
#include "crmsync/model/ids.hpp"
#include "crmsync/model/value.hpp"
#include "crmsync/test/crm_requests.hpp"
#include "crmsync/test/prerequisite.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTrack = "Tracked to Dynamics 365";
const std::string kClientDir = GRAPH_NODE_CLIENT_DIR;

std::uint16_t port_of(test::Spawned& emulator) {
  auto first = emulator.read_line(60s);
  REQUIRE(first);
  std::smatch m;
  REQUIRE(std::regex_match(*first, m, std::regex("listening on 127\\.0\\.0\\.1:(\\d+)")));
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool node_ready() {
  return test::on_path("node") &&
         std::filesystem::exists(kClientDir +
                                 "/node_modules/@microsoft/microsoft-graph-client/package.json");
}

std::string str(const rapidjson::Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "";
}

std::string iso_in_days(int days) {
  auto now = std::chrono::system_clock::now() + std::chrono::hours(24 * days);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  return UtcTime{ms / 1000 * 1000}.iso();
}

struct GraphEnv {
  test::TempDir dir;
  std::string config = dir.file("config.json");
  std::unique_ptr<test::Spawned> crm;
  std::unique_ptr<test::Spawned> graph;
  std::uint16_t crm_port = 0;
  std::uint16_t graph_port = 0;
  std::string ca, token;

  GraphEnv() {
    std::ofstream(dir.file("ext.cnf")) << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    const std::string d = "'" + dir.path().string() + "'";
    const std::string pki =
        "(cd " + d +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        " -keyout ca.key -out ca.pem -days 2 -subj /CN=crmsync-e2e-ca"
        " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        " -keyout server.key -out server.csr -subj /CN=127.0.0.1"
        " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 2 -extfile ext.cnf) > " +
        d + "/openssl.log 2>&1";
    REQUIRE(std::system(pki.c_str()) == 0);
    ca = dir.file("ca.pem");
    crm = std::make_unique<test::Spawned>(
        std::vector<std::string>{CRM_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                                 dir.file("crm.db")},
        dir.file("crm-emulator.log"));
    crm_port = port_of(*crm);
    graph = std::make_unique<test::Spawned>(
        std::vector<std::string>{GRAPH_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                                 dir.file("graph.db"), "--csdl", GRAPH_CSDL, "--tls-cert",
                                 dir.file("server.pem"), "--tls-key", dir.file("server.key")},
        dir.file("graph-emulator.log"));
    graph_port = port_of(*graph);
    http(crm_port, false, "POST", "/admin/users",
         R"({"fullname":"Alice Sync","token":"alice-token"})");
    http(crm_port, false, "POST", "/admin/users",
         R"({"fullname":"Bob Other","token":"bob-token"})");
    rapidjson::Document u;
    u.Parse(
        http(graph_port, true, "POST", "/admin/users", R"({"upn":"alice@example.com"})").c_str());
    token = str(u, "token");
    REQUIRE_FALSE(token.empty());
    secret("crm-token", "alice-token\n");
    secret("graph-token", token + "\n");
    write_config("state/cache.db");
  }
  ~GraphEnv() {
    for (auto* p : {crm.get(), graph.get()}) {
      p->signal(SIGTERM);
      p->wait(10s);
    }
  }
  void write_config(const std::string& cache) const {
    std::ofstream(config) << R"({"profile":"e2e-graph","client_id":"e2e-desk","role":"primary",
        "cache":")" << cache
                          << R"(","timezone":"UTC",
        "store":{"type":"graph","url":"https://127.0.0.1:)"
                          << graph_port << R"(/",
                 "auth":{"type":"bearer","token_file":"graph-token"},"ca_file":")"
                          << ca << R"(",
                 "request_timeout_ms":30000},
        "crm":{"url":"http://127.0.0.1:)"
                          << crm_port << R"(/","auth":{"type":"bearer","token_file":"crm-token"}},
        "sync":{"interval_minutes":0},
        "http":{"listen":"127.0.0.1:0","token_file":"state/api-token"}})";
  }
  void secret(const std::string& name, const std::string& text) const {
    std::ofstream(dir.file(name)) << text;
    ::chmod(dir.file(name).c_str(), 0600);
  }
  std::string http(std::uint16_t port, bool tls, const std::string& method, const std::string& path,
                   const std::string& body = "", http::Headers headers = {}) const {
    http::ClientOptions o;
    if (tls) o.ca_file = ca;
    http::Client client(o);
    http::Request r;
    r.method = method;
    r.url = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path;
    r.body = body;
    r.headers = std::move(headers);
    if (!body.empty() && r.headers.empty())
      r.headers.emplace_back("Content-Type", "application/json");
    auto res = client.send(r);
    REQUIRE(res.ok());
    INFO(method << " " << path << ": " << res->body);
    REQUIRE(res->status / 100 == 2);
    return res->body;
  }

  test::RunResult once() const {
    return test::run_program({CRMSYNC_BIN, "once", "--config", config});
  }
  std::string sync() const {
    auto r = once();
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  }

  // The user, through Microsoft's Graph SDK.
  rapidjson::Document user(const std::string& method, const std::string& path,
                           const std::string& json = "") const {
    std::vector<std::string> args{
        "/usr/bin/env",
        "GRAPH_BASE=https://127.0.0.1:" + std::to_string(graph_port) + "/",
        "GRAPH_TOKEN=" + token,
        "NODE_EXTRA_CA_CERTS=" + ca,
        "NODE_PATH=" + kClientDir + "/node_modules",
        "node",
        GRAPH_E2E_USER_SCRIPT,
        method,
        path};
    if (!json.empty()) args.push_back(json);
    auto r = test::run_program(args);
    INFO(method << " " << path << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    REQUIRE(d.IsObject());
    return d;
  }
  // The mailbox's contacts (their Graph JSON), by given name.
  std::map<std::string, rapidjson::Document> contacts() const {
    auto all = user("GET", "/me/contacts?$top=1000");
    std::map<std::string, rapidjson::Document> out;
    for (const auto& c : all["value"].GetArray()) {
      rapidjson::Document d;
      d.CopyFrom(c, d.GetAllocator());
      out[str(c, "givenName")] = std::move(d);
    }
    return out;
  }

  rapidjson::Document records(const std::string& entity) const {
    rapidjson::Document d;
    d.Parse(http(crm_port, false, "GET", "/admin/records/" + entity).c_str());
    REQUIRE(d.IsArray());
    return d;
  }
  std::map<std::string, std::string> record(const std::string& entity,
                                            const std::string& id) const {
    auto all = records(entity);
    for (auto& r : all.GetArray()) {
      if (lower(r["id"].GetString()) != lower(id)) continue;
      std::map<std::string, std::string> out{{"", "present"}};
      for (auto it = r["attributes"].MemberBegin(); it != r["attributes"].MemberEnd(); ++it)
        if (it->value.IsString()) out[it->name.GetString()] = it->value.GetString();
      return out;
    }
    return {};
  }
  // The CRM id of a record whose attribute has a value ("" when none).
  std::string record_where(const std::string& entity, const std::string& attr,
                           const std::string& value) const {
    auto all = records(entity);
    for (auto& r : all.GetArray())
      if (r["attributes"].HasMember(attr.c_str()) && r["attributes"][attr.c_str()].IsString() &&
          r["attributes"][attr.c_str()].GetString() == value)
        return lower(r["id"].GetString());
    return {};
  }
  void crm_as(const std::string& token_value, const std::string& envelope) const {
    http(crm_port, false, "POST", test::crm::kOrganizationPath, envelope,
         {{"Content-Type", "text/xml; charset=utf-8"},
          {"SOAPAction", test::crm::kExecuteAction},
          {"Authorization", "Bearer " + token_value}});
  }
  std::string create_in_crm(const std::string& entity, const std::string& attrs) const {
    std::string id = CrmId::generate().str();
    crm_as("alice-token",
           test::crm::execute_envelope(test::crm::org_request(
               "CreateRequest", "Create", test::crm::target_entity(entity, id, attrs))));
    return id;
  }
  // How many Graph requests the emulator served: HTTP requests, and what Graph's limits count
  // ($batch members each).
  // Those that arrived at or after `since_ms` (the log keeps the last 10,000).
  std::pair<std::size_t, std::size_t> graph_requests(std::int64_t since_ms) const {
    rapidjson::Document d;
    d.Parse(http(graph_port, true, "GET", "/admin/requests").c_str());
    REQUIRE(d.IsArray());
    std::size_t outer = 0, counted = 0;
    for (const auto& e : d.GetArray()) {
      const std::string path = str(e, "path");
      if (path.rfind("/admin", 0) == 0 || !e.HasMember("at_ms") || e["at_ms"].GetInt64() < since_ms)
        continue;
      if (e.HasMember("batch")) {
        ++counted;
      } else {
        ++outer;
        if (path.find("$batch") == std::string::npos) ++counted;
      }
    }
    return {outer, counted};
  }
};

#define NEED_NODE_AND_OPENSSL()                                                                    \
  REQUIRE_PREREQUISITE(test::prereq::kReference, std::filesystem::exists(GRAPH_CSDL), GRAPH_CSDL); \
  REQUIRE_PREREQUISITE(test::prereq::kNode, node_ready(), kClientDir + "/node_modules");           \
  REQUIRE_PREREQUISITE(test::prereq::kOpenssl, test::on_path("openssl"))

}  // namespace

TEST_CASE("§7 S1: a contact made in CRM appears for the user - the user's edit reaches CRM",
          "[e2e][graph]") {
  NEED_NODE_AND_OPENSSL();
  GraphEnv env;
  const std::string id = env.create_in_crm(
      "contact", test::crm::str_attr("firstname", "Ann") + test::crm::str_attr("lastname", "Lee") +
                     test::crm::str_attr("emailaddress1", "ann@example.com") +
                     test::crm::str_attr("jobtitle", "Buyer") +
                     test::crm::str_attr("fax", "+49 1"));
  auto first = env.sync();
  INFO(first);
  auto contacts = env.contacts();
  REQUIRE(contacts.count("Ann"));
  const auto& ann = contacts["Ann"];
  CHECK(str(ann, "surname") == "Lee");
  CHECK(str(ann, "jobTitle") == "Buyer");
  CHECK(str(ann["emailAddresses"][0], "address") == "ann@example.com");
  CHECK(ann["categories"][0] == kTrack);  // U1: tracked, so the category is on it
  // The user edits it in Outlook on the web.
  env.user("PATCH", "/me/contacts/" + str(ann, "id"), R"({"jobTitle":"Head of Buying"})");
  auto second = env.sync();
  CHECK(env.record("contact", id)["jobtitle"] == "Head of Buying");
  // M5: settled; the third run writes nothing on either side.
  auto third = env.sync();
  CHECK_THAT(third, Catch::Contains("to store: 0  to CRM: 0"));
  CHECK(env.contacts().size() == 1);
}

TEST_CASE(
    "U1 M2: a contact tracked with the category in Outlook on the web - the paper's A/B/C merge",
    "[e2e][graph]") {
  NEED_NODE_AND_OPENSSL();
  GraphEnv env;
  env.sync();  // the first run: nothing yet
  auto made = env.user("POST", "/me/contacts",
                       std::string(R"({"givenName":"A0","middleName":"B0","surname":"C0",
                                       "categories":[")") +
                           kTrack + R"("]})");
  env.sync();
  const std::string crm_id = env.record_where("contact", "firstname", "A0");
  REQUIRE_FALSE(crm_id.empty());
  // The user edits A, B and C...
  env.user("PATCH", "/me/contacts/" + str(made, "id"),
           R"({"givenName":"A1","middleName":"B1","surname":"C1"})");
  std::this_thread::sleep_for(1100ms);  // CRM keeps whole seconds: Bob's edit is later
  // ...and later Bob edits A and B in CRM.
  env.crm_as("bob-token", test::crm::update_envelope("contact", crm_id,
                                                     test::crm::str_attr("firstname", "A2") +
                                                         test::crm::str_attr("middlename", "B2")));
  auto second = env.sync();
  auto item = env.user("GET", "/me/contacts/" + str(made, "id"));
  CHECK(str(item, "givenName") == "A2");
  CHECK(str(item, "middleName") == "B2");
  CHECK(str(item, "surname") == "C1");
  auto rec = env.record("contact", crm_id);
  CHECK(rec["firstname"] == "A2");
  CHECK(rec["middlename"] == "B2");
  CHECK(rec["lastname"] == "C1");
  CHECK_THAT(second, Catch::Contains("conflicts: 2"));
  auto third = env.sync();
  CHECK_THAT(third, Catch::Contains("to store: 0  to CRM: 0"));
}

TEST_CASE("D1 D4 D6 D8: deletions through Graph and in CRM follow the rules", "[e2e][graph]") {
  NEED_NODE_AND_OPENSSL();
  GraphEnv env;
  env.sync();
  const std::string cat = std::string(R"(,"categories":[")") + kTrack + R"("]})";
  auto kept =
      env.user("POST", "/me/contacts", R"({"givenName":"Deleted","surname":"InStore")" + cat);
  auto owned =
      env.user("POST", "/me/contacts", R"({"givenName":"Owned","surname":"GoneInCrm")" + cat);
  auto lists = env.user("GET", "/me/todo/lists");
  std::string list;
  for (const auto& l : lists["value"].GetArray())
    if (str(l, "wellknownListName") == "defaultList") list = str(l, "id");
  auto task =
      env.user("POST", "/me/todo/lists/" + list + "/tasks", R"({"title":"Open task")" + cat);
  auto gone =
      env.user("POST", "/me/todo/lists/" + list + "/tasks", R"({"title":"Gone in CRM")" + cat);
  env.sync();
  const std::string kept_crm = env.record_where("contact", "firstname", "Deleted");
  const std::string owned_crm = env.record_where("contact", "firstname", "Owned");
  const std::string task_crm = env.record_where("task", "subject", "Open task");
  const std::string gone_crm = env.record_where("task", "subject", "Gone in CRM");
  for (const auto& id : {kept_crm, owned_crm, task_crm, gone_crm}) REQUIRE_FALSE(id.empty());

  env.user("DELETE", "/me/contacts/" + str(kept, "id"));
  env.user("DELETE", "/me/todo/lists/" + list + "/tasks/" + str(task, "id"));
  env.crm_as("bob-token", test::crm::delete_envelope("contact", owned_crm));
  env.crm_as("bob-token", test::crm::delete_envelope("task", gone_crm));
  auto report = env.sync();
  INFO(report);
  CHECK_FALSE(env.record("contact", kept_crm).empty());  // D1
  CHECK(env.record("task", task_crm).empty());           // D4: open and Alice's
  auto contacts = env.contacts();
  REQUIRE(contacts.count("Owned"));                    // D6: Alice owns it: kept...
  CHECK(contacts["Owned"]["categories"].Size() == 0);  // ...and unlinked (no category)
  auto tasks = env.user("GET", "/me/todo/lists/" + list + "/tasks");
  CHECK(tasks["value"].Size() == 0);  // D8: the open task is gone
  auto settled = env.sync();
  CHECK_THAT(settled, Catch::Contains("to store: 0  to CRM: 0"));
}

TEST_CASE("E3 410: a throttled run and a lost sync state finish with nothing lost or doubled",
          "[e2e][graph]") {
  NEED_NODE_AND_OPENSSL();
  GraphEnv env;
  for (int i = 0; i < 12; ++i)
    env.create_in_crm("contact", test::crm::str_attr("firstname", "C" + std::to_string(i)) +
                                     test::crm::str_attr("lastname", "Storm"));
  env.http(env.graph_port, true, "POST", "/admin/faults",
           R"({"throttle_rate":0.3,"retry_after_s":1,"seed":5})");
  auto r = env.once();
  INFO(r.out << r.err);
  env.http(env.graph_port, true, "POST", "/admin/faults", "{}");
  // A throttled run may stop early (E3: retried next time); the next ones finish it.
  for (int run = 0; run < 3 && env.contacts().size() < 12; ++run) env.once();
  CHECK(env.contacts().size() == 12);
  env.user("PATCH", "/me/contacts/" + str(env.contacts()["C3"], "id"),
           R"({"jobTitle":"Lost state"})");
  env.http(env.graph_port, true, "POST", "/admin/faults", R"({"expire_delta_tokens":true})");
  env.sync();
  CHECK(env.contacts().size() == 12);
  CHECK(env.records("contact").Size() == 12);
  CHECK(env.record("contact", env.record_where("contact", "firstname", "C3"))["jobtitle"] ==
        "Lost state");
  auto settled = env.sync();
  CHECK_THAT(settled, Catch::Contains("to store: 0  to CRM: 0"));
}

TEST_CASE("config check accepts the Graph store config of the e2e tests", "[e2e][graph]") {
  NEED_NODE_AND_OPENSSL();
  GraphEnv env;
  auto r = test::run_program({CRMSYNC_BIN, "config", "check", "--config", env.config});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
}

// scripts/bench's Graph rows (not run by CTest: "[.]"): Graph requests per 1,000 contacts made in
// CRM — the run that creates them in the mailbox, a no-op run after it, and the first sync of a
// new cache and state file against the full mailbox — as HTTP requests and as what Graph's
// limits count ($batch members one by one; 10,000 per 10 minutes per app and mailbox).
TEST_CASE("bench: Graph requests per 1,000 contacts", "[.][bench][graph]") {
  NEED_NODE_AND_OPENSSL();
  GraphEnv env;
  const int n = std::getenv("GRAPH_BENCH_N") ? std::atoi(std::getenv("GRAPH_BENCH_N")) : 1000;
  for (int i = 0; i < n; ++i)
    env.create_in_crm("contact", test::crm::str_attr("firstname", "B" + std::to_string(i)) +
                                     test::crm::str_attr("lastname", "Bench") +
                                     test::crm::str_attr("emailaddress1",
                                                         "b" + std::to_string(i) + "@example.com"));
  auto measure = [&](const char* what) {
    const std::int64_t since = UtcTime::parse(iso_in_days(0)).value().ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto out = env.sync();
    if (std::getenv("GRAPH_BENCH_LOG")) std::printf("%s", out.c_str());
    const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto [outer, counted] = env.graph_requests(since);
    if (std::getenv("GRAPH_BENCH_LOG")) {
      rapidjson::Document d;
      d.Parse(env.http(env.graph_port, true, "GET", "/admin/requests").c_str());
      std::map<std::string, int> by;
      for (const auto& e : d.GetArray())
        if (e["at_ms"].GetInt64() >= since) {
          std::string p = str(e, "path");
          by[str(e, "method") + " " + p.substr(0, std::min(p.find('?'), std::size_t{60})) +
             (e.HasMember("batch") ? " (in $batch)" : "")]++;
        }
      for (const auto& [k, v] : by) std::printf("    %5d %s\n", v, k.c_str());
    }
    std::printf("graph %-28s %6zu HTTP requests %6zu counted by Graph's limits %7.1f s\n", what,
                outer, counted, secs);
    return counted;
  };
  measure("create 1000 contacts");
  CHECK(env.contacts().size() == static_cast<std::size_t>(n));
  measure("no-op run");
  env.write_config("state2/cache.db");
  measure("first sync, new cache");
  measure("no-op run after it");
}

TEST_CASE("U3: crmsync login --mailbox signs in to Graph as the user - once syncs with its tokens",
          "[e2e][graph][signin]") {
  REQUIRE_PREREQUISITE(test::prereq::kReference, std::filesystem::exists(GRAPH_CSDL), GRAPH_CSDL);
  test::TempDir dir;
  ::setenv("XDG_STATE_HOME", dir.file("xdg-state").c_str(), 1);
  test::Spawned login({LOGIN_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db", dir.file("login.db"),
                       "--interval-s", "1"},
                      dir.file("login.log"));
  const auto login_port = port_of(login);
  const std::string authority = "http://127.0.0.1:" + std::to_string(login_port) + "/";
  test::Spawned graph({GRAPH_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db", dir.file("graph.db"),
                       "--csdl", GRAPH_CSDL, "--authority", authority + "organizations"},
                      dir.file("graph.log"));
  const auto graph_port = port_of(graph);
  test::Spawned crm({CRM_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db", dir.file("crm.db")},
                    dir.file("crm.log"));
  const auto crm_port = port_of(crm);
  http::Client client;
  auto post = [&](std::uint16_t port, const std::string& path, const std::string& body,
                  http::Headers headers = {{"Content-Type", "application/json"}}) {
    http::Request r;
    r.url = "http://127.0.0.1:" + std::to_string(port) + path;
    r.headers = std::move(headers);
    r.body = body;
    auto res = client.send(r);
    REQUIRE(res.ok());
    INFO(path << ": " << res->body);
    REQUIRE(res->status / 100 == 2);
    return res->body;
  };
  post(login_port, "/admin/users", R"({"upn":"alice@contoso.test"})");
  post(crm_port, "/admin/users", R"({"fullname":"Alice Sync","token":"alice-token"})");
  std::ofstream(dir.file("crm-token")) << "alice-token\n";
  const std::string id = CrmId::generate().str();
  post(crm_port, test::crm::kOrganizationPath,
       test::crm::execute_envelope(test::crm::org_request(
           "CreateRequest", "Create",
           test::crm::target_entity("contact", id, test::crm::str_attr("lastname", "Signed In")))),
       {{"Content-Type", "text/xml; charset=utf-8"},
        {"SOAPAction", test::crm::kExecuteAction},
        {"Authorization", "Bearer alice-token"}});
  const std::string config = dir.file("config.json");
  std::ofstream(config) << R"({"profile":"alice","client_id":"laptop","cache":"state/cache.db",
      "store":{"type":"graph","url":"http://127.0.0.1:)"
                        << graph_port << R"(/",
               "auth":{"type":"device_code","tenant":"organizations",
                       "client_id":"4a1aa1d5-c567-49d0-ad0b-cd957a47f842","authority":")"
                        << authority << R"("}},
      "crm":{"url":"http://127.0.0.1:)"
                        << crm_port << R"(/","auth":{"type":"bearer","token_file":"crm-token"}},
      "sync":{"interval_minutes":0},"http":{"listen":"127.0.0.1:0","token_file":"state/api-token"}})";

  auto before = test::run_program({CRMSYNC_BIN, "once", "--config", config});
  CHECK(before.exit_code == 5);  // needs_login: nothing signed in yet
  test::Spawned cli({CRMSYNC_BIN, "login", "--mailbox", "--json", "--config", config},
                    dir.file("login-cli.log"));
  auto first = cli.read_line(30s);
  REQUIRE(first);
  rapidjson::Document prompt;
  prompt.Parse(first->c_str());
  REQUIRE(prompt.IsObject());
  post(login_port, "/admin/device/approve",
       R"({"user_code":")" + str(prompt, "user_code") + R"(","upn":"alice@contoso.test"})");
  REQUIRE(cli.wait(60s) == std::optional<int>(0));
  struct stat st {};
  REQUIRE(::stat(dir.file("xdg-state/crmsync/alice.mailbox.refresh-token").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto once = test::run_program({CRMSYNC_BIN, "once", "--config", config});
  INFO(once.out << once.err);
  REQUIRE(once.exit_code == 0);
  CHECK_THAT(once.out, Catch::Contains("to store: 1"));
  auto again = test::run_program({CRMSYNC_BIN, "once", "--config", config});
  CHECK_THAT(again.out, Catch::Contains("to store: 0  to CRM: 0"));
}
