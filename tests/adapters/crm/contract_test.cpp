// The CrmAdapter contract, run against the real crm-emulator process (STYLE 11): the same
// expectations any CRM adapter must meet, on the wire format of the real service.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "emulator_process.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

namespace {

struct Env {
  crmtest::EmulatorProcess emulator{CRM_EMULATOR_PATH};
  crmtest::TempDir dir;
  FakeClock clock;
  std::vector<std::chrono::milliseconds> waits;
  std::string user_id;
  SoapCrmConfig config;
  std::unique_ptr<CrmAdapter> crm;

  explicit Env(int page_size = 500) {
    REQUIRE(emulator.ok());
    INFO(emulator.error());
    user_id = emulator.add_user("Alice Example", "alice-token-1234");
    REQUIRE_FALSE(user_id.empty());
    std::ofstream(dir.path() / "token") << "alice-token-1234\n";
    config.base_url = emulator.base_url();
    config.auth.type = SoapCrmAuth::Type::kBearerFile;
    config.auth.token_file = (dir.path() / "token").string();
    config.page_size = page_size;
    config.request_timeout = 10s;
    config.max_attempts = 8;
    config.jitter_seed = 7;
    // Waits are recorded and the fake clock moved; nothing sleeps for real.
    config.sleep = [this](std::chrono::milliseconds d) {
      waits.push_back(d);
      clock.advance(d);
    };
    crm = make_soap_crm_adapter(config, clock);
  }

  void faults(const std::string& json) {
    auto r = emulator.admin("POST", "/admin/faults", json);
    REQUIRE(r.ok());
    REQUIRE(r->status == 200);
  }

  // How many records of that entity have that id, from the emulator's own view.
  int count_records(const std::string& entity, const CrmId& id) {
    auto r = emulator.admin("GET", "/admin/records/" + entity);
    REQUIRE(r.ok());
    rapidjson::Document doc;
    doc.Parse(r->body.c_str());
    REQUIRE(doc.IsArray());
    int n = 0;
    for (const auto& rec : doc.GetArray())
      if (rec.HasMember("id") && rec["id"].IsString() && CrmId::parse(rec["id"].GetString()).ok() &&
          CrmId::parse(rec["id"].GetString()).value() == id)
        ++n;
    return n;
  }
};

FieldMap contact(const std::string& first, const std::string& last, const std::string& email) {
  return {{"firstname", first}, {"lastname", last}, {"emailaddress1", email}};
}

std::string text(const CrmRecord& r, const std::string& attr) {
  auto it = r.attributes.find(attr);
  if (it == r.attributes.end()) return "<absent>";
  if (const auto* s = std::get_if<std::string>(&it->second)) return *s;
  if (std::holds_alternative<std::monostate>(it->second)) return "<null>";
  return "<" + std::string(type_name(it->second)) + ">";
}

std::int64_t integer(const CrmRecord& r, const std::string& attr) {
  auto it = r.attributes.find(attr);
  REQUIRE(it != r.attributes.end());
  REQUIRE(std::holds_alternative<std::int64_t>(it->second));
  return std::get<std::int64_t>(it->second);
}

}  // namespace

TEST_CASE("contract: who_am_i names the token's user", "[contract][emulator]") {
  Env env;
  auto who = env.crm->who_am_i();
  REQUIRE(who.ok());
  CHECK(who->user_id.str() == CrmId::parse(env.user_id).value().str());
  CHECK_FALSE(who->organization_id.is_nil());
}

TEST_CASE("contract: a wrong token is kPermission", "[contract][emulator]") {
  Env env;
  std::ofstream(env.dir.path() / "token", std::ios::trunc) << "not-the-token\n";
  auto who = env.crm->who_am_i();
  REQUIRE_FALSE(who.ok());
  CHECK(who.error().is(ErrorKind::kPermission));
  CHECK_THAT(who.error().message(), !Catch::Contains("not-the-token"));
}

