// SPEC U2: the user's decisions, acted on by the sync worker with the rules of the seed's
// buttons (a real cache and mock mailbox, the in-memory CRM). Refusals are 4xx answers that
// change nothing: the mailbox's change log, the items and the cache stay as they were.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "rig.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
using test::Rig;
using Type = status::Decision::Type;

namespace {

status::Decision decision(Type type, std::string entry_id = "") {
  status::Decision d;
  d.type = type;
  d.entry_id = std::move(entry_id);
  return d;
}

rapidjson::Document body(const status::DecisionReply& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

std::string error_of(const status::DecisionReply& r) {
  auto d = body(r);
  REQUIRE(d.IsObject());
  REQUIRE(d.HasMember("error"));
  return d["error"].GetString();
}

FieldMap text(std::initializer_list<std::pair<const char*, const char*>> kv) {
  FieldMap out;
  for (const auto& [k, v] : kv) out[k] = Value(std::string(v));
  return out;
}

}  // namespace

TEST_CASE("U2 T2: track through the daemon is the explorer's track - at once on a primary",
          "[service][U2]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto id = mb->add(ItemKind::kContact, std::nullopt, text({{"LastName", "Tracked"}}), false,
                    Surface::kNone);
  REQUIRE(id.ok());
  auto r = rig.decide(decision(Type::kTrack, id->str()));
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto d = body(r);
  CHECK(std::string(d["action"].GetString()) == "track");
  CHECK(std::string(d["timing"].GetString()) == "now");
  CHECK(d["event"].GetInt64() == *mb->last_event_seq());
  // T2: the immediate sync links it without a manual or periodic sync.
  // (The id is written pending before the create, X1; the link is done once it is confirmed.)
  REQUIRE(test::eventually(
      [&] {
        auto link = mb->get(*id)->link;
        return link.crm_id.has_value() && !link.crm_id_pending;
      },
      10s));
  CHECK(mb->get(*id)->categories == std::vector<std::string>{"Tracked to Dynamics 365"});

  // A replay: 409, and nothing is written.
  const auto seq = *mb->last_event_seq();
  auto again = rig.decide(decision(Type::kTrack, id->str()));
  CHECK(again.status == 409);
  CHECK_THAT(error_of(again), Catch::Contains("tracked already"));
  CHECK(*mb->last_event_seq() == seq);
}

TEST_CASE("U2: unknown ids and another profile's mailbox are 404 - nothing changes",
          "[service][U2]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto contact = mb->add(ItemKind::kContact, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(contact.ok());
  // An item of another mailbox: its id means nothing here.
  auto other = open_mock_mailbox(rig.dir.file("other-mailbox.db"), system_clock());
  REQUIRE(other.ok());
  auto foreign = (*other)->add(ItemKind::kTask, std::nullopt, {}, false, Surface::kNone);
  REQUIRE(foreign.ok());
  const auto seq = *mb->last_event_seq();
  const auto key = mb->get(*contact)->change_key;

  for (Type t : {Type::kTrack, Type::kUntrack, Type::kRegarding}) {
    auto d = decision(t, foreign->str());
    d.regarding = "account:6f1c0000-0000-4000-8000-000000000001";
    auto r = rig.decide(d);
    CHECK(r.status == 404);
    CHECK_THAT(error_of(r),
               Catch::Contains("no item " + foreign->str()) && Catch::Contains("profile t"));
  }
  auto conflict = decision(Type::kResolveConflict);
  conflict.id = 999;
  conflict.keep = "crm";
  CHECK(rig.decide(conflict).status == 404);
  for (Type t : {Type::kRetryError, Type::kIgnoreError}) {
    auto e = decision(t);
    e.id = 999;
    auto r = rig.decide(e);
    CHECK(r.status == 404);
    CHECK_THAT(error_of(r), Catch::Contains("no item error 999"));
  }
  for (Type t : {Type::kConfirmDeletions, Type::kRejectDeletions}) {
    auto r = rig.decide(decision(t));
    CHECK(r.status == 409);
    CHECK_THAT(error_of(r), Catch::Contains("no deletions are held back"));
  }
  // A contact has no Regarding: 400.
  auto regarding = decision(Type::kRegarding, contact->str());
  regarding.regarding = "account:6f1c0000-0000-4000-8000-000000000001";
  CHECK(rig.decide(regarding).status == 400);
  // Untracking what is not tracked: 409.
  CHECK(rig.decide(decision(Type::kUntrack, contact->str())).status == 409);

  CHECK(*mb->last_event_seq() == seq);
  CHECK(mb->get(*contact)->change_key == key);
  CHECK((*other)->get(*foreign)->link == CrmLink{});
  CHECK(rig.cycles() == 0);
}

