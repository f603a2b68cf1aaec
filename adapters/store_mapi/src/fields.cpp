#include "fields.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "crmsync/model/mapping.hpp"

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

struct Choice {
  std::string_view name;
  std::int32_t code;
};
constexpr Choice kImportances[] = {{"Low", 0}, {"Normal", 1}, {"High", 2}};
// PidLidTaskStatus ([MS-OXOTASK] 2.2.2.2.2).
constexpr Choice kTaskStatuses[] = {
    {"NotStarted", 0}, {"InProgress", 1}, {"Complete", 2}, {"Waiting", 3}, {"Deferred", 4}};
// PidLidBusyStatus ([MS-OXOCAL] 2.2.1.2); 4 (working elsewhere) has no CRM counterpart: Busy.
constexpr Choice kBusyStatuses[] = {
    {"Free", 0}, {"Tentative", 1}, {"Busy", 2}, {"OutOfOffice", 3}, {"Busy", 4}};

template <std::size_t N>
std::optional<std::int32_t> code_of(const Choice (&table)[N], std::string_view name) {
  for (const auto& c : table)
    if (c.name == name) return c.code;
  return std::nullopt;
}
template <std::size_t N>
std::optional<std::string_view> name_of(const Choice (&table)[N], std::int32_t code) {
  for (const auto& c : table)
    if (c.code == code) return c.name;
  return std::nullopt;
}

Error wrong(std::string_view field, std::string_view expected, const Value& got) {
  return Error::Invalid(std::string(field) + ": expected " + std::string(expected) + ", got " +
                        std::string(type_name(got)));
}

Result<std::u16string> utf16_of(std::string_view field, std::string_view s) {
  auto w = to_utf16(s);
  if (!w) return w.error().context(field);
  return w;
}

PropWrite write(const PropRef& ref, PropValue v) {
  return PropWrite{ref, std::move(v)};
}

Result<std::vector<Recipient>> recipients_of(std::string_view field, const PartyList& parties,
                                             std::int32_t type) {
  std::vector<Recipient> out;
  for (const Party& p : parties) {
    if (p.address.empty()) return Error::Invalid(std::string(field) + ": a party without address");
    auto name = utf16_of(field, p.name.empty() ? p.address : p.name);
    auto address = utf16_of(field, p.address);
    if (!name) return name.error();
    if (!address) return address.error();
    out.push_back({type, std::move(*name), std::move(*address)});
  }
  return out;
}