TEST_CASE("contract: create with a chosen id - retrieve - duplicate is kConflict",
          "[contract][emulator]") {
  Env env;
  const CrmId id = CrmId::generate();
  REQUIRE(
      env.crm->create(CrmEntity::kContact, id, contact("Jane", "Doe", "jane@example.com")).ok());
  auto rec = env.crm->retrieve(CrmEntity::kContact, id);
  REQUIRE(rec.ok());
  CHECK(rec->id == id);
  CHECK(rec->entity == CrmEntity::kContact);
  CHECK(text(*rec, "firstname") == "Jane");
  CHECK(text(*rec, "lastname") == "Doe");
  CHECK(text(*rec, "emailaddress1") == "jane@example.com");
  CHECK(rec->modified_on.ms > 0);
  REQUIRE(rec->owner);
  CHECK(rec->owner->str() == CrmId::parse(env.user_id).value().str());
  auto dup = env.crm->create(CrmEntity::kContact, id, contact("X", "Y", "z@example.com"));
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().is(ErrorKind::kConflict));
  CHECK(env.count_records("contact", id) == 1);
}

TEST_CASE("contract: every value kind round-trips", "[contract][emulator]") {
  Env env;
  const CrmId other = CrmId::generate();
  REQUIRE(
      env.crm->create(CrmEntity::kContact, other, contact("Bob", "Party", "bob@example.com")).ok());
  const CrmId id = CrmId::generate();
  const UtcTime start = UtcTime::parse("2026-03-01T08:00:00Z").value();
  FieldMap attrs = {
      {"subject", std::string("Review <Q1> & \"plans\" — ünïcode")},
      {"location", std::string("Room 1")},
      {"scheduledstart", start},
      {"scheduledend", UtcTime{start.ms + 3'600'000}},
      {"scheduleddurationminutes", std::int64_t{60}},
      {"isalldayevent", false},
      {"prioritycode", std::int64_t{2}},
      {"regardingobjectid", EntityRef{"contact", other, ""}},
      {"requiredattendees", PartyList{Party{"bob@example.com", "", EntityRef{"contact", other, ""}},
                                      Party{"free@example.org", "", std::nullopt}}},
  };
  auto created = env.crm->create(CrmEntity::kAppointment, id, attrs);
  INFO((created.ok() ? "" : created.error().describe()));
  REQUIRE(created.ok());
  auto rec = env.crm->retrieve(CrmEntity::kAppointment, id);
  REQUIRE(rec.ok());
  CHECK(text(*rec, "subject") == "Review <Q1> & \"plans\" — ünïcode");
  CHECK(std::get<UtcTime>(rec->attributes.at("scheduledstart")) == start);
  CHECK(integer(*rec, "scheduleddurationminutes") == 60);
  CHECK(std::get<bool>(rec->attributes.at("isalldayevent")) == false);
  CHECK(integer(*rec, "prioritycode") == 2);
  auto regarding = std::get<EntityRef>(rec->attributes.at("regardingobjectid"));
  CHECK(regarding.entity == "contact");
  CHECK(regarding.id == other);
  const auto& parties = std::get<PartyList>(rec->attributes.at("requiredattendees"));
  REQUIRE(parties.size() == 2);
  std::set<std::string> seen;
  for (const auto& p : parties) seen.insert(p.ref ? p.ref->id.str() : p.address);
  CHECK(seen == std::set<std::string>{other.str(), "free@example.org"});
}

TEST_CASE("contract: update sets only the given attributes - null clears", "[contract][emulator]") {
  Env env;
  const CrmId id = CrmId::generate();
  REQUIRE(
      env.crm->create(CrmEntity::kContact, id, contact("Jane", "Doe", "jane@example.com")).ok());
  REQUIRE(env.crm->update(CrmEntity::kContact, id, {{"firstname", std::string("Janet")}}, "").ok());
  auto rec = env.crm->retrieve(CrmEntity::kContact, id);
  REQUIRE(rec.ok());
  CHECK(text(*rec, "firstname") == "Janet");
  CHECK(text(*rec, "lastname") == "Doe");
  CHECK(text(*rec, "emailaddress1") == "jane@example.com");
  REQUIRE(env.crm->update(CrmEntity::kContact, id, {{"emailaddress1", Value{}}}, "").ok());
  rec = env.crm->retrieve(CrmEntity::kContact, id);
  REQUIRE(rec.ok());
  auto e = text(*rec, "emailaddress1");
  CHECK((e == "<absent>" || e == "<null>"));
  CHECK(text(*rec, "lastname") == "Doe");
}