TEST_CASE("U2 D4 D11: untrack with delete in CRM of an open task deletes it at the next sync",
          "[service][U2]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto task = mb->add(ItemKind::kTask, std::nullopt, text({{"Subject", "Call back"}}), true,
                      Surface::kNone);
  REQUIRE(task.ok());
  REQUIRE(rig.sync().result == "ok");
  const CrmId crm_id = *mb->get(*task)->link.crm_id;
  REQUIRE(rig.crm->find(crm_id));

  auto d = decision(Type::kUntrack, task->str());
  d.delete_in_crm = true;
  auto r = rig.decide(d);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(body(r)["delete_in_crm"].GetBool());
  CHECK(std::string(body(r)["timing"].GetString()) == "next-sync");  // T2: no explorer untrack
  CHECK_FALSE(mb->get(*task)->link.tracked);
  CHECK(rig.crm->find(crm_id));
  auto cycle = rig.sync();
  CHECK(cycle.summary.deleted_in_crm == 1);
  CHECK_FALSE(rig.crm->find(crm_id));
  CHECK(mb->get(*task).ok());  // the item stays in the mailbox, untracked
}

TEST_CASE("U2 T2: set regarding through the daemon goes to CRM at once", "[service][U2]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto task =
      mb->add(ItemKind::kTask, std::nullopt, text({{"Subject", "Quote"}}), true, Surface::kNone);
  REQUIRE(task.ok());
  REQUIRE(rig.sync().result == "ok");
  const CrmId crm_id = *mb->get(*task)->link.crm_id;
  const std::string account = "account:6f1c0000-0000-4000-8000-0000000000aa";
  auto d = decision(Type::kRegarding, task->str());
  d.regarding = account;
  auto r = rig.decide(d);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(std::string(body(r)["action"].GetString()) == "set-regarding");
  CHECK(std::string(body(r)["timing"].GetString()) == "now");
  const EntityRef want = EntityRef::parse(account).value();
  REQUIRE(test::eventually([&] { return rig.cycles() == 2; }, 10s));  // the immediate one
  auto rec = rig.crm->find(crm_id);
  REQUIRE(rec);
  REQUIRE(rec->attributes.count("regardingobjectid"));
  CHECK(std::get<EntityRef>(rec->attributes.at("regardingobjectid")) == want);
  // A replay: 409, nothing written.
  const auto seq = *mb->last_event_seq();
  CHECK(rig.decide(d).status == 409);
  CHECK(*mb->last_event_seq() == seq);
}

TEST_CASE("U2 M3: a conflict kept from the mailbox goes to CRM - a settled one is 404",
          "[service][U2]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto id = mb->add(ItemKind::kContact, std::nullopt,
                    text({{"LastName", "Lee"}, {"JobTitle", "Founder"}}), true, Surface::kNone);
  REQUIRE(id.ok());
  REQUIRE(rig.sync().result == "ok");
  const CrmId crm_id = *mb->get(*id)->link.crm_id;
  // Both sides change JobTitle; CRM's change is the later one and wins (M2).
  REQUIRE(mb->set(*id, text({{"JobTitle", "CEO"}}), Surface::kNone).ok());
  std::this_thread::sleep_for(5ms);  // CRM's modifiedon strictly later than the item's
  rig.crm->edit(crm_id, text({{"jobtitle", "CTO"}}));
  auto merged = rig.sync();
  REQUIRE(merged.summary.conflicts == 1);
  auto s = rig.state();
  REQUIRE(s->conflicts.size() == 1);
  const auto c = s->conflicts.front();
  CHECK(c.field == "JobTitle");
  CHECK(c.winner == "crm");
  CHECK(c.store_value == "CEO");
  CHECK(c.crm_value == "CTO");
  REQUIRE(c.base_value);
  CHECK(*c.base_value == "Founder");
  CHECK(mb->get(*id)->item.text("JobTitle") == "CTO");

  auto resolve = decision(Type::kResolveConflict);
  resolve.id = c.id;
  resolve.keep = "mailbox";
  auto r = rig.decide(resolve);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(body(r)["written"].GetBool());
  CHECK(mb->get(*id)->item.text("JobTitle") == "CEO");
  CHECK(rig.state()->conflicts.empty());
  rig.sync();
  auto rec = rig.crm->find(crm_id);
  REQUIRE(rec);
  CHECK(std::get<std::string>(rec->attributes.at("jobtitle")) == "CEO");

  // Settled: a replay is 404, and nothing is written.
  const auto key = mb->get(*id)->change_key;
  CHECK(rig.decide(resolve).status == 404);
  CHECK(mb->get(*id)->change_key == key);
}

