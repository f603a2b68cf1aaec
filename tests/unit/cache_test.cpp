#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <random>

#include "crmsync/core/cache.hpp"

using namespace crmsync;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "crmsync-cache-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

Mapping contact_mapping(const char* entry) {
  Mapping m;
  m.crm_id = CrmId::generate();
  m.entry_id = EntryId(entry);
  m.entity = CrmEntity::kContact;
  return m;
}

int raw_user_version(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  sqlite3_step(s);
  int v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

void raw_exec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

}  // namespace

TEST_CASE("C4: a new cache is created at the current schema version") {
  TempDir dir;
  auto cache = Cache::open(dir.file("c.db"));
  REQUIRE(cache.ok());
  CHECK(raw_user_version(dir.file("c.db")) == Cache::kSchemaVersion);
  CHECK((*cache)->integrity_check().value() == "ok");
  // Reopening migrates nothing and keeps data.
  auto id = (*cache)->insert_mapping(contact_mapping("E1"), std::nullopt);
  REQUIRE(id.ok());
  cache->reset();
  auto again = Cache::open(dir.file("c.db"));
  REQUIRE(again.ok());
  CHECK((*again)->mapping(*id).value().has_value());
}

TEST_CASE("C4: a newer schema is refused with a clear error and left untouched") {
  TempDir dir;
  raw_exec(dir.file("c.db"), "CREATE TABLE future(x); PRAGMA user_version=99;");
  auto before = fs::file_size(dir.file("c.db"));
  auto cache = Cache::open(dir.file("c.db"));
  REQUIRE_FALSE(cache.ok());
  CHECK(cache.error().kind() == ErrorKind::kCorrupt);
  CHECK_THAT(cache.error().message(), Catch::Contains("schema version 99"));
  CHECK(raw_user_version(dir.file("c.db")) == 99);
  CHECK(fs::file_size(dir.file("c.db")) == before);
}

TEST_CASE("C1: mappings and their one pending change row") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  Mapping m = contact_mapping("E1");
  m.original = FieldMap{{"FirstName", Value{std::string("Ann")}}};
  ChangeNote note;
  note.store = StoreChange::kCreate;
  note.store_timestamp = UtcTime{1000};
  note.surface = Surface::kInspector;
  MapId id = cache->insert_mapping(m, note).value();
  m.map_id = id;

  CHECK(cache->mapping_by_crm_id(m.crm_id).value()->entry_id == EntryId("E1"));
  CHECK(cache->mapping_by_entry_id(EntryId("E1")).value()->original == m.original);
  CHECK_FALSE(cache->mapping_by_entry_id(EntryId("nope")).value().has_value());

  SECTION("notes merge into the one row: a later side replaces, the other side stays") {
    CrmRecord rec{CrmEntity::kContact,
                  m.crm_id,
                  {{"firstname", Value{std::string("Bo")}}},
                  UtcTime{2000},
                  CrmId::generate()};
    ChangeNote crm;
    crm.crm = CrmChange::kUpsert;
    crm.crm_timestamp = UtcTime{2000};
    crm.crm_record = rec;
    REQUIRE(cache->note_change(id, crm).ok());
    auto rows = cache->pending_changes(0, 10).value();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].store_change == StoreChange::kCreate);
    CHECK(rows[0].surface == Surface::kInspector);
    CHECK(rows[0].crm_change == CrmChange::kUpsert);
    REQUIRE(rows[0].crm_record.has_value());
    CHECK(rows[0].crm_record->attributes == rec.attributes);
    CHECK(rows[0].crm_record->owner == rec.owner);
    CHECK(rows[0].crm_record->modified_on == UtcTime{2000});
  }

  SECTION("E1: a failure keeps the row with its reason and next attempt") {
    auto row = cache->pending_change_of(id).value().value();
    REQUIRE(cache->record_failure(row.change_id, "too long", UtcTime{5000}).ok());
    auto errs = cache->errors(10).value();
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].error == "too long");
    CHECK(errs[0].attempts == 1);
    CHECK(errs[0].next_attempt == UtcTime{5000});
  }

  SECTION("X2: the change row goes only with the commit that records it applied") {
    auto row = cache->pending_change_of(id).value().value();
    m.linked = true;
    ConflictRecord c;
    c.field = "FirstName";
    c.store_value = Value{std::string("Ann")};
    c.crm_value = Value{std::string("Bo")};
    c.winner = "crm";
    c.at = UtcTime{3000};
    REQUIRE(cache->commit_applied(m, row.change_id, {c}).ok());
    CHECK(cache->pending_changes(0, 10).value().empty());
    CHECK(cache->mapping(id).value()->linked);
    auto conflicts = cache->conflicts(10).value();
    REQUIRE(conflicts.size() == 1);
    CHECK(conflicts[0].store_value == c.store_value);
    CHECK(conflicts[0].crm_value == c.crm_value);
    CHECK(conflicts[0].entry_id == EntryId("E1"));
    CHECK(cache->conflict_count().value() == 1);
  }

  SECTION("forgetting a mapping removes its change row") {
    REQUIRE(cache->forget_mapping(id).ok());
    CHECK(cache->pending_changes(0, 10).value().empty());
    CHECK_FALSE(cache->mapping(id).value().has_value());
  }
}

