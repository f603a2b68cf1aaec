// What each kind of item adds on create and update (contacts and messages here; To Do tasks
// in todo.cpp, events in events.cpp), and folders, calendars and lists as Graph writes them.
#include <regex>

#include "service.hpp"

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

}  // namespace graph_emulator
