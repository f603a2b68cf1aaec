// One engine test world: a mock mailbox, the in-memory CRM, a cache, a fake clock.
#pragma once

#include <memory>

#include "crmsync/core/cache.hpp"
#include "crmsync/core/engine.hpp"
#include "crmsync/fakes/crash_points.hpp"
#include "crmsync/fakes/fake_crm.hpp"
#include "crmsync/fakes/store_wrapper.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace crmsync::test {

Value text(const char* s);
Value i64(std::int64_t v);
UtcTime at(const char* iso);

struct World {
  World();
  ~World();

  // Closes and reopens the cache and the engine, as a restarted daemon does.
  void restart(CrashPoints* crash_points = nullptr);
  // One cycle, one second after the last.
  CycleReport sync(const CycleOptions& options = {});
  // Syncs until a cycle makes no write on either side (at most 5 cycles).
  void settle();

  // The user in the mailbox.
  EntryId add(ItemKind kind, FieldMap fields, bool track = true, Surface via = Surface::kNone);
  StoreItem item(const EntryId& id);
  // The items leave the mailbox file with no event behind them (MAPI notifications lost
  // while the daemon was down, a recreated profile): only S3 reconciliation can see it.
  void vanish(const std::vector<EntryId>& ids);
  bool exists(const EntryId& id);
  std::vector<StoreItem> items(ItemKind kind);
  // The CRM record linked to a store item.
  CrmRecord record_of(const EntryId& id);

  // The cache's content, but for S3's verified times (which every cycle refreshes), read
  // over a connection of its own: equal before and after a cycle = the cycle wrote nothing.
  std::string cache_content();

  int store_writes() const { return store.counters().writes(); }
  int crm_writes() const { return crm.counters().writes(); }
  void reset_counters() {
    store.reset_counters();
    crm.reset_counters();
  }

  TempDir dir;
  FakeClock clock;
  std::unique_ptr<MockMailbox> mailbox;
  fakes::StoreWrapper store;
  fakes::FakeCrm crm;
  EngineSettings settings;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<Engine> engine;
};

// Runs `setup`, then one cycle crashing at each crash point in turn; after each crash the
// daemon restarts and syncs to quiescence, and `verify` must hold; a further cycle must
// write nothing (STYLE.md 10). Returns how many crash points the cycle passed.
int crash_at_every_point(const std::function<void(World&)>& setup,
                         const std::function<void(World&)>& verify);

}  // namespace crmsync::test
