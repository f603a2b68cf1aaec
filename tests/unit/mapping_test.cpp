#include <catch2/catch.hpp>

#include "crmsync/model/mapping.hpp"

using namespace crmsync;

namespace {

const FixedOffsetZone kUtc{std::chrono::minutes(0)};
const FixedOffsetZone kBerlin{std::chrono::minutes(60)};
MapContext ctx(const TimeZone& z = kUtc) {
  return MapContext{&z, true};
}
UtcTime at(const char* iso) {
  return *UtcTime::parse(iso);
}
Value text(const char* s) {
  return Value{std::string(s)};
}
Value i64(std::int64_t v) {
  return Value{v};
}

}  // namespace

TEST_CASE("§7 every bidirectional contact field maps both ways") {
  const auto& m = mapping_for(CrmEntity::kContact);
  int checked = 0;
  for (const auto& f : m.fields) {
    if (f.converter != Converter::kText) continue;
    INFO(f.store_field);
    FieldMap store{{std::string(f.store_field), text("value of the field")}};
    auto crm = store_to_crm(CrmEntity::kContact, store, {}, ctx());
    REQUIRE(crm.ok());
    REQUIRE(crm->size() == 1);
    CHECK(crm->begin()->first == f.crm_attributes.front());
    auto back = crm_to_store(CrmEntity::kContact, *crm, ctx());
    REQUIRE(back.ok());
    CHECK(*back == store);
    ++checked;
  }
  CHECK(checked == 32);  // every text field of SPEC §7's contact list
}

TEST_CASE("§7 contact field names follow the spec - typos corrected") {
  const auto& m = mapping_for(CrmEntity::kContact);
  auto attr_of = [&](const char* f) {
    return std::string(m.find_store_field(f)->crm_attributes[0]);
  };
  CHECK(attr_of("BusinessTelephoneNumber") == "telephone1");
  CHECK(attr_of("HomeTelephoneNumber") == "telephone2");
  CHECK(attr_of("OtherTelephoneNumber") == "telephone3");
  CHECK(attr_of("Title") == "salutation");
  CHECK(attr_of("Spouse") == "spousesname");
  CHECK(attr_of("MailingAddressState") == "address1_stateorprovince");
  CHECK(m.find_store_field("IMAddress") == nullptr);
  CHECK(m.find_store_field("CarTelephoneNumber") == nullptr);
}

TEST_CASE("§7 Birthday and Anniversary are dates no zone shifts") {
  FieldMap store{{"Birthday", Value{Date{1980, 2, 29}}},
                 {"Anniversary", Value{Date{2001, 12, 31}}}};
  auto crm = store_to_crm(CrmEntity::kContact, store, {}, ctx(kBerlin));
  REQUIRE(crm.ok());
  CHECK(std::get<UtcTime>(crm->at("birthdate")) == at("1980-02-29T00:00:00Z"));
  auto back =
      crm_to_store(CrmEntity::kContact, *crm, ctx(FixedOffsetZone(std::chrono::minutes(-600))));
  REQUIRE(back.ok());
  CHECK(*back == store);
}

TEST_CASE("§7 street splits into three lines and joins back") {
  auto to_crm = [](const char* street) {
    return store_to_crm(CrmEntity::kContact, {{"MailingAddressStreet", text(street)}}, {}, ctx())
        .value();
  };
  SECTION("one line") {
    auto c = to_crm("1 Main St");
    CHECK(c.at("address1_line1") == text("1 Main St"));
    CHECK(is_null(c.at("address1_line2")));
    CHECK(is_null(c.at("address1_line3")));
  }
  SECTION("five lines: the fourth and fifth join line3 with commas") {
    auto c = to_crm("a\nb\nc\nd\ne");
    CHECK(c.at("address1_line1") == text("a"));
    CHECK(c.at("address1_line2") == text("b"));
    CHECK(c.at("address1_line3") == text("c, d, e"));
  }
  SECTION("CRLF line breaks and trailing empty lines") {
    auto c = to_crm("a\r\nb\r\n\r\n");
    CHECK(c.at("address1_line1") == text("a"));
    CHECK(c.at("address1_line2") == text("b"));
    CHECK(is_null(c.at("address1_line3")));
  }
  SECTION("null clears all three lines") {
    auto c =
        store_to_crm(CrmEntity::kContact, {{"MailingAddressStreet", Value{}}}, {}, ctx()).value();
    CHECK(c.size() == 3);
    for (auto& [k, v] : c) CHECK(is_null(v));
  }
  SECTION("CRM to store joins lines, keeping an empty middle line") {
    auto s = crm_to_store(CrmEntity::kContact,
                          {{"address1_line1", text("a")}, {"address1_line3", text("c")}}, ctx())
                 .value();
    CHECK(s.at("MailingAddressStreet") == text("a\n\nc"));
    auto none = crm_to_store(CrmEntity::kContact, {}, ctx()).value();
    CHECK(none.count("MailingAddressStreet") == 0);
  }
}