TEST_CASE("contract: invalid data is kInvalid with the server's reason", "[contract][emulator]") {
  Env env;
  const CrmId id = CrmId::generate();
  auto too_long = env.crm->create(CrmEntity::kContact, id, {{"lastname", std::string(500, 'x')}});
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error().is(ErrorKind::kInvalid));
  CHECK_THAT(too_long.error().message(), Catch::Contains("lastname"));
  auto unknown =
      env.crm->create(CrmEntity::kContact, CrmId::generate(),
                      {{"lastname", std::string("x")}, {"nosuchattribute", std::string("y")}});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().is(ErrorKind::kInvalid));
  CHECK_THAT(unknown.error().message(), Catch::Contains("nosuchattribute"));
}

TEST_CASE("contract: delete - then not found", "[contract][emulator]") {
  Env env;
  const CrmId id = CrmId::generate();
  REQUIRE(env.crm->create(CrmEntity::kTask, id, {{"subject", std::string("Call back")}}).ok());
  REQUIRE(env.crm->remove(CrmEntity::kTask, id).ok());
  auto gone = env.crm->retrieve(CrmEntity::kTask, id);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().is(ErrorKind::kNotFound));
  auto again = env.crm->remove(CrmEntity::kTask, id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().is(ErrorKind::kNotFound));
  auto update_missing = env.crm->update(CrmEntity::kTask, id, {{"subject", std::string("x")}}, "");
  REQUIRE_FALSE(update_missing.ok());
  CHECK(update_missing.error().is(ErrorKind::kNotFound));
}

TEST_CASE("contract: set_state - and state through update", "[contract][emulator]") {
  Env env;
  const CrmId id = CrmId::generate();
  REQUIRE(env.crm->create(CrmEntity::kTask, id, {{"subject", std::string("Close me")}}).ok());
  auto rec = env.crm->retrieve(CrmEntity::kTask, id);
  REQUIRE(rec.ok());
  CHECK(integer(*rec, "statecode") == 0);
  REQUIRE(env.crm->update(CrmEntity::kTask, id, {{"statuscode", std::int64_t{3}}}, "").ok());
  rec = env.crm->retrieve(CrmEntity::kTask, id);
  REQUIRE(rec.ok());
  CHECK(integer(*rec, "statuscode") == 3);
  REQUIRE(env.crm->set_state(CrmEntity::kTask, id, 1, 5).ok());
  rec = env.crm->retrieve(CrmEntity::kTask, id);
  REQUIRE(rec.ok());
  CHECK(integer(*rec, "statecode") == 1);
  CHECK(integer(*rec, "statuscode") == 5);
  const CrmId appt = CrmId::generate();
  REQUIRE(env.crm
              ->create(CrmEntity::kAppointment, appt,
                       {{"subject", std::string("Meet")},
                        {"statecode", std::int64_t{3}},
                        {"statuscode", std::int64_t{5}}})
              .ok());
  rec = env.crm->retrieve(CrmEntity::kAppointment, appt);
  REQUIRE(rec.ok());
  CHECK(integer(*rec, "statecode") == 3);
  CHECK(integer(*rec, "statuscode") == 5);
  auto bad = env.crm->set_state(CrmEntity::kTask, id, 0, 99);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().is(ErrorKind::kInvalid));
}

