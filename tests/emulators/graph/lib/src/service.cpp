#include "service.hpp"

#include <algorithm>

#include "emulator/admin.hpp"

namespace graph_emulator {

namespace {

const std::vector<KindInfo> kKinds = {
    {"contact", "contactFolder", "Contacts", "contacts"},
    {"event", "calendar", "Calendars", "events"},
    {"message", "mailFolder", "Mail", "messages"},
    {"todoTask", "todoTaskList", "Tasks", "tasks"},
};

// A path segment, decoded; "name('key')" is split into two segments, "delta()" is "delta".
std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& raw : split(path, '/')) {
    if (raw.empty()) continue;
    std::string s;
    if (!emulator::percent_decode(raw, s, false))
      throw bad_request("BadRequest", "Invalid percent-encoding in the segment '" + raw + "'.");
    auto open = s.find('(');
    if (open != std::string::npos && s.back() == ')') {
      std::string key = s.substr(open + 1, s.size() - open - 2);
      out.push_back(s.substr(0, open));
      if (key.size() >= 2 && key.front() == '\'' && key.back() == '\'')
        out.push_back(key.substr(1, key.size() - 2));
      else if (!key.empty())
        out.push_back(key);
      continue;
    }
    out.push_back(s);
  }
  return out;
}

GraphError method_not_allowed() {
  return GraphError(405, "BadRequest", "The OData request is not supported.");
}

GraphError no_segment(const std::string& s) {
  return bad_request("BadRequest", "Resource not found for the segment '" + s + "'.");
}

// The permission a request needs: "{scope}.Read" for GET, "{scope}.ReadWrite" otherwise.
void require_scope(const Ctx& c, const std::string& scope) {
  if (c.caller.all_scopes) return;
  bool read = c.method == "GET";
  for (const char* suffix : {".ReadWrite", ".ReadWrite.Shared", ".Read", ".Read.Shared"}) {
    std::string s = suffix;
    if (!read && s.find("ReadWrite") == std::string::npos) continue;
    bool shared = s.find("Shared") != std::string::npos;
    if (shared && !c.caller.app && c.caller.user && c.caller.user->id == c.user.id) continue;
    if (c.caller.scopes.count(scope + s)) return;
  }
  throw GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.");
}

}  // namespace

const KindInfo& kind_info(const std::string& kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return k;
  throw std::logic_error("no kind " + kind);
}

Service::Service(const Options& options, Store& store, const Csdl& csdl, emulator::Admin& admin,
                 std::optional<emulator::token::Authority> authority)
    : options_(options),
      store_(store),
      csdl_(csdl),
      admin_(admin),
      authority_(std::move(authority)) {
  admin_routes();
}

emulator::Reply Service::handle(const emulator::Request& req) {
  if (auto r = admin_.handle(req)) return *r;
  auto decision = admin_.faults().roll();
  emulator::Reply reply;
  std::string client_id = req.header("client-request-id");
  if (decision.kind == emulator::FaultInjector::Decision::kThrottle) {
    GraphError e(429, "TooManyRequests", "Please retry again later.");
    e.inner_code = "429";
    e.headers.push_back({"Retry-After", std::to_string(decision.retry_after_s)});
    reply = error_reply(e, client_id);
  } else if (decision.kind == emulator::FaultInjector::Decision::kError) {
    GraphError e(503, "serviceNotAvailable",
                 "The service is not available. Try the request again after a delay.");
    e.headers.push_back(
        {"Retry-After", std::to_string(decision.retry_after_s > 0 ? decision.retry_after_s : 1)});
    reply = error_reply(e, client_id);
  } else {
    reply = protocol(req);
    reply.drop = decision.drop;
  }
  reply.latency_ms = decision.latency_ms;
  reply.fault = decision.label();
  emulator::RequestLog::Entry entry{
      req.method,         req.target,  req.body, reply.drop ? 0 : reply.status,
      emulator::now_ms(), reply.fault, {}};
  entry.extra.push_back({"client_request_id", client_id});
  admin_.log().add(std::move(entry));
  return reply;
}

emulator::Reply Service::protocol(const emulator::Request& req) {
  std::string client_id = req.header("client-request-id");
  try {
    if (req.path.rfind("/v1.0/", 0) != 0 && req.path != "/v1.0")
      throw GraphError(404, "BadRequest",
                       "Invalid version: the emulator serves /v1.0/ only, not " + req.path);
    if (req.body.size() > 4u * 1024u * 1024u)
      throw GraphError(413, "RequestEntityTooLarge",
                       "The request body exceeds the maximum request length of 4 MB.");
    Caller caller = authenticate(req);
    std::string rest = req.path.substr(std::min<std::size_t>(req.path.size(), 6));
    if (rest == "$batch") {
      if (req.method != "POST") throw method_not_allowed();
      return batch(req, caller);
    }
    auto reply = graph(req, caller);
    return reply;
  } catch (const GraphError& e) {
    return error_reply(e, client_id);
  } catch (const std::exception& e) {
    return error_reply(GraphError(500, "InternalServerError", e.what()), client_id);
  }
}

