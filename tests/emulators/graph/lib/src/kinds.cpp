// What each kind of item adds on create and update (contacts, messages, To Do tasks; events
// are in events.cpp), To Do linked resources, folders and lists, and the master categories.
#include <regex>

#include "service.hpp"
#include "tz.hpp"

namespace graph_emulator {

namespace {

using Alloc = rapidjson::Document::AllocatorType;

bool has_value(const rapidjson::Value& d, const char* k) {
  return d.HasMember(k) && !d[k].IsNull();
}

void set_default(rapidjson::Value& d, const char* k, rapidjson::Value v, Alloc& a) {
  if (!has_value(d, k)) put_value(d, k, v, a);
}

rapidjson::Value str(const std::string& s, Alloc& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

// itemBody: contentType in the enum's spelling; HTML wrapped as Outlook stores it.
void normalize_body(rapidjson::Value& d, Alloc& a) {
  if (!has_value(d, "body")) return;
  auto& b = d["body"];
  if (lower(str_member(b, "contentType")) != "html") return;
  std::string content = str_member(b, "content");
  if (content.find("<html") == std::string::npos)
    put_string(b, "content", "<html><head></head><body>" + content + "</body></html>", a);
}

std::string preview(const rapidjson::Value& d) {
  std::string text = d.HasMember("body") ? str_member(d["body"], "content") : "";
  text = std::regex_replace(text, std::regex("<[^>]*>"), "");
  text = trim(text);
  return text.size() > 255 ? text.substr(0, 255) : text;
}

void check_task_time(const rapidjson::Value& d, const char* k) {
  if (!has_value(d, k)) return;
  std::string zone = str_member(d[k], "timeZone");
  local_to_utc(str_member(d[k], "dateTime"), zone.empty() ? "UTC" : zone);
}

void prepare_contact(rapidjson::Document& d, Alloc& a) {
  if (!has_value(d, "displayName")) {
    std::string name;
    for (const char* k : {"givenName", "middleName", "surname"}) {
      std::string part = str_member(d, k);
      if (!part.empty()) name += (name.empty() ? "" : " ") + part;
    }
    if (name.empty()) name = str_member(d, "companyName");
    put_string(d, "displayName", name, a);
  }
  if (!has_value(d, "fileAs")) put_string(d, "fileAs", "", a);
}

void prepare_message(rapidjson::Document& d, Alloc& a, bool create, const Item& it) {
  normalize_body(d, a);
  put_string(d, "bodyPreview", preview(d), a);
  if (!create) return;
  std::string now = format_utc(emulator::now_ms(), 0);
  set_default(d, "isDraft", rapidjson::Value(true), a);
  set_default(d, "isRead", rapidjson::Value(true), a);
  set_default(d, "importance", str("normal", a), a);
  set_default(d, "hasAttachments", rapidjson::Value(false), a);
  set_default(d, "isDeliveryReceiptRequested", rapidjson::Value(false), a);
  set_default(d, "isReadReceiptRequested", rapidjson::Value(false), a);
  set_default(d, "inferenceClassification", str("focused", a), a);
  set_default(d, "receivedDateTime", str(now, a), a);
  set_default(d, "sentDateTime", str(now, a), a);
  set_default(d, "conversationId", str("AAQkA" + random_token(30), a), a);
  set_default(d, "internetMessageId", str("<" + random_token(18) + "@emulator.local>", a), a);
  set_default(d, "webLink",
              str("https://outlook.office365.com/owa/?ItemID=" + url_encode(it.id), a), a);
  if (!has_value(d, "flag")) {
    rapidjson::Value f(rapidjson::kObjectType);
    f.AddMember("flagStatus", "notFlagged", a);
    put_value(d, "flag", f, a);
  }
}

void prepare_task(rapidjson::Document& d, Alloc& a, bool create) {
  for (const char* k : {"dueDateTime", "startDateTime", "reminderDateTime", "completedDateTime"})
    check_task_time(d, k);
  if (create) {
    set_default(d, "status", str("notStarted", a), a);
    set_default(d, "importance", str("normal", a), a);
    set_default(d, "isReminderOn", rapidjson::Value(false), a);
    set_default(d, "hasAttachments", rapidjson::Value(false), a);
    if (!has_value(d, "body")) {
      rapidjson::Value b(rapidjson::kObjectType);
      b.AddMember("content", "", a);
      b.AddMember("contentType", "text", a);
      put_value(d, "body", b, a);
    }
    if (has_value(d, "linkedResources"))
      for (auto& r : d["linkedResources"].GetArray()) put_string(r, "id", new_guid(), a);
  }
  // To Do sets completedDateTime when a task is completed and clears it when it is reopened.
  bool completed = str_member(d, "status") == "completed";
  if (completed && !has_value(d, "completedDateTime")) {
    rapidjson::Value t(rapidjson::kObjectType);
    std::string now = format_utc(emulator::now_ms());
    t.AddMember("dateTime", str(now.substr(0, now.size() - 1), a), a);
    t.AddMember("timeZone", "UTC", a);
    put_value(d, "completedDateTime", t, a);
  } else if (!completed && d.HasMember("completedDateTime")) {
    d.RemoveMember("completedDateTime");
  }
}

void write_container_value(Writer& w, const std::string& name, const Container& box, Service& s,
                           const std::string& upn) {
  auto count = [&](bool unread) {
    int n = 0;
    for (const auto& it : s.store().items(box.user, "message", box.id)) {
      if (!unread) {
        ++n;
        continue;
      }
      rapidjson::Document d;
      d.Parse(it.data.c_str(), it.data.size());
      if (d.HasMember("isRead") && d["isRead"].IsBool() && !d["isRead"].GetBool()) ++n;
    }
    return n;
  };
  if (name == "displayName" || name == "name") {
    w.String(box.name.c_str());
  } else if (name == "parentFolderId") {
    w.String(("AAMkA" + box.user + "-root").c_str());
  } else if (name == "wellknownListName") {
    w.String(box.wellknown == "defaultList" ? "defaultList" : "none");
  } else if (name == "isOwner" || name == "canEdit" || name == "canShare" ||
             name == "canViewPrivateItems" || name == "isDefaultCalendar" ||
             name == "isTallyingResponses") {
    w.Bool(true);
  } else if (name == "isShared" || name == "isRemovable" || name == "isHidden") {
    w.Bool(false);
  } else if (name == "childFolderCount") {
    w.Int(0);
  } else if (name == "totalItemCount") {
    w.Int(count(false));
  } else if (name == "unreadItemCount") {
    w.Int(count(true));
  } else if (name == "color") {
    w.String("auto");
  } else if (name == "hexColor") {
    w.String("");
  } else if (name == "changeKey") {
    w.String(("AAAA" + box.id.substr(5, 16)).c_str());
  } else if (name == "defaultOnlineMeetingProvider") {
    w.String("teamsForBusiness");
  } else if (name == "allowedOnlineMeetingProviders") {
    w.StartArray();
    w.String("teamsForBusiness");
    w.EndArray();
  } else if (name == "owner") {
    w.StartObject();
    w.Key("name");
    w.String(upn.c_str());
    w.Key("address");
    w.String(upn.c_str());
    w.EndObject();
  } else {
    w.Null();
  }
}

}  // namespace

void prepare_item(Ctx& c, Service& s, const KindInfo& k, rapidjson::Document& d, Item& it,
                  bool create) {
  auto& a = d.GetAllocator();
  s.csdl().normalize_enums(d, k.kind, a);
  if (create && d.HasMember("singleValueExtendedProperties")) {
    rapidjson::Value incoming;
    incoming.CopyFrom(d["singleValueExtendedProperties"], a);
    d.RemoveMember("singleValueExtendedProperties");
    merge_ext_props(d, incoming, a);
  }
  if (k.kind == "contact") prepare_contact(d, a);
  if (k.kind == "message") prepare_message(d, a, create, it);
  if (k.kind == "todoTask") prepare_task(d, a, create);
  if (k.kind == "event") {
    normalize_body(d, a);
    put_string(d, "bodyPreview", preview(d), a);
    prepare_event(c, d, create);
    if (create) {
      set_default(d, "iCalUId", str("040000008200E00074C5B7101A82E008" + random_token(24), a), a);
      set_default(d, "webLink",
                  str("https://outlook.office365.com/owa/?itemid=" + url_encode(it.id), a), a);
      rapidjson::Value org(rapidjson::kObjectType);
      rapidjson::Value email(rapidjson::kObjectType);
      email.AddMember("name", str(c.user.upn, a), a);
      email.AddMember("address", str(c.user.upn, a), a);
      org.AddMember("emailAddress", email, a);
      set_default(d, "organizer", std::move(org), a);
    }
  }
}

void render_container(Writer& w, const Ctx& c, const Container& box, Service& s) {
  w.StartObject();
  if (box.kind == "todoTaskList") {
    w.Key("@odata.etag");
    w.String(("W/\"" + box.id.substr(5, 22) + "\"").c_str());
  }
  w.Key("id");
  w.String(box.id.c_str());
  for (const CsdlProperty* p : s.csdl().properties(box.kind)) {
    if (p->name == "id" || p->navigation) continue;
    w.Key(p->name.c_str());
    write_container_value(w, p->name, box, s, c.user.upn);
  }
  w.EndObject();
}

// /todo/lists/{id}/tasks/{id}/linkedResources[/{id}]: list, create, get, update, delete. The
// resources live inside the task; a change is a change of the task (new change key, in delta).
emulator::Reply linked_resources(Ctx& c, Service& s, Item& task, std::size_t at) {
  const auto& segs = c.segs;
  rapidjson::Document d;
  d.Parse(task.data.c_str(), task.data.size());
  auto& a = d.GetAllocator();
  if (!d.HasMember("linkedResources")) {
    rapidjson::Value arr(rapidjson::kArrayType);
    d.AddMember("linkedResources", arr, a);
  }
  auto& list = d["linkedResources"];
  std::string ctx =
      context_url(c, "todo/lists('" + task.parent + "')/tasks('" + task.id + "')/linkedResources");
  auto save = [&] {
    task.data = to_json(d);
    emulator::Db::Transaction t(s.store().db());
    s.store().update(task);
    t.commit();
  };
  auto one = [&](const rapidjson::Value& r, int status) {
    rapidjson::Value copy;
    rapidjson::Document out;
    out.CopyFrom(r, out.GetAllocator());
    out.AddMember("@odata.context",
                  rapidjson::Value((ctx + "/$entity").c_str(), out.GetAllocator()),
                  out.GetAllocator());
    return json_reply(c, status, to_json(out));
  };
  if (segs.size() == at) {
    if (c.method == "GET") {
      return json_reply(c, 200,
                        "{\"@odata.context\":" + emulator::json_string(ctx) +
                            ",\"value\":" + to_json(list) + "}");
    }
    if (c.method != "POST")
      throw GraphError(405, "BadRequest", "The OData request is not supported.");
    auto body = parse_body(c.req, s.csdl(), "linkedResource", {});
    rapidjson::Value r;
    r.CopyFrom(body, a);
    r.RemoveMember("@odata.type");
    put_string(r, "id", new_guid(), a);
    list.PushBack(r, a);
    save();
    return one(list[list.Size() - 1], 201);
  }
  if (segs.size() != at + 1)
    throw bad_request("BadRequest", "Resource not found for the segment '" + segs[at + 1] + "'.");
  rapidjson::SizeType index = list.Size();
  for (rapidjson::SizeType i = 0; i < list.Size(); ++i)
    if (str_member(list[i], "id") == segs[at]) index = i;
  if (index == list.Size()) throw not_found();
  if (c.method == "GET") return one(list[index], 200);
  if (c.method == "DELETE") {
    list.Erase(list.Begin() + index);
    save();
    auto r = json_reply(c, 204, "");
    r.content_type = "text/plain";
    return r;
  }
  if (c.method != "PATCH")
    throw GraphError(405, "BadRequest", "The OData request is not supported.");
  auto body = parse_body(c.req, s.csdl(), "linkedResource", {});
  for (auto m = body.MemberBegin(); m != body.MemberEnd(); ++m) {
    std::string key = m->name.GetString();
    if (key == "id" || key.find('@') != std::string::npos) continue;
    rapidjson::Value v;
    v.CopyFrom(m->value, a);
    put_value(list[index], key, v, a);
  }
  save();
  return one(list[index], 200);
}

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