TEST_CASE("contract: changes_since pages - tokens and deletions", "[contract][emulator]") {
  Env env(2);  // two records per page
  std::vector<CrmId> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(CrmId::generate());
    REQUIRE(env.crm
                ->create(CrmEntity::kContact, ids.back(),
                         contact("C" + std::to_string(i), "Last", "c@example.com"))
                .ok());
  }
  auto all_pages = [&](const std::string& token, std::set<std::string>& changed,
                       std::set<std::string>& removed) {
    std::string cookie, next_token;
    int page = 1;
    for (;; ++page) {
      REQUIRE(page < 20);
      auto p = env.crm->changes_since(CrmEntity::kContact, token, page, cookie);
      INFO((p.ok() ? "" : p.error().describe()));
      REQUIRE(p.ok());
      CHECK(p->page_number == page);
      for (const auto& r : p->new_or_updated) changed.insert(r.id.str());
      for (const auto& r : p->removed) removed.insert(r.str());
      next_token = p->data_version;
      if (!p->more) break;
      cookie = p->paging_cookie;
    }
    CHECK(page >= 2);  // more than one page was needed at least the first time
    return next_token;
  };
  std::set<std::string> changed, removed;
  std::string token = all_pages("", changed, removed);
  CHECK_FALSE(token.empty());
  for (const auto& id : ids) CHECK(changed.count(id.str()) == 1);
  CHECK(removed.empty());

  // Nothing changed: an empty delta.
  auto quiet = env.crm->changes_since(CrmEntity::kContact, token, 1, "");
  REQUIRE(quiet.ok());
  CHECK(quiet->new_or_updated.empty());
  CHECK(quiet->removed.empty());

  REQUIRE(
      env.crm->update(CrmEntity::kContact, ids[1], {{"firstname", std::string("New")}}, "").ok());
  REQUIRE(env.crm->remove(CrmEntity::kContact, ids[2]).ok());
  const CrmId added = CrmId::generate();
  REQUIRE(env.crm->create(CrmEntity::kContact, added, contact("Add", "Ed", "a@example.com")).ok());
  std::set<std::string> changed2, removed2;
  std::string cookie;
  std::string token2;
  for (int page = 1; page < 20; ++page) {
    auto p = env.crm->changes_since(CrmEntity::kContact, token, page, cookie);
    REQUIRE(p.ok());
    for (const auto& r : p->new_or_updated) changed2.insert(r.id.str());
    for (const auto& r : p->removed) removed2.insert(r.str());
    token2 = p->data_version;
    if (!p->more) break;
    cookie = p->paging_cookie;
  }
  CHECK(changed2 == std::set<std::string>{ids[1].str(), added.str()});
  CHECK(removed2 == std::set<std::string>{ids[2].str()});
  CHECK(token2 != token);
}

TEST_CASE("contract: an unknown data version is kConflict (full sync needed)",
          "[contract][emulator]") {
  Env env;
  auto p = env.crm->changes_since(CrmEntity::kContact, "999999999!01/01/2030 00:00:00", 1, "");
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().is(ErrorKind::kConflict));
  CHECK_THAT(p.error().message(), Catch::Contains("full sync"));
}

TEST_CASE("contract: without change tracking: modified_since and sweep_ids",
          "[contract][emulator]") {
  Env env(2);
  CHECK(env.crm->supports_change_tracking(CrmEntity::kTask));
  std::vector<CrmId> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(CrmId::generate());
    REQUIRE(
        env.crm->create(CrmEntity::kTask, ids.back(), {{"subject", "T" + std::to_string(i)}}).ok());
  }
  auto collect = [&](auto fetch) {
    std::vector<CrmRecord> out;
    std::string cookie;
    for (int page = 1; page < 20; ++page) {
      auto p = fetch(page, cookie);
      INFO((p.ok() ? "" : p.error().describe()));
      REQUIRE(p.ok());
      for (auto& r : p->records) out.push_back(std::move(r));
      if (!p->more) break;
      cookie = p->paging_cookie;
    }
    return out;
  };
  auto all = collect([&](int page, const std::string& cookie) {
    return env.crm->modified_since(CrmEntity::kTask, UtcTime{0}, page, cookie);
  });
  REQUIRE(all.size() == 3);
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].modified_on <= all[i].modified_on);
  CHECK(text(all[0], "subject").rfind("T", 0) == 0);
  // Only what changed at or after the newest timestamp comes back.
  REQUIRE(
      env.crm->update(CrmEntity::kTask, ids[0], {{"subject", std::string("changed")}}, "").ok());
  auto rec = env.crm->retrieve(CrmEntity::kTask, ids[0]);
  REQUIRE(rec.ok());
  auto recent = collect([&](int page, const std::string& cookie) {
    return env.crm->modified_since(CrmEntity::kTask, rec->modified_on, page, cookie);
  });
  std::set<std::string> recent_ids;
  for (const auto& r : recent) recent_ids.insert(r.id.str());
  CHECK(recent_ids.count(ids[0].str()) == 1);
  REQUIRE(env.crm->remove(CrmEntity::kTask, ids[1]).ok());
  auto swept = collect([&](int page, const std::string& cookie) {
    return env.crm->sweep_ids(CrmEntity::kTask, page, cookie);
  });
  std::set<std::string> present;
  for (const auto& r : swept) {
    present.insert(r.id.str());
    CHECK(r.owner.has_value());
    CHECK(r.attributes.count("subject") == 0);
  }
  CHECK(present == std::set<std::string>{ids[0].str(), ids[2].str()});
}

