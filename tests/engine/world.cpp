#include "world.hpp"

#include "crmsync/core/sqlite.hpp"

#include <catch2/catch.hpp>

namespace crmsync::test {

Value text(const char* s) {
  return Value{std::string(s)};
}
Value i64(std::int64_t v) {
  return Value{v};
}
UtcTime at(const char* iso) {
  return UtcTime::parse(iso).value();
}

namespace {
std::unique_ptr<MockMailbox> open_mailbox(const TempDir& dir, Clock& clock) {
  auto m = open_mock_mailbox(dir.file("mailbox.db"), clock);
  if (!m.ok()) throw std::runtime_error(m.error().describe());
  return std::move(*m);
}
}  // namespace

World::World() : mailbox(open_mailbox(dir, clock)), store(*mailbox), crm(clock) {
  restart();
}
World::~World() {
  engine.reset();
  cache.reset();
}

void World::restart(CrashPoints* crash_points) {
  engine.reset();
  cache.reset();
  auto c = Cache::open(dir.file("cache.db"));
  if (!c.ok()) throw std::runtime_error(c.error().describe());
  cache = std::move(*c);
  engine = std::make_unique<Engine>(*cache, store, crm, clock, settings, crash_points);
}

CycleReport World::sync(const CycleOptions& options) {
  clock.advance(std::chrono::seconds(1));
  return engine->run_cycle(options);
}

void World::settle() {
  for (int i = 0; i < 8; ++i) {
    reset_counters();
    auto r = sync();
    if (std::getenv("CRMSYNC_DEBUG"))
      fprintf(stderr, "settle: %s store=%d crm=%d %s\n", std::string(to_string(r.result)).c_str(),
              store_writes(), crm_writes(), r.failure ? r.failure->describe().c_str() : "");
    if (r.result != CycleResult::kFailed && store_writes() == 0 && crm_writes() == 0) return;
  }
  FAIL("no quiescence after 8 cycles");
}

EntryId World::add(ItemKind kind, FieldMap fields, bool track, Surface via) {
  clock.advance(std::chrono::seconds(1));
  auto id = mailbox->add(kind, std::nullopt, fields, track, via);
  if (!id.ok()) throw std::runtime_error(id.error().describe());
  return *id;
}

StoreItem World::item(const EntryId& id) {
  auto i = mailbox->get(id);
  if (!i.ok()) throw std::runtime_error(i.error().describe());
  return *i;
}

void World::vanish(const std::vector<EntryId>& ids) {
  auto db = sql::Database::open(dir.file("mailbox.db")).value();
  db.exec("BEGIN").value();
  for (const auto& id : ids) {
    auto s = db.prepare("DELETE FROM items WHERE entry_id = ?").value();
    s.bind(1, id.str()).run().value();
  }
  db.exec("COMMIT").value();
}

bool World::exists(const EntryId& id) {
  return mailbox->get(id).ok();
}

std::vector<StoreItem> World::items(ItemKind kind) {
  return mailbox->list(kind).value();
}

CrmRecord World::record_of(const EntryId& id) {
  StoreItem i = item(id);
  if (!i.link.crm_id) throw std::runtime_error("item " + id.str() + " has no CRM id");
  auto r = crm.find(*i.link.crm_id);
  if (!r) throw std::runtime_error("no CRM record " + i.link.crm_id->str());
  return *r;
}

int crash_at_every_point(const std::function<void(World&)>& setup,
                         const std::function<void(World&)>& verify) {
  int points = 0;
  {
    World w;
    setup(w);
    fakes::CrashAt counter(0);
    w.restart(&counter);
    w.sync();
    points = counter.hits();
  }
  for (int k = 1; k <= points; ++k) {
    World w;
    setup(w);
    fakes::CrashAt crash(k);
    w.restart(&crash);
    std::string where;
    try {
      w.sync();
    } catch (const fakes::SimulatedCrash& c) {
      where = c.point;
    }
    INFO("crash " << k << " of " << points << " at " << where);
    REQUIRE_FALSE(where.empty());
    w.restart();
    w.settle();
    verify(w);
    REQUIRE(w.cache->integrity_check().value() == "ok");
    w.reset_counters();
    w.sync();
    CHECK(w.store_writes() == 0);
    CHECK(w.crm_writes() == 0);
  }
  return points;
}

std::string World::cache_content() {
  auto db = sql::Database::open(dir.file("cache.db"), sql::Database::Mode::kReadWrite);
  REQUIRE(db.ok());
  std::string out;
  for (const char* query :
       {"SELECT key, value FROM meta ORDER BY key",
        "SELECT map_id, crm_id, entry_id, object_type, linked, deleted_locally, visited, "
        "manually_tracked, create_pending, original_state, store_change_key, owner_id, crm_state "
        "FROM id_mapping ORDER BY map_id",
        "SELECT * FROM sync_changes ORDER BY change_id",
        "SELECT * FROM conflicts ORDER BY conflict_id"}) {
    auto s = db->prepare(query);
    REQUIRE(s.ok());
    for (;;) {
      auto row = s->step();
      REQUIRE(row.ok());
      if (!*row) break;
      for (int c = 0; c < s->columns(); ++c)
        out += (s->is_null(c) ? std::string("<null>") : s->text(c)) + "|";
      out += "\n";
    }
    out += "--\n";
  }
  return out;
}

}  // namespace crmsync::test