TEST_CASE("G2: CompanyName comes from parentcustomerid's name - one way") {
  EntityRef acct{"account", CrmId::generate(), "Contoso"};
  FieldMap crm{{"parentcustomerid", Value{acct}}};
  CHECK(crm_to_store(CrmEntity::kContact, crm, ctx()).value().at("CompanyName") == text("Contoso"));
  MapContext off = ctx();
  off.update_company_field = false;
  CHECK(crm_to_store(CrmEntity::kContact, crm, off).value().count("CompanyName") == 0);
  // M4: never back.
  CHECK(store_to_crm(CrmEntity::kContact, {{"CompanyName", text("Other")}}, {}, ctx())
            .value()
            .empty());
}

TEST_CASE("§7 task status maps to statecode and statuscode") {
  auto to_store = [](std::int64_t state, std::int64_t status) {
    return crm_to_store(CrmEntity::kTask, {{"statecode", i64(state)}, {"statuscode", i64(status)}},
                        ctx());
  };
  CHECK(to_store(0, 2).value().at("Status") == text("NotStarted"));
  CHECK(to_store(0, 3).value().at("Status") == text("InProgress"));
  CHECK(to_store(0, 4).value().at("Status") == text("Waiting"));
  CHECK(to_store(0, 7).value().at("Status") == text("Deferred"));
  CHECK(to_store(1, 5).value().at("Status") == text("Complete"));
  CHECK(to_store(2, 6).value().at("Status") == text("Deferred"));
  SECTION("an unknown status code is a clear error") {
    auto r = to_store(0, 99);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind() == ErrorKind::kInvalid);
    CHECK_THAT(r.error().message(), Catch::Contains("statuscode 99"));
    CHECK_THAT(r.error().message(), Catch::Contains("task.Status"));
    CHECK_FALSE(to_store(7, 1).ok());
  }
  SECTION("store to CRM while open") {
    FieldMap open{{"statecode", i64(0)}, {"statuscode", i64(2)}};
    auto c = store_to_crm(CrmEntity::kTask, {{"Status", text("Waiting")}}, open, ctx()).value();
    CHECK(c.at("statecode") == i64(0));
    CHECK(c.at("statuscode") == i64(4));
    c = store_to_crm(CrmEntity::kTask, {{"Status", text("Complete")}}, open, ctx()).value();
    CHECK(c.at("statecode") == i64(1));
    CHECK(c.at("statuscode") == i64(5));
  }
  SECTION("a store change never reopens a completed or canceled task") {
    for (std::int64_t state : {1, 2}) {
      FieldMap closed{{"statecode", i64(state)}, {"statuscode", i64(state == 1 ? 5 : 6)}};
      CHECK(store_to_crm(CrmEntity::kTask, {{"Status", text("InProgress")}}, closed, ctx())
                .value()
                .empty());
    }
  }
  SECTION("an unknown store status is an error") {
    CHECK_FALSE(store_to_crm(CrmEntity::kTask, {{"Status", text("Maybe")}}, {}, ctx()).ok());
  }
}

TEST_CASE("§7 phone calls - letters and faxes: status from statecode alone - default reasons") {
  for (auto [entity, reason] :
       {std::pair{CrmEntity::kPhoneCall, 2}, {CrmEntity::kLetter, 4}, {CrmEntity::kFax, 2}}) {
    INFO(to_string(entity));
    CHECK(crm_to_store(entity, {{"statecode", i64(0)}, {"statuscode", i64(1)}}, ctx())
              .value()
              .at("Status") == text("NotStarted"));
    CHECK(crm_to_store(entity, {{"statecode", i64(1)}, {"statuscode", i64(3)}}, ctx())
              .value()
              .at("Status") == text("Complete"));
    CHECK(crm_to_store(entity, {{"statecode", i64(2)}}, ctx()).value().at("Status") ==
          text("Deferred"));
    FieldMap open{{"statecode", i64(0)}};
    auto c = store_to_crm(entity, {{"Status", text("Complete")}}, open, ctx()).value();
    CHECK(c.at("statecode") == i64(1));
    CHECK(c.at("statuscode") == i64(reason));
    CHECK(store_to_crm(entity, {{"Status", text("InProgress")}}, open, ctx()).value().empty());
  }
}