TEST_CASE("C1: entry ids and CRM ids are unique in the mapping") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  Mapping a = contact_mapping("E1");
  REQUIRE(cache->insert_mapping(a, std::nullopt).ok());
  auto dup = cache->insert_mapping(a, std::nullopt);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().kind() == ErrorKind::kConflict);
  Mapping b = contact_mapping("E1");
  CHECK_FALSE(cache->insert_mapping(b, std::nullopt).ok());
  Mapping too_long = contact_mapping("");
  too_long.entry_id = EntryId(std::string(401, 'A'));
  CHECK_FALSE(cache->insert_mapping(too_long, std::nullopt).ok());
}

TEST_CASE("C3: a batch commits its writes together - other connections see none before") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  auto reader = std::move(Cache::open(dir.file("c.db")).value());
  REQUIRE(cache->begin_batch().ok());
  CHECK(cache->in_batch());
  CHECK_FALSE(cache->begin_batch().ok());  // one batch at a time
  Mapping a = contact_mapping("E1");
  Mapping b = contact_mapping("E2");
  REQUIRE(cache->insert_mapping(a, std::nullopt).ok());
  REQUIRE(cache->insert_mapping(b, std::nullopt).ok());
  REQUIRE(cache->set_meta({{"k", std::string("v")}}).ok());
  // The batch's own connection reads its writes; another one does not yet.
  CHECK(cache->mapping_by_crm_id(a.crm_id).value().has_value());
  CHECK_FALSE(reader->mapping_by_crm_id(a.crm_id).value().has_value());
  CHECK_FALSE(reader->get_meta("k").value().has_value());
  REQUIRE(cache->commit_batch().ok());
  CHECK_FALSE(cache->in_batch());
  CHECK(reader->mapping_by_crm_id(a.crm_id).value().has_value());
  CHECK(reader->mapping_by_crm_id(b.crm_id).value().has_value());
  CHECK(reader->get_meta("k").value() == std::optional<std::string>("v"));
  CHECK(cache->commit_batch().ok());  // nothing open: nothing to do
}

