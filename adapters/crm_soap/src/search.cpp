#include "search.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "crmsync/soap/xml.hpp"

namespace crmsync::crm_soap {
namespace {

// The primary name attribute of the entities a user sets as regarding (their primary id is
// the logical name + "id").
constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kPrimaryNames{{
    {"account", "name"},
    {"campaign", "name"},
    {"competitor", "name"},
    {"contact", "fullname"},
    {"contract", "title"},
    {"incident", "title"},
    {"invoice", "name"},
    {"lead", "fullname"},
    {"opportunity", "name"},
    {"quote", "name"},
    {"salesorder", "name"},
    {"systemuser", "fullname"},
}};

std::string_view primary_name(std::string_view entity) {
  for (const auto& [e, name] : kPrimaryNames)
    if (e == entity) return name;
  return {};
}

}  // namespace

Result<Query> name_search_query(const std::string& entity, const std::string& text,
                                std::size_t max) {
  const std::string_view name = primary_name(entity);
  if (name.empty())
    return Error::Invalid("cannot search " + entity.substr(0, 64) +
                          " records by name (account, contact, lead, opportunity, incident, ...)");
  if (text.empty() || text.size() > 200 || !soap::is_xml_text(text))
    return Error::Invalid("search text must be 1 to 200 characters of text");
  if (max < 1 || max > 50) return Error::Invalid("at most 1 to 50 records by name");
  std::string pattern = text;
  std::replace_if(
      pattern.begin(), pattern.end(), [](char c) { return c == '%' || c == '_' || c == '['; }, '_');
  Query q;
  q.entity = entity;
  q.columns = {entity + "id", std::string(name)};
  q.conditions = {{std::string(name), "Like", {"%" + pattern + "%"}, "d:string"}};
  q.order_ascending = {std::string(name), entity + "id"};
  q.page_size = static_cast<int>(max);
  q.page_number = 1;
  return q;
}

Result<std::vector<EntityRef>> read_name_search(const soap::Element& body,
                                                const std::string& entity) {
  auto page = parse_retrieve_multiple_any(body, entity + "id");
  if (!page.ok()) return page.error();
  const std::string name(primary_name(entity));
  std::vector<EntityRef> out;
  for (const auto& r : page->records) {
    auto it = r.attributes.find(name);
    const auto* text = it == r.attributes.end() ? nullptr : std::get_if<std::string>(&it->second);
    out.push_back(EntityRef{entity, r.id, text ? *text : std::string()});
  }
  return out;
}

}  // namespace crmsync::crm_soap
