// The MAPI field codec: crmsync's values <-> property values (and recipient rows) for each
// codec of the field table (fields.cpp), and the CRM link as crmsync's named properties.
#include <limits>

#include "fields.hpp"

namespace crmsync::mapi {
namespace {

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
        out.props.push_back(write(PropRef{n}, name));
        out.props.push_back(write(PropRef{a}, address));
        out.props.push_back(write(PropRef{t}, type));
        out.props.push_back(write(PropRef{smtp}, address));
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
    const PropValue* v = get(PropRef{t});
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

}  // namespace

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
  out.push_back(write(PropRef{Named::kTracked}, link.tracked));
  out.push_back(write(PropRef{Named::kCrmIdPending}, link.crm_id_pending));
  if (link.crm_id) {
    auto w = to_utf16(link.crm_id->str());
    if (!w) return w.error();
    out.push_back(write(PropRef{Named::kCrmId}, std::move(*w)));
  } else {
    out.push_back(write(PropRef{Named::kCrmId}, {}));
  }
  if (link.crm_entity) {
    auto w = to_utf16(to_string(*link.crm_entity));
    if (!w) return w.error();
    out.push_back(write(PropRef{Named::kCrmEntity}, std::move(*w)));
  } else {
    out.push_back(write(PropRef{Named::kCrmEntity}, {}));
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
    const PropValue* v = get(PropRef{n});
    if (v == nullptr || std::holds_alternative<std::monostate>(*v)) return false;
    if (const auto* b = std::get_if<bool>(v)) return *b;
    return Error::Invalid(std::string(named(n).label) + " is not PT_BOOLEAN");
  };
  auto str = [&](Named n) -> Result<std::string> {
    const PropValue* v = get(PropRef{n});
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

Result<CategoryMark> decode_mark(const PropLookup& get) {
  CategoryMark m;
  if (const PropValue* v = get(PropRef{Named::kKeywords});
      v && !std::holds_alternative<std::monostate>(*v)) {
    const auto* list = std::get_if<std::vector<std::u16string>>(v);
    if (!list) return Error::Invalid("PidNameKeywords is not PT_MV_UNICODE");
    for (const auto& c : *list)
      if (!c.empty()) m.categories.push_back(to_utf8(c));
  }
  auto link = decode_link(get);
  if (!link) return link.error();
  m.tracked = link->tracked;
  if (const PropValue* v = get(PropRef{Named::kTrackCategory});
      v && !std::holds_alternative<std::monostate>(*v)) {
    const auto* kept = std::get_if<std::u16string>(v);
    if (!kept) return Error::Invalid("crmsync:TrackCategory is not PT_UNICODE");
    m.kept = to_utf8(*kept);
  }
  return m;
}

Result<std::vector<PropWrite>> encode_mark(const CategoryWrite& w) {
  std::vector<PropWrite> out;
  if (w.categories) {
    std::vector<std::u16string> list;
    for (const auto& c : *w.categories) {
      auto u = utf16_of("Categories", c);
      if (!u) return u.error();
      list.push_back(std::move(*u));
    }
    out.push_back(list.empty() ? write(PropRef{Named::kKeywords}, {})
                               : write(PropRef{Named::kKeywords}, std::move(list)));
  }
  if (w.kept) {
    if (w.kept->empty()) {
      out.push_back(write(PropRef{Named::kTrackCategory}, {}));
    } else {
      auto u = utf16_of("TrackCategory", *w.kept);
      if (!u) return u.error();
      out.push_back(write(PropRef{Named::kTrackCategory}, std::move(*u)));
    }
  }
  return out;
}

}  // namespace crmsync::mapi
