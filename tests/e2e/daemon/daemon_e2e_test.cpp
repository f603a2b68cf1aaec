// crmsyncd end to end: the real crm-emulator, crmsyncd and crmsync binaries, as a user and
// scripts drive them (DESIGN.md contracts). Waits are conditions with deadlines.
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "crmsync/http/client.hpp"
#include "crmsync/model/value.hpp"
#include "crmsync/test/crm_requests.hpp"
#include "crmsync/test/prerequisite.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"
#include "daemon_env.hpp"

using namespace crmsync;
using namespace crmsync::test::e2e;
using namespace std::chrono_literals;

TEST_CASE("sync --wait and status --json against crmsyncd and crm-emulator", "[e2e][daemon]") {
  Env env;
  auto tracked = env.add({"contact", "--track", "FirstName=Ada", "LastName=Lovelace",
                          "Email1Address=ada@e2e.example"});
  env.start_daemon();
  auto r = env.cli({"sync", "--wait"});
  INFO(r.err << env.log());
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("sync ok:"));
  CHECK(env.has_crm_id(tracked));

  auto s = env.status();
  CHECK(std::string(s["state"].GetString()) == "idle");
  CHECK(std::string(s["role"].GetString()) == "primary");
  CHECK(std::string(s["client_id"].GetString()) == "e2e-desk");
  REQUIRE(s["lease"].IsObject());
  for (const char* k : {"holder", "epoch", "expires"}) CHECK(s["lease"].HasMember(k));
  CHECK(std::string(s["last_cycle"]["result"].GetString()) == "ok");
  CHECK(s["last_cycle"]["started"].IsString());
  CHECK(s["last_cycle"]["finished"].IsString());
  CHECK(s["counts"]["contact"]["mapped"].GetInt() == 301);  // 300 from the demo CRM + Ada
  CHECK(s["counts"]["task"]["mapped"].GetInt() == 20);
  CHECK(s["queue_depth"].GetInt() == 0);
  CHECK(s["next_sync"].IsString());

  auto human = env.cli({"status"});
  CHECK(human.exit_code == 0);
  CHECK_THAT(human.out, Catch::Contains("contact") && Catch::Contains("301"));
  CHECK(env.cli({"errors"}).out == "no item errors\n");
  CHECK(env.cli({"conflicts", "--json"}).out == "[]\n");

  // The API token file is the user's alone (SPEC X4).
  struct stat st {};
  REQUIRE(::stat(env.dir.file("state/api-token").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // Metrics over HTTP with the token.
  http::Client client;
  http::Request req;
  req.method = "GET";
  req.url = env.base_url() + "/metrics";
  req.headers.emplace_back("Authorization", "Bearer " + env.api_token());
  auto m = client.send(req);
  REQUIRE(m.ok());
  CHECK(m->status == 200);
  CHECK_THAT(
      m->body,
      Catch::Contains("crmsync_items_synced_total{kind=\"contact\",direction=\"store-to-crm\"} 1"));
  req.headers.clear();
  auto unauth = client.send(req);
  REQUIRE(unauth.ok());
  CHECK(unauth->status == 401);
}

TEST_CASE("an inspector save-and-close syncs at once (T2) - a change from elsewhere waits",
          "[e2e][daemon]") {
  Env env;
  env.write_config(0);  // no periodic sync, so nothing but the immediate rule can sync
  env.start_daemon();
  auto elsewhere = env.add({"contact", "--track", "FirstName=Else", "LastName=Where"});
  auto inspector =
      env.add({"contact", "--track", "--via", "inspector", "FirstName=Ins", "LastName=Pector"});
  bool synced = test::eventually([&] { return env.has_crm_id(inspector); }, 30s);
  INFO(env.log());
  REQUIRE(synced);
  CHECK_FALSE(env.has_crm_id(elsewhere));
  CHECK_THAT(env.log(), Catch::Contains("immediate: 1 item(s)"));
  // The manual sync picks up the rest.
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  CHECK(env.has_crm_id(elsewhere));
}

TEST_CASE("without a daemon: exit 3 with a clear message", "[e2e][daemon]") {
  Env env;
  for (std::vector<std::string> args : {std::vector<std::string>{"status"},
                                        {"sync", "--wait"},
                                        {"errors"},
                                        {"conflicts", "--json"}}) {
    auto r = env.cli(args);
    INFO(args[0]);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Catch::Contains("no crmsyncd is running for profile e2e"));
  }
  // A stale runtime file (the daemon was killed) still ends in exit 3.
  std::filesystem::create_directories(env.dir.file("state"));
  std::ofstream(env.runtime_file()) << R"({"host":"127.0.0.1","port":1,"pid":1})";
  std::ofstream(env.dir.file("state/api-token")) << std::string(64, 'a') << "\n";
  ::chmod(env.dir.file("state/api-token").c_str(), 0600);
  auto r = env.cli({"status"});
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("cannot reach crmsyncd"));
}