TEST_CASE("U2 M3: a field changed since its conflict is kept as it is - merged dismisses",
          "[service][U2]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto id = mb->add(ItemKind::kContact, std::nullopt, text({{"JobTitle", "Founder"}}), true,
                    Surface::kNone);
  REQUIRE(id.ok());
  rig.sync();
  const CrmId crm_id = *mb->get(*id)->link.crm_id;
  REQUIRE(mb->set(*id, text({{"JobTitle", "CEO"}}), Surface::kNone).ok());
  std::this_thread::sleep_for(5ms);
  rig.crm->edit(crm_id, text({{"jobtitle", "CTO"}}));
  rig.sync();
  REQUIRE(rig.state()->conflicts.size() == 1);
  const auto id_of_conflict = rig.state()->conflicts.front().id;
  REQUIRE(mb->set(*id, text({{"JobTitle", "Chair"}}), Surface::kNone).ok());  // a later edit
  const auto key = mb->get(*id)->change_key;
  auto resolve = decision(Type::kResolveConflict);
  resolve.id = id_of_conflict;
  resolve.keep = "mailbox";
  auto r = rig.decide(resolve);
  CHECK(r.status == 409);
  CHECK_THAT(error_of(r), Catch::Contains("changed since conflict"));
  CHECK(mb->get(*id)->change_key == key);
  resolve.keep = "merged";
  CHECK(rig.decide(resolve).status == 200);
  CHECK(rig.state()->conflicts.empty());
  CHECK(mb->get(*id)->change_key == key);
}

TEST_CASE("U2 D10: held deletions confirmed by id go alone - rejected ones keep both sides",
          "[service][U2]") {
  Rig rig;
  rig.config.sync.mass_delete_ratio = 0.1;
  rig.config.sync.mass_delete_min = 2;
  rig.start();
  auto mb = rig.mailbox();
  std::vector<EntryId> tasks;
  for (int i = 0; i < 10; ++i) {
    auto t =
        mb->add(ItemKind::kTask, std::nullopt,
                text({{"Subject", ("Task " + std::to_string(i)).c_str()}}), true, Surface::kNone);
    REQUIRE(t.ok());
    tasks.push_back(*t);
  }
  REQUIRE(rig.sync().result == "ok");
  std::vector<CrmId> records;
  for (const auto& t : tasks) records.push_back(*mb->get(t)->link.crm_id);
  for (int i = 0; i < 6; ++i) REQUIRE(mb->remove(tasks[i], Surface::kNone).ok());
  CHECK(rig.sync().result == "mass-delete-held");
  auto held = rig.state()->deletions;
  REQUIRE(held.size() == 6);
  for (const auto& h : held) {
    CHECK(h.side == "crm");
    CHECK(h.change == "delete");
    CHECK(h.entity == "task");
  }
  auto record_of = [](const status::HeldDeletion& h) { return CrmId::parse(h.crm_id).value(); };

  auto unknown = decision(Type::kConfirmDeletions);
  unknown.ids = {held[0].id, 999};
  CHECK(rig.decide(unknown).status == 404);
  CHECK(rig.state()->deletions.size() == 6);

  auto confirm = decision(Type::kConfirmDeletions);
  confirm.ids = {held[0].id};
  auto r = rig.decide(confirm);
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto d = body(r);
  CHECK(d["confirmed"][0].GetInt64() == held[0].id);
  CHECK(d["cycle"]["deleted_in_crm"].GetInt() == 1);
  CHECK_FALSE(rig.crm->find(record_of(held[0])));  // D4: an open task of the user's
  for (std::size_t i = 1; i < held.size(); ++i) CHECK(rig.crm->find(record_of(held[i])));
  REQUIRE(rig.state()->deletions.size() == 5);  // still over the guard's share

  auto reject = decision(Type::kRejectDeletions);
  reject.ids = {held[1].id};
  REQUIRE(rig.decide(reject).status == 200);
  CHECK(rig.crm->find(record_of(held[1])));  // stays in CRM, unlinked
  CHECK(rig.decide(reject).status == 404);   // a replay
  REQUIRE(rig.state()->deletions.size() == 4);
  CHECK(rig.sync().result == "mass-delete-held");  // the rest still waits for the user

  auto all = rig.decide(decision(Type::kConfirmDeletions));
  REQUIRE(all.status == 200);
  CHECK(body(all)["cycle"]["deleted_in_crm"].GetInt() == 4);
  for (std::size_t i = 2; i < held.size(); ++i) CHECK_FALSE(rig.crm->find(record_of(held[i])));
  CHECK(rig.state()->deletions.empty());
  CHECK(rig.decide(decision(Type::kConfirmDeletions)).status == 409);
  CHECK(rig.sync().result == "ok");
  for (int i = 6; i < 10; ++i) CHECK(rig.crm->find(records[i]));
}

