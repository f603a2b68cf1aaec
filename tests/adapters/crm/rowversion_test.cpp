// SPEC U6 end to end: the engine, the mock mailbox and the SOAP adapter against the real
// crm-emulator process. An update hook of the emulator (POST /admin/hooks) lands another CRM
// user's edit between the engine's read of a record and its write: no sleep, no race.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "crmsync/core/cache.hpp"
#include "crmsync/core/engine.hpp"
#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#include "emulator_process.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

#ifdef CRM_EMULATOR_PATH

namespace {

UtcTime wall_now() {
  return UtcTime{std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count()};
}

// The sync user's world: the emulator with the sync user and another CRM user, the SOAP
// adapter, a mock mailbox, a cache and the engine. The mailbox and the engine run on a fake
// clock set relative to the emulator's real one, so "which edit is more recent" (M2) is
// decided by the test, not by the second the test happens to run in.
struct World {
  crmtest::EmulatorProcess emulator{CRM_EMULATOR_PATH};
  crmtest::TempDir dir;
  FakeClock adapter_clock;
  FakeClock clock;
  std::string other_user;
  std::unique_ptr<CrmAdapter> crm;
  std::unique_ptr<MockMailbox> mailbox;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<Engine> engine;

  World() : clock(UtcTime{wall_now().ms - 3'600'000}) {
    REQUIRE(emulator.ok());
    INFO(emulator.error());
    REQUIRE_FALSE(emulator.add_user("Alice Sync", "alice-token-1234").empty());
    other_user = emulator.add_user("Bob Other", "bob-token-1234");
    REQUIRE_FALSE(other_user.empty());
    std::ofstream(dir.path() / "token") << "alice-token-1234\n";
    SoapCrmConfig config;
    config.base_url = emulator.base_url();
    config.auth.type = SoapCrmAuth::Type::kBearerFile;
    config.auth.token_file = (dir.path() / "token").string();
    config.request_timeout = 10s;
    config.jitter_seed = 7;
    config.sleep = [this](std::chrono::milliseconds d) { adapter_clock.advance(d); };
    crm = make_soap_crm_adapter(config, adapter_clock);
    auto m = open_mock_mailbox((dir.path() / "mailbox.db").string(), clock);
    REQUIRE(m.ok());
    mailbox = std::move(*m);
    auto c = Cache::open((dir.path() / "cache.db").string());
    REQUIRE(c.ok());
    cache = std::move(*c);
    engine = std::make_unique<Engine>(*cache, *mailbox, *crm, clock, EngineSettings{});
  }

  CycleReport sync() {
    clock.advance(1s);
    auto r = engine->run_cycle();
    INFO((r.failure ? r.failure->describe() : std::string("no failure")));
    REQUIRE(r.result != CycleResult::kFailed);
    return r;
  }

  // A tracked contact, synced to CRM; returns its entry id and record id.
  std::pair<EntryId, std::string> synced_contact(const FieldMap& fields) {
    clock.advance(1s);
    auto e = mailbox->add(ItemKind::kContact, std::nullopt, fields, true, Surface::kNone);
    REQUIRE(e.ok());
    auto r = sync();
    REQUIRE(r.item_errors == 0);
    auto item = mailbox->get(*e);
    REQUIRE(item.ok());
    REQUIRE(item->link.crm_id);
    return {*e, item->link.crm_id->str()};
  }

  std::string field(const EntryId& e, const std::string& name) {
    auto item = mailbox->get(e);
    REQUIRE(item.ok());
    auto v = item->item.find(name);
    if (v == nullptr) return "<absent>";
    const auto* s = std::get_if<std::string>(v);
    return s ? *s : "<not text>";
  }

  // The record's attribute as the emulator holds it (its own view, not the adapter's).
  std::string crm_attr(const std::string& id, const std::string& name) {
    auto r = emulator.admin("GET", "/admin/records/contact");
    REQUIRE(r.ok());
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    REQUIRE(doc.IsArray());
    for (const auto& rec : doc.GetArray()) {
      if (std::string(rec["id"].GetString()) != id) continue;
      const auto& a = rec["attributes"];
      if (!a.HasMember(name.c_str())) return "<absent>";
      return a[name.c_str()].IsString() ? a[name.c_str()].GetString() : "<not text>";
    }
    FAIL("no contact " << id << " in the emulator");
    return {};
  }