// Encodes one field; `out` collects the writes.
Result<void> encode_one(const FieldSpec& spec, const Value& v, Encoded& out) {
  const bool null = std::holds_alternative<std::monostate>(v);
  const std::string_view f = spec.field;
  auto text_value = [&]() -> Result<PropValue> {
    if (null) return PropValue{};
    const auto* s = std::get_if<std::string>(&v);
    if (!s) return wrong(f, "text", v);
    auto w = utf16_of(f, *s);
    if (!w) return w.error();
    return PropValue{std::move(*w)};
  };
  switch (spec.codec) {
    case Codec::kText: {
      auto p = text_value();
      if (!p) return p.error();
      out.props.push_back(write(spec.prop, std::move(*p)));
      return Ok();
    }
    case Codec::kTextList: {
      auto p = text_value();
      if (!p) return p.error();
      if (auto* w = std::get_if<std::u16string>(&*p))
        out.props.push_back(write(spec.prop, std::vector<std::u16string>{std::move(*w)}));
      else
        out.props.push_back(write(spec.prop, PropValue{}));
      return Ok();
    }
    case Codec::kEmailAddress: {
      auto p = text_value();
      if (!p) return p.error();
      const bool set = !std::holds_alternative<std::monostate>(*p);
      out.props.push_back(write(spec.prop, std::move(*p)));
      out.props.push_back(write(PropRef{*spec.address_type},
                                set ? PropValue{std::u16string(u"SMTP")} : PropValue{}));
      return Ok();
    }
    case Codec::kDate: {
      if (null) return out.props.push_back(write(spec.prop, {})), Ok();
      const auto* d = std::get_if<Date>(&v);
      if (!d) return wrong(f, "date", v);
      auto ft = date_to_filetime(*d);
      if (!ft) return ft.error().context(f);
      out.props.push_back(write(spec.prop, FileTime{*ft}));
      return Ok();
    }
    case Codec::kTime: {
      if (null) return out.props.push_back(write(spec.prop, {})), Ok();
      const auto* t = std::get_if<UtcTime>(&v);
      if (!t) return wrong(f, "time", v);
      auto ft = to_filetime(*t);
      if (!ft) return ft.error().context(f);
      out.props.push_back(write(spec.prop, FileTime{*ft}));
      return Ok();
    }
    case Codec::kBool: {
      if (null) return out.props.push_back(write(spec.prop, {})), Ok();
      const auto* b = std::get_if<bool>(&v);
      if (!b) return wrong(f, "bool", v);
      out.props.push_back(write(spec.prop, *b));
      return Ok();
    }
    case Codec::kInteger: {
      if (null) return out.props.push_back(write(spec.prop, {})), Ok();
      const auto* i = std::get_if<std::int64_t>(&v);
      if (!i) return wrong(f, "integer", v);
      if (*i < std::numeric_limits<std::int32_t>::min() ||
          *i > std::numeric_limits<std::int32_t>::max())
        return Error::Invalid(std::string(f) + ": " + std::to_string(*i) +
                              " does not fit a 32-bit PT_LONG");
      out.props.push_back(write(spec.prop, static_cast<std::int32_t>(*i)));
      return Ok();
    }
    case Codec::kImportance:
    case Codec::kTaskStatus:
    case Codec::kBusyStatus: {
      if (null) {
        out.props.push_back(write(spec.prop, {}));
        if (spec.codec == Codec::kTaskStatus)
          out.props.push_back(write(PropRef{Named::kTaskComplete}, {}));
        return Ok();
      }
      const auto* s = std::get_if<std::string>(&v);
      if (!s) return wrong(f, "text", v);
      std::optional<std::int32_t> code =
          spec.codec == Codec::kImportance   ? code_of(kImportances, *s)
          : spec.codec == Codec::kTaskStatus ? code_of(kTaskStatuses, *s)
                                             : code_of(kBusyStatuses, *s);
      if (!code) return Error::Invalid(std::string(f) + ": unknown value " + display(v));
      out.props.push_back(write(spec.prop, *code));
      if (spec.codec == Codec::kTaskStatus) {
        // Outlook shows a task as done by PidLidTaskComplete and 100 %; the percentage of an
        // open task is the user's and stays as it is.
        const bool complete = *code == 2;
        out.props.push_back(write(PropRef{Named::kTaskComplete}, complete));
        if (complete) out.props.push_back(write(PropRef{Named::kPercentComplete}, 1.0));
      }
      return Ok();
    }
    case Codec::kReference: {
      if (null) return out.props.push_back(write(spec.prop, {})), Ok();
      const auto* r = std::get_if<EntityRef>(&v);
      if (!r) return wrong(f, "reference", v);
      auto w = utf16_of(f, r->str());
      if (!w) return w.error();
      out.props.push_back(write(spec.prop, std::move(*w)));
      return Ok();
    }
    case Codec::kRecipients: {
      PartyList none;
      const PartyList* parties = null ? &none : std::get_if<PartyList>(&v);
      if (!parties) return wrong(f, "party list", v);
      auto rows = recipients_of(f, *parties, spec.recipient_type);
      if (!rows) return rows.error();
      out.recipients[spec.recipient_type] = std::move(*rows);
      return Ok();
    }
    case Codec::kSender: {
      PartyList none;
      const PartyList* parties = null ? &none : std::get_if<PartyList>(&v);
      if (!parties) return wrong(f, "party list", v);
      if (parties->size() > 1) return Error::Invalid(std::string(f) + ": more than one sender");
      auto rows = recipients_of(f, *parties, kRecipientTo);
      if (!rows) return rows.error();
      const bool set = !rows->empty();
      PropValue name = set ? PropValue{rows->front().name} : PropValue{};
      PropValue address = set ? PropValue{rows->front().address} : PropValue{};
      PropValue type = set ? PropValue{std::u16string(u"SMTP")} : PropValue{};
      for (auto [n, a, t, smtp] :
           {std::array{tag::kSenderName, tag::kSenderEmailAddress, tag::kSenderAddrType,
                       tag::kSenderSmtpAddress},
            std::array{tag::kSentRepresentingName, tag::kSentRepresentingEmailAddress,
                       tag::kSentRepresentingAddrType, tag::kSentRepresentingSmtpAddress}}) {
        out.props.push_back(write(fixed(n), name));
        out.props.push_back(write(fixed(a), address));
        out.props.push_back(write(fixed(t), type));
        out.props.push_back(write(fixed(smtp), address));
      }
      return Ok();
    }
    case Codec::kOrganizer:
      // The store sets the organizer (the mailbox owner); never written, like EWS.
      if (!null && !std::holds_alternative<PartyList>(v)) return wrong(f, "party list", v);
      return Ok();
  }
  return Error::Internal("unhandled MAPI codec");
}

