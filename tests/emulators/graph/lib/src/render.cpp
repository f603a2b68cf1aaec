// Items as Graph writes them: @odata.etag, id, then every structural property of the CSDL
// type (null or [] when unset, as the contact update sample shows), navigation properties
// only when expanded; times in UTC or in the Prefer: outlook.timezone zone.
#include <algorithm>

#include "service.hpp"
#include "tz.hpp"

namespace graph_emulator {

namespace {

bool is_task_time(const std::string& kind, const std::string& prop) {
  return kind == "todoTask" && (prop == "dueDateTime" || prop == "startDateTime" ||
                                prop == "reminderDateTime" || prop == "completedDateTime");
}

void write_zoned(Writer& w, const rapidjson::Value& v, const std::string& zone, bool convert) {
  if (!v.IsObject() || !v.HasMember("dateTime")) {
    w.Null();
    return;
  }
  std::string local = str_member(v, "dateTime");
  std::string from = str_member(v, "timeZone");
  if (from.empty()) from = "UTC";
  std::string to = zone.empty() ? "UTC" : zone;
  std::string out = convert ? utc_to_local(local_to_utc(local, from), to) : local;
  if (!convert && out.size() == 10) out += "T00:00:00.0000000";
  if (!convert && out.size() == 19) out += ".0000000";
  w.StartObject();
  w.Key("dateTime");
  w.String(out.c_str());
  w.Key("timeZone");
  w.String(to.c_str());
  w.EndObject();
}

// An itemBody in the Prefer: outlook.body-content-type of the request, when it asks one:
// HTML to text drops the markup; text to HTML is wrapped and escaped.
void write_body(Writer& w, const rapidjson::Value& v, const std::string& want) {
  std::string type = lower(str_member(v, "contentType"));
  if (!v.IsObject() || want.empty() || type == want || type.empty()) {
    v.Accept(w);
    return;
  }
  std::string content = str_member(v, "content"), out;
  if (want == "text") {
    bool tag = false;
    for (char ch : content) {
      if (ch == '<') tag = true;
      if (!tag) out += ch;
      if (ch == '>') tag = false;
    }
    out = trim(out);
  } else {
    for (char ch : content)
      out += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
    out = "<html><head></head><body>" + out + "</body></html>";
  }
  w.StartObject();
  w.Key("contentType");
  w.String(want.c_str());
  w.Key("content");
  w.String(out.c_str());
  w.EndObject();
}

}  // namespace

std::string context_url(const Ctx& c, const std::string& tail) {
  return c.base + "$metadata#users('" + url_encode(c.user.id) + "')/" + tail;
}

emulator::Reply json_reply(const Ctx& c, int status, std::string body) {
  auto r = emulator::Reply::json(status, std::move(body));
  r.content_type =
      "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; "
      "charset=utf-8";
  for (const auto& h : c.reply_headers) r.with(h.name, h.value);
  if (!c.q.body_type.empty())
    r.with("Preference-Applied", "outlook.body-content-type=\"" + c.q.body_type + "\"");
  return r;
}

void render_item(Writer& w, const Ctx& c, const Csdl& csdl, const Item& it,
                 const RenderOptions& o) {
  rapidjson::Document data;
  data.Parse(it.data.c_str(), it.data.size());
  if (!data.IsObject()) data.SetObject();
  const std::string& type = it.kind;
  auto selected = [&](const std::string& name) {
    return c.q.select.empty() ||
           std::find(c.q.select.begin(), c.q.select.end(), name) != c.q.select.end();
  };
  w.StartObject();
  if (o.context) {
    w.Key("@odata.context");
    w.String(o.context_url.c_str());
  }
  std::string etag = "W/\"" + it.change_key + "\"";
  w.Key("@odata.etag");
  w.String(etag.c_str());
  w.Key("id");
  w.String(it.id.c_str());
  int digits = type == "contact" ? 0 : 7;
  bool all_day =
      data.HasMember("isAllDay") && data["isAllDay"].IsBool() && data["isAllDay"].GetBool();
  for (const CsdlProperty* p : csdl.properties(type)) {
    const std::string& name = p->name;
    if (name == "id") continue;
    if (p->navigation) {
      if (name == "singleValueExtendedProperties" && c.q.expand_ext &&
          data.HasMember("singleValueExtendedProperties")) {
        std::vector<const rapidjson::Value*> shown;
        for (const auto& e : data["singleValueExtendedProperties"].GetArray()) {
          bool want = c.q.expand_ext_ids.empty();
          for (const auto& id : c.q.expand_ext_ids)
            want |= canonical_ext_id(id) == canonical_ext_id(str_member(e, "id"));
          if (want) shown.push_back(&e);
        }
        if (!shown.empty()) {
          w.Key(name.c_str());
          w.StartArray();
          for (const auto* e : shown) e->Accept(w);
          w.EndArray();
        }
      } else if (name == "linkedResources" && (c.q.expand_linked || o.linked)) {
        w.Key(name.c_str());
        if (data.HasMember("linkedResources"))
          data["linkedResources"].Accept(w);
        else {
          w.StartArray();
          w.EndArray();
        }
      }
      continue;
    }
    if (!selected(name)) continue;
    // event.md: transactionId "is only returned in a response payload if an app has set it".
    if (name == "transactionId" &&
        (!data.HasMember("transactionId") || data["transactionId"].IsNull()))
      continue;
    w.Key(name.c_str());
    if (name == "changeKey") {
      w.String(it.change_key.c_str());
    } else if (name == "createdDateTime") {
      w.String(format_utc(it.created_ms, digits).c_str());
    } else if (name == "lastModifiedDateTime" || name == "bodyLastModifiedDateTime") {
      w.String(format_utc(it.modified_ms, digits).c_str());
    } else if (name == "parentFolderId" && (type == "contact" || type == "message")) {
      w.String(it.parent.c_str());
    } else if (type == "event" && (name == "start" || name == "end") &&
               data.HasMember(name.c_str())) {
      write_zoned(w, data[name.c_str()], c.q.time_zone, !all_day);
    } else if ((name == "body" || name == "uniqueBody") && type != "todoTask" &&
               data.HasMember(name.c_str())) {
      write_body(w, data[name.c_str()], c.q.body_type);
    } else if (is_task_time(type, name) && data.HasMember(name.c_str())) {
      write_zoned(w, data[name.c_str()], c.q.time_zone, true);
    } else if (data.HasMember(name.c_str())) {
      data[name.c_str()].Accept(w);
    } else if (p->collection) {
      w.StartArray();
      w.EndArray();
    } else {
      w.Null();
    }
  }
  w.EndObject();
}

std::string entity_json(const Ctx& c, const Csdl& csdl, const Item& it, const RenderOptions& o) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  render_item(w, c, csdl, it, o);
  return sb.GetString();
}

}  // namespace graph_emulator
