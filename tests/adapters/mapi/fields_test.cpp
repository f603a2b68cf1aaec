// SPEC §7 through MAPI properties: every mapped field (and every store-only field the model
// knows) goes to property values and back unchanged; the tags and named properties chosen
// for them; the CRM link; what is refused.
#include <catch2/catch.hpp>

#include <map>

#include "crmsync/model/mapping.hpp"
#include "fields.hpp"

using namespace crmsync;
using namespace crmsync::mapi;

namespace {

// A property bag standing in for a message: what encode wrote, as decode reads it.
struct Bag {
  std::map<PropRef, PropValue> props;
  std::vector<Recipient> rows;

  void apply(const Encoded& e) {
    for (const auto& w : e.props) {
      REQUIRE(
          (std::holds_alternative<std::monostate>(w.value) || type_of(w.value) == w.ref.type()));
      if (std::holds_alternative<std::monostate>(w.value))
        props.erase(w.ref);
      else
        props[w.ref] = w.value;
    }
    for (const auto& [type, list] : e.recipients) {
      std::erase_if(rows, [&](const Recipient& r) { return r.type == type; });
      rows.insert(rows.end(), list.begin(), list.end());
    }
  }
  PropLookup lookup() const {
    return [this](const PropRef& r) -> const PropValue* {
      auto it = props.find(r);
      return it == props.end() ? nullptr : &it->second;
    };
  }
  FieldMap decode(ItemKind kind) const {
    auto r = decode_fields(kind, lookup(), rows);
    if (!r) FAIL(r.error().describe());
    return *r;
  }
};

// A value for any known store field: the first sample text the model parses for it. Text
// fields get non-ASCII text (UTF-16 surrogates included).
Value sample(ItemKind kind, std::string_view field) {
  if (field == "From")  // one sender
    return parse_store_value(kind, field, "Ann Lee <ann@example.org>").value();
  for (std::string_view text :
       {"Zo\xC3\xAB \xF0\x9F\x98\x80 \xE4\xB8\xAD\r\nline two", "High", "InProgress", "Tentative",
        "contact:6f1c2e3a-0b4d-4c5e-8f90-a1b2c3d4e5f6", "Ann Lee <ann@example.org>;bob@example.org",
        "1980-02-29", "2025-03-01T08:30:15.123Z", "true", "-42"}) {
    auto v = parse_store_value(kind, field, text);
    if (v.ok()) return *v;
  }
  FAIL("no sample value for " << field);
  return {};
}

std::string name_of(ItemKind k) {
  return std::string(to_string(k));
}

}  // namespace

TEST_CASE("MAPI stores every SPEC 7 field of every entity", "[mapi][fields]") {
  for (CrmEntity e : kAllCrmEntities) {
    const ItemKind kind = store_kind_of(e);
    for (const FieldMapping& f : mapping_for(e).fields) {
      INFO(to_string(e) << "." << f.store_field);
      CHECK(find_field(kind, f.store_field) != nullptr);
    }
  }
}

TEST_CASE("MAPI field values round-trip through properties for every known field",
          "[mapi][fields]") {
  for (ItemKind kind : kAllItemKinds) {
    for (std::string_view field : known_store_fields(kind)) {
      INFO(name_of(kind) << "." << field);
      if (!unsupported_reason(kind, field).empty()) {
        auto r = encode_fields(kind, FieldMap{{std::string(field), sample(kind, field)}});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().is(ErrorKind::kInvalid));
        CHECK(r.error().message().find("not stored by the MAPI adapter") != std::string::npos);
        continue;
      }
      const Value v = sample(kind, field);
      auto enc = encode_fields(kind, FieldMap{{std::string(field), v}});
      REQUIRE(enc.ok());
      Bag bag;
      bag.apply(*enc);
      FieldMap back = bag.decode(kind);
      if (field == "Organizer") {  // read-only: the store sets it, writes are type-checked
        CHECK(back.empty());
        continue;
      }
      REQUIRE(back.count(field) == 1);
      CHECK(back.at(std::string(field)) == v);
      CHECK(back.size() == 1);  // nothing else appeared
      // Null clears it again.
      auto clear = encode_fields(kind, FieldMap{{std::string(field), Value{}}});
      REQUIRE(clear.ok());
      bag.apply(*clear);
      CHECK(bag.decode(kind).empty());
    }
  }
}

