// One harness per store adapter for the contract suite. A harness owns a store (and what
// it needs: a temp dir, an emulator...) and opens any number of connections to it.
//   open()            a new StoreAdapter connected to the same store
//   advance(ms)       moves the time the store stamps on its writes
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>

#include "crmsync/store_mock/mock_mailbox.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace crmsync::test {

struct MockMailboxHarness {
  static constexpr const char* kName = "mock mailbox";
  TempDir dir;
  FakeClock clock;

  std::string path() const { return dir.file("mailbox.db"); }
  std::unique_ptr<MockMailbox> open_mock() {
    auto r = open_mock_mailbox(path(), clock);
    if (!r) FAIL("open_mock_mailbox: " << r.error().describe());
    return std::move(r).value();
  }
  std::unique_ptr<StoreAdapter> open() { return open_mock(); }
  void advance(std::chrono::milliseconds d) { clock.advance(d); }
};

}  // namespace crmsync::test
