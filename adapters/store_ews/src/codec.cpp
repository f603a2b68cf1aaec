#include "codec.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <span>

#include "crmsync/model/encoding.hpp"
#include "crmsync/model/mapping.hpp"

namespace crmsync::ews {

using soap::Element;
using soap::XmlWriter;

namespace {

// ---------------------------------------------------------------------------
// The field table.

enum class Slot {
  kElement,  // a first-class element: item-level (ItemType) or of the subtype
  kIndexed,  // an entry of a dictionary (EmailAddresses, PhoneNumbers, ImAddresses)
  kAddress,  // a part of the business PhysicalAddresses entry
  kExtended  // an extended property
};
enum class VT {
  kText,
  kTextList,  // an ArrayOfStrings (Children): one entry written, entries joined on read
  kDate,      // a dateTime with date meaning: written at 00:00Z, read to the nearest midnight
  kTime,
  kBool,
  kInt,
  kImportance,
  kTaskStatus,
  kShowTimeAs,
  kParties,    // attendees / recipients: a list of Mailbox (Attendee-wrapped for calendar)
  kParty,      // From, Organizer: one Mailbox
  kReference,  // Regarding: "entity:guid" text
  kDuration,   // computed from Start and End (read only)
};

struct Ext {
  std::string_view set;  // property set GUID; "" = a plain tag
  std::string_view tag;  // "0x3A07"
  std::string_view name;
  int id = 0;  // numeric LID of a named property
  std::string_view type = "String";
};

struct Spec {
  std::string_view store;
  Slot slot;
  std::string_view element;  // element, dictionary element, or address part
  std::string_view uri;      // FieldURI (indexed: the dictionary's FieldURI)
  std::string_view key;      // FieldIndex / Entry Key (addresses: "Business")
  VT type = VT::kText;
  bool read_only = false;  // ignored on write (Organizer is always the owner, Duration derived)
  Ext ext{};
};

constexpr std::string_view kAddressSet = "00062004-0000-0000-C000-000000000046";  // PSETID_Address

constexpr Ext named(std::string_view name, std::string_view type = "String") {
  return Ext{kPropertySet, {}, name, 0, type};
}
constexpr Ext tag(std::string_view t) {
  return Ext{{}, t, {}, 0, "String"};
}

#define ITEM(store, el, uri, type)           \
  Spec {                                     \
    store, Slot::kElement, el, uri, {}, type \
  }
#define SUB(store, el, uri, type)            \
  Spec {                                     \
    store, Slot::kElement, el, uri, {}, type \
  }

const std::vector<Spec>& contact_specs() {
  static const std::vector<Spec> v = {
      ITEM("Body", "Body", "item:Body", VT::kText),
      SUB("FirstName", "GivenName", "contacts:GivenName", VT::kText),
      SUB("MiddleName", "MiddleName", "contacts:MiddleName", VT::kText),
      SUB("NickName", "Nickname", "contacts:Nickname", VT::kText),
      SUB("CompanyName", "CompanyName", "contacts:CompanyName", VT::kText),
      {"Email1Address", Slot::kIndexed, "EmailAddresses", "contacts:EmailAddress", "EmailAddress1"},
      {"Email2Address", Slot::kIndexed, "EmailAddresses", "contacts:EmailAddress", "EmailAddress2"},
      {"Email3Address", Slot::kIndexed, "EmailAddresses", "contacts:EmailAddress", "EmailAddress3"},
      {"MailingAddressStreet", Slot::kAddress, "Street", "contacts:PhysicalAddress:Street",
       "Business"},
      {"MailingAddressCity", Slot::kAddress, "City", "contacts:PhysicalAddress:City", "Business"},
      {"MailingAddressState", Slot::kAddress, "State", "contacts:PhysicalAddress:State",
       "Business"},
      {"MailingAddressCountry", Slot::kAddress, "CountryOrRegion",
       "contacts:PhysicalAddress:CountryOrRegion", "Business"},
      {"MailingAddressPostalCode", Slot::kAddress, "PostalCode",
       "contacts:PhysicalAddress:PostalCode", "Business"},
      {"BusinessTelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber",
       "BusinessPhone"},
      {"Business2TelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber",
       "BusinessPhone2"},
      {"HomeTelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber", "HomePhone"},
      {"Home2TelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber",
       "HomePhone2"},
      {"MobileTelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber",
       "MobilePhone"},
      {"OtherTelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber",
       "OtherTelephone"},
      {"PagerNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber", "Pager"},
      {"BusinessFaxNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber", "BusinessFax"},
      {"AssistantTelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber",
       "AssistantPhone"},
      {"CarTelephoneNumber", Slot::kIndexed, "PhoneNumbers", "contacts:PhoneNumber", "CarPhone"},
      SUB("AssistantName", "AssistantName", "contacts:AssistantName", VT::kText),
      SUB("Birthday", "Birthday", "contacts:Birthday", VT::kDate),
      SUB("WebPage", "BusinessHomePage", "contacts:BusinessHomePage", VT::kText),
      SUB("Children", "Children", "contacts:Children", VT::kTextList),
      SUB("Department", "Department", "contacts:Department", VT::kText),
      {"IMAddress", Slot::kIndexed, "ImAddresses", "contacts:ImAddress", "ImAddress1"},
      SUB("JobTitle", "JobTitle", "contacts:JobTitle", VT::kText),
      SUB("ManagerName", "Manager", "contacts:Manager", VT::kText),
      SUB("OfficeLocation", "OfficeLocation", "contacts:OfficeLocation", VT::kText),
      SUB("Profession", "Profession", "contacts:Profession", VT::kText),
      SUB("Spouse", "SpouseName", "contacts:SpouseName", VT::kText),
      SUB("LastName", "Surname", "contacts:Surname", VT::kText),
      SUB("Anniversary", "WeddingAnniversary", "contacts:WeddingAnniversary", VT::kDate),
      SUB("YomiFirstName", "PhoneticFirstName", "contacts:PhoneticFirstName", VT::kText),
      SUB("YomiLastName", "PhoneticLastName", "contacts:PhoneticLastName", VT::kText),
      // No element in EWS: MAPI tags and PSETID_Address named properties.
      {"Title", Slot::kExtended, {}, {}, {}, VT::kText, false, tag("0x3A45")},
      {"GovernmentIDNumber", Slot::kExtended, {}, {}, {}, VT::kText, false, tag("0x3A07")},
      {"FTPSite", Slot::kExtended, {}, {}, {}, VT::kText, false, tag("0x3A4C")},
      // PidLidWorkAddressPostOfficeBox: the business address is the mailing address.
      {"MailingAddressPostOfficeBox",
       Slot::kExtended,
       {},
       {},
       {},
       VT::kText,
       false,
       Ext{kAddressSet, {}, {}, 0x804A, "String"}},
  };
  return v;
}

const std::vector<Spec>& task_specs() {
  static const std::vector<Spec> v = {
      ITEM("Subject", "Subject", "item:Subject", VT::kText),
      ITEM("Body", "Body", "item:Body", VT::kText),
      ITEM("Importance", "Importance", "item:Importance", VT::kImportance),
      ITEM("ReminderTime", "ReminderDueBy", "item:ReminderDueBy", VT::kTime),
      ITEM("ReminderSet", "ReminderIsSet", "item:ReminderIsSet", VT::kBool),
      SUB("BillingInformation", "BillingInformation", "task:BillingInformation", VT::kText),
      SUB("DateCompleted", "CompleteDate", "task:CompleteDate", VT::kDate),
      SUB("DueDate", "DueDate", "task:DueDate", VT::kDate),
      SUB("Mileage", "Mileage", "task:Mileage", VT::kText),
      SUB("StartDate", "StartDate", "task:StartDate", VT::kDate),
      SUB("Status", "Status", "task:Status", VT::kTaskStatus),
      SUB("TotalWork", "TotalWork", "task:TotalWork", VT::kInt),
      {"Regarding", Slot::kExtended, {}, {}, {}, VT::kReference, false, named("Regarding")},
  };
  return v;
}

const std::vector<Spec>& appointment_specs() {
  static const std::vector<Spec> v = {
      ITEM("Subject", "Subject", "item:Subject", VT::kText),
      ITEM("Body", "Body", "item:Body", VT::kText),
      ITEM("Importance", "Importance", "item:Importance", VT::kImportance),
      ITEM("ReminderMinutesBeforeStart", "ReminderMinutesBeforeStart",
           "item:ReminderMinutesBeforeStart", VT::kInt),
      SUB("Start", "Start", "calendar:Start", VT::kTime),
      SUB("End", "End", "calendar:End", VT::kTime),
      SUB("AllDayEvent", "IsAllDayEvent", "calendar:IsAllDayEvent", VT::kBool),
      SUB("ShowTimeAs", "LegacyFreeBusyStatus", "calendar:LegacyFreeBusyStatus", VT::kShowTimeAs),
      SUB("Location", "Location", "calendar:Location", VT::kText),
      Spec{"Organizer", Slot::kElement, "Organizer", "calendar:Organizer", {}, VT::kParty, true},
      SUB("RequiredAttendees", "RequiredAttendees", "calendar:RequiredAttendees", VT::kParties),
      SUB("OptionalAttendees", "OptionalAttendees", "calendar:OptionalAttendees", VT::kParties),
      Spec{"Duration", Slot::kElement, "Duration", "calendar:Duration", {}, VT::kDuration, true},
      {"Regarding", Slot::kExtended, {}, {}, {}, VT::kReference, false, named("Regarding")},
  };
  return v;
}

const std::vector<Spec>& email_specs() {
  static const std::vector<Spec> v = {
      ITEM("Subject", "Subject", "item:Subject", VT::kText),
      ITEM("Body", "Body", "item:Body", VT::kText),
      Spec{"ReceivedTime",
           Slot::kElement,
           "DateTimeReceived",
           "item:DateTimeReceived",
           {},
           VT::kTime,
           true},
      ITEM("Importance", "Importance", "item:Importance", VT::kImportance),
      Spec{"SentTime", Slot::kElement, "DateTimeSent", "item:DateTimeSent", {}, VT::kTime, true},
      SUB("To", "ToRecipients", "message:ToRecipients", VT::kParties),
      SUB("Cc", "CcRecipients", "message:CcRecipients", VT::kParties),
      SUB("From", "From", "message:From", VT::kParty),
      SUB("MessageId", "InternetMessageId", "message:InternetMessageId", VT::kText),
      {"Regarding", Slot::kExtended, {}, {}, {}, VT::kReference, false, named("Regarding")},
  };
  return v;
}

#undef ITEM
#undef SUB

const std::vector<Spec>& specs(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return contact_specs();
    case ItemKind::kTask:
      return task_specs();
    case ItemKind::kAppointment:
      return appointment_specs();
    case ItemKind::kEmail:
      return email_specs();
  }
  return contact_specs();
}

const Spec* find_spec(ItemKind kind, std::string_view store) {
  for (const Spec& s : specs(kind))
    if (s.store == store) return &s;
  return nullptr;
}

std::string_view element_of(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return "Contact";
    case ItemKind::kTask:
      return "Task";
    case ItemKind::kAppointment:
      return "CalendarItem";
    case ItemKind::kEmail:
      return "Message";
  }
  return "Item";
}