// ---- decoding

template <class T>
Result<const T*> typed(const FieldSpec& spec, const PropValue* p) {
  if (p == nullptr || std::holds_alternative<std::monostate>(*p))
    return static_cast<const T*>(nullptr);
  if (const T* t = std::get_if<T>(p)) return t;
  return Error::Invalid(std::string(spec.field) + ": property " + spec.prop.label() + " has type " +
                        std::string(to_string(type_of(*p))));
}

Party party_of(std::u16string_view name, std::u16string_view address) {
  Party p;
  p.address = to_utf8(address);
  p.name = to_utf8(name);
  if (p.name == p.address) p.name.clear();
  return p;
}

// The SMTP address of a sender: the SMTP property, else the address when its type is SMTP.
std::u16string smtp_of(const PropLookup& get, std::uint32_t smtp, std::uint32_t address,
                       std::uint32_t type) {
  auto str = [&](std::uint32_t t) -> std::u16string {
    const PropValue* v = get(fixed(t));
    const auto* s = v ? std::get_if<std::u16string>(v) : nullptr;
    return s ? *s : std::u16string();
  };
  if (auto s = str(smtp); !s.empty()) return s;
  if (str(type) == u"SMTP") return str(address);
  return {};
}

Result<Value> decode_one(const FieldSpec& spec, const PropLookup& get,
                         const std::vector<Recipient>& rows) {
  // Recipients come from the recipient table, not from a property of the message.
  const PropValue* p = spec.codec == Codec::kRecipients ? nullptr : get(spec.prop);
  const std::string_view f = spec.field;
  switch (spec.codec) {
    case Codec::kText:
    case Codec::kEmailAddress: {
      auto s = typed<std::u16string>(spec, p);
      if (!s) return s.error();
      return *s ? Value{to_utf8(**s)} : Value{};
    }
    case Codec::kTextList: {
      auto list = typed<std::vector<std::u16string>>(spec, p);
      if (!list) return list.error();
      if (!*list || (*list)->empty()) return Value{};
      std::string joined;
      for (const auto& e : **list) joined += (joined.empty() ? "" : ", ") + to_utf8(e);
      return Value{std::move(joined)};
    }
    case Codec::kDate: {
      auto t = typed<FileTime>(spec, p);
      if (!t) return t.error();
      if (!*t) return Value{};
      auto d = date_from_filetime((*t)->ticks);
      if (!d) return d.error().context(f);
      return Value{*d};
    }
    case Codec::kTime: {
      auto t = typed<FileTime>(spec, p);
      if (!t) return t.error();
      if (!*t) return Value{};
      auto u = from_filetime((*t)->ticks);
      if (!u) return u.error().context(f);
      return Value{*u};
    }
    case Codec::kBool: {
      auto b = typed<bool>(spec, p);
      if (!b) return b.error();
      return *b ? Value{**b} : Value{};
    }
    case Codec::kInteger: {
      auto i = typed<std::int32_t>(spec, p);
      if (!i) return i.error();
      return *i ? Value{static_cast<std::int64_t>(**i)} : Value{};
    }
    case Codec::kImportance:
    case Codec::kTaskStatus:
    case Codec::kBusyStatus: {
      auto i = typed<std::int32_t>(spec, p);
      if (!i) return i.error();
      if (!*i) return Value{};
      std::optional<std::string_view> name =
          spec.codec == Codec::kImportance   ? name_of(kImportances, **i)
          : spec.codec == Codec::kTaskStatus ? name_of(kTaskStatuses, **i)
                                             : name_of(kBusyStatuses, **i);
      if (!name)
        return Error::Invalid(std::string(f) + ": unknown " + spec.prop.label() + " " +
                              std::to_string(**i));
      return Value{std::string(*name)};
    }
    case Codec::kReference: {
      auto s = typed<std::u16string>(spec, p);
      if (!s) return s.error();
      if (!*s || (*s)->empty()) return Value{};
      auto r = EntityRef::parse(to_utf8(**s));
      if (!r) return r.error().context(f);
      return Value{*r};
    }
    case Codec::kRecipients: {
      PartyList parties;
      for (const Recipient& r : rows)
        if (r.type == spec.recipient_type) parties.push_back(party_of(r.name, r.address));
      return parties.empty() ? Value{} : Value{std::move(parties)};
    }
    case Codec::kSender:
    case Codec::kOrganizer: {
      const bool sender = spec.codec == Codec::kSender;
      std::u16string address =
          sender ? smtp_of(get, tag::kSenderSmtpAddress, tag::kSenderEmailAddress,
                           tag::kSenderAddrType)
                 : smtp_of(get, tag::kSentRepresentingSmtpAddress,
                           tag::kSentRepresentingEmailAddress, tag::kSentRepresentingAddrType);
      if (address.empty()) return Value{};
      auto name = typed<std::u16string>(spec, p);
      if (!name) return name.error();
      return Value{PartyList{party_of(*name ? **name : address, address)}};
    }
  }
  return Error::Internal("unhandled MAPI codec");
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

Result<Encoded> encode_fields(ItemKind kind, const FieldMap& fields) {
  Encoded out;
  for (const auto& [name, value] : fields) {
    const FieldSpec* spec = find_field(kind, name);
    if (spec == nullptr) {
      if (auto why = unsupported_reason(kind, name); !why.empty())
        return Error::Invalid(name + ": not stored by the MAPI adapter (" + std::string(why) + ")");
      return Error::Invalid("unknown field '" + name.substr(0, 64) + "' for a " +
                            std::string(to_string(kind)));
    }
    CRMSYNC_TRY(encode_one(*spec, value, out));
  }
  return out;
}

Result<std::vector<PropWrite>> encode_link(const CrmLink& link) {
  std::vector<PropWrite> out;
  out.push_back(write(nm(Named::kTracked), link.tracked));
  out.push_back(write(nm(Named::kCrmIdPending), link.crm_id_pending));
  if (link.crm_id) {
    auto w = to_utf16(link.crm_id->str());
    if (!w) return w.error();
    out.push_back(write(nm(Named::kCrmId), std::move(*w)));
  } else {
    out.push_back(write(nm(Named::kCrmId), {}));
  }
  if (link.crm_entity) {
    auto w = to_utf16(to_string(*link.crm_entity));
    if (!w) return w.error();
    out.push_back(write(nm(Named::kCrmEntity), std::move(*w)));
  } else {
    out.push_back(write(nm(Named::kCrmEntity), {}));
  }
  return out;
}

Result<FieldMap> decode_fields(ItemKind kind, const PropLookup& get,
                               const std::vector<Recipient>& recipients) {
  FieldMap out;
  for (const FieldSpec& spec : field_specs(kind)) {
    auto v = decode_one(spec, get, recipients);
    if (!v) return v.error();
    if (!std::holds_alternative<std::monostate>(*v)) out.emplace(spec.field, std::move(*v));
  }
  return out;
}

Result<CrmLink> decode_link(const PropLookup& get) {
  CrmLink link;
  auto flag = [&](Named n) -> Result<bool> {
    const PropValue* v = get(nm(n));
    if (v == nullptr || std::holds_alternative<std::monostate>(*v)) return false;
    if (const auto* b = std::get_if<bool>(v)) return *b;
    return Error::Invalid(std::string(named(n).label) + " is not PT_BOOLEAN");
  };
  auto str = [&](Named n) -> Result<std::string> {
    const PropValue* v = get(nm(n));
    if (v == nullptr || std::holds_alternative<std::monostate>(*v)) return std::string();
    if (const auto* s = std::get_if<std::u16string>(v)) return to_utf8(*s);
    return Error::Invalid(std::string(named(n).label) + " is not PT_UNICODE");
  };
  auto tracked = flag(Named::kTracked);
  auto pending = flag(Named::kCrmIdPending);
  auto id = str(Named::kCrmId);
  auto entity = str(Named::kCrmEntity);
  for (const Error* e : {tracked ? nullptr : &tracked.error(), pending ? nullptr : &pending.error(),
                         id ? nullptr : &id.error(), entity ? nullptr : &entity.error()})
    if (e) return e->context("CRM link");
  link.tracked = *tracked;
  link.crm_id_pending = *pending;
  if (!id->empty()) {
    auto crm = CrmId::parse(*id);
    if (!crm) return crm.error().context("CRM link");
    link.crm_id = *crm;
  }
  if (!entity->empty()) {
    auto e = parse_crm_entity(*entity);
    if (!e) return e.error().context("CRM link");
    link.crm_entity = *e;
  }
  return link;
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
  return out;
}

std::vector<PropRef> link_props() {
  return {nm(Named::kTracked), nm(Named::kCrmId), nm(Named::kCrmIdPending), nm(Named::kCrmEntity)};
}

}  // namespace crmsync::mapi