TEST_CASE("R2: phone calls, letters and faxes come with their parties, for the filter",
          "[contract][emulator]") {
  Env env;
  const CrmId me = CrmId::parse(env.user_id).value();
  PartyList to_me{Party{"alice@example.com", "", EntityRef{"systemuser", me, ""}}};
  for (CrmEntity e : {CrmEntity::kPhoneCall, CrmEntity::kLetter, CrmEntity::kFax}) {
    INFO(to_string(e));
    const CrmId id = CrmId::generate();
    REQUIRE(env.crm->create(e, id, {{"subject", std::string("call me")}, {"to", to_me}}).ok());
    auto check = [&](const CrmRecord& rec) {
      auto it = rec.attributes.find("to");
      REQUIRE(it != rec.attributes.end());
      const auto* parties = std::get_if<PartyList>(&it->second);
      REQUIRE(parties);
      REQUIRE(parties->size() == 1);
      REQUIRE(parties->front().ref);
      CHECK(parties->front().ref->id == me);
    };
    auto rec = env.crm->retrieve(e, id);
    REQUIRE(rec.ok());
    check(*rec);
    auto page = env.crm->changes_since(e, "", 1, "");
    REQUIRE(page.ok());
    REQUIRE(page->new_or_updated.size() == 1);
    check(page->new_or_updated.front());
    auto swept = env.crm->sweep_ids(e, 1, "");
    REQUIRE(swept.ok());
    REQUIRE(swept->records.size() == 1);
    check(swept->records.front());
  }
}

TEST_CASE("U3: an application identity acts for the user named by act_as (CallerId)",
          "[contract][emulator]") {
  Env env;  // Alice's own token is the service account's here
  auto made = env.emulator.admin(
      "POST", "/admin/users",
      R"({"fullname":"Bob Example","token":"bob-token-5678","upn":"bob@example.com"})");
  REQUIRE(made.ok());
  REQUIRE(made->status == 200);
  rapidjson::Document d;
  d.Parse(made->body.c_str());
  const CrmId bob = CrmId::parse(d["systemuserid"].GetString()).value();
  SoapCrmConfig c = env.config;
  c.act_as = "bob@example.com";
  FakeClock clock;
  SECTION("without prvActOnBehalfOfAnotherUser the CRM refuses") {
    auto crm = make_soap_crm_adapter(c, clock);
    auto who = crm->who_am_i();
    REQUIRE_FALSE(who.ok());
    CHECK(who.error().is(ErrorKind::kPermission));
    CHECK_THAT(who.error().message(), Catch::Contains("prvActOnBehalfOfAnotherUser"));
  }
  SECTION("with it, WhoAmI and ownership are the user's") {
    auto granted = env.emulator.admin("PUT", "/admin/users/" + env.user_id + "/privileges",
                                      R"({"prvActOnBehalfOfAnotherUser":true})");
    REQUIRE(granted.ok());
    REQUIRE(granted->status == 200);
    auto crm = make_soap_crm_adapter(c, clock);
    auto who = crm->who_am_i();
    REQUIRE(who.ok());
    CHECK(who->user_id == bob);
    const CrmId id = CrmId::generate();
    REQUIRE(crm->create(CrmEntity::kContact, id, contact("Made", "ForBob", "m@example.com")).ok());
    auto rec = crm->retrieve(CrmEntity::kContact, id);
    REQUIRE(rec.ok());
    REQUIRE(rec->owner);
    CHECK(*rec->owner == bob);
  }
  SECTION("an unknown user is a clear error") {
    c.act_as = "nobody@example.com";
    auto crm = make_soap_crm_adapter(c, clock);
    auto who = crm->who_am_i();
    REQUIRE_FALSE(who.ok());
    CHECK_THAT(who.error().message(), Catch::Contains("nobody@example.com"));
  }
}