// The CRM link, as named properties of our set.
const Ext kTracked = named("Tracked", "Boolean");
const Ext kCrmId = named("CrmId");
const Ext kCrmIdPending = named("CrmIdPending", "Boolean");
const Ext kCrmEntity = named("CrmEntity");

// Schema order of an item's children: ItemType's, then the subtype's.
constexpr std::string_view kItemOrder[] = {"ItemClass",
                                           "Subject",
                                           "Sensitivity",
                                           "Body",
                                           "Attachments",
                                           "DateTimeReceived",
                                           "Size",
                                           "Categories",
                                           "Importance",
                                           "InReplyTo",
                                           "DateTimeSent",
                                           "ReminderDueBy",
                                           "ReminderIsSet",
                                           "ReminderMinutesBeforeStart",
                                           "ExtendedProperty"};
constexpr std::string_view kContactOrder[] = {"FileAs",
                                              "DisplayName",
                                              "GivenName",
                                              "Initials",
                                              "MiddleName",
                                              "Nickname",
                                              "CompleteName",
                                              "CompanyName",
                                              "EmailAddresses",
                                              "PhysicalAddresses",
                                              "PhoneNumbers",
                                              "AssistantName",
                                              "Birthday",
                                              "BusinessHomePage",
                                              "Children",
                                              "Companies",
                                              "ContactSource",
                                              "Department",
                                              "Generation",
                                              "ImAddresses",
                                              "JobTitle",
                                              "Manager",
                                              "Mileage",
                                              "OfficeLocation",
                                              "PostalAddressIndex",
                                              "Profession",
                                              "SpouseName",
                                              "Surname",
                                              "WeddingAnniversary",
                                              "HasPicture",
                                              "PhoneticFullName",
                                              "PhoneticFirstName",
                                              "PhoneticLastName"};
constexpr std::string_view kTaskOrder[] = {"ActualWork",
                                           "AssignedTime",
                                           "BillingInformation",
                                           "ChangeCount",
                                           "Companies",
                                           "CompleteDate",
                                           "Contacts",
                                           "DelegationState",
                                           "Delegator",
                                           "DueDate",
                                           "IsAssignmentEditable",
                                           "IsComplete",
                                           "IsRecurring",
                                           "IsTeamTask",
                                           "Mileage",
                                           "Owner",
                                           "PercentComplete",
                                           "Recurrence",
                                           "StartDate",
                                           "Status",
                                           "StatusDescription",
                                           "TotalWork"};
constexpr std::string_view kCalendarOrder[] = {"UID",
                                               "RecurrenceId",
                                               "DateTimeStamp",
                                               "Start",
                                               "End",
                                               "OriginalStart",
                                               "IsAllDayEvent",
                                               "LegacyFreeBusyStatus",
                                               "Location",
                                               "When",
                                               "IsMeeting",
                                               "IsCancelled",
                                               "IsRecurring",
                                               "MeetingRequestWasSent",
                                               "IsResponseRequested",
                                               "CalendarItemType",
                                               "MyResponseType",
                                               "Organizer",
                                               "RequiredAttendees",
                                               "OptionalAttendees",
                                               "Resources",
                                               "Duration",
                                               "StartTimeZone",
                                               "EndTimeZone"};
constexpr std::string_view kMessageOrder[] = {"Sender",
                                              "ToRecipients",
                                              "CcRecipients",
                                              "BccRecipients",
                                              "IsReadReceiptRequested",
                                              "IsDeliveryReceiptRequested",
                                              "ConversationIndex",
                                              "ConversationTopic",
                                              "From",
                                              "InternetMessageId",
                                              "IsRead"};

int order_of(ItemKind kind, std::string_view element) {
  int i = 0;
  for (auto e : kItemOrder) {
    if (e == element) return i;
    ++i;
  }
  std::span<const std::string_view> sub;
  switch (kind) {
    case ItemKind::kContact:
      sub = kContactOrder;
      break;
    case ItemKind::kTask:
      sub = kTaskOrder;
      break;
    case ItemKind::kAppointment:
      sub = kCalendarOrder;
      break;
    case ItemKind::kEmail:
      sub = kMessageOrder;
      break;
  }
  for (auto e : sub) {
    if (e == element) return i;
    ++i;
  }
  return 1000;
}

constexpr std::string_view kAddressParts[] = {"Street", "City", "State", "CountryOrRegion",
                                              "PostalCode"};
int address_part_order(std::string_view part) {
  for (std::size_t i = 0; i < std::size(kAddressParts); ++i)
    if (kAddressParts[i] == part) return static_cast<int>(i);
  return 99;
}

// ---------------------------------------------------------------------------
// Values <-> wire text.

Error invalid_field(std::string_view field, std::string_view why) {
  return Error::Invalid("field " + std::string(field) + ": " + std::string(why));
}

Result<std::string> checked_text(std::string_view field, const Value& v) {
  const auto* s = std::get_if<std::string>(&v);
  if (!s) return invalid_field(field, "expected text, got " + std::string(type_name(v)));
  if (!soap::is_xml_text(*s))
    return invalid_field(field,
                         "text that XML 1.0 cannot carry (invalid UTF-8 or a control character)");
  return *s;
}

std::string date_wire(const Date& d) {
  return d.iso() + "T00:00:00Z";
}

