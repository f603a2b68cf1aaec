// The MAPI field table, one per item kind: SPEC §7 store field -> fixed tag or named property
// and its codec (field_codec.cpp), the message classes, and what a read asks for.
#include <algorithm>
#include <cstdio>

#include "crmsync/model/mapping.hpp"
#include "fields.hpp"

namespace crmsync::mapi {
namespace {

PropRef fixed(std::uint32_t t) {
  return PropRef{t};
}
PropRef nm(Named n) {
  return PropRef{n};
}

FieldSpec text(std::string_view f, std::uint32_t t) {
  return {f, fixed(t), Codec::kText};
}
FieldSpec ntext(std::string_view f, Named n) {
  return {f, nm(n), Codec::kText};
}
FieldSpec email(std::string_view f, Named address, Named type) {
  return {f, nm(address), Codec::kEmailAddress, 0, type};
}
FieldSpec regarding() {
  return {"Regarding", nm(Named::kRegarding), Codec::kReference};
}
FieldSpec categories() {
  return {"Categories", nm(Named::kKeywords), Codec::kTextList};
}
FieldSpec importance() {
  return {"Importance", fixed(tag::kImportance), Codec::kImportance};
}
FieldSpec recipients(std::string_view f, std::int32_t type) {
  return {f, fixed(tag::kRecipientType), Codec::kRecipients, type};
}

const std::vector<FieldSpec>& contact_specs() {
  static const std::vector<FieldSpec> s = {
      {"Anniversary", fixed(tag::kWeddingAnniversary), Codec::kDate},
      text("AssistantName", tag::kAssistant),
      text("AssistantTelephoneNumber", tag::kAssistantTelephoneNumber),
      {"Birthday", fixed(tag::kBirthday), Codec::kDate},
      text("Body", tag::kBody),
      text("BusinessFaxNumber", tag::kBusinessFaxNumber),
      text("BusinessTelephoneNumber", tag::kBusinessTelephoneNumber),
      {"Children", fixed(tag::kChildrensNames), Codec::kTextList},
      text("CompanyName", tag::kCompanyName),
      text("Department", tag::kDepartmentName),
      email("Email1Address", Named::kEmail1Address, Named::kEmail1AddrType),
      email("Email2Address", Named::kEmail2Address, Named::kEmail2AddrType),
      email("Email3Address", Named::kEmail3Address, Named::kEmail3AddrType),
      text("FirstName", tag::kGivenName),
      text("FTPSite", tag::kFtpSite),
      text("GovernmentIDNumber", tag::kGovernmentIdNumber),
      text("HomeTelephoneNumber", tag::kHomeTelephoneNumber),
      text("JobTitle", tag::kTitle),
      text("LastName", tag::kSurname),
      text("MailingAddressCity", tag::kLocality),
      text("MailingAddressCountry", tag::kCountry),
      text("MailingAddressPostOfficeBox", tag::kPostOfficeBox),
      text("MailingAddressPostalCode", tag::kPostalCode),
      text("MailingAddressState", tag::kStateOrProvince),
      text("MailingAddressStreet", tag::kStreetAddress),
      text("ManagerName", tag::kManagerName),
      text("MiddleName", tag::kMiddleName),
      text("MobileTelephoneNumber", tag::kMobileTelephoneNumber),
      text("NickName", tag::kNickname),
      text("OtherTelephoneNumber", tag::kOtherTelephoneNumber),
      text("PagerNumber", tag::kPagerTelephoneNumber),
      text("Spouse", tag::kSpouseName),
      text("Title", tag::kDisplayNamePrefix),
      text("WebPage", tag::kBusinessHomePage),
      ntext("YomiFirstName", Named::kYomiFirstName),
      ntext("YomiLastName", Named::kYomiLastName),
      // Store-only (never synchronized, SPEC M4), stored so that M4 can be tested here too.
      ntext("IMAddress", Named::kInstantMessagingAddress),
      text("OfficeLocation", tag::kOfficeLocation),
      text("Profession", tag::kProfession),
      text("Business2TelephoneNumber", tag::kBusiness2TelephoneNumber),
      text("Home2TelephoneNumber", tag::kHome2TelephoneNumber),
      text("CarTelephoneNumber", tag::kCarTelephoneNumber),
      categories(),
  };
  return s;
}

const std::vector<FieldSpec>& task_specs() {
  static const std::vector<FieldSpec> s = {
      text("Body", tag::kBody),
      {"StartDate", nm(Named::kTaskStartDate), Codec::kDate},
      {"DueDate", nm(Named::kTaskDueDate), Codec::kDate},
      importance(),
      text("Subject", tag::kSubject),
      regarding(),
      {"Status", nm(Named::kTaskStatus), Codec::kTaskStatus},
      {"ReminderTime", nm(Named::kReminderTime), Codec::kTime},
      {"ReminderSet", nm(Named::kReminderSet), Codec::kBool},
      categories(),
      ntext("Mileage", Named::kMileage),
      ntext("BillingInformation", Named::kBilling),
      {"TotalWork", nm(Named::kTaskEstimatedEffort), Codec::kInteger},
      {"DateCompleted", nm(Named::kTaskDateCompleted), Codec::kDate},
  };
  return s;
}

const std::vector<FieldSpec>& appointment_specs() {
  static const std::vector<FieldSpec> s = {
      {"AllDayEvent", nm(Named::kAppointmentSubType), Codec::kBool},
      text("Body", tag::kBody),
      {"Duration", nm(Named::kAppointmentDuration), Codec::kInteger},
      {"End", nm(Named::kAppointmentEndWhole), Codec::kTime},
      ntext("Location", Named::kLocation),
      recipients("OptionalAttendees", kRecipientCc),
      {"Organizer", fixed(tag::kSentRepresentingName), Codec::kOrganizer},
      importance(),
      recipients("RequiredAttendees", kRecipientTo),
      regarding(),
      {"Start", nm(Named::kAppointmentStartWhole), Codec::kTime},
      text("Subject", tag::kSubject),
      {"ShowTimeAs", nm(Named::kBusyStatus), Codec::kBusyStatus},
      categories(),
      {"ReminderMinutesBeforeStart", nm(Named::kReminderDelta), Codec::kInteger},
  };
  return s;
}

const std::vector<FieldSpec>& email_specs() {
  static const std::vector<FieldSpec> s = {
      text("Subject", tag::kSubject),
      text("Body", tag::kBody),
      {"From", fixed(tag::kSenderName), Codec::kSender},
      recipients("To", kRecipientTo),
      recipients("Cc", kRecipientCc),
      {"SentTime", fixed(tag::kClientSubmitTime), Codec::kTime},
      {"ReceivedTime", fixed(tag::kMessageDeliveryTime), Codec::kTime},
      text("MessageId", tag::kInternetMessageId),
      regarding(),
      categories(),
      importance(),
  };
  return s;
}

constexpr std::pair<std::string_view, std::string_view> kUnsupported[] = {
    {"Label", "the calendar label is a colour number in MAPI (PidLidAppointmentColor)"},
};

}  // namespace

PropType type_of(const PropValue& v) {
  switch (v.index()) {
    case 1:
      return PropType::kLong;
    case 2:
      return PropType::kBoolean;
    case 3:
      return PropType::kDouble;
    case 4:
      return PropType::kSysTime;
    case 5:
      return PropType::kUnicode;
    case 6:
      return PropType::kMvUnicode;
    case 7:
      return PropType::kBinary;
  }
  return PropType::kError;
}

PropType PropRef::type() const {
  if (const auto* t = std::get_if<std::uint32_t>(&id)) return prop_type(*t);
  return named(std::get<Named>(id)).type;
}

std::string PropRef::label() const {
  if (const auto* n = std::get_if<Named>(&id)) return std::string(named(*n).label);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(std::get<std::uint32_t>(id)));
  return buf;
}