TEST_CASE("C3: a batch lost before its commit leaves the cache as it was") {
  TempDir dir;
  Mapping kept = contact_mapping("E0");
  Mapping lost = contact_mapping("E1");
  {
    auto cache = std::move(Cache::open(dir.file("c.db")).value());
    REQUIRE(cache->insert_mapping(kept, std::nullopt).ok());
    REQUIRE(cache->begin_batch().ok());
    REQUIRE(cache->insert_mapping(lost, std::nullopt).ok());
    SECTION("closed with the batch open - as a killed process") {}
    SECTION("rolled back") {
      cache->rollback_batch();
      CHECK_FALSE(cache->in_batch());
      CHECK_FALSE(cache->mapping_by_crm_id(lost.crm_id).value().has_value());
      // The connection stays usable: a new batch commits.
      REQUIRE(cache->begin_batch().ok());
      REQUIRE(cache->set_meta({{"after", std::string("1")}}).ok());
      REQUIRE(cache->commit_batch().ok());
    }
  }
  auto again = std::move(Cache::open(dir.file("c.db")).value());
  CHECK(again->mapping_by_crm_id(kept.crm_id).value().has_value());
  CHECK_FALSE(again->mapping_by_crm_id(lost.crm_id).value().has_value());
  CHECK(again->integrity_check().value() == "ok");
}

TEST_CASE("C3: a write that fails inside a batch undoes only itself") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  REQUIRE(cache->begin_batch().ok());
  Mapping a = contact_mapping("E1");
  REQUIRE(cache->insert_mapping(a, std::nullopt).ok());
  Mapping dup = contact_mapping("E1");  // the same entry id: UNIQUE refuses it
  ChangeNote note;
  note.store = StoreChange::kCreate;
  CHECK_FALSE(cache->insert_mapping(dup, note).ok());
  Mapping b = contact_mapping("E2");
  REQUIRE(cache->insert_mapping(b, note).ok());
  REQUIRE(cache->commit_batch().ok());
  CHECK(cache->mapping_by_crm_id(a.crm_id).value().has_value());
  CHECK_FALSE(cache->mapping_by_crm_id(dup.crm_id).value().has_value());
  CHECK(cache->mapping_by_crm_id(b.crm_id).value().has_value());
  CHECK(cache->pending_changes(0, 10).value().size() == 1);
  CHECK(cache->integrity_check().value() == "ok");
}

TEST_CASE("S3: oldest verified first") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  for (int i = 0; i < 5; ++i) {
    Mapping m = contact_mapping(("E" + std::to_string(i)).c_str());
    m.linked = true;
    m.verified_time = UtcTime{100 - i};
    REQUIRE(cache->insert_mapping(m, std::nullopt).ok());
  }
  auto oldest = cache->oldest_verified(2).value();
  REQUIRE(oldest.size() == 2);
  CHECK(oldest[0].entry_id == EntryId("E4"));
  CHECK(oldest[1].entry_id == EntryId("E3"));
  REQUIRE(cache->set_verified(oldest[0].map_id, UtcTime{1000}).ok());
  CHECK(cache->oldest_verified(1).value()[0].entry_id == EntryId("E3"));
}

TEST_CASE("Meta values are set together and erased with null") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  REQUIRE(cache->set_meta({{"token.contact", "5!x"}, {"watermark", "100"}}).ok());
  CHECK(cache->get_meta("token.contact").value() == "5!x");
  REQUIRE(cache->set_meta({{"watermark", std::nullopt}}).ok());
  CHECK_FALSE(cache->get_meta("watermark").value().has_value());
}

TEST_CASE("C3: integrity holds after many operations - and counts add up") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  std::mt19937 rng(7);
  std::vector<MapId> ids;
  for (int i = 0; i < 500; ++i) {
    Mapping m = contact_mapping(("E" + std::to_string(i)).c_str());
    m.linked = i % 2 == 0;
    ChangeNote n;
    n.store = StoreChange::kUpdate;
    ids.push_back(cache->insert_mapping(m, i % 3 == 0 ? std::optional(n) : std::nullopt).value());
  }
  for (int i = 0; i < 100; ++i) REQUIRE(cache->forget_mapping(ids[rng() % ids.size()]).ok());
  CHECK(cache->integrity_check().value() == "ok");
  auto counts = cache->counts().value();
  auto contact = std::find_if(counts.begin(), counts.end(),
                              [](auto& p) { return p.first == CrmEntity::kContact; });
  CHECK(contact->second.mapped > 0);
  CHECK(contact->second.pending ==
        static_cast<std::int64_t>(cache->pending_changes(0, 10000).value().size()));
}

