// The Graph store adapter as a harness of the store contract suite (tests/adapters/store): a
// fresh mailbox on the shared graph-emulator process per harness, connections sharing one
// adapter state file (so they share the local sequence of events, like the mock mailbox's
// connections share its change log).
#pragma once

#include <fstream>
#include <thread>

#include "crmsync/store_graph/graph_store.hpp"
#include "crmsync/test/prerequisite.hpp"
#include "graph_support.hpp"
#include "harnesses.hpp"

namespace crmsync::test {

struct GraphHarness {
  static constexpr const char* kName = "Graph on graph-emulator";
  // Outlook and To Do answer with their defaults (a task's importance and status, its reminder
  // flag): a created item holds at least what was given.
  static constexpr bool kAddsDefaults = true;
  TempDir dir;
  std::string upn = graphtest::unique_upn();
  std::shared_ptr<graphtest::CountingTransport::Log> log =
      std::make_shared<graphtest::CountingTransport::Log>();

  GraphHarness() {
    std::string why;
    graphtest::Emulator* emu = graphtest::Emulator::shared(&why);
    if (!emu) FAIL("the Graph contract suite needs graph-emulator: " << why);
    std::string token = emu->add_user(upn);
    if (token.empty()) FAIL("admin: cannot add " << upn);
    std::ofstream(dir.file("token")) << token << "\n";
  }

  GraphStoreConfig config(const std::string& state_name = "graph-state.db") const {
    GraphStoreConfig c;
    c.url = graphtest::Emulator::shared(nullptr)->url();
    c.user = "me";
    c.auth.type = GraphAuth::Type::kBearer;
    c.auth.token_file = dir.file("token");
    c.state_path = dir.file(state_name);
    c.time_zone = "UTC";  // not the machine's: tests that need another zone say which
    c.poll_min = std::chrono::milliseconds(50);
    c.poll_max = std::chrono::milliseconds(200);
    c.request_timeout = std::chrono::milliseconds(20'000);
    c.backoff_base = std::chrono::milliseconds(10);
    return c;
  }
  std::unique_ptr<GraphStore> open_with(const GraphStoreConfig& c) {
    auto r = open_graph_store(
        c, system_clock(),
        std::make_unique<graphtest::CountingTransport>(std::make_unique<http::Client>(), log));
    if (!r) FAIL("open_graph_store: " << r.error().describe());
    return std::move(r).value();
  }
  std::unique_ptr<StoreAdapter> open() { return open_with(config()); }
  // The emulator stamps real time: let that much time pass.
  void advance(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
};

}  // namespace crmsync::test

#define STORES test::GraphHarness