// Wire text of a scalar value (not parties). Checks the type and the choice.
Result<std::string> to_wire(const Spec& s, const Value& v) {
  switch (s.type) {
    case VT::kText:
    case VT::kTextList:
      return checked_text(s.store, v);
    case VT::kReference: {
      const auto* r = std::get_if<EntityRef>(&v);
      if (!r) return invalid_field(s.store, "expected a reference (entity:guid)");
      return r->str();
    }
    case VT::kDate: {
      const auto* d = std::get_if<Date>(&v);
      if (!d) return invalid_field(s.store, "expected a date");
      return date_wire(*d);
    }
    case VT::kTime: {
      const auto* t = std::get_if<UtcTime>(&v);
      if (!t) return invalid_field(s.store, "expected a time");
      return t->iso();
    }
    case VT::kBool: {
      const auto* b = std::get_if<bool>(&v);
      if (!b) return invalid_field(s.store, "expected true or false");
      return std::string(*b ? "true" : "false");
    }
    case VT::kInt: {
      const auto* i = std::get_if<std::int64_t>(&v);
      if (!i) return invalid_field(s.store, "expected an integer");
      if (*i < INT32_MIN || *i > INT32_MAX) return invalid_field(s.store, "integer out of range");
      return std::to_string(*i);
    }
    case VT::kImportance: {
      auto t = checked_text(s.store, v);
      if (!t) return t;
      if (*t == "Low" || *t == "Normal" || *t == "High") return t;
      return invalid_field(s.store, "not one of Low, Normal, High: " + *t);
    }
    case VT::kTaskStatus: {
      auto t = checked_text(s.store, v);
      if (!t) return t;
      if (*t == "NotStarted" || *t == "InProgress" || *t == "Deferred") return t;
      if (*t == "Waiting") return std::string("WaitingOnOthers");
      if (*t == "Complete") return std::string("Completed");
      return invalid_field(s.store, "not a task status: " + *t);
    }
    case VT::kShowTimeAs: {
      auto t = checked_text(s.store, v);
      if (!t) return t;
      if (*t == "Free" || *t == "Tentative" || *t == "Busy") return t;
      if (*t == "OutOfOffice") return std::string("OOF");
      return invalid_field(s.store, "not one of Free, Tentative, Busy, OutOfOffice: " + *t);
    }
    case VT::kParties:
    case VT::kParty:
    case VT::kDuration:
      break;
  }
  return invalid_field(s.store, "not a scalar");
}

Result<Value> date_from_wire(std::string_view field, const std::string& text) {
  auto t = UtcTime::parse(text);
  if (!t) return invalid_field(field, "bad dateTime '" + text + "'");
  // A date stored as local midnight somewhere in UTC-12..UTC+12: the nearest midnight.
  constexpr std::int64_t kDay = 86'400'000;
  std::int64_t ms = t->ms + kDay / 2;
  std::int64_t days = ms >= 0 ? ms / kDay : -((-ms + kDay - 1) / kDay);
  return Value(Date::from_days_since_epoch(days));
}

Result<Value> from_wire(const Spec& s, const std::string& text) {
  switch (s.type) {
    case VT::kText:
    case VT::kTextList:
      return Value(text);
    case VT::kReference: {
      auto r = EntityRef::parse(text);
      if (!r) return invalid_field(s.store, "bad reference '" + text + "'");
      return Value(*r);
    }
    case VT::kDate:
      return date_from_wire(s.store, text);
    case VT::kTime: {
      auto t = UtcTime::parse(text);
      if (!t) return invalid_field(s.store, "bad dateTime '" + text + "'");
      return Value(*t);
    }
    case VT::kBool:
      if (text == "true" || text == "1") return Value(true);
      if (text == "false" || text == "0") return Value(false);
      return invalid_field(s.store, "bad boolean '" + text + "'");
    case VT::kInt: {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size())
        return invalid_field(s.store, "bad integer '" + text + "'");
      return Value(v);
    }
    case VT::kImportance:
      if (text == "Low" || text == "Normal" || text == "High") return Value(text);
      return invalid_field(s.store, "bad importance '" + text + "'");
    case VT::kTaskStatus:
      if (text == "NotStarted" || text == "InProgress" || text == "Deferred") return Value(text);
      if (text == "WaitingOnOthers") return Value(std::string("Waiting"));
      if (text == "Completed") return Value(std::string("Complete"));
      return invalid_field(s.store, "bad task status '" + text + "'");
    case VT::kShowTimeAs:
      if (text == "Free" || text == "Tentative" || text == "Busy") return Value(text);
      if (text == "OOF") return Value(std::string("OutOfOffice"));
      if (text == "WorkingElsewhere") return Value(std::string("Busy"));
      if (text == "NoData") return Value();
      return invalid_field(s.store, "bad free/busy status '" + text + "'");
    default:
      break;
  }
  return invalid_field(s.store, "not a scalar");
}

// ---------------------------------------------------------------------------
// Writing.

void write_ext_uri(XmlWriter& w, const Ext& e) {
  w.open("t:ExtendedFieldURI");
  if (!e.set.empty()) {
    w.attr("PropertySetId", e.set);
    if (!e.name.empty())
      w.attr("PropertyName", e.name);
    else
      w.attr("PropertyId", std::to_string(e.id));
  } else {
    w.attr("PropertyTag", e.tag);
  }
  w.attr("PropertyType", e.type);
  w.close();
}

void write_ext(XmlWriter& w, const Ext& e, std::string_view value) {
  w.open("t:ExtendedProperty");
  write_ext_uri(w, e);
  w.leaf("t:Value", value);
  w.close();
}

void write_mailbox(XmlWriter& w, const Party& p) {
  w.open("t:Mailbox");
  if (!p.name.empty()) w.leaf("t:Name", p.name);
  if (!p.address.empty()) w.leaf("t:EmailAddress", p.address);
  w.close();
}

Result<void> check_party(std::string_view field, const Party& p) {
  if (!soap::is_xml_text(p.name) || !soap::is_xml_text(p.address))
    return invalid_field(field, "a party's name or address XML cannot carry");
  if (p.name.empty() && p.address.empty()) return invalid_field(field, "an empty party");
  return Ok();
}

// One element (or dictionary entry) ready to be written: (order, sub-order, xml).
struct Piece {
  int order = 0;
  std::string group;  // dictionary element for entries ("" = standalone)
  int sub = 0;
  std::string xml;
};

Result<Piece> piece_of(ItemKind kind, const Spec& s, const Value& v) {
  XmlWriter w;
  Piece p;
  switch (s.slot) {
    case Slot::kElement: {
      p.order = order_of(kind, s.element);
      std::string el = "t:" + std::string(s.element);
      if (s.type == VT::kParties || s.type == VT::kParty) {
        const auto* parties = std::get_if<PartyList>(&v);
        if (!parties) return invalid_field(s.store, "expected a list of parties");
        for (const Party& party : *parties) CRMSYNC_TRY(check_party(s.store, party));
        if (s.type == VT::kParty && parties->size() != 1)
          return invalid_field(s.store, "expected exactly one party");
        w.open(el);
        for (const Party& party : *parties) {
          if (kind == ItemKind::kAppointment && s.type == VT::kParties) {
            w.open("t:Attendee");
            write_mailbox(w, party);
            w.close();
          } else {
            write_mailbox(w, party);
          }
        }
        w.close();
      } else {
        auto text = to_wire(s, v);
        if (!text) return text.error();
        w.open(el);
        if (s.element == "Body") w.attr("BodyType", "Text");
        if (s.type == VT::kTextList)
          w.leaf("t:String", *text);
        else
          w.text(*text);
        w.close();
      }
      break;
    }
    case Slot::kIndexed: {
      auto text = to_wire(s, v);
      if (!text) return text.error();
      p.order = order_of(kind, s.element);
      p.group = s.element;
      w.open("t:Entry").attr("Key", s.key).text(*text).close();
      break;
    }
    case Slot::kAddress: {
      auto text = to_wire(s, v);
      if (!text) return text.error();
      p.order = order_of(kind, "PhysicalAddresses");
      p.group = "PhysicalAddresses";
      p.sub = address_part_order(s.element);
      w.leaf("t:" + std::string(s.element), *text);
      break;
    }
    case Slot::kExtended: {
      auto text = to_wire(s, v);
      if (!text) return text.error();
      p.order = order_of(kind, "ExtendedProperty");
      write_ext(w, s.ext, *text);
      break;
    }
  }
  p.xml = w.take();
  return p;
}

std::vector<Piece> link_pieces(ItemKind kind, const CrmLink& link) {
  std::vector<Piece> out;
  int order = order_of(kind, "ExtendedProperty");
  auto add = [&](const Ext& e, const std::string& value) {
    XmlWriter w;
    write_ext(w, e, value);
    out.push_back({order, "", 0, w.take()});
  };
  if (link.tracked) add(kTracked, "true");
  if (link.crm_id) add(kCrmId, link.crm_id->str());
  if (link.crm_id_pending) add(kCrmIdPending, "true");
  if (link.crm_entity) add(kCrmEntity, std::string(to_string(*link.crm_entity)));
  return out;
}