TEST_CASE("C3: kill -9 in the middle of writes leaves a sound cache with every commit") {
  TempDir dir;
  std::string path = dir.file("c.db");
  REQUIRE(Cache::open(path).ok());
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(pipefd[0]);
    auto cache = std::move(Cache::open(path).value());
    for (int i = 0;; ++i) {
      Mapping m = contact_mapping(("E" + std::to_string(i)).c_str());
      m.original = FieldMap{{"Body", Value{std::string(2000, 'x')}}};
      if (!cache->insert_mapping(m, std::nullopt).ok()) _exit(3);
      // Report the commit only after it returned: everything reported must survive.
      if (write(pipefd[1], &i, sizeof i) != sizeof i) _exit(4);
    }
  }
  close(pipefd[1]);
  int last = -1, v = 0;
  while (last < 300 && read(pipefd[0], &v, sizeof v) == sizeof v) last = v;
  kill(pid, SIGKILL);
  while (read(pipefd[0], &v, sizeof v) == sizeof v) last = v;
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));

  auto cache = std::move(Cache::open(path).value());
  CHECK(cache->integrity_check().value() == "ok");
  auto all = cache->mappings(CrmEntity::kContact).value();
  CHECK(static_cast<int>(all.size()) >= last + 1);
  for (int i = 0; i <= last; ++i)
    CHECK(cache->mapping_by_entry_id(EntryId("E" + std::to_string(i))).value().has_value());
}

TEST_CASE("C4 U6: a version 1 cache migrates - change rows keep the CRM record's row version") {
  TempDir dir;
  MapId id;
  CrmId crm_id;
  {
    auto cache = std::move(Cache::open(dir.file("c.db")).value());
    Mapping m = contact_mapping("E1");
    crm_id = m.crm_id;
    ChangeNote note;
    note.store = StoreChange::kUpdate;
    id = cache->insert_mapping(m, note).value();
  }
  // What a cache written before U6 looks like: schema 1, no row version column.
  raw_exec(dir.file("c.db"),
           "ALTER TABLE sync_changes DROP COLUMN crm_row_version; ALTER TABLE conflicts DROP "
           "COLUMN base_value; PRAGMA user_version=1;");
  REQUIRE(raw_user_version(dir.file("c.db")) == 1);
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  CHECK(raw_user_version(dir.file("c.db")) == Cache::kSchemaVersion);
  auto kept = cache->pending_change_of(id).value();
  REQUIRE(kept);
  CHECK(kept->store_change == StoreChange::kUpdate);
  CHECK_FALSE(kept->crm_record);

  CrmRecord rec;
  rec.id = crm_id;
  rec.attributes = {{"firstname", Value{std::string("Bo")}}};
  rec.modified_on = UtcTime{2000};
  rec.row_version = "1289570";
  ChangeNote crm;
  crm.crm = CrmChange::kUpsert;
  crm.crm_timestamp = UtcTime{2000};
  crm.crm_record = rec;
  REQUIRE(cache->note_change(id, crm).ok());
  auto row = cache->pending_changes(0, 10).value();
  REQUIRE(row.size() == 1);
  REQUIRE(row[0].crm_record);
  CHECK(row[0].crm_record->row_version == "1289570");
  // A store-side note leaves the CRM side, version and all, as it was.
  ChangeNote store;
  store.store = StoreChange::kUpdate;
  REQUIRE(cache->note_change(id, store).ok());
  CHECK(cache->pending_change_of(id).value()->crm_record->row_version == "1289570");
  // A newer CRM note without a version (a server that sends none) clears it.
  rec.row_version.clear();
  crm.crm_record = rec;
  REQUIRE(cache->note_change(id, crm).ok());
  CHECK(cache->pending_change_of(id).value()->crm_record->row_version.empty());
}

