// The mailbox's master category list.
#include "service.hpp"

namespace graph_emulator {

// /outlook/masterCategories[/{id}]: the mailbox's category list (outlookuser-list/post-
// mastercategories.md). displayName is unique (case-insensitively) and cannot change.
emulator::Reply master_categories(Ctx& c, Service& s, std::size_t at) {
  const auto& segs = c.segs;
  std::string ctx = context_url(c, "outlook/masterCategories");
  auto write = [&](const Category& cat, bool context) {
    rapidjson::StringBuffer sb;
    Writer w(sb);
    w.StartObject();
    if (context) {
      w.Key("@odata.context");
      w.String((ctx + "/$entity").c_str());
    }
    w.Key("id");
    w.String(cat.id.c_str());
    w.Key("displayName");
    w.String(cat.name.c_str());
    w.Key("color");
    w.String(cat.color.c_str());
    w.EndObject();
    return std::string(sb.GetString());
  };
  if (segs.size() == at) {
    if (c.method == "GET") {
      std::string body = "{\"@odata.context\":" + emulator::json_string(ctx) + ",\"value\":[";
      bool first = true;
      for (const auto& cat : s.store().categories(c.user.id)) {
        body += (first ? "" : ",") + write(cat, false);
        first = false;
      }
      return json_reply(c, 200, body + "]}");
    }
    if (c.method != "POST")
      throw GraphError(405, "BadRequest", "The OData request is not supported.");
    auto body = parse_body(c.req, s.csdl(), "outlookCategory", {});
    s.csdl().normalize_enums(body, "outlookCategory", body.GetAllocator());
    Category cat{new_guid(), c.user.id, trim(str_member(body, "displayName")),
                 str_member(body, "color")};
    if (cat.name.empty())
      throw bad_request("ErrorInvalidParameter", "The displayName of a category is required.");
    if (cat.color.empty()) cat.color = "none";
    if (s.store().category_named(c.user.id, cat.name))
      throw GraphError(409, "ErrorItemAlreadyExists",
                       "A category with the display name '" + cat.name + "' already exists.");
    s.store().put_category(cat);
    return json_reply(c, 201, write(cat, true));
  }
  if (segs.size() != at + 1)
    throw bad_request("BadRequest", "Resource not found for the segment '" + segs[at + 1] + "'.");
  auto cat = s.store().category(c.user.id, segs[at]);
  if (!cat) throw not_found();
  if (c.method == "GET") return json_reply(c, 200, write(*cat, true));
  if (c.method == "DELETE") {
    s.store().delete_category(c.user.id, cat->id);
    auto r = json_reply(c, 204, "");
    r.content_type = "text/plain";
    return r;
  }
  if (c.method != "PATCH")
    throw GraphError(405, "BadRequest", "The OData request is not supported.");
  auto body = parse_body(c.req, s.csdl(), "outlookCategory", {});
  s.csdl().normalize_enums(body, "outlookCategory", body.GetAllocator());
  if (body.HasMember("displayName") && str_member(body, "displayName") != cat->name)
    throw bad_request("ErrorInvalidParameter",
                      "The displayName of a category cannot be changed; only its color can.");
  if (body.HasMember("color")) cat->color = str_member(body, "color");
  s.store().put_category(*cat);
  return json_reply(c, 200, write(*cat, true));
}

}  // namespace graph_emulator