TEST_CASE("contract: execute_batch - one result per operation", "[contract][emulator]") {
  Env env;
  const CrmId a = CrmId::generate(), b = CrmId::generate(), missing = CrmId::generate();
  std::vector<CrmOperation> ops(5);
  ops[0] = {CrmOperation::Type::kCreate, CrmEntity::kTask, a, {{"subject", std::string("A")}}};
  ops[1] = {CrmOperation::Type::kCreate, CrmEntity::kTask, b, {{"subject", std::string("B")}}};
  ops[2] = {CrmOperation::Type::kUpdate, CrmEntity::kTask, a, {{"subject", std::string("A2")}}};
  ops[3] = {CrmOperation::Type::kDelete, CrmEntity::kTask, missing, {}};
  ops[4].type = CrmOperation::Type::kSetState;
  ops[4].entity = CrmEntity::kTask;
  ops[4].id = b;
  ops[4].state = 1;
  ops[4].status = 5;
  auto r = env.crm->execute_batch(ops);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 5);
  CHECK((*r)[0].ok());
  CHECK((*r)[1].ok());
  CHECK((*r)[2].ok());
  REQUIRE_FALSE((*r)[3].ok());
  CHECK((*r)[3].error().is(ErrorKind::kNotFound));
  CHECK((*r)[4].ok());
  auto ra = env.crm->retrieve(CrmEntity::kTask, a);
  REQUIRE(ra.ok());
  CHECK(text(*ra, "subject") == "A2");
  auto rb = env.crm->retrieve(CrmEntity::kTask, b);
  REQUIRE(rb.ok());
  CHECK(integer(*rb, "statecode") == 1);
}

TEST_CASE("contract: find_contacts_by_emails looks at all three addresses of many contacts",
          "[contract][emulator]") {
  Env env;
  const CrmId one = CrmId::generate(), two = CrmId::generate(), other = CrmId::generate();
  const CrmId third = CrmId::generate();
  REQUIRE(
      env.crm->create(CrmEntity::kContact, one, contact("One", "A", "shared@example.com")).ok());
  REQUIRE(env.crm
              ->create(CrmEntity::kContact, two,
                       {{"lastname", std::string("B")},
                        {"emailaddress3", std::string("shared@example.com")}})
              .ok());
  REQUIRE(
      env.crm->create(CrmEntity::kContact, other, contact("Other", "C", "else@example.com")).ok());
  REQUIRE(
      env.crm->create(CrmEntity::kContact, third, contact("Third", "D", "Third@Example.com")).ok());
  auto ids_of = [](const std::vector<CrmRecord>& records) {
    std::set<std::string> ids;
    for (const auto& r : records) ids.insert(r.id.str());
    return ids;
  };
  auto found = env.crm->find_contacts_by_emails({"shared@example.com"});
  REQUIRE(found.ok());
  CHECK(ids_of(*found) == std::set<std::string>{one.str(), two.str()});
  // Several addresses in one lookup; text compares case-insensitively, as in CRM; a record
  // matching two of the addresses is listed once.
  auto many = env.crm->find_contacts_by_emails(
      {"shared@example.com", "third@example.com", "SHARED@example.com", "nobody@example.com"});
  REQUIRE(many.ok());
  CHECK(ids_of(*many) == std::set<std::string>{one.str(), two.str(), third.str()});
  CHECK(many->size() == 3);
  auto none = env.crm->find_contacts_by_emails({"nobody@example.com"});
  REQUIRE(none.ok());
  CHECK(none->empty());
  // More addresses than one request carries.
  std::vector<std::string> lots;
  for (int i = 0; i < 450; ++i) lots.push_back("n" + std::to_string(i) + "@example.com");
  lots.push_back("else@example.com");
  auto chunked = env.crm->find_contacts_by_emails(lots);
  REQUIRE(chunked.ok());
  CHECK(ids_of(*chunked) == std::set<std::string>{other.str()});
  CHECK_FALSE(env.crm
                  ->find_contacts_by_emails({"bad\x01"
                                             "address"})
                  .ok());
}

