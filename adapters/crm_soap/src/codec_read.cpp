// Reading the Organization Service replies: codec.hpp's functions over a soap::Element tree,
// and the sync's pages read in place (read_entity_changes_reply, read_retrieve_multiple_reply),
// both through codec_read.hpp's templates.
#include <charconv>

#include "codec_read.hpp"
#include "xml_view.hpp"

namespace crmsync::crm_soap {
namespace read {

std::string trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return std::string(s);
}

Result<std::int64_t> parse_int(std::string_view what, const std::string& text) {
  std::string t = trim(text);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc{} || p != t.data() + t.size())
    return Error::Invalid(std::string(what) + ": \"" + t.substr(0, 40) + "\" is not a number");
  return v;
}

Result<bool> parse_bool(std::string_view what, const std::string& text) {
  std::string t = trim(text);
  if (t == "true" || t == "1") return true;
  if (t == "false" || t == "0") return false;
  return Error::Invalid(std::string(what) + ": \"" + t.substr(0, 40) + "\" is not a boolean");
}

Result<CrmId> parse_guid(std::string_view what, const std::string& text) {
  auto id = CrmId::parse(trim(text));
  if (!id.ok())
    return Error::Invalid(std::string(what) + ": \"" + text.substr(0, 40) + "\" is not a GUID");
  return id;
}

Result<CrmRecord> to_record(RawEntity raw) {
  auto entity = parse_crm_entity(raw.logical_name);
  if (!entity.ok())
    return Error::Invalid("unexpected entity \"" + raw.logical_name.substr(0, 60) + "\"");
  CrmRecord r;
  r.entity = *entity;
  const std::string pk =
      r.entity == CrmEntity::kContact ? std::string("contactid") : std::string("activityid");
  if (raw.id.is_nil()) {
    if (auto it = raw.attributes.find(pk); it != raw.attributes.end())
      if (const auto* s = std::get_if<std::string>(&it->second))
        if (auto id = CrmId::parse(*s); id.ok()) raw.id = *id;
  }
  if (raw.id.is_nil()) return Error::Invalid(raw.logical_name + " record without an id");
  r.id = raw.id;
  r.row_version = std::move(raw.row_version);
  raw.attributes.erase(pk);
  if (auto it = raw.attributes.find("modifiedon"); it != raw.attributes.end())
    if (const auto* t = std::get_if<UtcTime>(&it->second)) r.modified_on = *t;
  if (auto it = raw.attributes.find("ownerid"); it != raw.attributes.end())
    if (const auto* o = std::get_if<EntityRef>(&it->second)) r.owner = o->id;
  r.attributes = std::move(raw.attributes);
  return r;
}

void id_from_attribute(CrmId& id, const FieldMap& attributes, std::string_view primary_id) {
  if (!id.is_nil()) return;
  if (auto it = attributes.find(std::string(primary_id)); it != attributes.end())
    if (const auto* s = std::get_if<std::string>(&it->second))
      if (auto parsed = CrmId::parse(*s); parsed.ok()) id = *parsed;
}

}  // namespace read

using read::parse_guid;
using read::parse_int;
using soap::Element;

Result<const Element*> execute_result(const Element& body) {
  return read::execute_result(body);
}

const Element* result_value(const Element& result, std::string_view key) {
  return read::result_value(result, key);
}

Result<std::optional<Value>> read_value(const Element& v) {
  return read::read_value(v);
}

Result<CrmRecord> read_entity(const Element& entity) {
  auto raw = read::read_raw_entity(entity);
  if (!raw.ok()) return raw.error();
  return read::to_record(std::move(raw.value()));
}

Result<CrmIdentity> parse_who_am_i(const Element& body) {
  CrmIdentity out;
  for (auto [key, target] :
       {std::pair{"UserId", &out.user_id}, std::pair{"BusinessUnitId", &out.business_unit_id},
        std::pair{"OrganizationId", &out.organization_id}}) {
    auto v = read::required_value(body, key);
    if (!v.ok()) return v.error();
    auto id = parse_guid(key, (*v)->text());
    if (!id.ok()) return id.error();
    *target = *id;
  }
  return out;
}