// Joins pieces in schema order, grouping dictionary entries into their container.
std::string join_pieces(std::vector<Piece> pieces) {
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
    return a.order != b.order ? a.order < b.order : a.sub < b.sub;
  });
  std::string out;
  for (std::size_t i = 0; i < pieces.size();) {
    if (pieces[i].group.empty()) {
      out += pieces[i++].xml;
      continue;
    }
    const std::string group = pieces[i].group;
    out += "<t:" + group + ">";
    if (group == "PhysicalAddresses") out += "<t:Entry Key=\"Business\">";
    while (i < pieces.size() && pieces[i].group == group) out += pieces[i++].xml;
    if (group == "PhysicalAddresses") out += "</t:Entry>";
    out += "</t:" + group + ">";
  }
  return out;
}

// A read-only field is not written, but a value of the wrong type is still refused (X3).
Result<void> check_read_only(const Spec& s, const Value& v) {
  if (is_null(v)) return Ok();
  bool ok = true;
  switch (s.type) {
    case VT::kDuration:
      ok = std::holds_alternative<std::int64_t>(v);
      break;
    case VT::kParty:
    case VT::kParties:
      ok = std::holds_alternative<PartyList>(v);
      break;
    case VT::kTime:
      ok = std::holds_alternative<UtcTime>(v);
      break;
    default:
      break;
  }
  if (!ok) return invalid_field(s.store, "a value of the wrong type: " + std::string(type_name(v)));
  return Ok();
}

Result<void> check_fields(ItemKind kind, const FieldMap& fields) {
  for (const auto& [name, value] : fields) {
    if (!find_spec(kind, name)) {
      if (is_known_store_field(kind, name))
        return invalid_field(name, "not supported by the EWS store");
      return invalid_field(name, "unknown for a " + std::string(to_string(kind)));
    }
  }
  return Ok();
}

std::string folder_id_xml(Folder f) {
  return "<t:DistinguishedFolderId Id=\"" + std::string(distinguished_id(f)) + "\"/>";
}

std::string ext_uri_xml(const Ext& e) {
  XmlWriter w;
  write_ext_uri(w, e);
  return w.take();
}

std::string all_ext_uris() {
  std::string out;
  std::vector<std::string> seen;
  auto add = [&](const Ext& e) {
    std::string x = ext_uri_xml(e);
    if (std::find(seen.begin(), seen.end(), x) != seen.end()) return;
    seen.push_back(x);
    out += x;
  };
  for (ItemKind k : kAllItemKinds)
    for (const Spec& s : specs(k))
      if (s.slot == Slot::kExtended) add(s.ext);
  for (const Ext* e : {&kTracked, &kCrmId, &kCrmIdPending, &kCrmEntity}) add(*e);
  return out;
}

// ---------------------------------------------------------------------------
// Reading.

const Element* tchild(const Element& e, std::string_view local) {
  return e.child(kTNs, local);
}
const Element* mchild(const Element& e, std::string_view local) {
  return e.child(kMNs, local);
}

std::string attr(const Element& e, std::string_view local) {
  const std::string* a = e.attribute("", local);
  return a ? *a : std::string();
}

std::optional<long> parse_tag(std::string_view t) {
  long v = 0;
  const char* b = t.data();
  const char* end = t.data() + t.size();
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    b += 2;
    base = 16;
  }
  auto [p, ec] = std::from_chars(b, end, v, base);
  if (ec != std::errc() || p != end) return std::nullopt;
  return v;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool ext_matches(const Element& uri, const Ext& e) {
  if (e.set.empty()) {
    auto mine = parse_tag(e.tag);
    auto theirs = parse_tag(attr(uri, "PropertyTag"));
    return mine && theirs && *mine == *theirs;
  }
  if (!iequal(attr(uri, "PropertySetId"), e.set)) return false;
  if (!e.name.empty()) return attr(uri, "PropertyName") == e.name;
  auto id = parse_tag(attr(uri, "PropertyId"));
  return id && *id == e.id;
}

const std::string* ext_value(const Element& item, const Ext& e) {
  for (const Element& c : item.children()) {
    if (!c.is(kTNs, "ExtendedProperty")) continue;
    const Element* uri = tchild(c, "ExtendedFieldURI");
    const Element* value = tchild(c, "Value");
    if (uri && value && ext_matches(*uri, e)) return &value->text();
  }
  return nullptr;
}

Party party_of(const Element& mailbox) {
  Party p;
  if (const Element* n = tchild(mailbox, "Name")) p.name = n->text();
  if (const Element* a = tchild(mailbox, "EmailAddress")) p.address = a->text();
  return p;
}

PartyList parties_of(const Element& container) {
  PartyList out;
  for (const Element& c : container.children()) {
    const Element* mailbox = c.is(kTNs, "Mailbox") ? &c : nullptr;
    if (c.is(kTNs, "Attendee")) mailbox = tchild(c, "Mailbox");
    if (mailbox) out.push_back(party_of(*mailbox));
  }
  return out;
}

// The raw text of a spec's value in an item, nullopt when absent.
std::optional<std::string> raw_value(const Element& item, const Spec& s) {
  switch (s.slot) {
    case Slot::kElement: {
      const Element* e = tchild(item, s.element);
      if (!e) return std::nullopt;
      if (s.type == VT::kTextList) {
        std::string joined;
        for (const Element& c : e->children()) {
          if (!c.is(kTNs, "String") || c.text().empty()) continue;
          if (!joined.empty()) joined += ", ";
          joined += c.text();
        }
        return joined;
      }
      return e->text();
    }
    case Slot::kIndexed:
    case Slot::kAddress: {
      const Element* dict = tchild(
          item, s.slot == Slot::kAddress ? std::string_view("PhysicalAddresses") : s.element);
      if (!dict) return std::nullopt;
      for (const Element& entry : dict->children()) {
        if (!entry.is(kTNs, "Entry") || attr(entry, "Key") != s.key) continue;
        if (s.slot == Slot::kIndexed) return entry.text();
        if (const Element* part = tchild(entry, s.element)) return part->text();
      }
      return std::nullopt;
    }
    case Slot::kExtended: {
      const std::string* v = ext_value(item, s.ext);
      if (!v) return std::nullopt;
      return *v;
    }
  }
  return std::nullopt;
}