TEST_CASE("MAPI fields go to the documented properties", "[mapi][fields]") {
  auto written = [](ItemKind kind, std::string field, Value v) {
    auto enc = encode_fields(kind, FieldMap{{field, std::move(v)}});
    REQUIRE(enc.ok());
    return enc->props;
  };
  auto contact = written(ItemKind::kContact, "FirstName", std::string("Ann"));
  REQUIRE(contact.size() == 1);
  CHECK(contact[0].ref == PropRef{0x3A06001Fu});
  CHECK(std::get<std::u16string>(contact[0].value) == u"Ann");

  auto birthday = written(ItemKind::kContact, "Birthday", Date{1980, 2, 29});
  REQUIRE(birthday.size() == 1);
  CHECK(birthday[0].ref == PropRef{0x3A420040u});
  CHECK(std::get<FileTime>(birthday[0].value).ticks == date_to_filetime(Date{1980, 2, 29}).value());

  auto email = written(ItemKind::kContact, "Email2Address", std::string("ann@example.org"));
  REQUIRE(email.size() == 2);
  CHECK(email[0].ref == PropRef{Named::kEmail2Address});
  CHECK(email[1].ref == PropRef{Named::kEmail2AddrType});
  CHECK(std::get<std::u16string>(email[1].value) == u"SMTP");

  auto status = written(ItemKind::kTask, "Status", std::string("Complete"));
  REQUIRE(status.size() == 3);
  CHECK(status[0].ref == PropRef{Named::kTaskStatus});
  CHECK(std::get<std::int32_t>(status[0].value) == 2);
  CHECK(std::get<bool>(status[1].value) == true);
  CHECK(std::get<double>(status[2].value) == 1.0);
  auto waiting = written(ItemKind::kTask, "Status", std::string("Waiting"));
  REQUIRE(waiting.size() == 2);  // the percentage of an open task is left alone
  CHECK(std::get<std::int32_t>(waiting[0].value) == 3);
  CHECK(std::get<bool>(waiting[1].value) == false);

  auto busy = written(ItemKind::kAppointment, "ShowTimeAs", std::string("OutOfOffice"));
  CHECK(busy[0].ref == PropRef{Named::kBusyStatus});
  CHECK(std::get<std::int32_t>(busy[0].value) == 3);

  auto importance = written(ItemKind::kTask, "Importance", std::string("Low"));
  CHECK(importance[0].ref == PropRef{0x00170003u});
  CHECK(std::get<std::int32_t>(importance[0].value) == 0);

  auto regarding =
      written(ItemKind::kEmail, "Regarding",
              EntityRef::parse("account:6F1C2E3A-0B4D-4C5E-8F90-A1B2C3D4E5F6").value());
  CHECK(regarding[0].ref == PropRef{Named::kRegarding});
  CHECK(std::get<std::u16string>(regarding[0].value) ==
        u"account:6f1c2e3a-0b4d-4c5e-8f90-a1b2c3d4e5f6");

  auto enc = encode_fields(
      ItemKind::kAppointment,
      FieldMap{{"RequiredAttendees", parse_store_value(ItemKind::kAppointment, "RequiredAttendees",
                                                       "Ann <a@x.org>;b@y.org")
                                         .value()}});
  REQUIRE(enc.ok());
  REQUIRE(enc->recipients.count(kRecipientTo) == 1);
  CHECK(enc->recipients.at(kRecipientTo) ==
        std::vector<Recipient>{{kRecipientTo, u"Ann", u"a@x.org"},
                               {kRecipientTo, u"b@y.org", u"b@y.org"}});
}

