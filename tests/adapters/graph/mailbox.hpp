// A mailbox on graph-emulator for the adapter's tests: its own user (and token), a state file,
// adapters opened on it, and the user acting through Graph directly (as Outlook on the web).
#pragma once

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <string>

#include "crmsync/store_graph/graph_store.hpp"
#include "crmsync/test/prerequisite.hpp"
#include "graph_support.hpp"

namespace graphtest {

struct Mailbox {
  crmsync::test::TempDir dir;
  std::unique_ptr<Emulator> own;  // a private emulator (faults are emulator-wide)
  Emulator* emu = nullptr;
  std::string upn = unique_upn();
  std::string token;
  std::shared_ptr<CountingTransport::Log> log = std::make_shared<CountingTransport::Log>();

  explicit Mailbox(bool private_emulator = false) {
    std::string why;
    if (private_emulator) {
      own = Emulator::launch(&why);
      emu = own.get();
    } else {
      emu = Emulator::shared(&why);
    }
    if (!emu) FAIL("graph-emulator: " << why);
    token = emu->add_user(upn);
    REQUIRE_FALSE(token.empty());
    std::ofstream(dir.file("token")) << token << "\n";
  }

  crmsync::GraphStoreConfig config(const std::string& state = "state.db") const {
    crmsync::GraphStoreConfig c;
    c.url = emu->url();
    c.auth.token_file = dir.file("token");
    c.state_path = dir.file(state);
    c.time_zone = "UTC";
    c.poll_min = std::chrono::milliseconds(20);
    c.poll_max = std::chrono::milliseconds(100);
    c.backoff_base = std::chrono::milliseconds(5);
    c.sleep = [](std::chrono::milliseconds) {};  // the emulator's Retry-After is not enforced
    return c;
  }
  std::unique_ptr<crmsync::GraphStore> open(const crmsync::GraphStoreConfig& c,
                                            crmsync::Clock& clock = crmsync::system_clock()) {
    auto r = crmsync::open_graph_store(
        c, clock,
        std::make_unique<CountingTransport>(std::make_unique<crmsync::http::Client>(), log));
    if (!r) FAIL("open_graph_store: " << r.error().describe());
    return std::move(r).value();
  }
  std::unique_ptr<crmsync::GraphStore> open() { return open(config()); }
  std::unique_ptr<crmsync::GraphStore> open_on(std::unique_ptr<crmsync::http::Transport> t,
                                               const crmsync::GraphStoreConfig& c,
                                               crmsync::Clock& clock = crmsync::system_clock()) {
    auto r = crmsync::open_graph_store(c, clock, std::move(t));
    if (!r) FAIL("open_graph_store: " << r.error().describe());
    return std::move(r).value();
  }

  // The user, through Graph: the answer's JSON (an empty object for 204); fails on an error.
  rapidjson::Document user(const std::string& method, const std::string& path,
                           const std::string& json = "") {
    auto r = emu->graph(token, method, "v1.0/me/" + path, json);
    REQUIRE(r.ok());
    INFO(method << " " << path << ": " << r->body);
    REQUIRE(r->status / 100 == 2);
    rapidjson::Document d;
    d.Parse(r->body.empty() ? "{}" : r->body.c_str());
    REQUIRE(d.IsObject());
    return d;
  }
  // The Graph id of an entry id ("contact:AAMk..." -> "AAMk...").
  static std::string gid(const crmsync::EntryId& id) {
    return id.str().substr(id.str().find(':') + 1);
  }
};

inline std::string str_of(const rapidjson::Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "";
}

}  // namespace graphtest