TEST_CASE("once: one full cycle in-process - refused while the daemon holds the cache",
          "[e2e][daemon]") {
  Env env;
  auto id = env.add({"task", "--track", "Subject=Once", "DueDate=2026-03-01"});
  auto r = env.cli({"once"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::StartsWith("result: ok"));
  CHECK_THAT(r.out, Catch::Contains("contact:crm-to-store: 300"));
  CHECK(env.has_crm_id(id));
  CHECK(env.cli({"once"}).exit_code == 0);

  env.start_daemon();
  auto busy = env.cli({"once"});
  CHECK(busy.exit_code == 2);
  CHECK_THAT(busy.err, Catch::Contains("in use by another crmsyncd or crmsync once"));
}

TEST_CASE("SIGTERM and SIGINT stop the daemon cleanly", "[e2e][daemon]") {
  for (int sig : {SIGTERM, SIGINT}) {
    Env env;
    env.start_daemon();
    REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
    env.daemon->signal(sig);
    auto rc = env.daemon->wait(30s);
    INFO(env.log());
    REQUIRE(rc);
    CHECK(*rc == 0);
    CHECK_FALSE(exists(env.runtime_file()));
    CHECK_THAT(env.log(), Catch::Contains("crmsyncd stopped"));
    env.daemon.reset();
    CHECK(env.cli({"status"}).exit_code == 3);
  }
}

TEST_CASE("SIGTERM during a cycle: the step is persisted - the next start completes it",
          "[e2e][daemon]") {
  Env env;
  env.start_daemon();  // the start-up cycle brings the 330 demo records
  env.daemon->signal(SIGTERM);
  auto rc = env.daemon->wait(60s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  env.daemon.reset();
  auto r = env.cli({"once"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  auto list = env.mailbox({"list", "--kind", "contact", "--json"});
  rapidjson::Document d;
  d.Parse(list.out.c_str());
  REQUIRE(d.IsArray());
  CHECK(d.Size() == 300);  // never duplicated
}

TEST_CASE("SIGHUP reloads the configuration - a broken one is refused", "[e2e][daemon]") {
  Env env;
  env.start_daemon();
  CHECK(env.status()["next_sync"].IsString());
  env.write_config(0, "renamed-desk");
  env.daemon->signal(SIGHUP);
  bool reloaded = test::eventually([&] {
    auto s = env.status();
    return std::string(s["client_id"].GetString()) == "renamed-desk" && s["next_sync"].IsNull();
  });
  INFO(env.log());
  REQUIRE(reloaded);
  CHECK(env.status()["interval_minutes"].GetInt() == 0);

  std::ofstream(env.config) << R"({"cache":"state/cache.db","sync":{"interval_minutes":-5}})";
  env.daemon->signal(SIGHUP);
  REQUIRE(test::eventually([&] { return env.log().find("reload refused") != std::string::npos; }));
  CHECK_THAT(env.log(), Catch::Contains("sync.interval_minutes: must be an integer >= 0"));
  CHECK(env.daemon->running());
  CHECK(env.cli({"--config", env.dir.file("none.json"), "status"}).exit_code == 2);
  env.write_config(0, "renamed-desk");
  CHECK(env.cli({"sync", "--wait"}).exit_code == 0);
}

TEST_CASE("bad configs: crmsyncd exits 2 naming the key - config check", "[e2e][daemon]") {
  Env env;
  CHECK(env.cli({"config", "check"}).out == "ok\n");
  env.write_config(15, "e2e-desk", R"(,"colour":"blue")");
  auto check = env.cli({"config", "check"});
  CHECK(check.exit_code == 2);
  CHECK_THAT(check.out, Catch::EndsWith("config.json: colour: unknown key\n"));
  auto d = test::run_program({CRMSYNCD_BIN, "--config", env.config});
  CHECK(d.exit_code == 2);
  CHECK_THAT(d.err, Catch::Contains("config.json: colour: unknown key"));
  // `--config` also before the subcommand.
  auto before = test::run_program({CRMSYNC_BIN, "--config", env.config, "config", "check"});
  CHECK(before.exit_code == 2);
}

TEST_CASE("store type mapi off Windows: the config checks - crmsyncd and once say why they stop",
          "[e2e][daemon][mapi]") {
  Env env;
  std::ofstream(env.config) << R"({"profile":"e2e","cache":"state/cache.db",
      "store":{"type":"mapi","profile":"Outlook"},
      "crm":{"url":"http://127.0.0.1:)"
                            << env.crm_port
                            << R"(/","auth":{"type":"bearer","token_file":"crm-token"}},
      "http":{"listen":"127.0.0.1:0","token_file":"state/api-token"}})";
  auto check = env.cli({"config", "check"});
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  CHECK(check.out == "ok\n");
  const std::string why = "Outlook through Extended MAPI is only built for Windows";
  auto once = env.cli({"once"});
  CHECK(once.exit_code != 0);
  CHECK_THAT(once.err, Catch::Contains(why));
  auto d = test::run_program({CRMSYNCD_BIN, "--config", env.config});
  CHECK(d.exit_code != 0);
  CHECK_THAT(d.err + env.log(), Catch::Contains(why));
  CHECK_FALSE(exists(env.runtime_file()));
}

TEST_CASE("the status page in headless Chromium shows the counts", "[e2e][daemon][chromium]") {
  const std::string chromium = "/usr/bin/chromium";
  REQUIRE_PREREQUISITE(test::prereq::kChromium, exists(chromium));
  Env env;
  env.start_daemon();
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  std::string url = env.base_url() + "/#token=" + env.api_token();
  auto r = test::run_program({chromium, "--headless", "--no-sandbox", "--disable-gpu",
                              "--disable-quic", "--no-first-run", "--disable-background-networking",
                              "--disable-component-update", "--disable-sync",
                              "--user-data-dir=" + env.dir.file("chromium"),
                              "--virtual-time-budget=10000", "--dump-dom", url});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("<b id=\"state\">idle</b>"));
  CHECK_THAT(r.out, Catch::Contains(
                        "<tr id=\"count-contact\"><td>contact</td><td class=\"mapped\">300</td>"));
  CHECK_THAT(r.out,
             Catch::Contains("<tr id=\"count-task\"><td>task</td><td class=\"mapped\">20</td>"));
  CHECK(r.out.find(env.api_token()) == std::string::npos);  // the token left the URL
}

TEST_CASE("systemd notify: READY=1 once listening - WATCHDOG=1 pings - STOPPING=1",
          "[e2e][daemon]") {
  Env env;
  std::string path = env.dir.file("notify.sock");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  auto receive = [&](std::chrono::milliseconds timeout) -> std::optional<std::string> {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  };
  env.start_daemon({"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=200000"});
  std::vector<std::string> seen;
  bool ready = false, ready_after_listening = false, watchdog = false;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((!ready || !watchdog) && std::chrono::steady_clock::now() < deadline) {
    auto m = receive(1s);
    if (!m) continue;
    seen.push_back(*m);
    if (m->rfind("READY=1", 0) == 0 && !ready) {
      ready = true;
      // READY only when the endpoint listens: the health route answers now.
      http::Client client;
      http::Request req;
      req.method = "GET";
      req.url = env.base_url() + "/v1/health";
      auto h = client.send(req);
      ready_after_listening = h.ok() && h->status == 200;
      CHECK_THAT(*m, Catch::Contains("MAINPID="));
    }
    if (*m == "WATCHDOG=1") watchdog = true;
  }
  INFO(env.log());
  CHECK(ready);
  CHECK(ready_after_listening);
  CHECK(watchdog);
  env.daemon->signal(SIGTERM);
  bool stopping = false;
  deadline = std::chrono::steady_clock::now() + 20s;
  while (!stopping && std::chrono::steady_clock::now() < deadline)
    if (auto m = receive(1s)) stopping = *m == "STOPPING=1";
  CHECK(stopping);
  auto code = env.daemon->wait(30s);
  INFO("exit " << (code ? std::to_string(*code) : "none") << "\n" << env.log());
  CHECK(code == std::optional<int>(0));
  env.daemon.reset();
  ::close(fd);
}

TEST_CASE("the mass-delete guard: exit 4 - then --allow-mass-delete applies", "[e2e][daemon]") {
  Env env;
  env.write_config(0, "e2e-desk", "", R"(,"mass_delete":{"ratio":0.02,"min":5})");
  REQUIRE(env.cli({"once"}).exit_code == 0);  // 330 linked pairs
  auto list = env.mailbox({"list", "--kind", "task", "--json"});
  rapidjson::Document tasks;
  tasks.Parse(list.out.c_str());
  REQUIRE(tasks.IsArray());
  REQUIRE(tasks.Size() == 20);
  // Deleting a task in the store deletes its CRM activity: 20 > 2% of 330 and > 5.
  for (const auto& t : tasks.GetArray())
    REQUIRE(env.mailbox({"delete", t["entry_id"].GetString()}).exit_code == 0);
  env.start_daemon();
  auto held = env.cli({"sync", "--wait"});
  INFO(held.err << env.log());
  CHECK(held.exit_code == 4);
  CHECK_THAT(held.out, Catch::Contains("deletions held back"));
  CHECK(env.status()["counts"]["task"]["held"].GetInt() == 20);
  auto allowed = env.cli({"sync", "--wait", "--allow-mass-delete"});
  INFO(allowed.err);
  CHECK(allowed.exit_code == 0);
  CHECK(env.status()["counts"]["task"]["mapped"].GetInt() == 0);
}

namespace {

// Creates a record as the user of `token` (someone else in CRM); returns its id.
std::string crm_create_as(const Env& env, const std::string& token, const std::string& logical,
                          const std::string& attrs_xml) {
  http::Request req;
  req.url = "http://127.0.0.1:" + std::to_string(env.crm_port) + test::crm::kOrganizationPath;
  req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                 {"SOAPAction", test::crm::kExecuteAction},
                 {"Authorization", "Bearer " + token}};
  req.body = test::crm::execute_envelope(test::crm::org_request(
      "CreateRequest", "Create",
      test::crm::target_entity(logical, "00000000-0000-0000-0000-000000000000", attrs_xml)));
  http::Client client;
  auto r = client.send(req);
  REQUIRE(r.ok());
  INFO(r->body);
  REQUIRE(r->status == 200);
  std::smatch m;
  REQUIRE(
      std::regex_search(r->body, m, std::regex("<b:key>id</b:key><b:value[^>]*>([0-9a-f-]{36})<")));
  return m[1];
}

// "logicalname:id <addressused> mask" per party of a party-list attribute of /admin/records.
std::multiset<std::string> parties_of(const rapidjson::Value& record, const char* attribute) {
  std::multiset<std::string> out;
  const auto& attrs = record["attributes"];
  if (!attrs.HasMember(attribute)) return out;
  for (const auto& p : attrs[attribute].GetArray()) {
    std::string one;
    if (p.HasMember("partyid"))
      one = std::string(p["partyid"]["logicalname"].GetString()) + ":" +
            p["partyid"]["id"].GetString() + " ";
    one += "<" + std::string(p.HasMember("addressused") ? p["addressused"].GetString() : "") +
           "> " + std::to_string(p["participationtypemask"].GetInt());
    out.insert(one);
  }
  return out;
}

}  // namespace