TEST_CASE(
    "U2 E1: retry runs the item now - ignore drops its change and untracks what never "
    "synced",
    "[service][U2]") {
  Rig rig;
  rig.seed_crm = [](fakes::FakeCrm& crm) { crm.set_max_length("jobtitle", 5); };
  rig.start();
  auto mb = rig.mailbox();
  auto id =
      mb->add(ItemKind::kContact, std::nullopt,
              text({{"LastName", "Long"}, {"JobTitle", "Chief Executive"}}), true, Surface::kNone);
  REQUIRE(id.ok());
  CHECK(rig.sync().result == "item-errors");
  auto errors = rig.state()->errors;
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].entry_id == id->str());
  CHECK(errors[0].attempts == 1);

  auto retry = decision(Type::kRetryError);
  retry.id = errors[0].id;
  auto r = rig.decide(retry);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(std::string(body(r)["cycle"]["result"].GetString()) == "item-errors");  // still too long
  REQUIRE(rig.state()->errors.size() == 1);
  CHECK(rig.state()->errors[0].attempts == 2);  // it ran now, despite E1's backoff

  auto ignore = decision(Type::kIgnoreError);
  ignore.id = errors[0].id;
  auto i = rig.decide(ignore);
  REQUIRE(i.status == 200);
  CHECK(body(i)["unlinked"].GetBool());
  CHECK(rig.state()->errors.empty());
  CHECK_FALSE(mb->get(*id)->link.tracked);  // never synced: untracked, not taken up again
  CHECK(rig.sync().result == "ok");
  CHECK(rig.decide(ignore).status == 404);  // a replay

  // A synced pair whose later change fails: ignoring keeps the pair linked.
  auto ok = mb->add(ItemKind::kContact, std::nullopt, text({{"LastName", "Short"}}), true,
                    Surface::kNone);
  REQUIRE(ok.ok());
  REQUIRE(rig.sync().result == "ok");
  REQUIRE(mb->set(*ok, text({{"JobTitle", "Chief Executive"}}), Surface::kNone).ok());
  CHECK(rig.sync().result == "item-errors");
  REQUIRE(rig.state()->errors.size() == 1);
  ignore.id = rig.state()->errors[0].id;
  auto kept = rig.decide(ignore);
  REQUIRE(kept.status == 200);
  CHECK_FALSE(body(kept)["unlinked"].GetBool());
  CHECK(mb->get(*ok)->link.tracked);
  CHECK(rig.sync().result == "ok");
}

TEST_CASE("U2: items lists the mailbox with what the cache knows - filtered", "[service][U2]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto a =
      mb->add(ItemKind::kContact, std::nullopt, text({{"FirstName", "Ada"}}), true, Surface::kNone);
  auto b = mb->add(ItemKind::kTask, std::nullopt, text({{"Subject", "Ada's task"}}), false,
                   Surface::kNone);
  auto c =
      mb->add(ItemKind::kTask, std::nullopt, text({{"Subject", "Other"}}), false, Surface::kNone);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  rig.sync();
  auto all = body(rig.decide(decision(Type::kItems)));
  REQUIRE(all.IsArray());
  CHECK(all.Size() == 4);  // with the contact the CRM brought
  auto q = decision(Type::kItems);
  q.text = "ADA";
  auto ada = body(rig.decide(q));
  REQUIRE(ada.Size() == 2);
  q.tracked = true;
  auto tracked = body(rig.decide(q));
  REQUIRE(tracked.Size() == 1);
  CHECK(std::string(tracked[0]["entry_id"].GetString()) == a->str());
  CHECK(tracked[0]["linked"].GetBool());
  CHECK(tracked[0]["crm_id"].IsString());
  q = decision(Type::kItems);
  q.kind = "task";
  q.limit = 1;
  auto one = body(rig.decide(q));
  REQUIRE(one.Size() == 1);
  CHECK(std::string(one[0]["kind"].GetString()) == "task");
}
