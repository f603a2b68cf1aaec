#include <catch2/catch.hpp>

#include <set>

#include "crmsync/model/clock.hpp"
#include "crmsync/model/ids.hpp"
#include "crmsync/model/item.hpp"
#include "crmsync/model/text.hpp"
#include "crmsync/model/timezone.hpp"
#include "crmsync/model/value.hpp"

using namespace crmsync;

TEST_CASE("CrmId parses canonical - braced and upper-case GUIDs and rejects others") {
  auto a = CrmId::parse("{6F1C2E3A-0000-4ABC-8DEF-0123456789AB}");
  REQUIRE(a.ok());
  CHECK(a->str() == "6f1c2e3a-0000-4abc-8def-0123456789ab");
  CHECK(CrmId::parse("6f1c2e3a-0000-4abc-8def-0123456789ab")->str() == a->str());
  for (const char* bad :
       {"", "6f1c2e3a00004abc8def0123456789ab", "6f1c2e3a-0000-4abc-8def-0123456789ag",
        "6f1c2e3a-0000-4abc-8def-0123456789abc", "{6f1c2e3a-0000-4abc-8def-0123456789ab"}) {
    auto r = CrmId::parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind() == ErrorKind::kInvalid);
  }
  CHECK(CrmId{}.is_nil());
  CHECK(CrmId::parse("00000000-0000-0000-0000-000000000000")->is_nil());
}

TEST_CASE("X1: generated CRM ids are version 4 GUIDs that do not repeat") {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    CrmId id = CrmId::generate();
    REQUIRE(CrmId::parse(id.str()).ok());
    CHECK(id.str()[14] == '4');
    REQUIRE(seen.insert(id.str()).second);
  }
}

TEST_CASE("UtcTime parses ISO 8601 and prints a canonical form") {
  auto t = UtcTime::parse("2025-03-01T08:00:00Z");
  REQUIRE(t.ok());
  CHECK(t->iso() == "2025-03-01T08:00:00Z");
  CHECK(UtcTime::parse("2025-03-01T09:30:00+01:30")->iso() == "2025-03-01T08:00:00Z");
  CHECK(UtcTime::parse("2025-03-01T08:00:00.5Z")->iso() == "2025-03-01T08:00:00.500Z");
  CHECK(UtcTime::parse("1969-12-31T23:59:59Z")->ms == -1000);
  CHECK(UtcTime{-1}.iso() == "1969-12-31T23:59:59.999Z");
  for (const char* bad : {"2025-03-01", "2025-03-01T08:00:00", "2025-02-30T08:00:00Z",
                          "2025-03-01T25:00:00Z", "2025-03-01T08:00:00Zjunk", "x"})
    CHECK_FALSE(UtcTime::parse(bad).ok());
}

TEST_CASE("Date parses real calendar dates only") {
  CHECK(Date::parse("2024-02-29").ok());
  CHECK_FALSE(Date::parse("2023-02-29").ok());
  CHECK_FALSE(Date::parse("2023-2-01").ok());
  Date d{2000, 1, 1};
  CHECK(Date::from_days_since_epoch(d.days_since_epoch()) == d);
  CHECK(Date{1970, 1, 1}.days_since_epoch() == 0);
}

TEST_CASE("EntityRef text form is ENTITY:GUID") {
  auto r = EntityRef::parse("account:6F1C2E3A-0000-4ABC-8DEF-0123456789AB");
  REQUIRE(r.ok());
  CHECK(r->entity == "account");
  CHECK(r->str() == "account:6f1c2e3a-0000-4abc-8def-0123456789ab");
  CHECK_FALSE(EntityRef::parse("account").ok());
  CHECK_FALSE(EntityRef::parse(":6f1c2e3a-0000-4abc-8def-0123456789ab").ok());
  CHECK_FALSE(EntityRef::parse("Acc ount:6f1c2e3a-0000-4abc-8def-0123456789ab").ok());
}

TEST_CASE("Values compare as the merge sees them: trimmed text - empty equals null") {
  CHECK(equivalent(Value{std::string(" Ann ")}, Value{std::string("Ann")}));
  CHECK(equivalent(Value{std::string("")}, Value{}));
  CHECK_FALSE(equivalent(Value{std::string("a")}, Value{}));
  CHECK_FALSE(equivalent(Value{std::int64_t{1}}, Value{true}));
  CHECK(equivalent(Value{PartyList{}}, Value{}));
}

TEST_CASE("Item kinds and CRM entities map onto each other") {
  CHECK(store_kind_of(CrmEntity::kPhoneCall) == ItemKind::kTask);
  CHECK(store_kind_of(CrmEntity::kFax) == ItemKind::kTask);
  CHECK(store_kind_of(CrmEntity::kLetter) == ItemKind::kTask);
  CHECK(crm_entity_of(ItemKind::kTask) == CrmEntity::kTask);
  CHECK(to_string(CrmEntity::kPhoneCall) == "phonecall");
  CHECK(parse_item_kind("appointment").value() == ItemKind::kAppointment);
  CHECK_FALSE(parse_item_kind("note").ok());
}

TEST_CASE("FakeClock moves only when told - wall and monotonic apart") {
  FakeClock clock;
  UtcTime t0 = clock.now();
  MonoTime m0 = clock.mono();
  CHECK(clock.now() == t0);
  clock.advance(std::chrono::seconds(5));
  CHECK(clock.now().ms == t0.ms + 5000);
  CHECK(clock.mono() - m0 == std::chrono::seconds(5));
  clock.set_wall(UtcTime{0});
  CHECK(clock.mono() - m0 == std::chrono::seconds(5));
}

TEST_CASE("TimeZone converts local dates and times of day") {
  FixedOffsetZone berlin(std::chrono::minutes(60));
  UtcTime t = *UtcTime::parse("2025-03-01T23:30:00Z");
  CHECK(berlin.local_date(t) == Date{2025, 3, 2});
  CHECK(berlin.local_minute_of_day(t) == 30);
  CHECK(berlin.to_utc(Date{2025, 3, 2}, 30) == t);
  FixedOffsetZone ny(std::chrono::minutes(-300));
  CHECK(ny.local_date(t) == Date{2025, 3, 1});
}

TEST_CASE("E2: ascii_lower folds ASCII letters only - other UTF-8 bytes stay as they are") {
  CHECK(ascii_lower("Ann.Lee@Example.COM") == "ann.lee@example.com");
  CHECK(ascii_lower("") == "");
  CHECK(ascii_lower("\xC3\x84rger@x.de") == "\xC3\x84rger@x.de");  // Ä is not ASCII
  CHECK(ascii_lower("[Z]@") == "[z]@");
}

TEST_CASE("json_quote escapes quotes - backslashes - control characters") {
  CHECK(json_quote("") == "\"\"");
  CHECK(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_quote(std::string("x\ny\x01\x1f", 5)) == "\"x\\u000ay\\u0001\\u001f\"");
  CHECK(json_quote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
}