std::span<const FieldSpec> field_specs(ItemKind kind) {
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
  return {};
}

const FieldSpec* find_field(ItemKind kind, std::string_view field) {
  for (const auto& s : field_specs(kind))
    if (s.field == field) return &s;
  return nullptr;
}

std::string_view unsupported_reason(ItemKind kind, std::string_view field) {
  if (!is_known_store_field(kind, field) || find_field(kind, field)) return {};
  for (const auto& [name, why] : kUnsupported)
    if (name == field) return why;
  return "no MAPI property is mapped";
}

std::u16string_view message_class(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return u"IPM.Contact";
    case ItemKind::kTask:
      return u"IPM.Task";
    case ItemKind::kAppointment:
      return u"IPM.Appointment";
    case ItemKind::kEmail:
      return u"IPM.Note";
  }
  return u"IPM";
}

Result<ItemKind> kind_of_message_class(std::u16string_view mc) {
  // Classes compare case-insensitively; derived classes ("IPM.Note.SMIME") keep their base.
  auto is = [&](std::u16string_view base) {
    if (mc.size() < base.size()) return false;
    for (std::size_t i = 0; i < base.size(); ++i) {
      char16_t a = mc[i], b = base[i];
      if (a >= u'a' && a <= u'z') a = static_cast<char16_t>(a - 32);
      if (b >= u'a' && b <= u'z') b = static_cast<char16_t>(b - 32);
      if (a != b) return false;
    }
    return mc.size() == base.size() || mc[base.size()] == u'.';
  };
  for (ItemKind k : kAllItemKinds)
    if (is(message_class(k))) return k;
  if (is(u"IPM.Schedule.Meeting")) return ItemKind::kEmail;  // invitations in the Inbox
  return Error::NotFound("message class " + to_utf8(mc) + " is not synchronized");
}

std::vector<PropRef> props_to_read(ItemKind kind) {
  std::vector<PropRef> out;
  auto add = [&](const PropRef& r) {
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  };
  for (const FieldSpec& s : field_specs(kind)) {
    if (s.codec == Codec::kRecipients) continue;
    add(s.prop);
    if (s.codec == Codec::kSender)
      for (auto t : {tag::kSenderEmailAddress, tag::kSenderAddrType, tag::kSenderSmtpAddress})
        add(fixed(t));
    if (s.codec == Codec::kOrganizer)
      for (auto t : {tag::kSentRepresentingEmailAddress, tag::kSentRepresentingAddrType,
                     tag::kSentRepresentingSmtpAddress})
        add(fixed(t));
  }
  for (const PropRef& r : link_props()) add(r);
  add(PropRef{Named::kKeywords});  // decode_mark
  add(PropRef{Named::kTrackCategory});
  return out;
}

std::vector<PropRef> link_props() {
  return {nm(Named::kTracked), nm(Named::kCrmId), nm(Named::kCrmIdPending), nm(Named::kCrmEntity)};
}

}  // namespace crmsync::mapi