TEST_CASE("M2: the paper's A/B/C example through crmsync once and the CRM emulator",
          "[e2e][once]") {
  Env env;
  std::string id = env.add({"contact", "--track", "FirstName=A0", "MiddleName=B0", "LastName=C0"});
  auto first = env.cli({"once"});
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);
  REQUIRE(env.has_crm_id(id));
  std::string crm_id = env.show(id)["crm_id"].GetString();

  // The user edits A, B and C in the mailbox...
  REQUIRE(env.mailbox({"set", id, "FirstName=A1", "MiddleName=B1", "LastName=C1"}).exit_code == 0);
  auto stored = UtcTime::parse(env.show(id)["modified"].GetString());
  REQUIRE(stored.ok());
  // ...and later (CRM keeps whole seconds: wait for the next one) someone edits A and B in CRM.
  REQUIRE(test::wait_past_second(stored->ms));
  auto user = admin(env, "POST", "/admin/users", R"({"fullname":"Bob Other","token":"bob-token"})");
  REQUIRE_THAT(user, Catch::Contains("systemuserid"));
  crm_update_as_other_user(env, "bob-token", crm_id, {{"firstname", "A2"}, {"middlename", "B2"}});

  auto second = env.cli({"once"});
  INFO(second.out << second.err);
  REQUIRE(second.exit_code == 0);
  auto item = env.show(id);
  CHECK(std::string(item["fields"]["FirstName"].GetString()) == "A2");
  CHECK(std::string(item["fields"]["MiddleName"].GetString()) == "B2");
  CHECK(std::string(item["fields"]["LastName"].GetString()) == "C1");
  rapidjson::Document records;
  records.Parse(admin(env, "GET", "/admin/records/contact").c_str());
  REQUIRE(records.IsArray());
  bool found = false;
  for (auto& r : records.GetArray()) {
    if (std::string(r["id"].GetString()) != crm_id) continue;
    found = true;
    CHECK(std::string(r["attributes"]["firstname"].GetString()) == "A2");
    CHECK(std::string(r["attributes"]["middlename"].GetString()) == "B2");
    CHECK(std::string(r["attributes"]["lastname"].GetString()) == "C1");
  }
  CHECK(found);
  // M3: the two fields changed on both sides are conflicts (CRM's later edit won).
  CHECK_THAT(second.out, Catch::Contains("conflicts: 2"));
  // A third run changes nothing.
  auto third = env.cli({"once"});
  CHECK(third.exit_code == 0);
}