  // Another CRM user's edit, made when the engine next updates the record.
  void hook_before_update(const std::string& id, const std::string& attributes_json) {
    auto r = emulator.admin("POST", "/admin/hooks",
                            R"({"before_update":[{"entity":"contact","id":")" + id +
                                R"(","systemuserid":")" + other_user + R"(","attributes":)" +
                                attributes_json + "}]}");
    REQUIRE(r.ok());
    REQUIRE(r->status == 200);
  }

  // How many requests of the log since `from` carry `text` in their body.
  int requests_with(std::size_t from, const std::string& text) {
    auto r = emulator.admin("GET", "/admin/requests");
    REQUIRE(r.ok());
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    REQUIRE(doc.IsArray());
    int n = 0;
    for (rapidjson::SizeType i = static_cast<rapidjson::SizeType>(from); i < doc.Size(); ++i)
      if (std::string(doc[i]["body"].GetString()).find(text) != std::string::npos) ++n;
    return n;
  }
  std::size_t request_count() {
    auto r = emulator.admin("GET", "/admin/requests");
    REQUIRE(r.ok());
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    return doc.Size();
  }
};

}  // namespace

TEST_CASE("U6 contract: records carry their row version - a stale one is kConflict",
          "[u6][contract][emulator]") {
  World w;
  const CrmId id = CrmId::generate();
  REQUIRE(w.crm
              ->create(CrmEntity::kContact, id,
                       {{"lastname", std::string("Vers")}, {"jobtitle", std::string("A")}})
              .ok());
  auto read = w.crm->retrieve(CrmEntity::kContact, id);
  REQUIRE(read.ok());
  const std::string v1 = read->row_version;
  REQUIRE_FALSE(v1.empty());
  // Every way of reading a record names the same version.
  auto changes = w.crm->changes_since(CrmEntity::kContact, "", 1, "");
  REQUIRE(changes.ok());
  REQUIRE(changes->new_or_updated.size() == 1);
  CHECK(changes->new_or_updated[0].row_version == v1);
  auto listed = w.crm->modified_since(CrmEntity::kContact, UtcTime{0}, 1, "");
  REQUIRE(listed.ok());
  REQUIRE(listed->records.size() == 1);
  CHECK(listed->records[0].row_version == v1);

  REQUIRE(w.crm->update(CrmEntity::kContact, id, {{"jobtitle", std::string("B")}}, v1).ok());
  auto after = w.crm->retrieve(CrmEntity::kContact, id);
  REQUIRE(after.ok());
  CHECK(after->row_version != v1);
  auto stale = w.crm->update(CrmEntity::kContact, id, {{"jobtitle", std::string("C")}}, v1);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().is(ErrorKind::kConflict));
  CHECK(w.crm_attr(id.str(), "jobtitle") == "B");

  // A task closed through a conditional update: state and all in one request.
  const CrmId task = CrmId::generate();
  REQUIRE(w.crm->create(CrmEntity::kTask, task, {{"subject", std::string("Close")}}).ok());
  auto t = w.crm->retrieve(CrmEntity::kTask, task);
  REQUIRE(t.ok());
  REQUIRE(w.crm
              ->update(CrmEntity::kTask, task,
                       {{"subject", std::string("Closed")},
                        {"statecode", std::int64_t{1}},
                        {"statuscode", std::int64_t{5}}},
                       t->row_version)
              .ok());
  auto closed = w.crm->retrieve(CrmEntity::kTask, task);
  REQUIRE(closed.ok());
  CHECK(std::get<std::int64_t>(closed->attributes.at("statecode")) == 1);
  CHECK(std::get<std::int64_t>(closed->attributes.at("statuscode")) == 5);
  auto stale_close =
      w.crm->update(CrmEntity::kTask, task, {{"statecode", std::int64_t{0}}}, t->row_version);
  REQUIRE_FALSE(stale_close.ok());
  CHECK(stale_close.error().is(ErrorKind::kConflict));
}