TEST_CASE("§7 appointment ShowTimeAs maps to state and status") {
  auto show = [](std::int64_t status) {
    return crm_to_store(CrmEntity::kAppointment,
                        {{"statecode", i64(0)}, {"statuscode", i64(status)}}, ctx());
  };
  CHECK(show(1).value().at("ShowTimeAs") == text("Free"));
  CHECK(show(2).value().at("ShowTimeAs") == text("Tentative"));
  CHECK(show(5).value().at("ShowTimeAs") == text("Busy"));
  CHECK(show(6).value().at("ShowTimeAs") == text("OutOfOffice"));
  CHECK(show(3).value().at("ShowTimeAs") == text("Free"));
  CHECK(show(4).value().at("ShowTimeAs") == text("Free"));
  CHECK_FALSE(show(42).ok());
  FieldMap scheduled{{"statecode", i64(3)}, {"statuscode", i64(5)}};
  auto c =
      store_to_crm(CrmEntity::kAppointment, {{"ShowTimeAs", text("OutOfOffice")}}, scheduled, ctx())
          .value();
  CHECK(c.at("statecode") == i64(3));
  CHECK(c.at("statuscode") == i64(6));
  FieldMap completed{{"statecode", i64(1)}, {"statuscode", i64(3)}};
  CHECK(store_to_crm(CrmEntity::kAppointment, {{"ShowTimeAs", text("Busy")}}, completed, ctx())
            .value()
            .empty());
}

TEST_CASE("§7 importance maps to prioritycode") {
  for (auto [name, code] : {std::pair{"Low", 0}, {"Normal", 1}, {"High", 2}}) {
    auto c = store_to_crm(CrmEntity::kTask, {{"Importance", text(name)}}, {}, ctx()).value();
    CHECK(c.at("prioritycode") == i64(code));
    CHECK(crm_to_store(CrmEntity::kTask, c, ctx()).value().at("Importance") == text(name));
  }
  CHECK_FALSE(crm_to_store(CrmEntity::kTask, {{"prioritycode", i64(9)}}, ctx()).ok());
  CHECK_FALSE(store_to_crm(CrmEntity::kTask, {{"Importance", text("Urgent")}}, {}, ctx()).ok());
}

TEST_CASE("§7 appointment duration - times - all-day and parties") {
  PartyList req{{"a@x.org", "A", std::nullopt}, {"b@y.org", "", std::nullopt}};
  FieldMap store{{"Duration", i64(90)},
                 {"Start", Value{at("2025-03-01T08:00:00Z")}},
                 {"End", Value{at("2025-03-01T09:30:00Z")}},
                 {"AllDayEvent", Value{false}},
                 {"RequiredAttendees", Value{req}},
                 {"Location", text("Room 1")}};
  auto c = store_to_crm(CrmEntity::kAppointment, store, {}, ctx()).value();
  CHECK(c.at("scheduleddurationminutes") == i64(90));
  CHECK(c.at("requiredattendees") == Value{req});
  CHECK(crm_to_store(CrmEntity::kAppointment, c, ctx()).value() == store);
  SECTION("a value of the wrong type is an error naming the field") {
    auto r = store_to_crm(CrmEntity::kAppointment, {{"Duration", text("long")}}, {}, ctx());
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains("appointment.Duration"));
  }
}

TEST_CASE("§7 task dates are local dates that keep CRM's time of day") {
  SECTION("CRM to store in the user's zone") {
    auto s = crm_to_store(CrmEntity::kTask, {{"scheduledend", Value{at("2025-03-01T23:30:00Z")}}},
                          ctx(kBerlin))
                 .value();
    CHECK(s.at("DueDate") == Value{Date{2025, 3, 2}});
    CHECK(s.at("ReminderTime") == Value{at("2025-03-01T23:30:00Z")});
  }
  SECTION("store to CRM keeps the time of day of the record") {
    FieldMap current{{"scheduledend", Value{at("2025-03-01T14:15:00Z")}}};
    auto c = store_to_crm(CrmEntity::kTask, {{"DueDate", Value{Date{2025, 3, 5}}}}, current,
                          ctx(kBerlin))
                 .value();
    CHECK(c.at("scheduledend") == Value{at("2025-03-05T14:15:00Z")});
  }
  SECTION("a new record starts at the beginning of the local day") {
    auto c =
        store_to_crm(CrmEntity::kTask, {{"StartDate", Value{Date{2025, 3, 5}}}}, {}, ctx(kBerlin))
            .value();
    CHECK(c.at("scheduledstart") == Value{at("2025-03-04T23:00:00Z")});
  }
  SECTION("ReminderTime never goes back (M4)") {
    CHECK(store_to_crm(CrmEntity::kTask, {{"ReminderTime", Value{at("2025-03-01T08:00:00Z")}}}, {},
                       ctx())
              .value()
              .empty());
  }
}

