// SPEC U4 end to end: the engine, the mock mailbox and the SOAP adapter against the real
// crm-emulator, whose users carry the organization's default Outlook filters. An organization
// of other people's contacts and a few of Alice's: her first sync transfers hers, not the
// organization's. The figures (records and reply bytes against the old full change fetch) are
// printed; CRMSYNC_U4_OTHERS sets the organization's size (default 2,000; the note's run used
// 20,000).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "crmsync/core/cache.hpp"
#include "crmsync/core/engine.hpp"
#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/crm_soap/transport.hpp"
#include "crmsync/model/mapping.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#include "emulator_process.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

#ifdef CRM_EMULATOR_PATH

namespace {

// Counts requests and reply bytes on their way through a real HTTP client.
class CountingTransport final : public http::Transport {
 public:
  explicit CountingTransport(std::unique_ptr<http::Transport> inner) : inner_(std::move(inner)) {}
  Result<http::Response> send(const http::Request& request, http::SendInfo* info) override {
    ++requests;
    sent_bytes += request.body.size();
    auto r = inner_->send(request, info);
    if (r.ok()) reply_bytes += r->body.size();
    return r;
  }
  std::int64_t requests = 0, sent_bytes = 0, reply_bytes = 0;

 private:
  std::unique_ptr<http::Transport> inner_;
};

SoapCrmConfig config_for(const crmtest::EmulatorProcess& e, const std::string& token_file) {
  SoapCrmConfig c;
  c.base_url = e.base_url();
  c.auth.type = SoapCrmAuth::Type::kBearerFile;
  c.auth.token_file = token_file;
  c.request_timeout = 60s;
  c.jitter_seed = 7;
  return c;
}

int others_count() {
  const char* n = std::getenv("CRMSYNC_U4_OTHERS");
  return n && std::atoi(n) > 0 ? std::atoi(n) : 2000;
}

}  // namespace

TEST_CASE(
    "U4: Alice's first sync transfers her records through her filters, not the "
    "organization's",
    "[contract][emulator][filters]") {
  crmtest::EmulatorProcess emulator{CRM_EMULATOR_PATH};
  REQUIRE(emulator.ok());
  crmtest::TempDir dir;
  const CrmId alice = CrmId::parse(emulator.add_user("Alice Adams", "alice-token-1234")).value();
  const CrmId bob = CrmId::parse(emulator.add_user("Bob Brown", "bob-token-5678")).value();
  std::ofstream(dir.path() / "alice") << "alice-token-1234\n";
  std::ofstream(dir.path() / "bob") << "bob-token-5678\n";
  FakeClock clock;

  // The organization, created by Bob in batches: his contacts, Alice's, tasks of both,
  // appointments of Bob's where she attends and where she does not.
  const int others = others_count();
  auto as_bob = make_soap_crm_adapter(config_for(emulator, (dir.path() / "bob").string()), clock);
  std::vector<CrmOperation> ops;
  auto create = [&](CrmEntity e, FieldMap attrs, const CrmId& owner) {
    attrs.insert_or_assign("ownerid", Value{EntityRef{"systemuser", owner, ""}});
    ops.push_back({CrmOperation::Type::kCreate, e, CrmId::generate(), std::move(attrs)});
    if (ops.size() == 1000) {
      auto r = as_bob->execute_batch(ops);
      REQUIRE(r.ok());
      for (const auto& one : *r) REQUIRE(one.ok());
      ops.clear();
    }
  };
  PartyList with_her{{"", "", EntityRef{"systemuser", bob, ""}},
                     {"", "", EntityRef{"systemuser", alice, ""}}};
  PartyList without_her{{"", "", EntityRef{"systemuser", bob, ""}}};
  for (int i = 0; i < others; ++i)
    create(CrmEntity::kContact, {{"lastname", Value{"Other " + std::to_string(i)}}}, bob);
  for (int i = 0; i < 200; ++i)
    create(CrmEntity::kContact, {{"lastname", Value{"Hers " + std::to_string(i)}}}, alice);
  for (int i = 0; i < 30; ++i) {
    create(CrmEntity::kTask, {{"subject", Value{std::string("her task")}}}, alice);
    create(CrmEntity::kTask, {{"subject", Value{std::string("bob's task")}}}, bob);
  }
  for (int i = 0; i < 20; ++i) {
    create(CrmEntity::kAppointment,
           {{"subject", Value{std::string("with her")}}, {"requiredattendees", Value{with_her}}},
           bob);
    create(
        CrmEntity::kAppointment,
        {{"subject", Value{std::string("without her")}}, {"requiredattendees", Value{without_her}}},
        bob);
  }
  if (!ops.empty()) REQUIRE(as_bob->execute_batch(ops).ok());

  // Before: the first sync's full change fetch of every entity (the organization).
  std::int64_t old_records = 0;
  auto old_transport =
      std::make_unique<CountingTransport>(std::make_unique<http::Client>(http::ClientOptions{}));
  CountingTransport& old_count = *old_transport;
  auto old_crm = make_soap_crm_adapter(config_for(emulator, (dir.path() / "alice").string()), clock,
                                       std::move(old_transport));
  for (CrmEntity e : kAllCrmEntities) {
    std::string cookie;
    for (int page = 1;; ++page) {
      auto p = old_crm->changes_since(e, "", page, cookie);
      REQUIRE(p.ok());
      old_records += static_cast<std::int64_t>(p->new_or_updated.size());
      if (!p->more) break;
      cookie = p->paging_cookie;
    }
  }

  // Now: a real first cycle as Alice.
  auto transport =
      std::make_unique<CountingTransport>(std::make_unique<http::Client>(http::ClientOptions{}));
  CountingTransport& count = *transport;
  auto crm = make_soap_crm_adapter(config_for(emulator, (dir.path() / "alice").string()), clock,
                                   std::move(transport));
  auto filters = crm->sync_filters();
  REQUIRE(filters.ok());
  REQUIRE_FALSE(filters->empty());
  auto mailbox = open_mock_mailbox((dir.path() / "mailbox.db").string(), clock).value();
  auto cache = Cache::open((dir.path() / "cache.db").string()).value();
  EngineSettings settings;
  settings.user_filters = true;
  Engine engine(*cache, *mailbox, *crm, clock, settings);
  count.requests = count.sent_bytes = count.reply_bytes = 0;
  auto report = engine.run_cycle();
  INFO((report.failure ? report.failure->describe() : std::string("ok")));
  REQUIRE(report.result == CycleResult::kOk);
  const auto contacts = mailbox->list(ItemKind::kContact).value();
  const auto tasks = mailbox->list(ItemKind::kTask).value();
  const auto appointments = mailbox->list(ItemKind::kAppointment).value();
  CHECK(contacts.size() == 200);
  for (const auto& c : contacts) CHECK(c.item.text("LastName").rfind("Hers ", 0) == 0);
  CHECK(tasks.size() == 30);
  for (const auto& t : tasks) CHECK(t.item.text("Subject") == "her task");
  CHECK(appointments.size() == 20);
  for (const auto& a : appointments) CHECK(a.item.text("Subject") == "with her");
  const std::int64_t new_records =
      static_cast<std::int64_t>(contacts.size() + tasks.size() + appointments.size());
  WARN("U4 first sync, " << others + 200 << " contacts, 60 tasks, 40 appointments in CRM: "
                         << "organization-wide change fetch " << old_records << " records in "
                         << old_count.requests << " requests, " << old_count.reply_bytes
                         << " reply bytes; Alice's filters " << new_records << " records, whole "
                         << "cycle " << count.requests << " requests, " << count.reply_bytes
                         << " reply bytes");
  CHECK(old_records >= others + 200);
  CHECK(count.reply_bytes * 4 < old_count.reply_bytes);
  // The second cycle asks for what changed since and writes nothing.
  clock.advance(1min);
  count.requests = count.reply_bytes = 0;
  auto again = engine.run_cycle();
  CHECK(again.result == CycleResult::kOk);
  CHECK(again.to_store == 0);
  CHECK(again.to_crm == 0);
}