TEST_CASE("U7: find_parties_by_emails finds system users and contacts by address",
          "[contract][emulator][email]") {
  Env env;
  auto added = env.emulator.admin("POST", "/admin/users",
                                  R"({"fullname":"Colin League","token":"colin-token-1",)"
                                  R"("internalemailaddress":"Colin@Corp.example"})");
  REQUIRE(added.ok());
  REQUIRE(added->status == 200);
  rapidjson::Document doc;
  doc.Parse(added->body.c_str());
  const CrmId colin = CrmId::parse(doc["systemuserid"].GetString()).value();
  const CrmId rita = CrmId::generate(), twin1 = CrmId::generate(), twin2 = CrmId::generate();
  REQUIRE(
      env.crm->create(CrmEntity::kContact, rita, contact("Rita", "S", "rita@example.com")).ok());
  REQUIRE(env.crm
              ->create(CrmEntity::kContact, twin1,
                       {{"lastname", std::string("T1")},
                        {"emailaddress2", std::string("twin@example.com")}})
              .ok());
  REQUIRE(
      env.crm->create(CrmEntity::kContact, twin2, contact("Twin", "T2", "TWIN@example.com")).ok());
  auto found = env.crm->find_parties_by_emails(
      {"RITA@example.com", "colin@corp.example", "twin@example.com", "nobody@example.com"});
  INFO((found.ok() ? "" : found.error().describe()));
  REQUIRE(found.ok());
  std::multiset<std::string> got;
  for (const auto& p : *found)
    got.insert(p.address + " " + p.record.entity + " " + p.record.id.str());
  CHECK(got == std::multiset<std::string>{"rita@example.com contact " + rita.str(),
                                          "colin@corp.example systemuser " + colin.str(),
                                          "twin@example.com contact " + twin1.str(),
                                          "twin@example.com contact " + twin2.str()});
  auto none = env.crm->find_parties_by_emails({});
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK_FALSE(env.crm
                  ->find_parties_by_emails({"bad\x01"
                                            "address"})
                  .ok());
}

// What the engine sends for a tracked e-mail: the create with its state (Create, then
// SetState in the same ExecuteMultiple), read back through the normal Retrieve.
TEST_CASE("U7: a tracked e-mail created through execute_batch is completed - received or sent",
          "[contract][emulator][email]") {
  Env env;
  const CrmId rita = CrmId::generate();
  REQUIRE(
      env.crm->create(CrmEntity::kContact, rita, contact("Rita", "S", "rita@example.com")).ok());
  const CrmId me = CrmId::parse(env.user_id).value();
  auto mail = [&](bool outgoing) {
    FieldMap f{{"subject", std::string(outgoing ? "Sent" : "Received")},
               {"directioncode", outgoing},
               {"statecode", std::int64_t{1}},
               {"statuscode", std::int64_t{outgoing ? 3 : 4}}};
    Party user{"alice@corp.example", "", EntityRef{"systemuser", me, ""}};
    Party contact_party{"rita@example.com", "", EntityRef{"contact", rita, ""}};
    Party stranger{"nobody@example.org", "", std::nullopt};
    f["from"] = PartyList{outgoing ? user : contact_party};
    f["to"] = PartyList{outgoing ? contact_party : user, stranger};
    return f;
  };
  const CrmId received = CrmId::generate(), sent = CrmId::generate();
  auto r = env.crm->execute_batch(
      {CrmOperation{CrmOperation::Type::kCreate, CrmEntity::kEmail, received, mail(false)},
       CrmOperation{CrmOperation::Type::kCreate, CrmEntity::kEmail, sent, mail(true)}});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  for (const auto& one : *r) {
    INFO((one.ok() ? "" : one.error().describe()));
    CHECK(one.ok());
  }
  auto in = env.crm->retrieve(CrmEntity::kEmail, received);
  REQUIRE(in.ok());
  CHECK(integer(*in, "statecode") == 1);
  CHECK(integer(*in, "statuscode") == 4);
  CHECK(std::get<bool>(in->attributes.at("directioncode")) == false);
  const auto& from = std::get<PartyList>(in->attributes.at("from"));
  REQUIRE(from.size() == 1);
  REQUIRE(from[0].ref);
  CHECK(from[0].ref->entity == "contact");
  CHECK(from[0].ref->id == rita);
  CHECK(from[0].address == "rita@example.com");
  const auto& to = std::get<PartyList>(in->attributes.at("to"));
  REQUIRE(to.size() == 2);
  std::set<std::string> to_seen;
  for (const auto& p : to)
    to_seen.insert(p.ref ? p.ref->entity + ":" + p.ref->id.str() : p.address);
  CHECK(to_seen == std::set<std::string>{"systemuser:" + me.str(), "nobody@example.org"});
  auto out = env.crm->retrieve(CrmEntity::kEmail, sent);
  REQUIRE(out.ok());
  CHECK(integer(*out, "statecode") == 1);
  CHECK(integer(*out, "statuscode") == 3);
  CHECK(std::get<bool>(out->attributes.at("directioncode")) == true);
  // Nothing asked CRM to send anything.
  auto log = env.emulator.admin("GET", "/admin/requests");
  REQUIRE(log.ok());
  CHECK_THAT(log->body, !Catch::Contains("SendEmail"));
}