Caller Service::authenticate(const emulator::Request& req) {
  std::string auth = req.header("Authorization");
  if (auth.size() < 7 || !iequal(auth.substr(0, 7), "Bearer ") || trim(auth.substr(7)).empty())
    throw GraphError(401, "InvalidAuthenticationToken", "Access token is empty.");
  std::string token = trim(auth.substr(7));
  Caller c;
  if (auto u = store_.user_by_token(token)) {
    c.user = *u;
    c.all_scopes = true;
    return c;
  }
  if (!authority_ || std::count(token.begin(), token.end(), '.') != 2)
    throw GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.");
  emulator::token::Expectations expect;
  expect.issuer = authority_->issuer;
  expect.audiences = {"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"};
  auto verdict = emulator::token::verify(token, authority_->keys, expect);
  if (!verdict)
    throw GraphError(401, "InvalidAuthenticationToken",
                     "Access token validation failure. " + verdict.error);
  c.app = verdict.caller.app;
  for (const auto& s : verdict.caller.scopes) c.scopes.insert(s);
  for (const auto& s : verdict.caller.roles) c.scopes.insert(s);
  if (!c.app) {
    // A user the emulator has not seen yet is created on first sight of a valid token.
    auto u = store_.user(verdict.caller.oid);
    if (!u && !verdict.caller.upn.empty()) u = store_.user(verdict.caller.upn);
    if (!u)
      u = store_.create_user(verdict.caller.upn.empty() ? verdict.caller.oid : verdict.caller.upn,
                             verdict.caller.oid);
    c.user = *u;
  }
  return c;
}

emulator::Reply Service::graph(const emulator::Request& req, const Caller& caller) {
  std::string host = req.header("Host");
  if (host.empty()) host = "127.0.0.1";
  Ctx c{req,    req.method, std::string(req.tls ? "https://" : "http://") + host + "/v1.0/",
        "",     {},         {},
        caller, {},         {}};
  auto segs = segments(req.path.substr(std::min<std::size_t>(req.path.size(), 6)));
  if (segs.empty()) throw no_segment("v1.0");
  std::size_t at = 0;
  if (iequal(segs[0], "me")) {
    if (!caller.user)
      throw bad_request("BadRequest",
                        "/me request is only valid with delegated authentication flow.");
    c.user = *caller.user;
    c.owner_path = "me";
    at = 1;
  } else if (iequal(segs[0], "users") && segs.size() >= 2) {
    auto u = store_.user(segs[1]);
    if (!u)
      throw GraphError(404, "ErrorInvalidUser", "The requested user '" + segs[1] + "' is invalid.");
    if (!caller.app && (!caller.user || caller.user->id != u->id))
      throw GraphError(403, "ErrorAccessDenied",
                       "Access is denied. Check credentials and try again.");
    c.user = *u;
    c.owner_path = "users/" + url_encode(segs[1]);
    at = 2;
  } else {
    throw no_segment(segs[0]);
  }
  c.segs.assign(segs.begin() + static_cast<long>(at), segs.end());
  for (auto& s : c.segs)  // collection and function names are case-insensitive
    if (s.size() < 30) {
      std::string l = lower(s);
      if (l == "contactfolders" || l == "contacts" || l == "calendar" || l == "events" ||
          l == "calendarview" || l == "todo" || l == "lists" || l == "tasks" ||
          l == "mailfolders" || l == "messages" || l == "delta" || l == "outlook" ||
          l == "mastercategories" || l == "linkedresources")
        s = l;
    }
  return route(c);
}

// GET /me, /users/{id}: the user's default properties (Graph's default set for a user).
emulator::Reply Service::user_entity(Ctx& c) {
  if (c.method != "GET") throw method_not_allowed();
  if (!c.caller.all_scopes) {
    bool ok = false;
    for (const char* scope : {"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All",
                              "User.ReadWrite.All", "Directory.Read.All"})
      ok |= c.caller.scopes.count(scope) != 0;
    if (!ok)
      throw GraphError(403, "Authorization_RequestDenied",
                       "Insufficient privileges to complete the operation.");
  }
  c.q = parse_query(c.req, "user", csdl_);
  auto selected = [&](const char* name) {
    return c.q.select.empty() ||
           std::find(c.q.select.begin(), c.q.select.end(), name) != c.q.select.end();
  };
  std::string local = c.user.upn.substr(0, c.user.upn.find('@'));
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("@odata.context");
  w.String((c.base + "$metadata#users/$entity").c_str());
  for (const char* name :
       {"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
        "officeLocation", "preferredLanguage", "surname", "userPrincipalName"}) {
    if (!selected(name)) continue;
    w.Key(name);
    std::string n = name;
    if (n == "businessPhones") {
      w.StartArray();
      w.EndArray();
    } else if (n == "displayName") {
      w.String(local.c_str());
    } else if (n == "mail" || n == "userPrincipalName") {
      w.String(c.user.upn.c_str());
    } else {
      w.Null();
    }
  }
  w.Key("id");
  w.String(c.user.id.c_str());
  w.EndObject();
  return json_reply(c, 200, sb.GetString());
}

