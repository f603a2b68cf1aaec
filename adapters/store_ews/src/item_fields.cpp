// The EWS item codec's field table, one per item kind (SPEC §7 store name -> element,
// dictionary entry, business-address part or extended property), the schema order items are
// written in, and the values' wire text.
#include <charconv>
#include <span>

#include "item_fields.hpp"

namespace crmsync::ews::detail {

namespace {

constexpr std::string_view kAddressSet = "00062004-0000-0000-C000-000000000046";  // PSETID_Address

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

}  // namespace

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

std::optional<ItemKind> kind_of_element(std::string_view el) {
  if (el == "Contact") return ItemKind::kContact;
  if (el == "Task") return ItemKind::kTask;
  if (el == "CalendarItem") return ItemKind::kAppointment;
  if (el == "Message") return ItemKind::kEmail;
  return std::nullopt;
}

namespace {

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

constexpr std::string_view kAddressParts[] = {"Street", "City", "State", "CountryOrRegion",
                                              "PostalCode"};

}  // namespace

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

int address_part_order(std::string_view part) {
  for (std::size_t i = 0; i < std::size(kAddressParts); ++i)
    if (kAddressParts[i] == part) return static_cast<int>(i);
  return 99;
}

Error invalid_field(std::string_view field, std::string_view why) {
  return Error::Invalid("field " + std::string(field) + ": " + std::string(why));
}

namespace {

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

}  // namespace

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

namespace {

Result<Value> date_from_wire(std::string_view field, const std::string& text) {
  auto t = UtcTime::parse(text);
  if (!t) return invalid_field(field, "bad dateTime '" + text + "'");
  // A date stored as local midnight somewhere in UTC-12..UTC+12: the nearest midnight.
  constexpr std::int64_t kDay = 86'400'000;
  std::int64_t ms = t->ms + kDay / 2;
  std::int64_t days = ms >= 0 ? ms / kDay : -((-ms + kDay - 1) / kDay);
  return Value(Date::from_days_since_epoch(days));
}

}  // namespace

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

}  // namespace crmsync::ews::detail
