// What the daemon's end-to-end tests share: a temp folder with the real crm-emulator (its demo
// organization and sync user), a config, crmsyncd when started, and the CLI and the mock
// mailbox as a user and scripts drive them. Waits are conditions with deadlines.
#pragma once

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "crmsync/http/client.hpp"
#include "crmsync/test/crm_requests.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace crmsync::test::e2e {

using namespace std::chrono_literals;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool exists(const std::string& path) {
  return std::filesystem::exists(path);
}

struct Env {
  test::TempDir dir;
  std::string config = dir.file("config.json");
  std::string mailbox_db = dir.file("mailbox.db");
  std::unique_ptr<test::Spawned> emulator;
  std::unique_ptr<test::Spawned> daemon;
  std::uint16_t crm_port = 0;
  std::string crm_user_id;  // the seeded sync user

  Env() {
    emulator = std::make_unique<test::Spawned>(
        std::vector<std::string>{CRM_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                                 dir.file("crm.db"), "--seed-demo"},
        dir.file("emulator.log"));
    auto first = emulator->read_line(20s);
    REQUIRE(first);
    std::smatch m;
    REQUIRE(std::regex_match(*first, m, std::regex("listening on 127\\.0\\.0\\.1:(\\d+)")));
    crm_port = static_cast<std::uint16_t>(std::stoi(m[1]));
    auto user = emulator->read_line(20s);
    REQUIRE(user);
    std::smatch u;
    REQUIRE(std::regex_match(*user, u, std::regex("user (\\S+) token (\\S+)")));
    crm_user_id = u[1];
    std::ofstream(dir.file("crm-token")) << u[2] << "\n";
    write_config();
  }
  ~Env() {
    if (daemon) {
      daemon->signal(SIGTERM);
      daemon->wait(30s);
    }
    emulator->signal(SIGTERM);
    emulator->wait(10s);
  }

  void write_config(int interval = 15, const std::string& client_id = "e2e-desk",
                    const std::string& extra = "", const std::string& sync_extra = "") {
    std::ofstream(config) << R"({"profile":"e2e","client_id":")" << client_id
                          << R"(","role":"primary","cache":"state/cache.db",
        "store":{"type":"mock","path":"mailbox.db"},
        "crm":{"url":"http://127.0.0.1:)"
                          << crm_port << R"(/","auth":{"type":"bearer","token_file":"crm-token"}},
        "sync":{"interval_minutes":)"
                          << interval << sync_extra
                          << R"(},"http":{"listen":"127.0.0.1:0","token_file":"state/api-token"})"
                          << extra << "}";
  }
  std::string runtime_file() const { return dir.file("state/cache.db.runtime.json"); }
  std::string log() const { return read_file(dir.file("crmsyncd.log")); }

  void start_daemon(const std::vector<std::string>& env = {}) {
    daemon = std::make_unique<test::Spawned>(
        std::vector<std::string>{CRMSYNCD_BIN, "--config", config}, dir.file("crmsyncd.log"), env);
    bool up = test::eventually([&] { return exists(runtime_file()) || !daemon->running(); }, 60s);
    INFO(log());
    REQUIRE(up);
    REQUIRE(daemon->running());
  }

  test::RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), CRMSYNC_BIN);
    args.push_back("--config");
    args.push_back(config);
    return test::run_program(args);
  }
  test::RunResult mailbox(std::vector<std::string> args) const {
    args.insert(args.begin(), {CRMSYNC_BIN, "mailbox", "--db", mailbox_db});
    return test::run_program(args);
  }
  std::string add(std::vector<std::string> args) const {
    args.insert(args.begin(), "add");
    auto r = mailbox(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, r.out.find('\n'));
  }
  rapidjson::Document show(const std::string& id) const {
    auto r = mailbox({"show", id, "--json"});
    REQUIRE(r.exit_code == 0);
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    REQUIRE(d.IsObject());
    return d;
  }
  bool has_crm_id(const std::string& id) const { return show(id)["crm_id"].IsString(); }
  rapidjson::Document status() const {
    auto r = cli({"status", "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    REQUIRE(d.IsObject());
    return d;
  }
  std::string base_url() const {
    auto text = read_file(runtime_file());
    std::smatch m;
    REQUIRE(std::regex_search(text, m, std::regex("\"port\":(\\d+)")));
    return "http://127.0.0.1:" + m[1].str();
  }
  std::string api_token() const {
    auto t = read_file(dir.file("state/api-token"));
    return t.substr(0, t.find('\n'));
  }
};

// Someone else in CRM: a second user of the emulator, editing through the real SOAP contract.
inline void crm_update_as_other_user(
    const Env& env, const std::string& token, const std::string& id,
    const std::vector<std::pair<std::string, std::string>>& attrs) {
  std::string a;
  for (const auto& [k, v] : attrs) a += test::crm::str_attr(k, v);
  http::Request req;
  req.url = "http://127.0.0.1:" + std::to_string(env.crm_port) + test::crm::kOrganizationPath;
  req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                 {"SOAPAction", test::crm::kExecuteAction},
                 {"Authorization", "Bearer " + token}};
  req.body = test::crm::update_envelope("contact", id, a);
  http::Client client;
  auto r = client.send(req);
  REQUIRE(r.ok());
  INFO(r->body);
  REQUIRE(r->status == 200);
}

inline std::string admin(const Env& env, const std::string& method, const std::string& path,
                         const std::string& body = "") {
  http::Request req;
  req.method = method;
  req.url = "http://127.0.0.1:" + std::to_string(env.crm_port) + path;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = body;
  http::Client client;
  auto r = client.send(req);
  REQUIRE(r.ok());
  REQUIRE(r->status / 100 == 2);
  return r->body;
}

}  // namespace crmsync::test::e2e