TEST_CASE("P1 P2 P5: two daemons on one mailbox: one primary - a dead primary is replaced",
          "[e2e][daemon][lease]") {
  Env env;
  // Two clients of one user: each its own cache and endpoint; a short lease for the test.
  auto write = [&](const std::string& name) {
    std::string path = env.dir.file(name + ".json");
    std::ofstream(path) << R"({"profile":"e2e","client_id":")" << name
                        << R"(","role":"primary","cache":")" << name << R"(/cache.db",
        "store":{"type":"mock","path":"mailbox.db"},
        "crm":{"url":"http://127.0.0.1:)"
                        << env.crm_port << R"(/","auth":{"type":"bearer","token_file":"crm-token"}},
        "sync":{"interval_minutes":0},"lease":{"ttl_seconds":6},
        "http":{"listen":"127.0.0.1:0","token_file":")"
                        << name << R"(/api-token"}})";
    return path;
  };
  std::string desk_cfg = write("desk"), laptop_cfg = write("laptop");
  auto start = [&](const std::string& name, const std::string& cfg) {
    auto d = std::make_unique<test::Spawned>(
        std::vector<std::string>{CRMSYNCD_BIN, "--config", cfg}, env.dir.file(name + ".log"));
    REQUIRE(test::eventually([&] { return exists(env.dir.file(name + "/cache.db.runtime.json")); },
                             60s));
    return d;
  };
  auto status = [&](const std::string& cfg) {
    auto r = test::run_program({CRMSYNC_BIN, "status", "--json", "--config", cfg});
    rapidjson::Document d;
    if (r.exit_code == 0) d.Parse(r.out.c_str());
    return d;
  };
  auto holder = [&](const std::string& cfg) -> std::string {
    auto d = status(cfg);
    if (!d.IsObject() || !d["lease"].IsObject() || !d["lease"]["holder"].IsString()) return "";
    return d["lease"]["holder"].GetString();
  };
  auto desk = start("desk", desk_cfg);
  REQUIRE(test::eventually([&] { return holder(desk_cfg) == "desk"; }, 20s));
  auto laptop = start("laptop", laptop_cfg);
  REQUIRE(test::eventually([&] { return holder(laptop_cfg) == "desk"; }, 20s));
  auto d = status(laptop_cfg);
  CHECK(d["lease"]["epoch"].GetInt64() == 1);
  CHECK(std::string(d["role"].GetString()) == "primary");
  CHECK(d["queue_depth"].IsInt64());

  // The laptop is not the lease holder: a contact tracked there waits for the primary (T5).
  desk->signal(SIGSTOP);  // the desk hangs: its lease runs out
  std::string id = env.add({"contact", "--track", "--via", "explorer", "LastName=FromLaptop"});
  // A new holder with a higher epoch once the desk's lease expired.
  REQUIRE(test::eventually([&] { return holder(laptop_cfg) == "laptop"; }, 40s));
  CHECK(status(laptop_cfg)["lease"]["epoch"].GetInt64() == 2);
  auto sync = test::run_program({CRMSYNC_BIN, "sync", "--wait", "--config", laptop_cfg});
  INFO(sync.out << sync.err);
  CHECK(sync.exit_code == 0);
  CHECK(env.has_crm_id(id));
  CHECK(status(laptop_cfg)["queue_depth"].GetInt64() == 0);
  desk->signal(SIGCONT);
  // The desk comes back and sees it lost the lease.
  REQUIRE(test::eventually([&] { return holder(desk_cfg) == "laptop"; }, 20s));
  // Graceful stop releases at once: the desk takes it back without waiting for expiry.
  laptop->signal(SIGTERM);
  CHECK(laptop->wait(30s) == std::optional<int>(0));
  REQUIRE(test::eventually([&] { return holder(desk_cfg) == "desk"; }, 15s));
  CHECK(status(desk_cfg)["lease"]["epoch"].GetInt64() == 3);
  desk->signal(SIGTERM);
  CHECK(desk->wait(30s) == std::optional<int>(0));
}

