#include "crmsync/model/mapping.hpp"
#include "crmsync/model/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>

namespace crmsync {
namespace {

using D = Direction;
using C = Converter;

// ---------------------------------------------------------------------------
// SPEC §7, one table per entity. Order is the order conversions run in.

std::vector<FieldMapping> contact_fields() {
  return {
      {"Anniversary", {"anniversary"}, C::kDate},
      {"AssistantName", {"assistantname"}, C::kText},
      {"AssistantTelephoneNumber", {"assistantphone"}, C::kText},
      {"Birthday", {"birthdate"}, C::kDate},
      {"Body", {"description"}, C::kText},
      {"BusinessFaxNumber", {"fax"}, C::kText},
      {"BusinessTelephoneNumber", {"telephone1"}, C::kText},
      {"Children", {"childrensnames"}, C::kText},
      {"Department", {"department"}, C::kText},
      {"Email1Address", {"emailaddress1"}, C::kText},
      {"Email2Address", {"emailaddress2"}, C::kText},
      {"Email3Address", {"emailaddress3"}, C::kText},
      {"FirstName", {"firstname"}, C::kText},
      {"FTPSite", {"ftpsiteurl"}, C::kText},
      {"GovernmentIDNumber", {"governmentid"}, C::kText},
      {"HomeTelephoneNumber", {"telephone2"}, C::kText},
      {"JobTitle", {"jobtitle"}, C::kText},
      {"LastName", {"lastname"}, C::kText},
      {"MailingAddressCity", {"address1_city"}, C::kText},
      {"MailingAddressCountry", {"address1_country"}, C::kText},
      {"MailingAddressPostOfficeBox", {"address1_postofficebox"}, C::kText},
      {"MailingAddressPostalCode", {"address1_postalcode"}, C::kText},
      {"MailingAddressState", {"address1_stateorprovince"}, C::kText},
      {"MailingAddressStreet", {"address1_line1", "address1_line2", "address1_line3"}, C::kStreet},
      {"ManagerName", {"managername"}, C::kText},
      {"MiddleName", {"middlename"}, C::kText},
      {"MobileTelephoneNumber", {"mobilephone"}, C::kText},
      {"NickName", {"nickname"}, C::kText},
      {"OtherTelephoneNumber", {"telephone3"}, C::kText},
      {"PagerNumber", {"pager"}, C::kText},
      {"Spouse", {"spousesname"}, C::kText},
      {"Title", {"salutation"}, C::kText},
      {"WebPage", {"websiteurl"}, C::kText},
      {"YomiFirstName", {"yomifirstname"}, C::kText},
      {"YomiLastName", {"yomilastname"}, C::kText},
      {"CompanyName", {"parentcustomerid"}, C::kCompanyName, D::kCrmToStore},
  };
}

std::vector<FieldMapping> task_like_fields(Converter status) {
  return {
      {"Body", {"description"}, C::kText},
      {"StartDate", {"scheduledstart"}, C::kLocalDate},
      {"DueDate", {"scheduledend"}, C::kLocalDate},
      {"Importance", {"prioritycode"}, C::kImportance},
      {"Subject", {"subject"}, C::kText},
      {"Regarding", {"regardingobjectid"}, C::kReference},
      {"Status", {"statecode", "statuscode"}, status},
      {"ReminderTime", {"scheduledend"}, C::kReminder, D::kCrmToStore},
  };
}

std::vector<FieldMapping> appointment_fields() {
  return {
      {"AllDayEvent", {"isalldayevent"}, C::kBool},
      {"Body", {"description"}, C::kText},
      {"Duration", {"scheduleddurationminutes"}, C::kInteger},
      {"End", {"scheduledend"}, C::kTime},
      {"Location", {"location"}, C::kText},
      {"OptionalAttendees", {"optionalattendees"}, C::kParties},
      {"Organizer", {"organizer"}, C::kParties},
      {"Importance", {"prioritycode"}, C::kImportance},
      {"RequiredAttendees", {"requiredattendees"}, C::kParties},
      {"Regarding", {"regardingobjectid"}, C::kReference},
      {"Start", {"scheduledstart"}, C::kTime},
      {"Subject", {"subject"}, C::kText},
      {"ShowTimeAs", {"statecode", "statuscode"}, C::kShowTimeAs},
  };
}

// T4: an e-mail's content is copied once, at tracking; afterwards only Regarding syncs.
std::vector<FieldMapping> email_fields() {
  return {
      {"Subject", {"subject"}, C::kText, D::kStoreToCrmOnce},
      {"Body", {"description"}, C::kText, D::kStoreToCrmOnce},
      {"From", {"from"}, C::kParties, D::kStoreToCrmOnce},
      {"To", {"to"}, C::kParties, D::kStoreToCrmOnce},
      {"Cc", {"cc"}, C::kParties, D::kStoreToCrmOnce},
      // Received mail carries ReceivedTime, sent mail SentTime; the first present wins.
      {"ReceivedTime", {"actualend"}, C::kTime, D::kStoreToCrmOnce},
      {"SentTime", {"actualend"}, C::kTime, D::kStoreToCrmOnce},
      {"MessageId", {"messageid"}, C::kText, D::kStoreToCrmOnce},
      {"Regarding", {"regardingobjectid"}, C::kReference},
  };
}

const std::map<CrmEntity, EntityMapping>& all_mappings() {
  static const std::map<CrmEntity, EntityMapping> m = [] {
    std::map<CrmEntity, EntityMapping> out;
    out.emplace(CrmEntity::kContact, EntityMapping{CrmEntity::kContact, contact_fields()});
    out.emplace(CrmEntity::kTask,
                EntityMapping{CrmEntity::kTask, task_like_fields(C::kTaskStatus)});
    for (CrmEntity e : {CrmEntity::kPhoneCall, CrmEntity::kLetter, CrmEntity::kFax})
      out.emplace(e, EntityMapping{e, task_like_fields(C::kActivityStatus)});
    out.emplace(CrmEntity::kAppointment,
                EntityMapping{CrmEntity::kAppointment, appointment_fields()});
    out.emplace(CrmEntity::kEmail, EntityMapping{CrmEntity::kEmail, email_fields()});
    return out;
  }();
  return m;
}

// ---------------------------------------------------------------------------
// Store field types, for the CLI and for validation of what a store holds.

enum class FieldType {
  kText,
  kDate,
  kTime,
  kBool,
  kInteger,
  kImportance,
  kTaskStatus,
  kShowTimeAs,
  kReference,
  kParties
};

struct StoreFieldSpec {
  std::string_view name;
  FieldType type;
};

constexpr StoreFieldSpec kContactFieldSpecs[] = {
    {"Anniversary", FieldType::kDate},
    {"AssistantName", FieldType::kText},
    {"AssistantTelephoneNumber", FieldType::kText},
    {"Birthday", FieldType::kDate},
    {"Body", FieldType::kText},
    {"BusinessFaxNumber", FieldType::kText},
    {"BusinessTelephoneNumber", FieldType::kText},
    {"Children", FieldType::kText},
    {"CompanyName", FieldType::kText},
    {"Department", FieldType::kText},
    {"Email1Address", FieldType::kText},
    {"Email2Address", FieldType::kText},
    {"Email3Address", FieldType::kText},
    {"FirstName", FieldType::kText},
    {"FTPSite", FieldType::kText},
    {"GovernmentIDNumber", FieldType::kText},
    {"HomeTelephoneNumber", FieldType::kText},
    {"JobTitle", FieldType::kText},
    {"LastName", FieldType::kText},
    {"MailingAddressCity", FieldType::kText},
    {"MailingAddressCountry", FieldType::kText},
    {"MailingAddressPostOfficeBox", FieldType::kText},
    {"MailingAddressPostalCode", FieldType::kText},
    {"MailingAddressState", FieldType::kText},
    {"MailingAddressStreet", FieldType::kText},
    {"ManagerName", FieldType::kText},
    {"MiddleName", FieldType::kText},
    {"MobileTelephoneNumber", FieldType::kText},
    {"NickName", FieldType::kText},
    {"OtherTelephoneNumber", FieldType::kText},
    {"PagerNumber", FieldType::kText},
    {"Spouse", FieldType::kText},
    {"Title", FieldType::kText},
    {"WebPage", FieldType::kText},
    {"YomiFirstName", FieldType::kText},
    {"YomiLastName", FieldType::kText},
    // Store-only: never synchronized (SPEC §7), kept so that M4 can be tested.
    {"IMAddress", FieldType::kText},
    {"OfficeLocation", FieldType::kText},
    {"Profession", FieldType::kText},
    {"Business2TelephoneNumber", FieldType::kText},
    {"Home2TelephoneNumber", FieldType::kText},
    {"CarTelephoneNumber", FieldType::kText},
    {"Categories", FieldType::kText},
};
constexpr StoreFieldSpec kTaskFieldSpecs[] = {
    {"Body", FieldType::kText},
    {"StartDate", FieldType::kDate},
    {"DueDate", FieldType::kDate},
    {"Importance", FieldType::kImportance},
    {"Subject", FieldType::kText},
    {"Regarding", FieldType::kReference},
    {"Status", FieldType::kTaskStatus},
    {"ReminderTime", FieldType::kTime},
    // Store-only.
    {"ReminderSet", FieldType::kBool},
    {"Categories", FieldType::kText},
    {"Mileage", FieldType::kText},
    {"BillingInformation", FieldType::kText},
    {"TotalWork", FieldType::kInteger},
    {"DateCompleted", FieldType::kDate},
};
constexpr StoreFieldSpec kAppointmentFieldSpecs[] = {
    {"AllDayEvent", FieldType::kBool},
    {"Body", FieldType::kText},
    {"Duration", FieldType::kInteger},
    {"End", FieldType::kTime},
    {"Location", FieldType::kText},
    {"OptionalAttendees", FieldType::kParties},
    {"Organizer", FieldType::kParties},
    {"Importance", FieldType::kImportance},
    {"RequiredAttendees", FieldType::kParties},
    {"Regarding", FieldType::kReference},
    {"Start", FieldType::kTime},
    {"Subject", FieldType::kText},
    {"ShowTimeAs", FieldType::kShowTimeAs},
    // Store-only.
    {"Categories", FieldType::kText},
    {"Label", FieldType::kText},
    {"ReminderMinutesBeforeStart", FieldType::kInteger},
};
constexpr StoreFieldSpec kEmailFieldSpecs[] = {
    {"Subject", FieldType::kText},
    {"Body", FieldType::kText},
    {"From", FieldType::kParties},
    {"To", FieldType::kParties},
    {"Cc", FieldType::kParties},
    {"SentTime", FieldType::kTime},
    {"ReceivedTime", FieldType::kTime},
    {"MessageId", FieldType::kText},
    {"Regarding", FieldType::kReference},
    // Store-only.
    {"Categories", FieldType::kText},
    {"Importance", FieldType::kImportance},
};

std::span<const StoreFieldSpec> field_specs(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return kContactFieldSpecs;
    case ItemKind::kTask:
      return kTaskFieldSpecs;
    case ItemKind::kAppointment:
      return kAppointmentFieldSpecs;
    case ItemKind::kEmail:
      return kEmailFieldSpecs;
  }
  return {};
}

const StoreFieldSpec* find_spec(ItemKind kind, std::string_view field) {
  for (const auto& s : field_specs(kind))
    if (s.name == field) return &s;
  return nullptr;
}

// ---------------------------------------------------------------------------
// Choice tables.

constexpr std::array<std::pair<std::string_view, std::int64_t>, 3> kImportance{
    {{"Low", 0}, {"Normal", 1}, {"High", 2}}};

struct StateStatus {
  std::string_view store;
  std::int64_t state;
  std::int64_t status;
};
// Task: CRM -> store by status reason; store -> CRM with these pairs.
constexpr StateStatus kTaskStatuses[] = {
    {"NotStarted", 0, 2}, {"InProgress", 0, 3}, {"Waiting", 0, 4},
    {"Deferred", 0, 7},   {"Complete", 1, 5},
};
// Appointment ShowTimeAs: Free/Tentative are Open reasons, Busy/OutOfOffice Scheduled ones.
constexpr StateStatus kShowTimeAs[] = {
    {"Free", 0, 1}, {"Tentative", 0, 2}, {"Busy", 3, 5}, {"OutOfOffice", 3, 6}};
constexpr std::string_view kTaskStatusNames[] = {"NotStarted", "InProgress", "Waiting", "Deferred",
                                                 "Complete"};

std::int64_t default_completed_status(CrmEntity e) {
  switch (e) {
    case CrmEntity::kLetter:
      return 4;  // Sent
    case CrmEntity::kPhoneCall:
      return 2;  // Made
    case CrmEntity::kFax:
      return 2;  // Completed
    default:
      return 5;
  }
}

// ---------------------------------------------------------------------------
// Conversion helpers.

const Value* attr(const FieldMap& m, std::string_view name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

Error wrong_type(std::string_view where, std::string_view expected, const Value& got) {
  return Error::Invalid(std::string(where) + ": expected " + std::string(expected) + ", got " +
                        std::string(type_name(got)));
}

template <class T>
Result<std::optional<T>> get_typed(const FieldMap& m, std::string_view name,
                                   std::string_view expected) {
  const Value* v = attr(m, name);
  if (v == nullptr || std::holds_alternative<std::monostate>(*v)) return std::optional<T>{};
  if (const T* t = std::get_if<T>(v)) return std::optional<T>{*t};
  return wrong_type(name, expected, *v);
}

Result<std::optional<std::int64_t>> get_int(const FieldMap& m, std::string_view name) {
  return get_typed<std::int64_t>(m, name, "integer");
}

// A value of the expected alternative, or null, or an error naming the field.
template <class T>
Result<Value> pass_typed(const Value* v, std::string_view where, std::string_view expected) {
  if (v == nullptr || std::holds_alternative<std::monostate>(*v)) return Value{};
  if (std::holds_alternative<T>(*v)) return *v;
  return wrong_type(where, expected, *v);
}

std::string join_street(const FieldMap& crm, const FieldMapping& f, Result<void>& err) {
  std::string lines[3];
  for (std::size_t i = 0; i < 3; ++i) {
    const Value* v = attr(crm, f.crm_attributes[i]);
    if (v == nullptr || std::holds_alternative<std::monostate>(*v)) continue;
    if (const auto* s = std::get_if<std::string>(v))
      lines[i] = *s;
    else
      err = wrong_type(f.crm_attributes[i], "text", *v);
  }
  std::string out = lines[0] + "\n" + lines[1] + "\n" + lines[2];
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void split_street(std::string_view street, std::string out[3]) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= street.size()) {
    std::size_t nl = street.find('\n', start);
    std::string_view line = street.substr(start, nl == std::string_view::npos ? nl : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.emplace_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  for (std::size_t i = 0; i < lines.size() && i < 2; ++i) out[i] = lines[i];
  for (std::size_t i = 2; i < lines.size(); ++i) {
    if (i > 2) out[2] += ", ";
    out[2] += lines[i];
  }
}

Result<Value> convert_to_store(CrmEntity entity, const FieldMapping& f, const FieldMap& crm,
                               const MapContext& ctx) {
  const std::string_view a0 = f.crm_attributes.front();
  const Value* v = attr(crm, a0);
  switch (f.converter) {
    case C::kText:
      return pass_typed<std::string>(v, a0, "text");
    case C::kBool:
      return pass_typed<bool>(v, a0, "bool");
    case C::kInteger:
      return pass_typed<std::int64_t>(v, a0, "integer");
    case C::kTime:
    case C::kReminder:
      return pass_typed<UtcTime>(v, a0, "time");
    case C::kReference:
      return pass_typed<EntityRef>(v, a0, "reference");
    case C::kParties:
      return pass_typed<PartyList>(v, a0, "party list");
    case C::kDate: {
      if (v == nullptr || std::holds_alternative<std::monostate>(*v)) return Value{};
      if (const auto* d = std::get_if<Date>(v)) return Value{*d};
      // Birthdays travel as midnight UTC; the date is never shifted by a zone.
      if (const auto* t = std::get_if<UtcTime>(v)) return Value{FixedOffsetZone({}).local_date(*t)};
      return wrong_type(a0, "date", *v);
    }
    case C::kLocalDate: {
      auto t = get_typed<UtcTime>(crm, a0, "time");
      if (!t.ok()) return t.error();
      if (!*t) return Value{};
      if (ctx.zone == nullptr) return Error::Internal("no time zone for " + std::string(a0));
      return Value{ctx.zone->local_date(**t)};
    }
    case C::kStreet: {
      Result<void> err;
      std::string s = join_street(crm, f, err);
      if (!err.ok()) return err.error();
      if (s.empty()) return Value{};
      return Value{std::move(s)};
    }
    case C::kImportance: {
      auto p = get_int(crm, a0);
      if (!p.ok()) return p.error();
      if (!*p) return Value{};
      for (auto& [name, code] : kImportance)
        if (code == **p) return Value{std::string(name)};
      return Error::Invalid("unknown prioritycode " + std::to_string(**p));
    }
    case C::kTaskStatus:
    case C::kActivityStatus: {
      auto state = get_int(crm, "statecode");
      auto status = get_int(crm, "statuscode");
      if (!state.ok()) return state.error();
      if (!status.ok()) return status.error();
      if (!*state) return Value{};
      if (**state == 1) return Value{std::string("Complete")};
      if (**state == 2) return Value{std::string("Deferred")};  // Canceled
      if (**state != 0) return Error::Invalid("unknown statecode " + std::to_string(**state));
      if (f.converter == C::kActivityStatus) return Value{std::string("NotStarted")};
      if (!*status) return Value{std::string("NotStarted")};
      for (const auto& s : kTaskStatuses)
        if (s.state == 0 && s.status == **status) return Value{std::string(s.store)};
      return Error::Invalid("unknown task statuscode " + std::to_string(**status) +
                            " for statecode Open");
    }
    case C::kShowTimeAs: {
      auto status = get_int(crm, "statuscode");
      if (!status.ok()) return status.error();
      if (!*status) return Value{};
      switch (**status) {
        case 1:
          return Value{std::string("Free")};
        case 2:
          return Value{std::string("Tentative")};
        case 5:
          return Value{std::string("Busy")};
        case 6:
          return Value{std::string("OutOfOffice")};
        case 3:  // Completed
        case 4:  // Canceled
          return Value{std::string("Free")};
      }
      return Error::Invalid("unknown appointment statuscode " + std::to_string(**status));
    }
    case C::kCompanyName: {
      auto r = get_typed<EntityRef>(crm, a0, "reference");
      if (!r.ok()) return r.error();
      if (!*r || (*r)->name.empty()) return Value{};
      return Value{(*r)->name};
    }
  }
  (void)entity;
  return Error::Internal("unhandled converter");
}

bool goes_to_store(const FieldMapping& f, const MapContext& ctx) {
  if (f.direction != D::kBoth && f.direction != D::kCrmToStore) return false;
  if (f.converter == C::kCompanyName && !ctx.update_company_field) return false;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------

const EntityMapping& mapping_for(CrmEntity entity) {
  return all_mappings().at(entity);
}

std::vector<std::string> EntityMapping::crm_columns() const {
  std::vector<std::string> cols;
  auto add = [&](std::string_view c) {
    if (std::find(cols.begin(), cols.end(), c) == cols.end()) cols.emplace_back(c);
  };
  for (const auto& f : fields)
    for (auto a : f.crm_attributes) add(a);
  for (auto a : {"ownerid", "modifiedon", "statecode", "statuscode"}) add(a);
  if (entity != CrmEntity::kContact) add("scheduledstart");
  if (entity == CrmEntity::kEmail) add("directioncode");
  for (const auto& c : party_columns()) add(c);
  return cols;
}

std::vector<std::string> EntityMapping::party_columns() const {
  switch (entity) {
    case CrmEntity::kPhoneCall:
    case CrmEntity::kLetter:
    case CrmEntity::kFax:
      return {"from", "to"};
    case CrmEntity::kAppointment: {
      std::vector<std::string> cols;
      for (const auto& f : fields)
        if (f.converter == Converter::kParties)
          for (auto a : f.crm_attributes) cols.emplace_back(a);
      return cols;
    }
    default:
      return {};
  }
}

const FieldMapping* EntityMapping::find_store_field(std::string_view name) const {
  for (const auto& f : fields)
    if (f.store_field == name) return &f;
  return nullptr;
}

std::span<const std::string_view> known_store_fields(ItemKind kind) {
  static const auto names = [] {
    std::map<ItemKind, std::vector<std::string_view>> m;
    for (ItemKind k : kAllItemKinds)
      for (const auto& s : field_specs(k)) m[k].push_back(s.name);
    return m;
  }();
  return names.at(kind);
}

bool is_known_store_field(ItemKind kind, std::string_view field) {
  return find_spec(kind, field) != nullptr;
}

Result<Value> parse_store_value(ItemKind kind, std::string_view field, std::string_view text) {
  const StoreFieldSpec* spec = find_spec(kind, field);
  if (spec == nullptr)
    return Error::Invalid("unknown field '" + std::string(field.substr(0, 64)) + "' for a " +
                          std::string(to_string(kind)));
  auto ctx = [&](const Error& e) { return e.context(std::string(field)); };
  if (text.empty()) return Value{};  // FIELD= clears
  auto choice = [&](const auto& names) -> Result<Value> {
    for (std::string_view n : names)
      if (n == text) return Value{std::string(n)};
    std::string all;
    for (std::string_view n : names) all += (all.empty() ? "" : ", ") + std::string(n);
    return Error::Invalid(std::string(field) + ": '" + std::string(text.substr(0, 64)) +
                          "' is not one of " + all);
  };
  switch (spec->type) {
    case FieldType::kText:
      return Value{std::string(text)};
    case FieldType::kDate: {
      auto d = Date::parse(text);
      if (!d.ok()) return ctx(d.error());
      return Value{*d};
    }
    case FieldType::kTime: {
      auto t = UtcTime::parse(text);
      if (!t.ok()) return ctx(t.error());
      return Value{*t};
    }
    case FieldType::kBool:
      if (text == "true" || text == "1") return Value{true};
      if (text == "false" || text == "0") return Value{false};
      return Error::Invalid(std::string(field) + ": '" + std::string(text.substr(0, 64)) +
                            "' is not true or false");
    case FieldType::kInteger: {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc{} || p != text.data() + text.size())
        return Error::Invalid(std::string(field) + ": '" + std::string(text.substr(0, 64)) +
                              "' is not an integer");
      return Value{v};
    }
    case FieldType::kImportance:
      return choice(std::array<std::string_view, 3>{"Low", "Normal", "High"});
    case FieldType::kTaskStatus:
      return choice(kTaskStatusNames);
    case FieldType::kShowTimeAs:
      return choice(std::array<std::string_view, 4>{"Free", "Tentative", "Busy", "OutOfOffice"});
    case FieldType::kReference: {
      auto r = EntityRef::parse(text);
      if (!r.ok()) return ctx(r.error());
      return Value{*r};
    }
    case FieldType::kParties: {
      PartyList parties;
      std::size_t start = 0;
      while (start <= text.size()) {
        std::size_t semi = text.find(';', start);
        std::string_view one =
            trim(text.substr(start, semi == std::string_view::npos ? semi : semi - start));
        if (!one.empty()) {
          Party p;
          auto lt = one.rfind('<');
          if (lt != std::string_view::npos && one.back() == '>') {
            p.name = std::string(trim(one.substr(0, lt)));
            p.address = std::string(trim(one.substr(lt + 1, one.size() - lt - 2)));
          } else {
            p.address = std::string(one);
          }
          if (p.address.empty() || p.address.find('@') == std::string::npos)
            return Error::Invalid(std::string(field) + ": '" + std::string(one.substr(0, 64)) +
                                  "' is not an e-mail address");
          parties.push_back(std::move(p));
        }
        if (semi == std::string_view::npos) break;
        start = semi + 1;
      }
      return Value{std::move(parties)};
    }
  }
  return Error::Internal("unhandled field type");
}

bool is_open_state(CrmEntity entity, const FieldMap& crm) {
  const Value* v = attr(crm, "statecode");
  if (v == nullptr) return true;  // a record not created yet
  const auto* s = std::get_if<std::int64_t>(v);
  if (s == nullptr) return true;
  if (entity == CrmEntity::kAppointment) return *s == 0 || *s == 3;
  return *s == 0;
}

Result<FieldMap> crm_to_store(CrmEntity entity, const FieldMap& crm, const MapContext& ctx) {
  FieldMap out;
  for (const auto& f : mapping_for(entity).fields) {
    if (!goes_to_store(f, ctx)) continue;
    auto v = convert_to_store(entity, f, crm, ctx);
    if (!v.ok())
      return v.error().context(std::string(to_string(entity)) + "." + std::string(f.store_field));
    if (!std::holds_alternative<std::monostate>(*v)) out.emplace(f.store_field, std::move(*v));
  }
  return out;
}

Result<FieldMap> store_to_crm(CrmEntity entity, const FieldMap& store_changes,
                              const FieldMap& crm_current, const MapContext& ctx) {
  FieldMap out;
  const bool creating = crm_current.empty();
  const bool open = is_open_state(entity, crm_current);
  for (const auto& f : mapping_for(entity).fields) {
    if (f.direction == D::kCrmToStore) continue;
    if (f.direction == D::kStoreToCrmOnce && !creating) continue;
    auto it = store_changes.find(f.store_field);
    if (it == store_changes.end()) continue;
    const Value& v = it->second;
    const std::string_view a0 = f.crm_attributes.front();
    const bool null = std::holds_alternative<std::monostate>(v);
    auto where = [&] { return std::string(to_string(entity)) + "." + std::string(f.store_field); };
    auto put_typed = [&](auto tag, std::string_view expected) -> Result<void> {
      using T = decltype(tag);
      if (!null && !std::holds_alternative<T>(v))
        return Error::Invalid(where() + ": expected " + std::string(expected) + ", got " +
                              std::string(type_name(v)));
      // Two store fields may feed one attribute (e-mail times): the first present wins.
      auto existing = out.find(a0);
      if (existing != out.end() && !std::holds_alternative<std::monostate>(existing->second))
        return Ok();
      out.insert_or_assign(std::string(a0), v);
      return Ok();
    };
    Result<void> r;
    switch (f.converter) {
      case C::kText:
        r = put_typed(std::string{}, "text");
        break;
      case C::kBool:
        r = put_typed(bool{}, "bool");
        break;
      case C::kInteger:
        r = put_typed(std::int64_t{}, "integer");
        break;
      case C::kTime:
        r = put_typed(UtcTime{}, "time");
        break;
      case C::kReference:
        r = put_typed(EntityRef{}, "reference");
        break;
      case C::kParties:
        r = put_typed(PartyList{}, "party list");
        break;
      case C::kDate:
        if (null) {
          out.emplace(a0, Value{});
        } else if (const auto* d = std::get_if<Date>(&v)) {
          out.emplace(a0, Value{UtcTime{d->days_since_epoch() * 86'400'000}});
        } else {
          r = Error::Invalid(where() + ": expected date, got " + std::string(type_name(v)));
        }
        break;
      case C::kLocalDate:
        if (null) {
          out.emplace(a0, Value{});
        } else if (const auto* d = std::get_if<Date>(&v)) {
          if (ctx.zone == nullptr) return Error::Internal("no time zone for " + where());
          // Keep CRM's time of day; a new value starts at the beginning of the day.
          int minute = 0;
          if (const Value* cur = attr(crm_current, a0))
            if (const auto* t = std::get_if<UtcTime>(cur))
              minute = ctx.zone->local_minute_of_day(*t);
          out.emplace(a0, Value{ctx.zone->to_utc(*d, minute)});
        } else {
          r = Error::Invalid(where() + ": expected date, got " + std::string(type_name(v)));
        }
        break;
      case C::kStreet: {
        std::string lines[3];
        if (!null) {
          const auto* s = std::get_if<std::string>(&v);
          if (s == nullptr) {
            r = Error::Invalid(where() + ": expected text, got " + std::string(type_name(v)));
            break;
          }
          split_street(*s, lines);
        }
        for (std::size_t i = 0; i < 3; ++i)
          out.emplace(f.crm_attributes[i], lines[i].empty() ? Value{} : Value{std::move(lines[i])});
        break;
      }
      case C::kImportance: {
        if (null) {
          out.emplace(a0, Value{});
          break;
        }
        const auto* s = std::get_if<std::string>(&v);
        bool found = false;
        for (auto& [name, code] : kImportance)
          if (s != nullptr && trim(*s) == name) {
            out.emplace(a0, Value{code});
            found = true;
          }
        if (!found) r = Error::Invalid(where() + ": not Low, Normal or High: " + display(v));
        break;
      }
      case C::kTaskStatus:
      case C::kActivityStatus:
      case C::kShowTimeAs: {
        if (null || !open) break;  // a store change never reopens a closed record
        const auto* s = std::get_if<std::string>(&v);
        std::optional<StateStatus> pick;
        if (s != nullptr) {
          if (f.converter == C::kShowTimeAs) {
            for (const auto& st : kShowTimeAs)
              if (st.store == trim(*s)) pick = st;
          } else {
            for (const auto& st : kTaskStatuses)
              if (st.store == trim(*s)) pick = st;
          }
        }
        if (!pick) {
          r = Error::Invalid(where() + ": unknown value " + display(v));
          break;
        }
        if (f.converter == C::kActivityStatus) {
          // Status of phone calls, letters and faxes is the statecode alone: only
          // Complete changes anything, with the entity's default reason.
          if (pick->state != 1) break;
          pick->status = default_completed_status(entity);
        }
        out.insert_or_assign("statecode", Value{pick->state});
        out.insert_or_assign("statuscode", Value{pick->status});
        break;
      }
      case C::kCompanyName:
      case C::kReminder:
        break;  // CRM -> store only
    }
    if (!r.ok()) return r.error();
  }
  return out;
}

}  // namespace crmsync
