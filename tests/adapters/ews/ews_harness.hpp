// The EWS store adapter as a harness of the store contract suite (tests/adapters/store): a
// fresh mailbox on the shared ews-emulator process per harness, connections sharing one
// adapter state file (so they share the local sequence of events, like the mock mailbox's
// connections share its change log).
#pragma once

#include <fstream>
#include <thread>

#include "crmsync/store_ews/ews_store.hpp"
#include "harnesses.hpp"
#include "support.hpp"

namespace crmsync::test {

struct EwsHarness {
  static constexpr const char* kName = "EWS on ews-emulator";
  TempDir dir;
  std::string email = ewstest::unique_email();
  std::shared_ptr<std::vector<std::string>> requests = std::make_shared<std::vector<std::string>>();

  EwsHarness() {
    std::string why;
    ewstest::Emulator* emu = ewstest::Emulator::shared(&why);
    if (!emu) FAIL("the EWS contract suite needs ews-emulator: " << why);
    if (!emu->add_user(email, "secret")) FAIL("admin: cannot add " << email);
    std::ofstream(dir.file("password")) << "secret\n";
  }

  EwsStoreConfig config(const std::string& state_name = "ews-state.db") const {
    EwsStoreConfig c;
    c.url = ewstest::Emulator::shared(nullptr)->url();
    c.mailbox = email;
    c.auth.type = EwsAuth::Type::kBasic;
    c.auth.username = email;
    c.auth.password_file = dir.file("password");
    c.state_path = dir.file(state_name);
    c.time_zone = "UTC";  // not the machine's: tests that need another zone say which
    c.poll_interval = std::chrono::milliseconds(50);
    c.request_timeout = std::chrono::milliseconds(20'000);
    return c;
  }
  std::unique_ptr<StoreAdapter> open_with(const EwsStoreConfig& c) {
    auto r = open_ews_store(
        c, system_clock(),
        std::make_unique<ewstest::RecordingTransport>(std::make_unique<http::Client>(), requests));
    if (!r) FAIL("open_ews_store: " << r.error().describe());
    return std::move(r).value();
  }
  std::unique_ptr<StoreAdapter> open() { return open_with(config()); }
  // The emulator stamps real time, in whole seconds: let that much time pass.
  void advance(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
};

}  // namespace crmsync::test

#define STORES test::EwsHarness