TEST_CASE("U7 X1: lost replies of e-mail creates leave one completed activity each",
          "[contract][emulator][email]") {
  Env env;
  env.faults(R"({"drop_after_commit_rate": 0.5, "seed": 23})");
  std::vector<CrmId> ids;
  for (int i = 0; i < 10; ++i) {
    ids.push_back(CrmId::generate());
    auto r = env.crm->execute_batch(
        {CrmOperation{CrmOperation::Type::kCreate,
                      CrmEntity::kEmail,
                      ids.back(),
                      {{"subject", "Lost " + std::to_string(i)},
                       {"directioncode", false},
                       {"statecode", std::int64_t{1}},
                       {"statuscode", std::int64_t{4}},
                       {"to", PartyList{Party{"nobody@example.org", "", std::nullopt}}}}}});
    INFO((r.ok() ? "" : r.error().describe()));
    REQUIRE(r.ok());
    INFO(((*r)[0].ok() ? "" : (*r)[0].error().describe()));
    CHECK((*r)[0].ok());
  }
  env.faults("{}");
  for (const auto& id : ids) {
    CHECK(env.count_records("email", id) == 1);
    auto rec = env.crm->retrieve(CrmEntity::kEmail, id);
    REQUIRE(rec.ok());
    CHECK(integer(*rec, "statecode") == 1);
    CHECK(integer(*rec, "statuscode") == 4);
  }
  auto log = env.emulator.admin("GET", "/admin/requests");
  REQUIRE(log.ok());
  rapidjson::Document doc;
  doc.Parse(log->body.c_str());
  int dropped = 0;
  for (const auto& e : doc.GetArray())
    if (e["status"].GetInt() == 0) ++dropped;
  CHECK(dropped > 0);
}

TEST_CASE("contract: privileges follow prvSyncToOutlook", "[contract][emulator]") {
  Env env;
  const CrmId user = CrmId::parse(env.user_id).value();
  auto yes = env.crm->privileges(user);
  REQUIRE(yes.ok());
  CHECK(yes->sync_to_outlook);
  auto put = env.emulator.admin("PUT", "/admin/users/" + env.user_id + "/privileges",
                                R"({"prvSyncToOutlook": false})");
  REQUIRE(put.ok());
  REQUIRE(put->status == 200);
  auto no = env.crm->privileges(user);
  REQUIRE(no.ok());
  CHECK_FALSE(no->sync_to_outlook);
}

TEST_CASE("contract: lost replies never duplicate a create (SPEC X1)", "[contract][emulator]") {
  Env env;
  env.faults(R"({"drop_after_commit_rate": 0.5, "seed": 11})");
  std::vector<CrmId> ids;
  for (int i = 0; i < 12; ++i) {
    ids.push_back(CrmId::generate());
    auto r = env.crm->create(CrmEntity::kContact, ids.back(),
                             contact("Lost", std::to_string(i), "lost@example.com"));
    INFO((r.ok() ? "" : r.error().describe()));
    REQUIRE(r.ok());
  }
  env.faults("{}");
  for (const auto& id : ids) CHECK(env.count_records("contact", id) == 1);
  // Some replies were really dropped (status 0 in the emulator's log).
  auto log = env.emulator.admin("GET", "/admin/requests");
  REQUIRE(log.ok());
  rapidjson::Document doc;
  doc.Parse(log->body.c_str());
  REQUIRE(doc.IsArray());
  int dropped = 0;
  for (const auto& e : doc.GetArray())
    if (e.HasMember("status") && e["status"].IsInt() && e["status"].GetInt() == 0) ++dropped;
  CHECK(dropped > 0);
}

TEST_CASE("contract: 429 with Retry-After is honoured - then the call succeeds",
          "[contract][emulator]") {
  Env env;
  env.faults(R"({"throttle_rate": 0.5, "retry_after_s": 3, "seed": 5})");
  int ok = 0;
  for (int i = 0; i < 6; ++i)
    if (env.crm->who_am_i().ok()) ++ok;
  CHECK(ok == 6);
  REQUIRE_FALSE(env.waits.empty());
  for (auto w : env.waits) CHECK(w >= 3000ms);
}

TEST_CASE("contract: injected transient faults are retried", "[contract][emulator]") {
  Env env;
  env.faults(R"({"fail_nth": 1})");
  auto who = env.crm->who_am_i();
  REQUIRE(who.ok());
  CHECK(env.waits.size() == 1);
}
