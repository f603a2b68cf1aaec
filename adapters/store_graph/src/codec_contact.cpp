// Contacts: SPEC §7's fields on Graph's contact. Where Graph has no property (fax, pager, other
// and assistant's phones, government id, FTP site, the mailing address's post office box and
// the anniversary) the field lives in the MAPI property Outlook keeps it in, as EWS does.
#include <algorithm>

#include "codec.hpp"
#include "crmsync/model/mapping.hpp"

namespace crmsync::graph {
namespace {

struct TextProp {
  std::string_view store, graph;
};
constexpr TextProp kText[] = {
    {"FirstName", "givenName"},
    {"MiddleName", "middleName"},
    {"LastName", "surname"},
    {"NickName", "nickName"},
    {"Title", "title"},
    {"YomiFirstName", "yomiGivenName"},
    {"YomiLastName", "yomiSurname"},
    {"CompanyName", "companyName"},
    {"JobTitle", "jobTitle"},
    {"Department", "department"},
    {"ManagerName", "manager"},
    {"AssistantName", "assistantName"},
    {"Spouse", "spouseName"},
    {"WebPage", "businessHomePage"},
    {"Body", "personalNotes"},
    {"OfficeLocation", "officeLocation"},
    {"Profession", "profession"},
    {"MobileTelephoneNumber", "mobilePhone"},
};

// Entries of Graph's string collections, by position.
struct ListProp {
  std::string_view store, graph;
  std::size_t index;
};
constexpr ListProp kLists[] = {
    {"BusinessTelephoneNumber", "businessPhones", 0},
    {"Business2TelephoneNumber", "businessPhones", 1},
    {"HomeTelephoneNumber", "homePhones", 0},
    {"Home2TelephoneNumber", "homePhones", 1},
    {"IMAddress", "imAddresses", 0},
};
constexpr std::string_view kEmails[] = {"Email1Address", "Email2Address", "Email3Address"};

// businessAddress: the mailing address is the business address (as EWS and Outlook map it).
constexpr TextProp kAddress[] = {
    {"MailingAddressStreet", "street"},         {"MailingAddressCity", "city"},
    {"MailingAddressState", "state"},           {"MailingAddressCountry", "countryOrRegion"},
    {"MailingAddressPostalCode", "postalCode"},
};

// MAPI properties (text), as Graph's documentation spells their ids.
struct MapiProp {
  std::string_view store, id;
};
constexpr MapiProp kMapi[] = {
    {"BusinessFaxNumber", "String 0x3A24"},         // PidTagBusinessFaxNumber
    {"AssistantTelephoneNumber", "String 0x3A2E"},  // PidTagAssistantTelephoneNumber
    {"OtherTelephoneNumber", "String 0x3A1F"},      // PidTagOtherTelephoneNumber
    {"PagerNumber", "String 0x3A21"},               // PidTagPagerTelephoneNumber
    {"GovernmentIDNumber", "String 0x3A07"},        // PidTagGovernmentIdNumber
    {"FTPSite", "String 0x3A4C"},                   // PidTagFtpSite
    {"CarTelephoneNumber", "String 0x3A1E"},        // PidTagCarTelephoneNumber
    // PidLidWorkAddressPostOfficeBox (PSETID_Address 0x804A).
    {"MailingAddressPostOfficeBox", "String {00062004-0000-0000-C000-000000000046} Id 0x804A"},
};
// PidTagWeddingAnniversary; Outlook's "None" date (4501-01-01) clears it, since Graph cannot
// remove an extended property.
constexpr std::string_view kAnniversary = "SystemTime 0x3A41";
constexpr std::string_view kNoDate = "4501-01-01T00:00:00Z";

template <class T>
bool in(const T& table, std::string_view store) {
  return std::any_of(std::begin(table), std::end(table),
                     [&](const auto& e) { return e.store == store; });
}

bool known(std::string_view name) {
  return in(kText, name) || in(kLists, name) || in(kAddress, name) || in(kMapi, name) ||
         std::find(std::begin(kEmails), std::end(kEmails), name) != std::end(kEmails) ||
         name == "Birthday" || name == "Anniversary" || name == "Children";
}

bool any_changed(const std::set<std::string>& changed, std::initializer_list<std::string_view> f) {
  for (auto n : f)
    if (changed.count(std::string(n))) return true;
  return false;
}

Json nullable(const std::string& s, Alloc& a) {
  return s.empty() ? Json(rapidjson::kNullType) : str(s, a);
}

Result<void> write_list(const FieldMap& merged, std::string_view graph, FieldsOut out) {
  std::vector<std::string> entries;
  for (const auto& l : kLists) {
    if (l.graph != graph) continue;
    auto t = merged_text(merged, l.store);
    if (!t) return t.error();
    if (entries.size() <= l.index) entries.resize(l.index + 1);
    entries[l.index] = *t;
  }
  while (!entries.empty() && entries.back().empty()) entries.pop_back();
  Json arr(rapidjson::kArrayType);
  for (const auto& e : entries) arr.PushBack(str(e, out.alloc), out.alloc);
  put(out.body, graph, std::move(arr), out.alloc);
  return Ok();
}

}  // namespace

std::vector<std::string> contact_props() {
  std::vector<std::string> out;
  for (const auto& m : kMapi) out.emplace_back(m.id);
  out.emplace_back(kAnniversary);
  return out;
}

bool contact_in_props(std::string_view name) {
  return name == "Anniversary" || in(kMapi, name);
}

Result<void> write_contact(const FieldMap& merged, const std::set<std::string>& changed,
                           FieldsOut out) {
  auto& a = out.alloc;
  for (const auto& name : changed) {
    if (!known(name)) {
      if (is_known_store_field(ItemKind::kContact, name))
        return invalid_field(name, "not supported by the Graph store");
      return invalid_field(name, "unknown for a contact");
    }
  }
  for (const auto& t : kText) {
    if (!changed.count(std::string(t.store))) continue;
    auto v = merged_text(merged, t.store);
    if (!v) return v.error();
    put(out.body, t.graph, nullable(*v, a), a);
  }
  for (std::string_view list : {"businessPhones", "homePhones", "imAddresses"}) {
    bool touched = false;
    for (const auto& l : kLists)
      touched = touched || (l.graph == list && changed.count(std::string(l.store)));
    if (touched) CRMSYNC_TRY(write_list(merged, list, out));
  }
  if (any_changed(changed, {kEmails[0], kEmails[1], kEmails[2]})) {
    std::vector<std::string> addresses;
    for (auto name : kEmails) {
      auto t = merged_text(merged, name);
      if (!t) return t.error();
      addresses.push_back(*t);
    }
    while (!addresses.empty() && addresses.back().empty()) addresses.pop_back();
    Json arr(rapidjson::kArrayType);
    for (const auto& addr : addresses) {
      Json e(rapidjson::kObjectType);
      put(e, "address", str(addr, a), a);
      arr.PushBack(e, a);
    }
    put(out.body, "emailAddresses", std::move(arr), a);
  }
  bool address = false;
  for (const auto& p : kAddress) address = address || changed.count(std::string(p.store));
  if (address) {
    Json addr(rapidjson::kObjectType);
    for (const auto& p : kAddress) {
      auto t = merged_text(merged, p.store);
      if (!t) return t.error();
      if (!t->empty()) put(addr, p.graph, str(*t, a), a);
    }
    put(out.body, "businessAddress", std::move(addr), a);
  }
  if (changed.count("Birthday")) {
    const Value* v = field(merged, "Birthday");
    if (empty_value(v)) {
      put(out.body, "birthday", Json(rapidjson::kNullType), a);
    } else if (const auto* d = std::get_if<Date>(v)) {
      put(out.body, "birthday", str(date_wire(*d), a), a);
    } else {
      return invalid_field("Birthday", "expected a date");
    }
  }
  if (changed.count("Anniversary")) {
    const Value* v = field(merged, "Anniversary");
    if (empty_value(v))
      out.props.emplace_back(std::string(kAnniversary), std::string(kNoDate));
    else if (const auto* d = std::get_if<Date>(v))
      out.props.emplace_back(std::string(kAnniversary), date_wire(*d));
    else
      return invalid_field("Anniversary", "expected a date");
  }
  if (changed.count("Children")) {
    auto t = merged_text(merged, "Children");
    if (!t) return t.error();
    Json arr(rapidjson::kArrayType);
    if (!t->empty()) arr.PushBack(str(*t, a), a);
    put(out.body, "children", std::move(arr), a);
  }
  for (const auto& m : kMapi) {
    if (!changed.count(std::string(m.store))) continue;
    auto t = merged_text(merged, m.store);
    if (!t) return t.error();
    out.props.emplace_back(std::string(m.id), *t);
  }
  return Ok();
}

Result<FieldMap> read_contact(const Json& v, const Props& props) {
  FieldMap out;
  auto set_text = [&](std::string_view name, std::string t) {
    if (!t.empty()) out[std::string(name)] = std::move(t);
  };
  for (const auto& t : kText) {
    auto s = opt_text(v, t.graph);
    if (!s) return s.error();
    if (*s) set_text(t.store, **s);
  }
  for (std::string_view list : {"businessPhones", "homePhones", "imAddresses"}) {
    auto entries = text_list(v, list);
    if (!entries) return entries.error();
    for (const auto& l : kLists)
      if (l.graph == list && l.index < entries->size()) set_text(l.store, (*entries)[l.index]);
  }
  if (const Json* emails = member(v, "emailAddresses"); emails && !emails->IsNull()) {
    if (!emails->IsArray()) return Error::Invalid("'emailAddresses' is not an array");
    std::size_t i = 0;
    for (const auto& e : emails->GetArray()) {
      if (i < 3) set_text(kEmails[i], text(e, "address"));
      ++i;
    }
  }
  if (const Json* addr = member(v, "businessAddress"); addr && addr->IsObject())
    for (const auto& p : kAddress) set_text(p.store, text(*addr, p.graph));
  if (auto b = opt_text(v, "birthday"); !b) {
    return b.error();
  } else if (*b && !(*b)->empty()) {
    auto d = date_from_wire("Birthday", **b);
    if (!d) return d.error();
    out["Birthday"] = *d;
  }
  if (auto it = props.find(canonical_prop(kAnniversary));
      it != props.end() && !it->second.empty()) {
    auto d = date_from_wire("Anniversary", it->second);
    if (!d) return d.error();
    if (d->year < 4500) out["Anniversary"] = *d;
  }
  auto children = text_list(v, "children");
  if (!children) return children.error();
  std::string joined;
  for (const auto& c : *children) {
    if (c.empty()) continue;
    joined += (joined.empty() ? "" : ", ") + c;
  }
  set_text("Children", joined);
  for (const auto& m : kMapi)
    if (auto it = props.find(canonical_prop(m.id)); it != props.end())
      set_text(m.store, it->second);
  return out;
}

}  // namespace crmsync::graph
