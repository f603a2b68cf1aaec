// graph-emulator's own admin routes: users (and their bearer tokens), mail delivery for
// tests, and the fault keys of its own (sync_state_not_found, expire_delta_tokens).
#include "emulator/admin.hpp"
#include "service.hpp"

namespace graph_emulator {

void Service::admin_routes() {
  admin_.on("POST", "/admin/users", [this](const emulator::Request&, const rapidjson::Document& b) {
    auto upn = emulator::string_member(b, "upn");
    if (!upn || upn->find('@') == std::string::npos)
      return emulator::json_error(400, "\"upn\" (an e-mail address) is required");
    if (store_.user(*upn)) return emulator::json_error(409, "the user " + *upn + " exists");
    User u = store_.create_user(*upn);
    return emulator::Reply::json(200, "{\"id\":" + emulator::json_string(u.id) +
                                          ",\"token\":" + emulator::json_string(u.token) + "}\n");
  });

  // POST /admin/users/{upn|id}/deliver {"folder": "inbox"|"sentitems"|id, "message": {...}}:
  // a received (inbox) or sent (sentitems) message appears as if mail had flowed.
  admin_.on(
      "POST", "/admin/users/", [this](const emulator::Request& req, const rapidjson::Document& b) {
        auto parts = split(req.path.substr(13), '/');
        if (parts.size() != 2 || parts[1] != "deliver")
          return emulator::json_error(404, "unknown admin endpoint " + req.path);
        std::string who;
        emulator::percent_decode(parts[0], who, false);
        auto u = store_.user(who);
        if (!u) return emulator::json_error(404, "no user " + who);
        std::string folder = emulator::string_member(b, "folder").value_or("inbox");
        auto box = store_.container(u->id, "mailFolder", folder);
        if (!box) return emulator::json_error(404, "no mail folder " + folder);
        if (!b.HasMember("message") || !b["message"].IsObject())
          return emulator::json_error(400, "\"message\" (a Graph message object) is required");
        if (auto e = csdl_.check_body(b["message"], "message",
                                      {{"singleValueExtendedProperties"}, false}))
          return emulator::json_error(400, e->code + ": " + e->message);
        rapidjson::Document data;
        data.CopyFrom(b["message"], data.GetAllocator());
        auto& a = data.GetAllocator();
        std::string now = format_utc(emulator::now_ms(), 0);
        data.RemoveMember("@odata.type");
        if (!data.HasMember("receivedDateTime")) put_string(data, "receivedDateTime", now, a);
        if (!data.HasMember("sentDateTime")) put_string(data, "sentDateTime", now, a);
        rapidjson::Value f(false);
        put_value(data, "isDraft", f, a);
        if (!data.HasMember("isRead")) {
          rapidjson::Value r(box->wellknown == "sentitems");
          put_value(data, "isRead", r, a);
        }
        Item it;
        it.id = new_item_id();
        it.user = u->id;
        it.kind = "message";
        it.parent = box->id;
        emulator::Request fake;
        Ctx c{fake, "POST", "", "", {}, *u, {}, {}, {}};
        prepare_item(c, *this, kind_info("message"), data, it, true);
        it.data = to_json(data);
        store_.insert(it);
        return emulator::Reply::json(200, "{\"id\":" + emulator::json_string(it.id) + "}\n");
      });

  admin_.faults().extend(
      {[](const std::string& key, const rapidjson::Value& v) -> std::optional<std::string> {
         if (key == "sync_state_not_found") {
           if (!v.IsInt() || v.GetInt() < 0) return "\"" + key + "\" must be a count";
           return std::nullopt;
         }
         if (key == "expire_delta_tokens") {
           if (!v.IsBool()) return "\"" + key + "\" must be true or false";
           return std::nullopt;
         }
         return emulator::FaultInjector::kUnknown;
       },
       [this] { sync_state_faults_ = 0; },
       [this](const std::string& key, const rapidjson::Value& v) {
         if (key == "sync_state_not_found") sync_state_faults_ = v.GetInt();
         if (key == "expire_delta_tokens" && v.GetBool()) store_.drop_states();
       }});

  admin_.on_reset([this] {
    store_.reset();
    sync_state_faults_ = 0;
  });
}

}  // namespace graph_emulator