TEST_CASE("MAPI recipients of one type leave the other type alone", "[mapi][fields]") {
  Bag bag;
  auto parties = [](std::string_view text) {
    return parse_store_value(ItemKind::kEmail, "To", text).value();
  };
  bag.apply(
      encode_fields(ItemKind::kEmail, {{"To", parties("a@x.org")}, {"Cc", parties("c@x.org")}})
          .value());
  bag.apply(encode_fields(ItemKind::kEmail, {{"To", parties("b@x.org")}}).value());
  FieldMap back = bag.decode(ItemKind::kEmail);
  CHECK(back.at("To") == parties("b@x.org"));
  CHECK(back.at("Cc") == parties("c@x.org"));
}

TEST_CASE("MAPI sender and organizer are read from the SMTP properties", "[mapi][fields]") {
  Bag bag;
  bag.props[PropRef{tag::kSenderName}] = std::u16string(u"Ann Lee");
  bag.props[PropRef{tag::kSenderAddrType}] = std::u16string(u"EX");
  bag.props[PropRef{tag::kSenderEmailAddress}] = std::u16string(u"/o=org/ou=x/cn=ann");
  CHECK(bag.decode(ItemKind::kEmail).count("From") == 0);  // no SMTP address: no party
  bag.props[PropRef{tag::kSenderSmtpAddress}] = std::u16string(u"ann@example.org");
  Party ann{"ann@example.org", "Ann Lee", std::nullopt};
  CHECK(bag.decode(ItemKind::kEmail).at("From") == Value{PartyList{ann}});

  bag.props[PropRef{tag::kSentRepresentingName}] = std::u16string(u"Bob");
  bag.props[PropRef{tag::kSentRepresentingAddrType}] = std::u16string(u"SMTP");
  bag.props[PropRef{tag::kSentRepresentingEmailAddress}] = std::u16string(u"bob@example.org");
  Party bob{"bob@example.org", "Bob", std::nullopt};
  CHECK(bag.decode(ItemKind::kAppointment).at("Organizer") == Value{PartyList{bob}});
  // Written Organizer values are checked, then left to the store.
  auto org = encode_fields(ItemKind::kAppointment, {{"Organizer", Value{PartyList{bob}}}});
  REQUIRE(org.ok());
  CHECK(org->props.empty());
  CHECK_FALSE(encode_fields(ItemKind::kAppointment, {{"Organizer", std::string("x")}}).ok());
  CHECK_FALSE(encode_fields(ItemKind::kEmail, {{"From", Value{PartyList{ann, bob}}}}).ok());
}

TEST_CASE("MAPI field encoding refuses unknown fields and wrong values", "[mapi][fields]") {
  auto refused = [](ItemKind kind, FieldMap fields, std::string_view says) {
    auto r = encode_fields(kind, fields);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    INFO(r.error().message());
    CHECK(r.error().message().find(says) != std::string::npos);
  };
  refused(ItemKind::kContact, {{"Shoe size", std::string("44")}}, "unknown field");
  refused(ItemKind::kContact, {{"Subject", std::string("x")}}, "unknown field");
  refused(ItemKind::kContact, {{"FirstName", std::int64_t{1}}}, "FirstName: expected text");
  refused(ItemKind::kContact, {{"Birthday", std::string("1980-01-01")}}, "expected date");
  refused(ItemKind::kContact, {{"FirstName", std::string("a\xFF")}}, "UTF-8");
  refused(ItemKind::kContact, {{"FirstName", std::string("a\0b", 3)}}, "NUL");
  refused(ItemKind::kTask, {{"Status", std::string("Done")}}, "unknown value");
  refused(ItemKind::kTask, {{"TotalWork", std::int64_t{1} << 40}}, "32-bit");
  refused(ItemKind::kAppointment, {{"Start", UtcTime{-12'000'000'000'000}}}, "1601");
  refused(ItemKind::kAppointment, {{"Label", std::string("red")}},
          "not stored by the MAPI adapter");
  refused(ItemKind::kEmail, {{"To", PartyList{Party{}}}}, "without address");
}

