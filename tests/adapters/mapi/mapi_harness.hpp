// The MAPI store adapter as a harness of the store contract suite (tests/adapters/store), on
// a real Outlook profile named by CRMSYNC_MAPI_PROFILE. Use a profile made for testing (a
// PST-backed one): the suite creates and deletes items in its default folders.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "crmsync/store_mapi/mapi_store.hpp"

namespace crmsync::test {

struct MapiHarness {
  static constexpr const char* kName = "MAPI on CRMSYNC_MAPI_PROFILE";

  std::unique_ptr<StoreAdapter> open() {
    const char* profile = std::getenv("CRMSYNC_MAPI_PROFILE");
    if (!profile || !*profile) FAIL("set CRMSYNC_MAPI_PROFILE to a test profile's name");
    MapiStoreConfig c;
    c.profile = profile;
    auto r = open_mapi_store(c, system_clock());
    if (!r) FAIL("open_mapi_store: " << r.error().describe());
    return std::move(r).value();
  }
  // The store stamps real time.
  void advance(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }
};

}  // namespace crmsync::test

#define STORES test::MapiHarness