emulator::Reply Service::route(Ctx& c) {
  const auto& s = c.segs;
  auto n = s.size();
  if (n == 0) return user_entity(c);
  auto item_ops = [&](const KindInfo& k, const std::string& id) {
    if (c.method == "GET") return get_item(c, *this, k, id);
    if (c.method == "PATCH") return patch_item(c, *this, k, id);
    if (c.method == "DELETE") return delete_item(c, *this, k, id);
    throw method_not_allowed();
  };
  auto collection_ops = [&](const KindInfo& k, const Container& box) {
    if (c.method == "GET") return list_items(c, *this, k, box);
    if (c.method == "POST") return create_item(c, *this, k, box);
    throw method_not_allowed();
  };
  auto box_of = [&](const std::string& kind, const std::string& key) {
    auto box = store_.container(c.user.id, kind, key);
    if (!box) throw not_found();
    return *box;
  };
  auto default_box = [&](const std::string& kind) {
    return store_.containers(c.user.id, kind).front();
  };
  auto only_get = [&] {
    if (c.method != "GET") throw method_not_allowed();
  };
  const std::string& head = s[0];

  if (head == "contactfolders" || head == "contacts") {
    const auto& k = kind_info("contact");
    require_scope(c, k.scope);
    Container box = default_box("contactFolder");
    std::size_t at = 1;
    if (head == "contactfolders") {
      if (n == 1) {
        only_get();
        c.q = parse_query(c.req, "contactFolder", csdl_);
        std::string body =
            "{\"@odata.context\":\"" + context_url(c, "contactFolders") + "\",\"value\":[";
        bool first = true;
        for (const auto& b : store_.containers(c.user.id, "contactFolder")) {
          rapidjson::StringBuffer sb;
          Writer w(sb);
          render_container(w, c, b, *this);
          body += (first ? "" : ",") + std::string(sb.GetString());
          first = false;
        }
        return json_reply(c, 200, body + "]}");
      }
      box = box_of("contactFolder", s[1]);
      if (n == 2) {
        only_get();
        rapidjson::StringBuffer sb;
        Writer w(sb);
        render_container(w, c, box, *this);
        return json_reply(c, 200, sb.GetString());
      }
      if (s[2] != "contacts") throw no_segment(s[2]);
      at = 3;
    }
    if (n == at) return collection_ops(k, box);
    if (s[at] == "delta" && n == at + 1) {
      only_get();
      std::string link = c.owner_path + "/contactfolders/" + box.id + "/contacts/delta";
      return delta(c, *this, k, box, link, sync_state_faults_);
    }
    if (n == at + 1) return item_ops(k, s[at]);
    throw no_segment(s[at + 1]);
  }

  if (head == "calendar" || head == "events" || head == "calendarview") {
    const auto& k = kind_info("event");
    require_scope(c, k.scope);
    Container box = default_box("calendar");
    std::size_t at = 1;
    if (head == "calendarview") {
      if (n == 1) {
        only_get();
        return calendar_view(c, *this, false, sync_state_faults_);
      }
      if (n == 2 && s[1] == "delta") {
        only_get();
        return calendar_view(c, *this, true, sync_state_faults_);
      }
      throw no_segment(s[1]);
    }
    if (head == "calendar") {
      if (n == 1) {
        only_get();
        rapidjson::StringBuffer sb;
        Writer w(sb);
        render_container(w, c, box, *this);
        return json_reply(c, 200, sb.GetString());
      }
      if (s[1] != "events") throw no_segment(s[1]);
      at = 2;
    }
    if (n == at) return collection_ops(k, box);
    if (n == at + 1) {
      if (is_occurrence_id(s[at])) return event_occurrence(c, *this, s[at]);
      return item_ops(k, s[at]);
    }
    if (n == at + 2 && lower(s[at + 1]) == "instances") {
      only_get();
      return event_instances(c, *this, s[at]);
    }
    throw no_segment(s[at + 1]);
  }

  if (head == "todo") {
    const auto& k = kind_info("todoTask");
    require_scope(c, k.scope);
    if (n < 2 || s[1] != "lists") throw no_segment(n < 2 ? "todo" : s[1]);
    if (n == 2) {
      if (c.method == "POST") {
        auto body = parse_body(c.req, csdl_, "todoTaskList", {});
        std::string name = str_member(body, "displayName");
        if (name.empty())
          throw bad_request("invalidRequest", "The displayName of a list is required.");
        auto box = store_.create_container(c.user.id, "todoTaskList", name);
        rapidjson::StringBuffer sb;
        Writer w(sb);
        render_container(w, c, box, *this);
        return json_reply(c, 201, sb.GetString());
      }
      only_get();
      std::string body = "{\"@odata.context\":\"" + context_url(c, "todo/lists") + "\",\"value\":[";
      bool first = true;
      for (const auto& b : store_.containers(c.user.id, "todoTaskList")) {
        rapidjson::StringBuffer sb;
        Writer w(sb);
        render_container(w, c, b, *this);
        body += (first ? "" : ",") + std::string(sb.GetString());
        first = false;
      }
      return json_reply(c, 200, body + "]}");
    }
    Container box = box_of("todoTaskList", s[2]);
    if (n == 3) {
      only_get();
      rapidjson::StringBuffer sb;
      Writer w(sb);
      render_container(w, c, box, *this);
      return json_reply(c, 200, sb.GetString());
    }
    if (s[3] != "tasks") throw no_segment(s[3]);
    if (n == 4) return collection_ops(k, box);
    if (s[4] == "delta" && n == 5) {
      only_get();
      std::string link = c.owner_path + "/todo/lists/" + box.id + "/tasks/delta";
      return delta(c, *this, k, box, link, sync_state_faults_);
    }
    if (n == 5) return item_ops(k, s[4]);
    if (s[5] != "linkedresources") throw no_segment(s[5]);
    Item task = load_item(c, *this, k, s[4]);
    if (task.parent != box.id) throw not_found();
    return linked_resources(c, *this, task, 6);
  }

  if (head == "mailfolders" || head == "messages") {
    const auto& k = kind_info("message");
    require_scope(c, k.scope);
    Container box = box_of("mailFolder", "drafts");
    std::size_t at = 1;
    bool all = head == "messages";
    if (head == "mailfolders") {
      if (n == 1 && c.method == "POST") {  // mailuser-post-mailfolders.md
        auto body = parse_body(c.req, csdl_, "mailFolder", {});
        std::string name = trim(str_member(body, "displayName"));
        if (name.empty())
          throw bad_request("ErrorInvalidRequest", "The displayName of a folder is required.");
        for (const auto& b : store_.containers(c.user.id, "mailFolder"))
          if (iequal(b.name, name))
            throw GraphError(409, "ErrorFolderExists",
                             "A folder with the specified name already exists.");
        auto box = store_.create_container(c.user.id, "mailFolder", name);
        rapidjson::StringBuffer sb;
        Writer w(sb);
        render_container(w, c, box, *this);
        return json_reply(c, 201, sb.GetString());
      }
      if (n == 1) {
        only_get();
        std::string body =
            "{\"@odata.context\":\"" + context_url(c, "mailFolders") + "\",\"value\":[";
        bool first = true;
        for (const auto& b : store_.containers(c.user.id, "mailFolder")) {
          rapidjson::StringBuffer sb;
          Writer w(sb);
          render_container(w, c, b, *this);
          body += (first ? "" : ",") + std::string(sb.GetString());
          first = false;
        }
        return json_reply(c, 200, body + "]}");
      }
      box = box_of("mailFolder", s[1]);
      if (n == 2) {
        only_get();
        rapidjson::StringBuffer sb;
        Writer w(sb);
        render_container(w, c, box, *this);
        return json_reply(c, 200, sb.GetString());
      }
      if (s[2] != "messages") throw no_segment(s[2]);
      at = 3;
    }
    if (n == at) {
      if (all && c.method == "GET") {
        Container any{"", c.user.id, "mailFolder", "", ""};
        return list_items(c, *this, k, any);
      }
      return collection_ops(k, box);
    }
    if (s[at] == "delta" && n == at + 1 && !all) {
      only_get();
      std::string link = c.owner_path + "/mailfolders('" + box.id + "')/messages/delta";
      return delta(c, *this, k, box, link, sync_state_faults_);
    }
    if (n == at + 1) return item_ops(k, s[at]);
    throw no_segment(s[at + 1]);
  }

  if (head == "outlook") {
    if (n < 2 || s[1] != "mastercategories") throw no_segment(n < 2 ? "outlook" : s[1]);
    require_scope(c, "MailboxSettings");
    return master_categories(c, *this, 2);
  }
  throw no_segment(head);
}

}  // namespace graph_emulator