TEST_CASE("T4: e-mail content goes to CRM once - afterwards only Regarding") {
  EntityRef acct{"account", CrmId::generate(), ""};
  FieldMap store{{"Subject", text("Hello")},
                 {"Body", text("Text")},
                 {"ReceivedTime", Value{at("2025-03-01T08:00:00Z")}},
                 {"SentTime", Value{at("2025-03-01T07:59:00Z")}},
                 {"Regarding", Value{acct}}};
  auto created = store_to_crm(CrmEntity::kEmail, store, {}, ctx()).value();
  CHECK(created.at("subject") == text("Hello"));
  CHECK(created.at("actualend") == Value{at("2025-03-01T08:00:00Z")});
  FieldMap existing{{"subject", text("Hello")}, {"statecode", i64(1)}};
  auto updated = store_to_crm(CrmEntity::kEmail, store, existing, ctx()).value();
  CHECK(updated.size() == 1);
  CHECK(updated.at("regardingobjectid") == Value{acct});
  auto back = crm_to_store(CrmEntity::kEmail, created, ctx()).value();
  CHECK(back.size() == 1);
  CHECK(back.count("Regarding") == 1);
}

TEST_CASE("CRM values of the wrong type are errors - not crashes (X3)") {
  CHECK_FALSE(crm_to_store(CrmEntity::kContact, {{"firstname", i64(5)}}, ctx()).ok());
  CHECK_FALSE(crm_to_store(CrmEntity::kContact, {{"birthdate", text("yesterday")}}, ctx()).ok());
  CHECK_FALSE(crm_to_store(CrmEntity::kTask, {{"statecode", text("open")}}, ctx()).ok());
  CHECK_FALSE(crm_to_store(CrmEntity::kContact, {{"address1_line2", Value{true}}}, ctx()).ok());
}

TEST_CASE("M4: unmapped store fields are known but never converted") {
  CHECK(is_known_store_field(ItemKind::kContact, "IMAddress"));
  auto c = store_to_crm(CrmEntity::kContact,
                        {{"IMAddress", text("im:x")}, {"FirstName", text("A")}}, {}, ctx());
  CHECK(c.value().size() == 1);
}

TEST_CASE("Store values parse from their text forms with clear errors") {
  CHECK(parse_store_value(ItemKind::kTask, "Importance", "High").value() == text("High"));
  CHECK(parse_store_value(ItemKind::kTask, "DueDate", "2025-03-01").value() ==
        Value{Date{2025, 3, 1}});
  CHECK(parse_store_value(ItemKind::kAppointment, "Duration", "30").value() == i64(30));
  CHECK(parse_store_value(ItemKind::kAppointment, "AllDayEvent", "true").value() == Value{true});
  CHECK(is_null(parse_store_value(ItemKind::kContact, "FirstName", "").value()));
  auto parties = parse_store_value(ItemKind::kEmail, "To", "a@x.org; Bob <b@y.org>").value();
  REQUIRE(std::get<PartyList>(parties).size() == 2);
  CHECK(std::get<PartyList>(parties)[1].name == "Bob");
  CHECK(std::get<PartyList>(parties)[1].address == "b@y.org");
  auto reg = parse_store_value(ItemKind::kTask, "Regarding",
                               "account:6f1c2e3a-0000-4abc-8def-0123456789ab");
  CHECK(std::get<EntityRef>(reg.value()).entity == "account");
  for (auto [kind, field, value] : {std::tuple{ItemKind::kContact, "Nope", "x"},
                                    {ItemKind::kTask, "Status", "Done"},
                                    {ItemKind::kTask, "DueDate", "tomorrow"},
                                    {ItemKind::kAppointment, "Duration", "1h"},
                                    {ItemKind::kEmail, "To", "not an address"},
                                    {ItemKind::kTask, "Regarding", "account"},
                                    {ItemKind::kAppointment, "Start", "2025-03-01"}}) {
    INFO(field << "=" << value);
    auto r = parse_store_value(kind, field, value);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind() == ErrorKind::kInvalid);
    CHECK_THAT(r.error().message(), Catch::Contains(field));
  }
}

TEST_CASE("The CRM columns asked for include what the rules need") {
  auto cols = mapping_for(CrmEntity::kAppointment).crm_columns();
  for (const char* c :
       {"ownerid", "modifiedon", "statecode", "statuscode", "scheduledstart", "organizer"})
    CHECK(std::find(cols.begin(), cols.end(), c) != cols.end());
}

TEST_CASE("R2: the party columns of phone calls, letters and faxes are asked for") {
  for (CrmEntity e : {CrmEntity::kPhoneCall, CrmEntity::kLetter, CrmEntity::kFax}) {
    INFO(to_string(e));
    auto cols = mapping_for(e).crm_columns();
    for (const char* c : {"ownerid", "from", "to"})
      CHECK(std::find(cols.begin(), cols.end(), c) != cols.end());
    CHECK(mapping_for(e).party_columns() == std::vector<std::string>{"from", "to"});
  }
  CHECK(mapping_for(CrmEntity::kContact).party_columns().empty());
  CHECK(mapping_for(CrmEntity::kTask).party_columns().empty());
}