namespace {

ConflictRecord conflict_on(const char* field, const char* store, const char* crm) {
  ConflictRecord c;
  c.field = field;
  c.store_value = Value{std::string(store)};
  c.crm_value = Value{std::string(crm)};
  c.winner = "crm";
  c.at = UtcTime{3000};
  return c;
}

}  // namespace

TEST_CASE("M3 U2: a conflict keeps its base - it is read by id - settling it drops it once") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  Mapping m = contact_mapping("E1");
  m.linked = true;
  m.original = FieldMap{{"FirstName", Value{std::string("Ann")}}};
  m.map_id = cache->insert_mapping(m, std::nullopt).value();
  REQUIRE(cache
              ->commit_applied(
                  m, 0,
                  {conflict_on("FirstName", "Anna", "Anne"), conflict_on("LastName", "Lee", "Li")})
              .ok());
  auto all = cache->conflicts(10).value();
  REQUIRE(all.size() == 2);
  auto first = cache->conflict(all[1].conflict_id).value();
  REQUIRE(first);
  CHECK(first->field == "FirstName");
  REQUIRE(first->base_value);
  CHECK(*first->base_value == Value{std::string("Ann")});
  CHECK(first->store_value == Value{std::string("Anna")});
  auto second = cache->conflict(all[0].conflict_id).value();
  REQUIRE(second);
  REQUIRE(second->base_value);
  CHECK(is_null(*second->base_value));  // not in the base: the field was empty
  CHECK_FALSE(cache->conflict(all[0].conflict_id + 100).value());

  CHECK(cache->drop_conflict(first->conflict_id).value());
  CHECK_FALSE(cache->drop_conflict(first->conflict_id).value());  // a replay changes nothing
  CHECK(cache->conflict_count().value() == 1);
}

TEST_CASE("E1 U2: retry makes a failed change due now - ignore drops it - once each") {
  TempDir dir;
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  Mapping m = contact_mapping("E1");
  ChangeNote note;
  note.store = StoreChange::kUpdate;
  MapId id = cache->insert_mapping(m, note).value();
  auto row = cache->pending_change_of(id).value().value();
  REQUIRE(cache->record_failure(row.change_id, "too long", UtcTime{90'000}).ok());

  CHECK(cache->retry_change_now(id).value());
  row = cache->pending_change_of(id).value().value();
  CHECK(row.next_attempt == UtcTime{0});
  CHECK(row.attempts == 1);
  CHECK(row.last_error == "too long");

  CHECK(cache->drop_change(id).value());
  CHECK_FALSE(cache->pending_change_of(id).value());
  CHECK(cache->mapping(id).value());  // the pair stays
  CHECK_FALSE(cache->drop_change(id).value());
  CHECK_FALSE(cache->retry_change_now(id).value());
  CHECK_FALSE(cache->retry_change_now(MapId(id.value() + 50)).value());
}

TEST_CASE("C4 U2: a version 2 cache migrates - its conflicts keep their values without a base") {
  TempDir dir;
  {
    auto cache = std::move(Cache::open(dir.file("c.db")).value());
    Mapping m = contact_mapping("E1");
    m.map_id = cache->insert_mapping(m, std::nullopt).value();
    REQUIRE(cache->commit_applied(m, 0, {conflict_on("FirstName", "A", "B")}).ok());
  }
  raw_exec(dir.file("c.db"),
           "ALTER TABLE conflicts DROP COLUMN base_value; PRAGMA user_version=2;");
  auto cache = std::move(Cache::open(dir.file("c.db")).value());
  CHECK(raw_user_version(dir.file("c.db")) == Cache::kSchemaVersion);
  auto all = cache->conflicts(10).value();
  REQUIRE(all.size() == 1);
  CHECK(all[0].store_value == Value{std::string("A")});
  CHECK_FALSE(all[0].base_value);
}