Result<CrmRecord> parse_retrieve(const Element& body) {
  auto v = read::required_value(body, "Entity");
  if (!v.ok()) return v.error();
  return read_entity(**v);
}

Result<EntityPage> parse_retrieve_multiple(const Element& body) {
  return read::retrieve_multiple(body);
}

Result<AnyPage> parse_retrieve_multiple_any(const Element& body, std::string_view primary_id) {
  auto take = [&](read::RawEntity raw, AnyPage& page) -> Result<void> {
    AnyRecord r{std::move(raw.logical_name), raw.id, std::move(raw.attributes)};
    read::id_from_attribute(r.id, r.attributes, primary_id);
    if (r.id.is_nil()) return Error::Invalid(r.entity.substr(0, 60) + " record without an id");
    page.records.push_back(std::move(r));
    return Ok();
  };
  return read::read_collection<AnyPage>(body, take);
}

Result<CrmChangePage> parse_entity_changes(const Element& body) {
  return read::entity_changes(body);
}

Result<std::vector<CrmId>> parse_user_privileges(const Element& body) {
  auto v = read::required_value(body, "RolePrivileges");
  if (!v.ok()) return v.error();
  std::vector<CrmId> ids;
  for (const auto& rp : (*v)->children()) {
    const Element* pid = rp.child_any_ns("PrivilegeId");
    if (!pid) continue;
    auto id = parse_guid("PrivilegeId", pid->text());
    if (!id.ok()) return id.error();
    ids.push_back(*id);
  }
  return ids;
}

Result<std::vector<BatchItem>> parse_execute_multiple(const Element& body) {
  auto v = read::required_value(body, "Responses");
  if (!v.ok()) return v.error();
  std::vector<BatchItem> items;
  for (const auto& item : (*v)->children()) {
    BatchItem out;
    const Element* idx = item.child_any_ns("RequestIndex");
    if (!idx) return Error::Invalid("ExecuteMultipleResponseItem without RequestIndex");
    auto n = parse_int("RequestIndex", idx->text());
    if (!n.ok()) return n.error();
    if (*n < 0 || *n > 1'000'000) return Error::Invalid("RequestIndex out of range");
    out.index = static_cast<int>(*n);
    if (const Element* f = item.child_any_ns("Fault"); f && !f->nil()) {
      auto fault = soap::parse_organization_fault(*f);
      if (!fault.ok()) return fault.error();
      out.fault = std::move(fault.value());
    }
    items.push_back(std::move(out));
  }
  return items;
}

namespace {

// The reply's first Body element when it is no fault, read in place; nullopt for anything
// parse_envelope refuses or the general path reports as an error.
template <class Page, class Parse>
std::optional<Page> read_in_place(std::string_view xml, const soap::ParseLimits& limits,
                                  Parse parse) {
  auto doc = ViewDocument::open(xml, limits);
  if (!doc) return std::nullopt;
  XmlView root = doc->root();
  if (!root.is(soap::kSoapEnvNs, "Envelope")) return std::nullopt;
  auto body = root.child(soap::kSoapEnvNs, "Body");
  if (!body) return std::nullopt;
  auto children = body->children();
  auto first = children.begin();
  if (!(first != children.end())) return std::nullopt;  // an empty Body
  XmlView element = *first;
  if (element.is(soap::kSoapEnvNs, "Fault")) return std::nullopt;
  auto page = parse(element);
  if (!page.ok()) return std::nullopt;
  return std::move(page.value());
}

}  // namespace

std::optional<CrmChangePage> read_entity_changes_reply(std::string_view xml,
                                                       const soap::ParseLimits& limits) {
  return read_in_place<CrmChangePage>(
      xml, limits, [](const XmlView& body) { return read::entity_changes(body); });
}

std::optional<EntityPage> read_retrieve_multiple_reply(std::string_view xml,
                                                       const soap::ParseLimits& limits) {
  return read_in_place<EntityPage>(
      xml, limits, [](const XmlView& body) { return read::retrieve_multiple(body); });
}

}  // namespace crmsync::crm_soap