#endif

#ifdef CRM_EMULATOR_PATH
TEST_CASE("U4: a record read through a filter carries what the change fetch carries",
          "[contract][emulator][filters]") {
  crmtest::EmulatorProcess emulator{CRM_EMULATOR_PATH};
  REQUIRE(emulator.ok());
  crmtest::TempDir dir;
  const CrmId alice = CrmId::parse(emulator.add_user("Alice Adams", "alice-token-1234")).value();
  std::ofstream(dir.path() / "alice") << "alice-token-1234\n";
  FakeClock clock;
  auto crm = make_soap_crm_adapter(config_for(emulator, (dir.path() / "alice").string()), clock);
  PartyList me{{"", "", EntityRef{"systemuser", alice, ""}}};
  PartyList guest{{"guest@example.com", "", std::nullopt}};
  REQUIRE(crm->create(CrmEntity::kAppointment, CrmId::generate(),
                      {{"subject", Value{std::string("Review")}},
                       {"location", Value{std::string("Room 1")}},
                       {"scheduledstart", Value{UtcTime::parse("2030-01-01T10:00:00Z").value()}},
                       {"scheduledend", Value{UtcTime::parse("2030-01-01T11:00:00Z").value()}},
                       {"organizer", Value{me}},
                       {"requiredattendees", Value{guest}},
                       {"optionalattendees", Value{me}}})
              .ok());
  auto changes = crm->changes_since(CrmEntity::kAppointment, "", 1, "");
  REQUIRE(changes.ok());
  REQUIRE(changes->new_or_updated.size() == 1);
  auto filters = crm->sync_filters();
  REQUIRE(filters.ok());
  const SyncFilter* appointments = nullptr;
  for (const auto& f : *filters)
    if (f.entity == CrmEntity::kAppointment) appointments = &f;
  REQUIRE(appointments);
  auto page = crm->filtered(*appointments, std::nullopt, false, 1, "");
  REQUIRE(page.ok());
  REQUIRE(page->records.size() == 1);
  const CrmRecord& a = changes->new_or_updated.front();
  const CrmRecord& b = page->records.front();
  for (const auto& column : mapping_for(CrmEntity::kAppointment).crm_columns()) {
    INFO(column);
    auto ia = a.attributes.find(column);
    auto ib = b.attributes.find(column);
    CHECK((ia == a.attributes.end()) == (ib == b.attributes.end()));
    if (ia != a.attributes.end() && ib != b.attributes.end()) CHECK(ia->second == ib->second);
  }
  CHECK(a.owner == b.owner);
  CHECK(a.modified_on == b.modified_on);
  // U4's watermark skips a record by its version: read as the versionnumber column (FetchXML
  // results carry no RowVersion member), the same number, and no field of the record.
  CHECK_FALSE(b.row_version.empty());
  CHECK(b.row_version == a.row_version);
  CHECK_FALSE(b.attributes.count("versionnumber"));
}
#endif