TEST_CASE(
    "U7: a tracked received and a tracked sent mail reach CRM through crmsync once as "
    "completed activities - status - direction - resolved and unresolved parties",
    "[e2e][once][email]") {
  Env env;
  auto colleague = admin(env, "POST", "/admin/users",
                         R"({"fullname":"Colin League","token":"colin-token",)"
                         R"("internalemailaddress":"colin@corp.example"})");
  std::smatch cm;
  REQUIRE(std::regex_search(colleague, cm, std::regex("\"systemuserid\":\"([0-9a-f-]{36})\"")));
  const std::string colin = cm[1];
  const std::string rita =
      crm_create_as(env, "colin-token", "contact",
                    test::crm::str_attr("lastname", "Sender") +
                        test::crm::str_attr("emailaddress1", "rita@e2e.example"));
  std::string received =
      env.add({"email", "--track", "--folder", "inbox", "Subject=Quote",
               "From=Rita <Rita@e2e.example>", "To=Colin <colin@corp.example>; nobody@e2e.example",
               "ReceivedTime=2025-03-01T08:00:00Z", "MessageId=<q1@e2e.example>"});
  std::string sent =
      env.add({"email", "--track", "--folder", "sentitems", "Subject=Offer", "To=rita@e2e.example",
               "Cc=stranger@e2e.example", "SentTime=2025-03-02T09:30:00Z"});
  auto run = env.cli({"once"});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  REQUIRE(env.has_crm_id(received));
  REQUIRE(env.has_crm_id(sent));
  const std::string received_id = env.show(received)["crm_id"].GetString();
  const std::string sent_id = env.show(sent)["crm_id"].GetString();

  rapidjson::Document records;
  records.Parse(admin(env, "GET", "/admin/records/email").c_str());
  REQUIRE(records.IsArray());
  REQUIRE(records.Size() == 2);
  int checked = 0;
  for (const auto& r : records.GetArray()) {
    const auto& a = r["attributes"];
    if (std::string(r["id"].GetString()) == received_id) {
      ++checked;
      CHECK(a["statecode"].GetInt() == 1);   // Completed
      CHECK(a["statuscode"].GetInt() == 4);  // Received
      CHECK(a["directioncode"].GetBool() == false);
      CHECK(std::string(a["actualend"].GetString()) == "2025-03-01T08:00:00Z");
      CHECK(parties_of(r, "from") ==
            std::multiset<std::string>{"contact:" + rita + " <Rita@e2e.example> 1"});
      CHECK(parties_of(r, "to") ==
            std::multiset<std::string>{"systemuser:" + colin + " <colin@corp.example> 2",
                                       "<nobody@e2e.example> 2"});
    } else if (std::string(r["id"].GetString()) == sent_id) {
      ++checked;
      CHECK(a["statecode"].GetInt() == 1);   // Completed
      CHECK(a["statuscode"].GetInt() == 3);  // Sent
      CHECK(a["directioncode"].GetBool() == true);
      CHECK(parties_of(r, "from") ==
            std::multiset<std::string>{"systemuser:" + env.crm_user_id + " <> 1"});
      CHECK(parties_of(r, "to") ==
            std::multiset<std::string>{"contact:" + rita + " <rita@e2e.example> 2"});
      CHECK(parties_of(r, "cc") == std::multiset<std::string>{"<stranger@e2e.example> 3"});
    }
  }
  CHECK(checked == 2);
  // Never a draft CRM could send: no SendEmail, the state came through SetState.
  auto log = admin(env, "GET", "/admin/requests");
  CHECK_THAT(log, !Catch::Contains("SendEmail"));
  CHECK_THAT(log, Catch::Contains("SetState"));
  // A second run changes nothing.
  auto again = env.cli({"once"});
  CHECK(again.exit_code == 0);
  rapidjson::Document after;
  after.Parse(admin(env, "GET", "/admin/records/email").c_str());
  CHECK(after.Size() == 2);
}