Result<FieldMap> fields_of(ItemKind kind, const Element& item) {
  FieldMap out;
  for (const Spec& s : specs(kind)) {
    if (s.type == VT::kParties || s.type == VT::kParty) {
      const Element* e = tchild(item, s.element);
      if (!e) continue;
      PartyList parties = parties_of(*e);
      if (!parties.empty()) out[std::string(s.store)] = std::move(parties);
      continue;
    }
    if (s.type == VT::kDuration) continue;  // below
    auto raw = raw_value(item, s);
    if (!raw || raw->empty()) continue;
    auto v = from_wire(s, *raw);
    if (!v) return v.error();
    if (!is_null(*v)) out[std::string(s.store)] = std::move(*v);
  }
  if (kind == ItemKind::kAppointment) {
    const auto* start = out.count("Start") ? std::get_if<UtcTime>(&out["Start"]) : nullptr;
    const auto* end = out.count("End") ? std::get_if<UtcTime>(&out["End"]) : nullptr;
    if (start && end && end->ms >= start->ms)
      out["Duration"] = Value(static_cast<std::int64_t>((end->ms - start->ms) / 60'000));
  }
  return out;
}

Result<CrmLink> link_of(const Element& item) {
  CrmLink link;
  if (const std::string* t = ext_value(item, kTracked)) link.tracked = (*t == "true" || *t == "1");
  if (const std::string* id = ext_value(item, kCrmId); id && !id->empty()) {
    auto parsed = CrmId::parse(*id);
    if (!parsed) return Error::Invalid("CRM id property: not a GUID: " + *id);
    link.crm_id = *parsed;
  }
  if (const std::string* p = ext_value(item, kCrmIdPending))
    link.crm_id_pending = (*p == "true" || *p == "1");
  if (const std::string* e = ext_value(item, kCrmEntity); e && !e->empty()) {
    auto parsed = parse_crm_entity(*e);
    if (!parsed) return Error::Invalid("CRM entity property: " + *e);
    link.crm_entity = *parsed;
  }
  return link;
}

std::optional<ItemKind> kind_of_element(std::string_view el) {
  if (el == "Contact") return ItemKind::kContact;
  if (el == "Task") return ItemKind::kTask;
  if (el == "CalendarItem") return ItemKind::kAppointment;
  if (el == "Message") return ItemKind::kEmail;
  return std::nullopt;
}

std::string trimmed(std::string_view s) {
  const char* ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

std::optional<int> backoff_in(const Element& message_xml) {
  for (const Element& v : message_xml.children()) {
    if (v.name() != "Value" || attr(v, "Name") != "BackOffMilliseconds") continue;
    int ms = 0;
    const std::string t = trimmed(v.text());
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (ec == std::errc() && ms >= 0) return ms;
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string_view distinguished_id(Folder f) {
  switch (f) {
    case Folder::kContacts:
      return "contacts";
    case Folder::kTasks:
      return "tasks";
    case Folder::kCalendar:
      return "calendar";
    case Folder::kInbox:
      return "inbox";
    case Folder::kSentItems:
      return "sentitems";
    case Folder::kDrafts:
      return "drafts";
  }
  return "inbox";
}

std::vector<Folder> folders_of(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return {Folder::kContacts};
    case ItemKind::kTask:
      return {Folder::kTasks};
    case ItemKind::kAppointment:
      return {Folder::kCalendar};
    case ItemKind::kEmail:
      return {Folder::kInbox, Folder::kSentItems, Folder::kDrafts};
  }
  return {};
}

std::string envelope(std::string_view operation_xml, std::string_view impersonate) {
  std::string out =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:m=\"";
  out += kMNs;
  out += "\" xmlns:t=\"";
  out += kTNs;
  out += "\"><s:Header><t:RequestServerVersion Version=\"Exchange2010_SP2\"/>";
  if (!impersonate.empty())
    out += "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>" +
           xml_escape(impersonate) +
           "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>";
  out += "</s:Header><s:Body>";
  out += operation_xml;
  out += "</s:Body></s:Envelope>";
  return out;
}

namespace {

// Outlook gives every appointment the zone it was made in; for an all-day event that zone is
// where its midnights are (Exchange moves a start back and an end forward to them).
constexpr const char* kZoneFields[] = {"StartTimeZone", "EndTimeZone"};

std::string zone_xml(std::string_view field, std::string_view zone_id) {
  XmlWriter w;
  w.open("t:" + std::string(field)).attr("Id", zone_id).close();
  return w.take();
}

std::vector<Piece> zone_pieces(std::string_view zone_id) {
  std::vector<Piece> out;
  for (const char* field : kZoneFields)
    out.push_back({order_of(ItemKind::kAppointment, field), "", 0, zone_xml(field, zone_id)});
  return out;
}

}  // namespace

Result<std::string> item_element(const NewStoreItem& n, std::string_view zone_id) {
  const ItemKind kind = n.item.kind;
  if (kind_of_folder(n.folder) != kind)
    return Error::Invalid("a " + std::string(to_string(kind)) + " cannot live in folder " +
                          std::string(to_string(n.folder)));
  CRMSYNC_TRY(check_fields(kind, n.item.fields));
  std::vector<Piece> pieces;
  for (const auto& [name, value] : n.item.fields) {
    const Spec* s = find_spec(kind, name);
    if (s->read_only) {
      CRMSYNC_TRY(check_read_only(*s, value));
      continue;
    }
    if (is_null(value)) continue;
    if (const auto* t = std::get_if<std::string>(&value); t && t->empty()) continue;
    auto p = piece_of(kind, *s, value);
    if (!p) return p.error();
    pieces.push_back(std::move(*p));
  }
  for (auto& p : link_pieces(kind, n.link)) pieces.push_back(std::move(p));
  if (kind == ItemKind::kAppointment)
    for (auto& p : zone_pieces(zone_id)) pieces.push_back(std::move(p));
  std::string el = "t:" + std::string(element_of(kind));
  return "<" + el + ">" + join_pieces(std::move(pieces)) + "</" + el + ">";
}

std::string create_items(Folder folder, const std::vector<std::string>& elements) {
  const ItemKind kind = kind_of_folder(folder);
  std::string attrs;
  if (kind == ItemKind::kEmail) attrs = " MessageDisposition=\"SaveOnly\"";
  if (kind == ItemKind::kAppointment) attrs = " SendMeetingInvitations=\"SendToNone\"";
  std::string out = "<m:CreateItem" + attrs + "><m:SavedItemFolderId>" + folder_id_xml(folder) +
                    "</m:SavedItemFolderId><m:Items>";
  for (const auto& e : elements) out += e;
  return out + "</m:Items></m:CreateItem>";
}

Result<std::string> create_item(const NewStoreItem& n, std::string_view zone_id) {
  auto el = item_element(n, zone_id);
  if (!el) return el.error();
  return create_items(n.folder, {*el});
}

namespace {

std::string path_xml(const Spec& s) {
  XmlWriter w;
  switch (s.slot) {
    case Slot::kElement:
      w.open("t:FieldURI").attr("FieldURI", s.uri).close();
      break;
    case Slot::kIndexed:
    case Slot::kAddress:
      w.open("t:IndexedFieldURI").attr("FieldURI", s.uri).attr("FieldIndex", s.key).close();
      break;
    case Slot::kExtended:
      write_ext_uri(w, s.ext);
      break;
  }
  return w.take();
}

}  // namespace

Result<std::string> update_item(ItemKind kind, const ItemRef& ref, const FieldMap& changes,
                                const std::optional<CrmLink>& link, std::string_view zone_id) {
  CRMSYNC_TRY(check_fields(kind, changes));
  const std::string el = "t:" + std::string(element_of(kind));
  std::string updates;
  // New times or a new all-day flag are meant in the user's zone: say so with them.
  if (kind == ItemKind::kAppointment &&
      (changes.count("Start") || changes.count("End") || changes.count("AllDayEvent")))
    for (const char* field : kZoneFields)
      updates += "<t:SetItemField><t:FieldURI FieldURI=\"calendar:" + std::string(field) + "\"/><" +
                 el + ">" + zone_xml(field, zone_id) + "</" + el + "></t:SetItemField>";
  for (const auto& [name, value] : changes) {
    const Spec* s = find_spec(kind, name);
    if (s->read_only) {
      CRMSYNC_TRY(check_read_only(*s, value));
      continue;
    }
    bool clear = is_null(value);
    if (const auto* t = std::get_if<std::string>(&value); t && t->empty()) clear = true;
    if (const auto* l = std::get_if<PartyList>(&value); l && l->empty()) clear = true;
    if (clear) {
      updates += "<t:DeleteItemField>" + path_xml(*s) + "</t:DeleteItemField>";
      continue;
    }
    auto p = piece_of(kind, *s, value);
    if (!p) return p.error();
    std::vector<Piece> one{std::move(*p)};
    updates += "<t:SetItemField>" + path_xml(*s) + "<" + el + ">" + join_pieces(std::move(one)) +
               "</" + el + "></t:SetItemField>";
  }
  if (link) {
    auto set = [&](const Ext& e, const std::string& value) {
      XmlWriter w;
      write_ext(w, e, value);
      updates += "<t:SetItemField>" + ext_uri_xml(e) + "<" + el + ">" + w.take() + "</" + el +
                 "></t:SetItemField>";
    };
    auto del = [&](const Ext& e) {
      updates += "<t:DeleteItemField>" + ext_uri_xml(e) + "</t:DeleteItemField>";
    };
    set(kTracked, link->tracked ? "true" : "false");
    if (link->crm_id)
      set(kCrmId, link->crm_id->str());
    else
      del(kCrmId);
    set(kCrmIdPending, link->crm_id_pending ? "true" : "false");
    if (link->crm_entity)
      set(kCrmEntity, std::string(to_string(*link->crm_entity)));
    else
      del(kCrmEntity);
  }
  if (updates.empty()) return std::string();  // only read-only fields: nothing to write
  std::string attrs = " ConflictResolution=\"NeverOverwrite\"";
  if (kind == ItemKind::kEmail) attrs += " MessageDisposition=\"SaveOnly\"";
  if (kind == ItemKind::kAppointment)
    attrs += " SendMeetingInvitationsOrCancellations=\"SendToNone\"";
  XmlWriter id;
  id.open("t:ItemId").attr("Id", ref.id).attr("ChangeKey", ref.change_key).close();
  return "<m:UpdateItem" + attrs + "><m:ItemChanges><t:ItemChange>" + id.take() + "<t:Updates>" +
         updates + "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>";
}

std::string get_items(const std::vector<std::string>& ids, bool full) {
  std::string out = "<m:GetItem><m:ItemShape>";
  if (full) {
    out +=
        "<t:BaseShape>AllProperties</t:BaseShape><t:BodyType>Text</t:BodyType>"
        "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:ParentFolderId\"/>"
        "<t:FieldURI FieldURI=\"item:LastModifiedTime\"/>" +
        all_ext_uris() + "</t:AdditionalProperties>";
  } else {
    out +=
        "<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        "<t:FieldURI FieldURI=\"item:ParentFolderId\"/><t:FieldURI FieldURI=\"item:ItemClass\"/>"
        "</t:AdditionalProperties>";
  }
  out += "</m:ItemShape><m:ItemIds>";
  for (const auto& id : ids) {
    XmlWriter w;
    w.open("t:ItemId").attr("Id", id).close();
    out += w.take();
  }
  return out + "</m:ItemIds></m:GetItem>";
}

std::string delete_item(const std::string& id, ItemKind kind, bool hard) {
  std::string attrs = hard ? " DeleteType=\"HardDelete\"" : " DeleteType=\"MoveToDeletedItems\"";
  if (kind == ItemKind::kAppointment) attrs += " SendMeetingCancellations=\"SendToNone\"";
  if (kind == ItemKind::kTask) attrs += " AffectedTaskOccurrences=\"AllOccurrences\"";
  XmlWriter w;
  w.open("t:ItemId").attr("Id", id).close();
  return "<m:DeleteItem" + attrs + "><m:ItemIds>" + w.take() + "</m:ItemIds></m:DeleteItem>";
}

std::string get_folders(const std::vector<std::string_view>& distinguished) {
  std::string out =
      "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>";
  for (auto d : distinguished) out += "<t:DistinguishedFolderId Id=\"" + std::string(d) + "\"/>";
  return out + "</m:FolderIds></m:GetFolder>";
}

std::string find_modified(Folder folder, UtcTime since, int offset, int max, bool headers) {
  return "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
         "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:LastModifiedTime\"/>" +
         (headers ? "<t:FieldURI FieldURI=\"item:ItemClass\"/>" + ext_uri_xml(kTracked) : "") +
         "</t:AdditionalProperties></m:ItemShape>"
         "<m:IndexedPageItemView MaxEntriesReturned=\"" +
         std::to_string(max) + "\" Offset=\"" + std::to_string(offset) +
         "\" BasePoint=\"Beginning\"/>"
         "<m:Restriction><t:IsGreaterThanOrEqualTo><t:FieldURI FieldURI=\"item:LastModifiedTime\"/>"
         "<t:FieldURIOrConstant><t:Constant Value=\"" +
         UtcTime::from_seconds(since.ms >= 0 ? since.ms / 1000 : (since.ms - 999) / 1000).iso() +
         "\"/></t:FieldURIOrConstant></t:IsGreaterThanOrEqualTo></m:Restriction>"
         "<m:SortOrder><t:FieldOrder Order=\"Descending\"><t:FieldURI "
         "FieldURI=\"item:LastModifiedTime\"/></t:FieldOrder></m:SortOrder>"
         "<m:ParentFolderIds>" +
         folder_id_xml(folder) + "</m:ParentFolderIds></m:FindItem>";
}

std::string find_by_crm_ids(const std::vector<Folder>& folders,
                            const std::vector<std::string>& crm_ids) {
  std::string out =
      "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
      "<t:AdditionalProperties>" +
      ext_uri_xml(kCrmId) + "</t:AdditionalProperties></m:ItemShape><m:Restriction>";
  if (crm_ids.size() > 1) out += "<t:Or>";
  for (const auto& id : crm_ids) {
    XmlWriter c;
    c.open("t:Constant").attr("Value", id).close();
    out += "<t:IsEqualTo>" + ext_uri_xml(kCrmId) + "<t:FieldURIOrConstant>" + c.take() +
           "</t:FieldURIOrConstant></t:IsEqualTo>";
  }
  if (crm_ids.size() > 1) out += "</t:Or>";
  out += "</m:Restriction><m:ParentFolderIds>";
  for (Folder f : folders) out += folder_id_xml(f);
  return out + "</m:ParentFolderIds></m:FindItem>";
}

std::string crm_id_of(const RawItem& raw) {
  const std::string* v = ext_value(raw.xml, kCrmId);
  return v ? *v : std::string();
}

std::string sync_folder_items(Folder folder, const std::string& sync_state, int max) {
  std::string out =
      "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
      "</m:ItemShape><m:SyncFolderId>" +
      folder_id_xml(folder) + "</m:SyncFolderId>";
  if (!sync_state.empty()) out += "<m:SyncState>" + xml_escape(sync_state) + "</m:SyncState>";
  return out + "<m:MaxChangesReturned>" + std::to_string(std::clamp(max, 1, 512)) +
         "</m:MaxChangesReturned><m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>";
}

namespace {
// The synced folders and the item event types, as both subscription kinds take them.
std::string subscription_scope() {
  std::string out = "<t:FolderIds>";
  for (Folder f : kAllFolders) out += folder_id_xml(f);
  out += "</t:FolderIds><t:EventTypes>";
  for (const char* e :
       {"CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent"})
    out += std::string("<t:EventType>") + e + "</t:EventType>";
  return out + "</t:EventTypes>";
}
}  // namespace

std::string subscribe_pull(int timeout_minutes) {
  return "<m:Subscribe><m:PullSubscriptionRequest>" + subscription_scope() + "<t:Timeout>" +
         std::to_string(std::clamp(timeout_minutes, 1, 1440)) +
         "</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>";
}

std::string subscribe_streaming() {
  return "<m:Subscribe><m:StreamingSubscriptionRequest>" + subscription_scope() +
         "</m:StreamingSubscriptionRequest></m:Subscribe>";
}

std::string get_streaming_events(const std::string& subscription_id, int connection_minutes) {
  return "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>" +
         xml_escape(subscription_id) + "</t:SubscriptionId></m:SubscriptionIds>" +
         "<m:ConnectionTimeout>" + std::to_string(std::clamp(connection_minutes, 1, 30)) +
         "</m:ConnectionTimeout></m:GetStreamingEvents>";
}

std::string get_events(const std::string& subscription_id, const std::string& watermark) {
  return "<m:GetEvents><m:SubscriptionId>" + xml_escape(subscription_id) +
         "</m:SubscriptionId><m:Watermark>" + xml_escape(watermark) +
         "</m:Watermark></m:GetEvents>";
}

namespace {
std::string hidden_props_xml(const Props& props) {
  std::string out;
  for (const auto& [name, value] : props) {
    XmlWriter w;
    write_ext(w, Ext{kPropertySet, {}, name, 0, "String"}, value);
    out += w.take();
  }
  return out;
}
}  // namespace

std::string create_hidden(std::string_view item_class, const Props& props) {
  return "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId>"
         "<t:DistinguishedFolderId Id=\"root\"/></m:SavedItemFolderId><m:Items><t:Message>"
         "<t:ItemClass>" +
         std::string(item_class) + "</t:ItemClass><t:Subject>crmsync</t:Subject>" +
         hidden_props_xml(props) + "</t:Message></m:Items></m:CreateItem>";
}

std::string update_hidden(const ItemRef& ref, const Props& props) {
  std::string updates;
  for (const auto& p : props) {
    Ext e{kPropertySet, {}, p.first, 0, "String"};
    updates += "<t:SetItemField>" + ext_uri_xml(e) + "<t:Message>" + hidden_props_xml({p}) +
               "</t:Message></t:SetItemField>";
  }
  XmlWriter id;
  id.open("t:ItemId").attr("Id", ref.id).attr("ChangeKey", ref.change_key).close();
  return "<m:UpdateItem ConflictResolution=\"NeverOverwrite\" MessageDisposition=\"SaveOnly\">"
         "<m:ItemChanges><t:ItemChange>" +
         id.take() + "<t:Updates>" + updates +
         "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>";
}

std::string get_hidden(const std::vector<std::string>& ids,
                       const std::vector<std::string>& prop_names) {
  std::string out =
      "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
      "<t:FieldURI FieldURI=\"item:ItemClass\"/><t:FieldURI FieldURI=\"item:DateTimeCreated\"/>";
  for (const auto& n : prop_names) out += ext_uri_xml(Ext{kPropertySet, {}, n, 0, "String"});
  out += "</t:AdditionalProperties></m:ItemShape><m:ItemIds>";
  for (const auto& id : ids) {
    XmlWriter w;
    w.open("t:ItemId").attr("Id", id).close();
    out += w.take();
  }
  return out + "</m:ItemIds></m:GetItem>";
}

std::string find_hidden(std::string_view item_class, const std::vector<std::string>& prop_names,
                        int offset, int max) {
  std::string props = "<t:FieldURI FieldURI=\"item:DateTimeCreated\"/>";
  for (const auto& n : prop_names) props += ext_uri_xml(Ext{kPropertySet, {}, n, 0, "String"});
  return "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
         "<t:AdditionalProperties>" +
         props +
         "</t:AdditionalProperties></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"" +
         std::to_string(max) + "\" Offset=\"" + std::to_string(offset) +
         "\" BasePoint=\"Beginning\"/><m:Restriction><t:IsEqualTo>"
         "<t:FieldURI FieldURI=\"item:ItemClass\"/><t:FieldURIOrConstant><t:Constant Value=\"" +
         std::string(item_class) +
         "\"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>"
         "<m:SortOrder><t:FieldOrder Order=\"Ascending\"><t:FieldURI "
         "FieldURI=\"item:DateTimeCreated\"/></t:FieldOrder></m:SortOrder>"
         "<m:ParentFolderIds><t:DistinguishedFolderId Id=\"root\"/></m:ParentFolderIds>"
         "</m:FindItem>";
}

// ---------------------------------------------------------------------------
// Responses.

Error error_of_code(std::string_view code, std::string_view text, std::optional<int> backoff_ms) {
  std::string what = std::string(code) + (text.empty() ? "" : ": " + std::string(text));
  static constexpr std::string_view kTransient[] = {"ErrorServerBusy",
                                                    "ErrorExceededConnectionCount",
                                                    "ErrorTooManyObjectsOpened",
                                                    "ErrorTimeoutExpired",
                                                    "ErrorInternalServerTransientError",
                                                    "ErrorMailboxStoreUnavailable",
                                                    "ErrorConnectionFailed",
                                                    "ErrorInternalServerError",
                                                    "ErrorMailboxMoveInProgress",
                                                    "ErrorBatchProcessingStopped"};
  static constexpr std::string_view kPermission[] = {
      "ErrorAccessDenied",       "ErrorImpersonateUserDenied", "ErrorImpersonationDenied",
      "ErrorNonExistentMailbox", "ErrorInvalidLicense",        "ErrorMailboxConfiguration"};
  if (code == "ErrorItemNotFound") return Error::NotFound(what);
  if (code == "ErrorIrresolvableConflict" || code == "ErrorStaleObject" ||
      code == "ErrorChangeKeyRequiredForWriteOperations")
    return Error::Conflict(what);
  for (auto c : kTransient)
    if (code == c) return Error::Transient(what, backoff_ms);
  for (auto c : kPermission)
    if (code == c) return Error::Permission(what);
  return Error::Invalid(what);
}

Error error_of(const Message& m) {
  return error_of_code(m.code, m.text, m.backoff_ms);
}

Result<std::vector<Message>> parse_response(std::string_view op, int status,
                                            std::string_view body) {
  if (status == 401 || status == 403)
    return Error::Permission("EWS refused the credentials (HTTP " + std::to_string(status) + ")");
  const bool server_error = status >= 500;
  if (status == 429 || status == 503 || status == 502 || status == 504) {
    if (body.find("Fault") == std::string_view::npos)
      return Error::Transient("EWS HTTP " + std::to_string(status));
  }
  auto root = soap::parse_xml(body);
  if (!root) {
    if (server_error)
      return Error::Transient("EWS HTTP " + std::to_string(status) + " without SOAP");
    return Error::Invalid("EWS " + std::string(op) + " reply (HTTP " + std::to_string(status) +
                          "): " + root.error().message());
  }
  if (!root->is(soap::kSoapEnvNs, "Envelope")) {
    if (server_error)
      return Error::Transient("EWS HTTP " + std::to_string(status) + " without SOAP");
    return Error::Invalid("EWS " + std::string(op) + " reply: not a SOAP envelope");
  }
  const Element* sbody = root->child(soap::kSoapEnvNs, "Body");
  if (!sbody) return Error::Invalid("EWS " + std::string(op) + " reply: no SOAP Body");
  if (const Element* fault = sbody->child(soap::kSoapEnvNs, "Fault")) {
    std::string code, text;
    std::optional<int> backoff;
    if (const Element* fs = fault->child_any_ns("faultstring")) text = fs->text();
    if (const Element* detail = fault->child_any_ns("detail")) {
      if (const Element* rc = detail->child_any_ns("ResponseCode")) code = trimmed(rc->text());
      if (const Element* msg = detail->child_any_ns("Message"); msg && text.empty())
        text = trimmed(msg->text());
      if (const Element* mx = detail->child_any_ns("MessageXml")) backoff = backoff_in(*mx);
    }
    if (code.empty()) {
      if (const Element* fc = fault->child_any_ns("faultcode")) {
        code = trimmed(fc->text());
        if (auto colon = code.find(':'); colon != std::string::npos) code = code.substr(colon + 1);
      }
    }
    if (code.empty())
      return Error::Invalid("EWS " + std::string(op) + " fault without a code: " + text);
    Error e = error_of_code(code, text, backoff);
    if (e.is(ErrorKind::kInvalid) && server_error && code.rfind("Error", 0) != 0)
      return Error::Transient("EWS fault " + code + ": " + text);
    return e.context("EWS " + std::string(op));
  }
  if (status != 200)
    return Error::Transient("EWS " + std::string(op) + ": HTTP " + std::to_string(status));
  const Element* resp = sbody->child(kMNs, std::string(op) + "Response");
  if (!resp)
    return Error::Invalid("EWS " + std::string(op) + " reply: no " + std::string(op) + "Response");
  const Element* msgs = mchild(*resp, "ResponseMessages");
  if (!msgs) return Error::Invalid("EWS " + std::string(op) + " reply: no ResponseMessages");
  std::vector<Message> out;
  for (const Element& m : msgs->children()) {
    if (m.ns() != kMNs) continue;
    Message msg;
    msg.response_class = attr(m, "ResponseClass");
    if (msg.response_class != "Success" && msg.response_class != "Warning" &&
        msg.response_class != "Error")
      return Error::Invalid("EWS " + std::string(op) + " reply: bad ResponseClass '" +
                            msg.response_class + "'");
    if (const Element* rc = mchild(m, "ResponseCode")) msg.code = trimmed(rc->text());
    if (const Element* mt = mchild(m, "MessageText")) msg.text = mt->text();
    if (const Element* mx = mchild(m, "MessageXml")) msg.backoff_ms = backoff_in(*mx);
    if (msg.response_class == "Error" && msg.code.empty())
      return Error::Invalid("EWS " + std::string(op) + " reply: an error without a ResponseCode");
    msg.element = m;
    out.push_back(std::move(msg));
  }
  if (out.empty()) return Error::Invalid("EWS " + std::string(op) + " reply: no response message");
  return out;
}

Result<std::vector<RawItem>> items_of(const Element& container) {
  std::vector<RawItem> out;
  for (const Element& c : container.children()) {
    if (c.ns() != kTNs) continue;
    RawItem r;
    r.element = c.name();
    const Element* id = tchild(c, "ItemId");
    if (!id) return Error::Invalid("EWS item without an ItemId");
    r.ref.id = attr(*id, "Id");
    r.ref.change_key = attr(*id, "ChangeKey");
    if (r.ref.id.empty()) return Error::Invalid("EWS item with an empty Id");
    if (r.ref.id.size() > EntryId::kMaxLength)
      return Error::Invalid("EWS item id longer than " + std::to_string(EntryId::kMaxLength));
    if (const Element* p = tchild(c, "ParentFolderId")) r.parent_folder_id = attr(*p, "Id");
    if (const Element* ic = tchild(c, "ItemClass")) r.item_class = ic->text();
    r.xml = c;
    out.push_back(std::move(r));
  }
  return out;
}

Result<StoreItem> to_store_item(
    const RawItem& raw, const std::function<std::optional<Folder>(const std::string&)>& folder_of) {
  auto kind = kind_of_element(raw.element);
  if (!kind) return Error::NotFound("item " + raw.ref.id + " is a " + raw.element + ", not synced");
  if (raw.item_class.rfind("IPM.Configuration", 0) == 0)
    return Error::NotFound("item " + raw.ref.id + " is crmsync's own hidden item");
  auto folder = folder_of(raw.parent_folder_id);
  if (!folder) return Error::NotFound("item " + raw.ref.id + " is not in a synced folder");
  if (kind_of_folder(*folder) != *kind)
    return Error::NotFound("item " + raw.ref.id + " is a " + raw.element + " in folder " +
                           std::string(to_string(*folder)));
  if (raw.ref.change_key.empty())
    return Error::Invalid("item " + raw.ref.id + " without a ChangeKey");
  StoreItem s;
  s.entry_id = EntryId(raw.ref.id);
  s.change_key = raw.ref.change_key;
  s.folder = *folder;
  s.item.kind = *kind;
  auto fields = fields_of(*kind, raw.xml);
  if (!fields) return fields.error().context("item " + raw.ref.id);
  s.item.fields = std::move(*fields);
  const Element* lm = tchild(raw.xml, "LastModifiedTime");
  if (!lm) return Error::Invalid("item " + raw.ref.id + " without LastModifiedTime");
  auto modified = UtcTime::parse(lm->text());
  if (!modified) return Error::Invalid("item " + raw.ref.id + ": bad LastModifiedTime");
  s.item.modified = *modified;
  auto link = link_of(raw.xml);
  if (!link) return link.error().context("item " + raw.ref.id);
  s.link = *link;
  return s;
}

Result<StoreItemHeader> header_of(const RawItem& raw, Folder folder) {
  auto kind = kind_of_element(raw.element);
  if (!kind || *kind != kind_of_folder(folder))
    return Error::NotFound("item " + raw.ref.id + " is a " + raw.element + " in folder " +
                           std::string(to_string(folder)));
  if (raw.item_class.rfind("IPM.Configuration", 0) == 0)
    return Error::NotFound("item " + raw.ref.id + " is crmsync's own hidden item");
  if (raw.ref.change_key.empty())
    return Error::Invalid("item " + raw.ref.id + " without a ChangeKey");
  const Element* lm = tchild(raw.xml, "LastModifiedTime");
  if (!lm) return Error::Invalid("item " + raw.ref.id + " without LastModifiedTime");
  auto modified = UtcTime::parse(lm->text());
  if (!modified) return Error::Invalid("item " + raw.ref.id + ": bad LastModifiedTime");
  StoreItemHeader h{EntryId(raw.ref.id), raw.ref.change_key, *modified, false};
  if (const std::string* t = ext_value(raw.xml, kTracked)) h.tracked = (*t == "true" || *t == "1");
  return h;
}

Props props_of(const Element& item) {
  Props out;
  for (const Element& c : item.children()) {
    if (!c.is(kTNs, "ExtendedProperty")) continue;
    const Element* uri = tchild(c, "ExtendedFieldURI");
    const Element* value = tchild(c, "Value");
    if (!uri || !value || !iequal(attr(*uri, "PropertySetId"), kPropertySet)) continue;
    out.emplace_back(attr(*uri, "PropertyName"), value->text());
  }
  return out;
}

Result<SyncPage> sync_page_of(const Message& m) {
  SyncPage page;
  const Element* state = mchild(m.element, "SyncState");
  const Element* last = mchild(m.element, "IncludesLastItemInRange");
  const Element* changes = mchild(m.element, "Changes");
  if (!state || !last) return Error::Invalid("SyncFolderItems reply without SyncState");
  page.sync_state = state->text();
  page.last = last->text() == "true" || last->text() == "1";
  if (!changes) return page;
  for (const Element& c : changes->children()) {
    SyncChange ch;
    if (c.is(kTNs, "Create"))
      ch.type = SyncChange::Type::kCreate;
    else if (c.is(kTNs, "Update"))
      ch.type = SyncChange::Type::kUpdate;
    else if (c.is(kTNs, "Delete"))
      ch.type = SyncChange::Type::kDelete;
    else if (c.is(kTNs, "ReadFlagChange"))
      ch.type = SyncChange::Type::kReadFlag;
    else
      return Error::Invalid("SyncFolderItems: unknown change " + c.name());
    if (ch.type == SyncChange::Type::kDelete || ch.type == SyncChange::Type::kReadFlag) {
      const Element* id = tchild(c, "ItemId");
      if (!id || attr(*id, "Id").empty())
        return Error::Invalid("SyncFolderItems: a change without ItemId");
      ch.item.ref.id = attr(*id, "Id");
      ch.item.ref.change_key = attr(*id, "ChangeKey");
    } else {
      auto items = items_of(c);
      if (!items) return items.error();
      if (items->size() != 1) return Error::Invalid("SyncFolderItems: a change without one item");
      ch.item = std::move(items->front());
    }
    page.changes.push_back(std::move(ch));
  }
  return page;
}

Result<FindPage> find_page_of(const Message& m) {
  const Element* root = mchild(m.element, "RootFolder");
  if (!root) return Error::Invalid("FindItem reply without RootFolder");
  FindPage page;
  std::string last = attr(*root, "IncludesLastItemInRange");
  page.last = last != "false" && last != "0";
  auto total = parse_tag(attr(*root, "TotalItemsInView"));
  page.total = total ? static_cast<int>(*total) : 0;
  if (const Element* items = tchild(*root, "Items")) {
    auto r = items_of(*items);
    if (!r) return r.error();
    page.items = std::move(*r);
  }
  return page;
}

Result<Subscription> subscription_of(const Message& m) {
  const Element* id = mchild(m.element, "SubscriptionId");
  const Element* wm = mchild(m.element, "Watermark");
  if (!id || id->text().empty()) return Error::Invalid("Subscribe reply without SubscriptionId");
  return Subscription{id->text(), wm ? wm->text() : std::string()};
}

Result<EventsPage> events_of(const Message& m) {
  const Element* n = m.element.child(kMNs, "Notification");
  if (!n) n = m.element.child(kTNs, "Notification");
  if (!n) return Error::Invalid("GetEvents reply without Notification");
  EventsPage page;
  if (const Element* more = tchild(*n, "MoreEvents")) page.more = more->text() == "true";
  if (const Element* prev = tchild(*n, "PreviousWatermark")) page.watermark = prev->text();
  for (const Element& e : n->children()) {
    const Element* wm = tchild(e, "Watermark");
    if (!wm) continue;
    page.watermark = wm->text();
    if (e.name() != "StatusEvent") ++page.changes;
  }
  return page;
}

Result<StreamBatch> streaming_events_of(const Message& m) {
  StreamBatch batch;
  if (const Element* status = mchild(m.element, "ConnectionStatus"))
    batch.status = trimmed(status->text());
  if (const Element* notifications = mchild(m.element, "Notifications")) {
    for (const Element& n : notifications->children()) {
      // Exchange sends m:Notification here; types.xsd says t:Notification. Both are read.
      if (n.name() != "Notification") continue;
      for (const Element& e : n.children())
        if (e.ns() == kTNs && e.name().size() > 5 &&
            e.name().compare(e.name().size() - 5, 5, "Event") == 0 && e.name() != "StatusEvent")
          ++batch.changes;
    }
  }
  if (m.ok() && batch.status.empty() && !mchild(m.element, "Notifications"))
    return Error::Invalid("GetStreamingEvents message without Notifications or ConnectionStatus");
  return batch;
}

std::optional<std::string> take_envelope(std::string& buffer) {
  // The end of the root element: "</", an optional prefix, "Envelope", optional space, ">".
  for (std::size_t at = buffer.find("Envelope"); at != std::string::npos;
       at = buffer.find("Envelope", at + 8)) {
    std::size_t open = buffer.rfind('<', at);
    if (open == std::string::npos || open + 1 >= buffer.size() || buffer[open + 1] != '/') continue;
    bool name_only = true;  // between "</" and "Envelope": a prefix and its colon, nothing else
    for (std::size_t i = open + 2; i < at; ++i) {
      char c = buffer[i];
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
            (c == ':' && i + 1 == at)))
        name_only = false;
    }
    if (!name_only) continue;
    std::size_t close = at + 8;
    while (close < buffer.size() && (buffer[close] == ' ' || buffer[close] == '\t' ||
                                     buffer[close] == '\r' || buffer[close] == '\n'))
      ++close;
    if (close >= buffer.size()) return std::nullopt;  // the rest has not arrived yet
    if (buffer[close] != '>') continue;
    std::string envelope = buffer.substr(0, close + 1);
    buffer.erase(0, close + 1);
    return envelope;
  }
  return std::nullopt;
}

Result<std::string> folder_id_of(const Message& m) {
  const Element* folders = mchild(m.element, "Folders");
  if (!folders || folders->children().empty())
    return Error::Invalid("GetFolder reply without a folder");
  const Element* id = tchild(folders->children().front(), "FolderId");
  if (!id || attr(*id, "Id").empty()) return Error::Invalid("GetFolder reply without FolderId");
  return attr(*id, "Id");
}

}  // namespace crmsync::ews