TEST_CASE("MAPI field decoding refuses properties of the wrong type or range", "[mapi][fields]") {
  auto refused = [](ItemKind kind, PropRef ref, PropValue v) {
    Bag bag;
    bag.props[ref] = std::move(v);
    auto r = decode_fields(kind, bag.lookup(), {});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
  };
  refused(ItemKind::kContact, PropRef{tag::kGivenName}, std::int32_t{1});
  refused(ItemKind::kTask, PropRef{Named::kTaskStatus}, std::int32_t{9});
  refused(ItemKind::kTask, PropRef{tag::kImportance}, std::int32_t{-1});
  refused(ItemKind::kAppointment, PropRef{Named::kAppointmentStartWhole}, FileTime{-5});
  refused(ItemKind::kEmail, PropRef{Named::kRegarding}, std::u16string(u"not a reference"));
}

TEST_CASE("MAPI busy status 4 (working elsewhere) reads as Busy", "[mapi][fields]") {
  Bag bag;
  bag.props[PropRef{Named::kBusyStatus}] = std::int32_t{4};
  CHECK(bag.decode(ItemKind::kAppointment).at("ShowTimeAs") == Value{std::string("Busy")});
}

TEST_CASE("MAPI CRM link round-trips through named properties", "[mapi][fields]") {
  CrmLink link;
  link.tracked = true;
  link.crm_id = CrmId::parse("{6F1C2E3A-0B4D-4C5E-8F90-A1B2C3D4E5F6}").value();
  link.crm_id_pending = true;
  link.crm_entity = CrmEntity::kPhoneCall;
  Bag bag;
  Encoded e;
  e.props = encode_link(link).value();
  bag.apply(e);
  CHECK(bag.props.at(PropRef{Named::kCrmEntity}) == PropValue{std::u16string(u"phonecall")});
  CHECK(decode_link(bag.lookup()).value() == link);

  e.props = encode_link(CrmLink{}).value();  // unlinking deletes the id and the entity
  bag.apply(e);
  CHECK(decode_link(bag.lookup()).value() == CrmLink{});
  CHECK(bag.props.count(PropRef{Named::kCrmId}) == 0);

  bag.props[PropRef{Named::kCrmId}] = std::u16string(u"not-a-guid");
  CHECK(decode_link(bag.lookup()).error().is(ErrorKind::kInvalid));
  bag.props[PropRef{Named::kCrmId}] = std::int32_t{3};
  CHECK(decode_link(bag.lookup()).error().is(ErrorKind::kInvalid));
}

TEST_CASE("MAPI message classes give the item kind", "[mapi][fields]") {
  CHECK(kind_of_message_class(u"IPM.Contact").value() == ItemKind::kContact);
  CHECK(kind_of_message_class(u"ipm.task").value() == ItemKind::kTask);
  CHECK(kind_of_message_class(u"IPM.Appointment.Occurrence").value() == ItemKind::kAppointment);
  CHECK(kind_of_message_class(u"IPM.Note.SMIME.MultipartSigned").value() == ItemKind::kEmail);
  CHECK(kind_of_message_class(u"IPM.Schedule.Meeting.Request").value() == ItemKind::kEmail);
  CHECK(kind_of_message_class(u"IPM.NoteX").error().is(ErrorKind::kNotFound));
  CHECK(kind_of_message_class(kLeaseClass).error().is(ErrorKind::kNotFound));
  CHECK(kind_of_message_class(u"").error().is(ErrorKind::kNotFound));
  for (ItemKind k : kAllItemKinds) CHECK(kind_of_message_class(message_class(k)).value() == k);
}

TEST_CASE("MAPI columns cover every property decode reads", "[mapi][fields]") {
  for (ItemKind kind : kAllItemKinds) {
    const auto cols = props_to_read(kind);
    Bag bag;
    std::vector<PropRef> asked;
    PropLookup spy = [&](const PropRef& r) -> const PropValue* {
      asked.push_back(r);
      return nullptr;
    };
    REQUIRE(decode_fields(kind, spy, {}).ok());
    REQUIRE(decode_link(spy).ok());
    for (const PropRef& r : asked) {
      INFO(name_of(kind) << " reads " << r.label());
      CHECK(std::find(cols.begin(), cols.end(), r) != cols.end());
    }
  }
}