TEST_CASE("U6 M2: a CRM edit of one field between the read and the write - both edits survive",
          "[u6][emulator]") {
  World w;
  auto [e, id] = w.synced_contact({{"FirstName", std::string("Ann")},
                                   {"LastName", std::string("Lee")},
                                   {"JobTitle", std::string("Engineer")}});
  w.clock.advance(10s);
  REQUIRE(w.mailbox->set(e, {{"JobTitle", std::string("Manager")}}, Surface::kNone).ok());
  w.hook_before_update(id, R"({"firstname":"Anna"})");
  const std::size_t before = w.request_count();

  auto r = w.sync();
  CHECK(r.item_errors == 0);
  CHECK(r.conflicts == 0);
  // The store's edit of JobTitle and CRM's edit of FirstName are on both sides.
  CHECK(w.field(e, "FirstName") == "Anna");
  CHECK(w.field(e, "JobTitle") == "Manager");
  CHECK(w.crm_attr(id, "firstname") == "Anna");
  CHECK(w.crm_attr(id, "jobtitle") == "Manager");
  CHECK(w.cache->conflicts(10).value().empty());
  // The first conditional update met the other user's edit, the second went through.
  CHECK(w.requests_with(before, "IfRowVersionMatches") == 2);

  // M5: both sides and the original state agree: the next cycle writes nothing.
  const std::size_t settled = w.request_count();
  auto again = w.sync();
  CHECK(again.to_crm == 0);
  CHECK(again.to_store == 0);
  CHECK(w.requests_with(settled, "UpdateRequest") == 0);
}

TEST_CASE("U6 M3: a CRM edit of the same field between the read and the write - a conflict record",
          "[u6][emulator]") {
  World w;
  auto [e, id] =
      w.synced_contact({{"LastName", std::string("Kim")}, {"JobTitle", std::string("Engineer")}});
  SECTION("the CRM edit is the more recent: it wins, the store's value is in the conflict") {
    REQUIRE(w.mailbox->set(e, {{"JobTitle", std::string("Manager")}}, Surface::kNone).ok());
    w.hook_before_update(id, R"({"jobtitle":"Director"})");
    auto r = w.sync();
    CHECK(r.item_errors == 0);
    CHECK(r.conflicts == 1);
    CHECK(w.field(e, "JobTitle") == "Director");
    CHECK(w.crm_attr(id, "jobtitle") == "Director");
    auto c = w.cache->conflicts(10).value();
    REQUIRE(c.size() == 1);
    CHECK(c[0].field == "JobTitle");
    CHECK(c[0].store_value == Value{std::string("Manager")});
    CHECK(c[0].crm_value == Value{std::string("Director")});
    CHECK(c[0].winner == "crm");
  }
  SECTION("the store edit is the more recent: it wins, CRM's value is in the conflict") {
    w.clock.set_wall(UtcTime{wall_now().ms + 3'600'000});
    REQUIRE(w.mailbox->set(e, {{"JobTitle", std::string("Manager")}}, Surface::kNone).ok());
    w.hook_before_update(id, R"({"jobtitle":"Director"})");
    auto r = w.sync();
    CHECK(r.item_errors == 0);
    CHECK(r.conflicts == 1);
    CHECK(w.field(e, "JobTitle") == "Manager");
    CHECK(w.crm_attr(id, "jobtitle") == "Manager");
    auto c = w.cache->conflicts(10).value();
    REQUIRE(c.size() == 1);
    CHECK(c[0].store_value == Value{std::string("Manager")});
    CHECK(c[0].crm_value == Value{std::string("Director")});
    CHECK(c[0].winner == "store");
  }
  auto again = w.sync();
  CHECK(again.to_crm == 0);
  CHECK(again.to_store == 0);
  CHECK(again.conflicts == 0);
}

#endif  // CRM_EMULATOR_PATH
