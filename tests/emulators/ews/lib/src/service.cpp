#include "service.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "all_day.hpp"
#include "replies.hpp"
#include "util.hpp"

namespace ews_emulator {

namespace {

constexpr char kSyncStateKind = '\x04';
constexpr char kWatermarkKind = '\x05';
constexpr char kSubscriptionKind = '\x06';

const char* kServerVersion =
    "<h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"1\" MajorBuildNumber=\"2507\" "
    "MinorBuildNumber=\"6\" Version=\"V2017_07_11\" "
    "xmlns:h=\"http://schemas.microsoft.com/exchange/services/2006/types\" "
    "xmlns=\"http://schemas.microsoft.com/exchange/services/2006/types\" "
    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>";

std::string envelope(const std::string& body) {
  return std::string("<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"") + kSoapNs +
         "\"><s:Header>" + kServerVersion + "</s:Header><s:Body>" + body + "</s:Body></s:Envelope>";
}

std::string watermark(std::int64_t seq) {
  return make_opaque(kWatermarkKind, be64(static_cast<std::uint64_t>(seq)));
}

std::string item_id_xml(const Item& it, const char* element = "ItemId") {
  return fmt::format("<t:{} Id=\"{}\" ChangeKey=\"{}\"/>", element, it.id, change_key(it.cn));
}

std::string default_class(const std::string& kind) {
  if (kind == "Contact") return "IPM.Contact";
  if (kind == "Task") return "IPM.Task";
  if (kind == "CalendarItem") return "IPM.Appointment";
  if (kind == "DistributionList") return "IPM.DistList";
  return "IPM.Note";
}

std::string folder_class(const std::string& name) {
  if (name == "contacts") return "IPF.Contact";
  if (name == "calendar") return "IPF.Appointment";
  if (name == "tasks") return "IPF.Task";
  if (name == "notes") return "IPF.StickyNote";
  if (name == "journal") return "IPF.Journal";
  if (name == "root" || name == "msgfolderroot") return "";
  return "IPF.Note";
}

std::string folder_element(const std::string& name) {
  if (name == "contacts") return "ContactsFolder";
  if (name == "calendar") return "CalendarFolder";
  if (name == "tasks") return "TasksFolder";
  return "Folder";
}

bool as_bool(const std::string& s) {
  return s == "true" || s == "1";
}

Fault schema_fault(const XmlProblem& p) {
  Fault f;
  f.code = "ErrorSchemaValidation";
  f.faultstring = "The request failed schema validation: " + p.message;
  f.message = "The request failed schema validation.";
  f.message_xml = fmt::format(
      "<t:LineNumber>{}</t:LineNumber><t:LinePosition>{}</t:LinePosition>"
      "<t:Violation>{}</t:Violation>",
      p.line, p.column, esc(p.message));
  return f;
}

Fault simple_fault(const std::string& code, const std::string& message) {
  Fault f;
  f.code = code;
  f.faultstring = message;
  f.message = message;
  return f;
}

}  // namespace

// ------------------------------------------------------------------ envelopes

std::string Service::fault_envelope(const Fault& f) {
  std::string detail = fmt::format(
      "<e:ResponseCode xmlns:e=\"{0}\">{1}</e:ResponseCode><e:Message xmlns:e=\"{0}\">{2}"
      "</e:Message>",
      kENs, f.code, esc(f.message));
  if (!f.message_xml.empty())
    detail += fmt::format("<t:MessageXml xmlns:t=\"{}\">{}</t:MessageXml>", kTNs, f.message_xml);
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"{0}\"><s:Header>{5}"
      "</s:Header><s:Body><s:Fault>"
      "<faultcode xmlns:a=\"{1}\">a:{2}</faultcode><faultstring xml:lang=\"en-US\">{3}"
      "</faultstring><detail>{4}</detail></s:Fault></s:Body></s:Envelope>",
      kSoapNs, kTNs, f.code, esc(f.faultstring), detail, kServerVersion);
}

Fault Service::server_busy(int backoff_ms) {
  Fault f = simple_fault("ErrorServerBusy",
                         "The server cannot service this request right now. Try again later.");
  f.message_xml = fmt::format("<t:Value Name=\"BackOffMilliseconds\">{}</t:Value>", backoff_ms);
  return f;
}

SoapResult Service::handle(const std::string& body, const User& user, std::optional<int> busy_ms) {
  XmlProblem problem;
  DocPtr doc = parse_untrusted(body, problem);
  if (!doc) throw schema_fault(problem);
  xmlNode* env = xmlDocGetRootElement(doc.get());
  // Exchange checks the requested version before the schema: an unknown one is
  // ErrorInvalidServerVersion (clients such as exchangelib step down on it).
  if (xmlNode* v = child(child(env, kSoapNs, "Header"), kTNs, "RequestServerVersion")) {
    static const std::set<std::string> known = {
        "Exchange2007",     "Exchange2007_SP1", "Exchange2009", "Exchange2010",
        "Exchange2010_SP1", "Exchange2010_SP2", "Exchange2012", "Exchange2013",
        "Exchange2013_SP1", "Exchange2015",     "Exchange2016", "V2015_10_05",
        "V2016_01_06",      "V2016_04_13",      "V2016_07_13",  "V2016_10_10",
        "V2017_01_07",      "V2017_04_14",      "V2017_07_11"};
    if (!known.count(attr_or(v, "Version")))
      throw simple_fault("ErrorInvalidServerVersion", "The specified server version is invalid.");
  }
  if (auto invalid = schemas_.validate(doc.get())) throw schema_fault(*invalid);
  if (!is(env, kSoapNs, "Envelope"))
    throw schema_fault({"The root element must be a SOAP 1.1 Envelope.", env ? env->line : 1, 1});
  xmlNode* bodyel = child(env, kSoapNs, "Body");
  auto ops = elements(bodyel);
  if (ops.empty() || !ops[0]->ns ||
      std::string(reinterpret_cast<const char*>(ops[0]->ns->href)) != kMNs)
    throw schema_fault({"The SOAP Body must hold one EWS request element.", 1, 1});

  Ctx ctx{user, user.id, user.email, context_zone(env)};
  if (xmlNode* imp = child(child(env, kSoapNs, "Header"), kTNs, "ExchangeImpersonation")) {
    xmlNode* sid = child(imp, kTNs, "ConnectingSID");
    std::string who;
    for (const char* n : {"PrimarySmtpAddress", "SmtpAddress", "PrincipalName"})
      if (xmlNode* e = child(sid, kTNs, n)) who = text(e);
    auto target = who.empty() ? std::nullopt : store_.user_by_email(who);
    if (!target)
      throw simple_fault("ErrorNonExistentMailbox",
                         "The SMTP address has no mailbox associated with it.");
    ctx.mailbox = target->id;
    ctx.email = target->email;
  }

  SoapResult result;
  std::string op = local(ops[0]);
  if (busy_ms) {
    // The payload elements the schema requires even in an error message.
    static const std::map<std::string, std::string> payloads = {
        {"GetItem", "<m:Items/>"},
        {"CreateItem", "<m:Items/>"},
        {"UpdateItem", "<m:Items/>"},
        {"GetFolder", "<m:Folders/>"},
        {"SyncFolderItems",
         "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"},
        {"SyncFolderHierarchy",
         "<m:SyncState/><m:IncludesLastFolderInRange>true</m:IncludesLastFolderInRange>"},
    };
    auto p = payloads.find(op);
    std::string msg = fmt::format(
        "<m:{0}ResponseMessage ResponseClass=\"Error\"><m:MessageText>The server cannot service "
        "this request right now. Try again later.</m:MessageText><m:ResponseCode>ErrorServerBusy"
        "</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:MessageXml>"
        "<t:Value Name=\"BackOffMilliseconds\">{1}</t:Value></m:MessageXml>{2}"
        "</m:{0}ResponseMessage>",
        op, *busy_ms, p == payloads.end() ? "" : p->second);
    return SoapResult{envelope(wrap(op, msg)), std::nullopt};
  }
  emitted_ = false;
  store_.begin();
  try {
    result.body = envelope(dispatch(op, ops[0], ctx, result.stream));
    store_.commit();
  } catch (...) {
    store_.rollback();
    throw;
  }
  if (emitted_ && hook_) hook_();
  return result;
}

std::string Service::dispatch(const std::string& op, const xmlNode* req, const Ctx& ctx,
                              std::optional<StreamPlan>& stream) {
  if (op == "GetFolder") return get_folder(req, ctx);
  if (op == "FindFolder") return find_folder(req, ctx);
  if (op == "SyncFolderItems") return sync_folder_items(req, ctx);
  if (op == "SyncFolderHierarchy") return sync_folder_hierarchy(req, ctx);
  if (op == "FindItem") return find_item(req, ctx);
  if (op == "GetItem") return get_item(req, ctx);
  if (op == "CreateItem") return create_item(req, ctx);
  if (op == "UpdateItem") return update_item(req, ctx);
  if (op == "DeleteItem") return delete_item(req, ctx);
  if (op == "Subscribe") return subscribe(req, ctx);
  if (op == "GetEvents") return get_events(req, ctx);
  if (op == "GetStreamingEvents") return get_streaming_events(req, ctx, stream);
  if (op == "Unsubscribe") return unsubscribe(req, ctx);
  if (op == "ResolveNames") return resolve_names(req, ctx);
  if (op == "ConvertId") return convert_id(req, ctx);
  if (op == "GetUserConfiguration" || op == "CreateUserConfiguration" ||
      op == "UpdateUserConfiguration" || op == "DeleteUserConfiguration")
    return user_configuration(op, req, ctx);
  throw simple_fault("ErrorInvalidRequest",
                     "The operation " + op + " is not implemented by ews-emulator.");
}

// ------------------------------------------------------------------ helpers

Folder Service::resolve_folder(const xmlNode* el, const Ctx& ctx) {
  if (is(el, kTNs, "DistinguishedFolderId")) {
    std::int64_t mailbox = ctx.mailbox;
    if (xmlNode* mb = child(el, kTNs, "Mailbox")) {
      auto u = store_.user_by_email(child_text(mb, kTNs, "EmailAddress"));
      if (!u)
        throw ItemError{"ErrorNonExistentMailbox",
                        "The SMTP address has no mailbox associated with it."};
      mailbox = u->id;
    }
    auto f = store_.distinguished(mailbox, attr_or(el, "Id"));
    if (!f)
      throw ItemError{"ErrorFolderNotFound",
                      "The specified folder could not be found in the store."};
    return *f;
  }
  std::string id = attr_or(el, "Id");
  if (!open_opaque('\x01', id)) throw ItemError{"ErrorInvalidIdMalformed", "Id is malformed."};
  auto f = store_.folder(id);
  if (!f)
    throw ItemError{"ErrorFolderNotFound", "The specified folder could not be found in the store."};
  return *f;
}

Item Service::resolve_item(const xmlNode* el) {
  if (!is(el, kTNs, "ItemId"))
    throw ItemError{"ErrorInvalidOperation",
                    "ews-emulator supports only plain ItemId references (no occurrences)."};
  std::string id = attr_or(el, "Id");
  if (!open_opaque(kItemIdKind, id)) throw ItemError{"ErrorInvalidIdMalformed", "Id is malformed."};
  auto it = store_.item(id);
  if (!it) throw not_found();
  return *it;
}

std::string Service::email_of(std::int64_t mailbox) {
  for (const auto& u : store_.users())
    if (u.id == mailbox) return u.email;
  return {};
}

std::string Service::mailbox_xml(std::int64_t mailbox) {
  std::string email = email_of(mailbox);
  return fmt::format(
      "<t:Mailbox><t:Name>{0}</t:Name><t:EmailAddress>{0}</t:EmailAddress>"
      "<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>",
      esc(email));
}

ItemData Service::full_item(const Item& it) {
  ItemData d = load_item(it.xml);
  d.fields.push_back({"ItemId", item_id_xml(it)});
  d.fields.push_back({"ParentFolderId", folder_id_xml(it.folder, "ParentFolderId")});
  if (!d.find("ItemClass"))
    d.fields.push_back({"ItemClass", "<t:ItemClass>" + default_class(d.kind) + "</t:ItemClass>"});
  d.fields.push_back(
      {"DateTimeCreated", "<t:DateTimeCreated>" + it.created + "</t:DateTimeCreated>"});
  d.fields.push_back(
      {"LastModifiedTime", "<t:LastModifiedTime>" + it.modified + "</t:LastModifiedTime>"});
  if (d.kind == "CalendarItem" && !d.find("Organizer"))
    d.fields.push_back({"Organizer", "<t:Organizer>" + mailbox_xml(it.mailbox) + "</t:Organizer>"});
  sort_fields(d, schemas_);
  return d;
}

void Service::emit(std::int64_t mailbox, const char* type, const std::string& item, std::int64_t cn,
                   const std::string& folder, const std::string& old_item,
                   const std::string& old_folder) {
  store_.append_event(Event{0, mailbox, type, item, cn, folder, old_item, old_folder, now_utc()});
  emitted_ = true;
}

Item Service::save_new(ItemData data, const Folder& folder) {
  sort_fields(data, schemas_);
  Item it;
  it.id = make_opaque(kItemIdKind, random_bytes(18));
  it.mailbox = folder.mailbox;
  it.folder = folder.id;
  it.kind = data.kind;
  it.xml = store_xml(data);
  it.cn = store_.next_cn();
  it.created = it.modified = now_utc();
  store_.put_item(it);
  store_.record_fields(it.id, it.cn, {"*"});
  emit(it.mailbox, "CreatedEvent", it.id, it.cn, it.folder);
  return it;
}

std::string Service::render_folder(const Folder& f, const std::string& base) {
  std::string el = folder_element(f.name);
  std::string out = "<t:" + el + ">" + folder_id_xml(f.id);
  if (base != "IdOnly") {
    if (!f.parent.empty()) out += folder_id_xml(f.parent, "ParentFolderId");
    if (auto cls = folder_class(f.name); !cls.empty())
      out += "<t:FolderClass>" + cls + "</t:FolderClass>";
    out += "<t:DisplayName>" + esc(f.display) + "</t:DisplayName>";
    out += fmt::format("<t:TotalCount>{}</t:TotalCount>", store_.count_in(f.id));
    std::int64_t kids = 0;
    for (const auto& g : store_.folders(f.mailbox))
      if (g.parent == f.id) ++kids;
    out += fmt::format("<t:ChildFolderCount>{}</t:ChildFolderCount>", kids);
    if (el == "Folder" || el == "TasksFolder") {
      std::int64_t unread = 0;
      for (const auto& it : store_.items_in(f.id)) {
        auto d = load_item(it.xml);
        if (d.kind == "Message")
          if (auto* r = d.find("IsRead"); r && r->xml.find(">true<") == std::string::npos) ++unread;
      }
      out += fmt::format("<t:UnreadCount>{}</t:UnreadCount>", unread);
    }
  }
  return out + "</t:" + el + ">";
}

// ------------------------------------------------------------------ folders

std::string Service::get_folder(const xmlNode* req, const Ctx& ctx) {
  std::string base = child_text(child(req, kMNs, "FolderShape"), kTNs, "BaseShape");
  if (base == "IdOnly" && child(child(req, kMNs, "FolderShape"), kTNs, "AdditionalProperties"))
    base = "Default";
  std::string out;
  for (xmlNode* id : elements(child(req, kMNs, "FolderIds"))) {
    try {
      Folder f = resolve_folder(id, ctx);
      out += ok_msg("GetFolder", "<m:Folders>" + render_folder(f, base) + "</m:Folders>");
    } catch (const ItemError& e) {
      out += err_msg("GetFolder", e, "<m:Folders/>");
    }
  }
  return wrap("GetFolder", out);
}

std::string Service::find_folder(const xmlNode* req, const Ctx& ctx) {
  std::string base = child_text(child(req, kMNs, "FolderShape"), kTNs, "BaseShape");
  if (base == "IdOnly" && child(child(req, kMNs, "FolderShape"), kTNs, "AdditionalProperties"))
    base = "Default";
  bool deep = attr_or(req, "Traversal") == "Deep";
  std::string out;
  for (xmlNode* id : elements(child(req, kMNs, "ParentFolderIds"))) {
    try {
      Folder parent = resolve_folder(id, ctx);
      auto all = store_.folders(parent.mailbox);
      std::vector<Folder> found;
      std::function<void(const std::string&)> walk = [&](const std::string& pid) {
        for (const auto& f : all)
          if (f.parent == pid) {
            found.push_back(f);
            if (deep) walk(f.id);
          }
      };
      walk(parent.id);
      std::string folders;
      for (const auto& f : found) folders += render_folder(f, base);
      out +=
          ok_msg("FindFolder",
                 fmt::format("<m:RootFolder IndexedPagingOffset=\"{0}\" TotalItemsInView=\"{0}\" "
                             "IncludesLastItemInRange=\"true\"><t:Folders>{1}</t:Folders>"
                             "</m:RootFolder>",
                             found.size(), folders));
    } catch (const ItemError& e) {
      out += err_msg("FindFolder", e, "");
    }
  }
  return wrap("FindFolder", out);
}

// ------------------------------------------------------------------ sync

std::string Service::sync_folder_items(const xmlNode* req, const Ctx& ctx) {
  const char* op = "SyncFolderItems";
  std::string error_payload =
      "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>";
  try {
    Shape shape = parse_shape(child(req, kMNs, "ItemShape"));
    Folder folder = resolve_folder(elements(child(req, kMNs, "SyncFolderId")).at(0), ctx);
    std::string token = child_text(req, kMNs, "SyncState");
    int max = std::atoi(child_text(req, kMNs, "MaxChangesReturned").c_str());
    std::map<std::string, std::int64_t> known;
    if (!token.empty()) {
      auto state = open_opaque(kSyncStateKind, token) ? store_.sync_state(token) : std::nullopt;
      if (!state || state->first != folder.id)
        throw ItemError{"ErrorInvalidSyncStateData",
                        "Synchronization state data is corrupt or otherwise invalid."};
      std::size_t pos = 0;
      const std::string& data = state->second;
      while (pos < data.size()) {
        auto nl = data.find('\n', pos);
        std::string line = data.substr(pos, nl - pos);
        pos = nl == std::string::npos ? data.size() : nl + 1;
        auto sp = line.find(' ');
        if (sp != std::string::npos) known[line.substr(0, sp)] = std::atoll(line.c_str() + sp + 1);
      }
    }
    std::set<std::string> ignore;
    for (xmlNode* i : elements(child(req, kMNs, "Ignore"))) ignore.insert(attr_or(i, "Id"));

    struct Change {
      const char* kind;
      Item item;
    };
    std::vector<Change> changes;
    std::set<std::string> present;
    for (const auto& it : store_.items_in(folder.id)) {
      present.insert(it.id);
      auto k = known.find(it.id);
      if (k == known.end())
        changes.push_back({"Create", it});
      else if (k->second != it.cn)
        changes.push_back({"Update", it});
    }
    std::sort(changes.begin(), changes.end(),
              [](const Change& a, const Change& b) { return a.item.cn < b.item.cn; });
    std::vector<Change> deletes;
    for (const auto& [id, cn] : known)
      if (!present.count(id)) {
        Item gone;
        gone.id = id;
        deletes.push_back({"Delete", gone});
      }
    changes.insert(changes.begin(), deletes.begin(), deletes.end());

    std::string xml;
    int reported = 0;
    std::size_t i = 0;
    for (; i < changes.size(); ++i) {
      const Change& c = changes[i];
      bool silent = ignore.count(c.item.id) > 0;
      if (!silent && reported >= max) break;
      if (std::string(c.kind) == "Delete")
        known.erase(c.item.id);
      else
        known[c.item.id] = c.item.cn;
      if (silent) continue;
      ++reported;
      if (std::string(c.kind) == "Delete") {
        xml += "<t:Delete><t:ItemId Id=\"" + c.item.id + "\"/></t:Delete>";
      } else {
        xml += std::string("<t:") + c.kind + ">" + render_item(full_item(c.item), shape) +
               "</t:" + c.kind + ">";
      }
    }
    bool last = i == changes.size();
    std::string data;
    for (const auto& [id, cn] : known) data += id + " " + std::to_string(cn) + "\n";
    std::string next = make_opaque(kSyncStateKind, random_bytes(15));
    store_.put_sync_state(next, folder.id, data);
    return wrap(op,
                ok_msg(op, fmt::format("<m:SyncState>{}</m:SyncState><m:IncludesLastItemInRange>"
                                       "{}</m:IncludesLastItemInRange><m:Changes>{}</m:Changes>",
                                       next, last ? "true" : "false", xml)));
  } catch (const ItemError& e) {
    return wrap(op, err_msg(op, e, error_payload));
  }
}

std::string Service::sync_folder_hierarchy(const xmlNode* req, const Ctx& ctx) {
  const char* op = "SyncFolderHierarchy";
  try {
    std::string base = child_text(child(req, kMNs, "FolderShape"), kTNs, "BaseShape");
    if (base == "IdOnly" && child(child(req, kMNs, "FolderShape"), kTNs, "AdditionalProperties"))
      base = "Default";
    Folder top = *store_.distinguished(ctx.mailbox, "msgfolderroot");
    if (xmlNode* sf = child(req, kMNs, "SyncFolderId"))
      top = resolve_folder(elements(sf).at(0), ctx);
    std::string scope = "hierarchy:" + top.id;
    std::set<std::string> known;
    std::string token = child_text(req, kMNs, "SyncState");
    if (!token.empty()) {
      auto state = open_opaque(kSyncStateKind, token) ? store_.sync_state(token) : std::nullopt;
      if (!state || state->first != scope)
        throw ItemError{"ErrorInvalidSyncStateData",
                        "Synchronization state data is corrupt or otherwise invalid."};
      std::size_t pos = 0;
      while (pos < state->second.size()) {
        auto nl = state->second.find('\n', pos);
        known.insert(state->second.substr(pos, nl - pos));
        pos = nl == std::string::npos ? state->second.size() : nl + 1;
      }
    }
    // Folders below `top` (the tree is fixed: only creations on the first sync).
    auto all = store_.folders(top.mailbox);
    std::set<std::string> below{top.id};
    std::string xml, data;
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& f : all)
        if (below.count(f.parent) && !below.count(f.id)) {
          below.insert(f.id);
          grew = true;
          if (!known.count(f.id)) xml += "<t:Create>" + render_folder(f, base) + "</t:Create>";
          data += f.id + "\n";
        }
    }
    for (const auto& id : known)
      if (!below.count(id)) xml += "<t:Delete>" + folder_id_xml(id) + "</t:Delete>";
    std::string next = make_opaque(kSyncStateKind, random_bytes(15));
    store_.put_sync_state(next, scope, data);
    return wrap(op, ok_msg(op, "<m:SyncState>" + next +
                                   "</m:SyncState><m:IncludesLastFolderInRange>true"
                                   "</m:IncludesLastFolderInRange><m:Changes>" +
                                   xml + "</m:Changes>"));
  } catch (const ItemError& e) {
    return wrap(op, err_msg(op, e,
                            "<m:SyncState/><m:IncludesLastFolderInRange>true"
                            "</m:IncludesLastFolderInRange>"));
  }
}

// ------------------------------------------------------------------ find / get

namespace {

bool numeric(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

int compare_values(const std::string& a, const std::string& b) {
  double x, y;
  if (numeric(a, x) && numeric(b, y)) return x < y ? -1 : x > y ? 1 : 0;
  return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
}

std::optional<Path> first_path(const xmlNode* expr) {
  for (xmlNode* c : elements(expr))
    if (auto p = parse_path(c)) return p;
  return std::nullopt;
}

bool eval(const xmlNode* expr, const ItemData& item) {
  std::string op = local(expr);
  if (op == "And" || op == "Or") {
    bool any = false, all = true;
    for (xmlNode* c : elements(expr)) {
      bool r = eval(c, item);
      any = any || r;
      all = all && r;
    }
    return op == "And" ? all : any;
  }
  if (op == "Not") return !eval(elements(expr).at(0), item);
  auto path = first_path(expr);
  if (!path) throw ItemError{"ErrorUnsupportedQueryFilter", "The restriction is not supported."};
  auto value = value_at(item, *path);
  if (op == "Exists") return value.has_value();
  if (op == "Contains") {
    std::string needle = attr_or(child(expr, kTNs, "Constant"), "Value");
    if (!value) return false;
    std::string hay = *value;
    if (attr_or(expr, "ContainmentComparison").find("IgnoreCase") != std::string::npos) {
      hay = lower(hay);
      needle = lower(needle);
    }
    std::string mode = attr_or(expr, "ContainmentMode", "Substring");
    if (mode == "FullString") return hay == needle;
    if (mode == "Prefixed") return hay.rfind(needle, 0) == 0;
    return hay.find(needle) != std::string::npos;
  }
  xmlNode* oc = child(expr, kTNs, "FieldURIOrConstant");
  xmlNode* constant = child(oc, kTNs, "Constant");
  if (!constant)
    throw ItemError{"ErrorUnsupportedQueryFilter", "Only constant comparisons are supported."};
  std::string rhs = attr_or(constant, "Value");
  if (!value) return op == "IsNotEqualTo";
  int c = compare_values(*value, rhs);
  if (op == "IsEqualTo") return c == 0;
  if (op == "IsNotEqualTo") return c != 0;
  if (op == "IsGreaterThan") return c > 0;
  if (op == "IsGreaterThanOrEqualTo") return c >= 0;
  if (op == "IsLessThan") return c < 0;
  if (op == "IsLessThanOrEqualTo") return c <= 0;
  throw ItemError{"ErrorUnsupportedQueryFilter", "The restriction " + op + " is not supported."};
}

}  // namespace

std::string Service::find_item(const xmlNode* req, const Ctx& ctx) {
  const char* op = "FindItem";
  Shape shape = parse_shape(child(req, kMNs, "ItemShape"));
  std::string out;
  for (xmlNode* fid : elements(child(req, kMNs, "ParentFolderIds"))) {
    try {
      Folder folder = resolve_folder(fid, ctx);
      std::vector<ItemData> items;
      xmlNode* restriction = child(req, kMNs, "Restriction");
      xmlNode* calview = child(req, kMNs, "CalendarView");
      for (const auto& it : store_.items_in(folder.id)) {
        ItemData d = full_item(it);
        if (restriction && !eval(elements(restriction).at(0), d)) continue;
        if (calview) {
          Path start{Path::kField, "calendar:Start", "Start"},
              end{Path::kField, "calendar:End", "End"};
          auto s = value_at(d, start), e = value_at(d, end);
          if (!s || !e || *s >= attr_or(calview, "EndDate") || *e <= attr_or(calview, "StartDate"))
            continue;
        }
        items.push_back(std::move(d));
      }
      if (xmlNode* order = child(req, kMNs, "SortOrder")) {
        auto orders = elements(order);
        std::stable_sort(items.begin(), items.end(), [&](const ItemData& a, const ItemData& b) {
          for (xmlNode* fo : orders) {
            auto p = first_path(fo);
            if (!p) continue;
            int c = compare_values(value_at(a, *p).value_or(""), value_at(b, *p).value_or(""));
            if (c != 0) return attr_or(fo, "Order") == "Descending" ? c > 0 : c < 0;
          }
          return false;
        });
      }
      std::size_t total = items.size(), offset = 0, count = total;
      std::string attrs;
      if (xmlNode* view = child(req, kMNs, "IndexedPageItemView")) {
        std::size_t max =
            std::strtoul(attr_or(view, "MaxEntriesReturned", "1000").c_str(), nullptr, 10);
        std::size_t off = std::strtoul(attr_or(view, "Offset", "0").c_str(), nullptr, 10);
        if (attr_or(view, "BasePoint") == "End")
          off = off >= total ? 0 : total - off - std::min(max, total - off);
        offset = std::min(off, total);
        count = std::min(max, total - offset);
        attrs = fmt::format(" IndexedPagingOffset=\"{}\"", offset + count);
      } else if (xmlNode* cv = calview) {
        std::size_t max =
            std::strtoul(attr_or(cv, "MaxEntriesReturned", "1000000").c_str(), nullptr, 10);
        count = std::min(max, total);
      } else if (xmlNode* fr = child(req, kMNs, "FractionalPageItemView")) {
        std::size_t max =
            std::strtoul(attr_or(fr, "MaxEntriesReturned", "1000").c_str(), nullptr, 10);
        double num = std::atof(attr_or(fr, "Numerator", "0").c_str());
        double den = std::atof(attr_or(fr, "Denominator", "1").c_str());
        offset = den > 0 ? std::min(total, static_cast<std::size_t>(total * num / den)) : 0;
        count = std::min(max, total - offset);
        attrs = fmt::format(" NumeratorOffset=\"{}\" AbsoluteDenominator=\"{}\"", offset + count,
                            total);
      }
      bool last = offset + count >= total;
      std::string xml;
      for (std::size_t i = offset; i < offset + count; ++i) xml += render_item(items[i], shape);
      out += ok_msg(op, fmt::format("<m:RootFolder{} TotalItemsInView=\"{}\" "
                                    "IncludesLastItemInRange=\"{}\"><t:Items>{}</t:Items>"
                                    "</m:RootFolder>",
                                    attrs, total, last ? "true" : "false", xml));
    } catch (const ItemError& e) {
      out += err_msg(op, e, "");
    }
  }
  return wrap(op, out);
}

std::string Service::get_item(const xmlNode* req, const Ctx&) {
  const char* op = "GetItem";
  Shape shape = parse_shape(child(req, kMNs, "ItemShape"));
  std::string out;
  for (xmlNode* id : elements(child(req, kMNs, "ItemIds"))) {
    try {
      Item it = resolve_item(id);
      out += ok_msg(op, "<m:Items>" + render_item(full_item(it), shape) + "</m:Items>");
    } catch (const ItemError& e) {
      out += err_msg(op, e, "<m:Items/>");
    }
  }
  return wrap(op, out);
}

// ------------------------------------------------------------------ create

void Service::deliver(const ItemData& message, const Ctx& ctx) {
  std::set<std::string> recipients;
  for (const char* list : {"ToRecipients", "CcRecipients", "BccRecipients"}) {
    const Field* f = message.find(list);
    if (!f) continue;
    auto doc = parse_fragment(f->xml);
    xmlNode* l = elements(xmlDocGetRootElement(doc.get())).front();
    for (xmlNode* mb : children(l, kTNs, "Mailbox"))
      recipients.insert(lower(child_text(mb, kTNs, "EmailAddress")));
  }
  for (const auto& r : recipients) {
    auto u = store_.user_by_email(r);
    if (!u) continue;
    auto inbox = store_.distinguished(u->id, "inbox");
    if (!inbox) continue;
    ItemData copy = message;
    copy.set("IsRead", "<t:IsRead>false</t:IsRead>");
    copy.set("DateTimeReceived", "<t:DateTimeReceived>" + now_utc() + "</t:DateTimeReceived>");
    copy.erase("BccRecipients");
    Item it = save_new(copy, *inbox);
    emit(it.mailbox, "NewMailEvent", it.id, it.cn, it.folder);
  }
  (void)ctx;
}

std::string Service::create_item(const xmlNode* req, const Ctx& ctx) {
  const char* op = "CreateItem";
  auto disposition = attr(req, "MessageDisposition");
  auto invitations = attr(req, "SendMeetingInvitations");
  std::optional<Folder> saved;
  std::optional<ItemError> folder_error;
  if (xmlNode* sf = child(req, kMNs, "SavedItemFolderId")) {
    try {
      saved = resolve_folder(elements(sf).at(0), ctx);
    } catch (const ItemError& e) {
      folder_error = e;
    }
  }
  std::string out;
  for (xmlNode* el : elements(child(req, kMNs, "Items"))) {
    try {
      if (folder_error) throw *folder_error;
      ItemData data = item_from_request(el);
      std::string default_folder = "drafts";
      if (data.kind == "Contact" || data.kind == "DistributionList") default_folder = "contacts";
      if (data.kind == "Task") default_folder = "tasks";
      if (data.kind == "CalendarItem") {
        default_folder = "calendar";
        if (!invitations)
          throw ItemError{"ErrorSendMeetingInvitationsRequired",
                          "SendMeetingInvitations attribute is required for calendar items."};
      }
      bool is_message = data.kind == "Message";
      if (is_message && !disposition)
        throw ItemError{"ErrorMessageDispositionRequired",
                        "MessageDisposition attribute is required."};
      std::string d = disposition.value_or("SaveOnly");
      if (is_message && d != "SaveOnly") {
        data.set("IsDraft", "<t:IsDraft>false</t:IsDraft>");
        data.set("DateTimeSent", "<t:DateTimeSent>" + now_utc() + "</t:DateTimeSent>");
        if (!data.find("From"))
          data.set("From", "<t:From>" + mailbox_xml(ctx.mailbox) + "</t:From>");
        if (!data.find("InternetMessageId"))
          data.set("InternetMessageId", "<t:InternetMessageId>&lt;" +
                                            base64_encode(random_bytes(12)) +
                                            "@ews-emulator.invalid&gt;</t:InternetMessageId>");
        if (!data.find("IsRead")) data.set("IsRead", "<t:IsRead>true</t:IsRead>");
        sort_fields(data, schemas_);
        deliver(data, ctx);
        if (d == "SendAndSaveCopy") {
          Folder f = saved ? *saved : *store_.distinguished(ctx.mailbox, "sentitems");
          save_new(data, f);
        }
        // Exchange returns no item for sent messages.
        out += ok_msg(op, "<m:Items/>");
        continue;
      }
      if (is_message) {
        data.set("IsDraft", "<t:IsDraft>true</t:IsDraft>");
        if (!data.find("IsRead")) data.set("IsRead", "<t:IsRead>true</t:IsRead>");
      }
      snap_all_day(data, ctx.zone);
      Folder f = saved ? *saved : *store_.distinguished(ctx.mailbox, default_folder);
      Item it = save_new(data, f);
      out += ok_msg(
          op, "<m:Items><t:" + it.kind + ">" + item_id_xml(it) + "</t:" + it.kind + "></m:Items>");
    } catch (const ItemError& e) {
      out += err_msg(op, e, "<m:Items/>");
    }
  }
  return wrap(op, out);
}

// ------------------------------------------------------------------ update

std::string Service::update_item(const xmlNode* req, const Ctx& ctx) {
  const char* op = "UpdateItem";
  std::string resolution = attr_or(req, "ConflictResolution", "AutoResolve");
  auto meeting = attr(req, "SendMeetingInvitationsOrCancellations");
  std::string out;
  for (xmlNode* change : elements(child(req, kMNs, "ItemChanges"))) {
    try {
      xmlNode* idel = elements(change).at(0);
      Item it = resolve_item(idel);
      ItemData data = load_item(it.xml);
      if (data.kind == "CalendarItem" && !meeting)
        throw ItemError{"ErrorSendMeetingInvitationsOrCancellationsRequired",
                        "SendMeetingInvitationsOrCancellations attribute is required for "
                        "calendar items."};
      std::vector<std::pair<xmlNode*, Path>> updates;
      for (xmlNode* u : elements(child(change, kTNs, "Updates"))) {
        auto p = first_path(u);
        if (!p) throw ItemError{"ErrorInvalidPropertySet", "The property path is invalid."};
        updates.emplace_back(u, *p);
      }
      std::vector<std::string> keys;
      for (auto& [u, p] : updates) keys.push_back(p.key());
      if (auto ck = attr(idel, "ChangeKey")) {
        auto raw = open_opaque(kChangeKeyKind, *ck);
        if (!raw || raw->size() != 8)
          throw ItemError{"ErrorInvalidChangeKey", "The change key is invalid."};
        auto client_cn = static_cast<std::int64_t>(from_be64(*raw));
        if (client_cn != it.cn) {
          bool conflict = resolution == "NeverOverwrite" ||
                          (resolution == "AutoResolve" &&
                           (client_cn > it.cn || store_.changed_since(it.id, client_cn, keys) > 0));
          if (conflict)
            throw ItemError{"ErrorIrresolvableConflict",
                            "The change key passed in the request does not match the current "
                            "change key for the item."};
        }
      }
      for (auto& [u, p] : updates) {
        std::string kind = local(u);
        xmlNode* value = nullptr;
        for (xmlNode* c : elements(u))
          if (!parse_path(c)) value = c;
        if (kind == "SetItemField") {
          if (!value) throw ItemError{"ErrorInvalidPropertySet", "SetItemField needs an item."};
          set_field(data, p, value);
        } else if (kind == "AppendToItemField") {
          if (!value) throw ItemError{"ErrorInvalidPropertyAppend", "Append needs an item."};
          append_field(data, p, value);
        } else {
          delete_field(data, p);
        }
      }
      snap_all_day(data, ctx.zone);
      sort_fields(data, schemas_);
      it.xml = store_xml(data);
      it.cn = store_.next_cn();
      it.modified = now_utc();
      store_.put_item(it);
      store_.record_fields(it.id, it.cn, keys);
      emit(it.mailbox, "ModifiedEvent", it.id, it.cn, it.folder);
      out +=
          ok_msg(op, "<m:Items><t:" + it.kind + ">" + item_id_xml(it) + "</t:" + it.kind +
                         "></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>");
    } catch (const ItemError& e) {
      out += err_msg(op, e, "<m:Items/>");
    }
  }
  return wrap(op, out);
}

// ------------------------------------------------------------------ delete

std::string Service::delete_item(const xmlNode* req, const Ctx& ctx) {
  const char* op = "DeleteItem";
  std::string type = attr_or(req, "DeleteType");
  std::string out;
  for (xmlNode* id : elements(child(req, kMNs, "ItemIds"))) {
    try {
      Item it = resolve_item(id);
      if (it.kind == "CalendarItem" && !attr(req, "SendMeetingCancellations"))
        throw ItemError{"ErrorSendMeetingCancellationsRequired",
                        "SendMeetingCancellations attribute is required for calendar items."};
      if (it.kind == "Task" && !attr(req, "AffectedTaskOccurrences"))
        throw ItemError{"ErrorAffectedTaskOccurrencesRequired",
                        "AffectedTaskOccurrences attribute is required for task items."};
      auto trash = store_.distinguished(it.mailbox, "deleteditems");
      if (type == "MoveToDeletedItems" && trash && trash->id != it.folder) {
        // As in Exchange, the id names the item in its folder: a move gives a new id.
        std::string old_folder = it.folder, old_id = it.id;
        store_.delete_item(it.id);
        it.id = make_opaque(kItemIdKind, random_bytes(18));
        it.folder = trash->id;
        it.cn = store_.next_cn();
        it.modified = now_utc();
        store_.put_item(it);
        store_.record_fields(it.id, it.cn, {"*"});
        emit(it.mailbox, "MovedEvent", it.id, it.cn, it.folder, old_id, old_folder);
      } else {
        store_.delete_item(it.id);
        emit(it.mailbox, "DeletedEvent", it.id, store_.next_cn(), it.folder);
      }
      out += ok_msg(op, "");
    } catch (const ItemError& e) {
      out += err_msg(op, e, "");
    }
  }
  (void)ctx;
  return wrap(op, out);
}

// ------------------------------------------------------------------ notifications

bool Service::matches(const Subscription& s, const Event& e) const {
  if (e.mailbox != s.mailbox) return false;
  if (!s.types.count(e.type)) return false;
  return s.all_folders || s.folders.count(e.folder) || s.folders.count(e.old_folder);
}

std::string Service::event_xml(const Event& e, bool with_watermark) {
  std::string out = "<t:" + e.type + ">";
  if (with_watermark) out += "<t:Watermark>" + watermark(e.seq) + "</t:Watermark>";
  out += "<t:TimeStamp>" + e.ts + "</t:TimeStamp>";
  out += fmt::format("<t:ItemId Id=\"{}\" ChangeKey=\"{}\"/>", e.item, change_key(e.cn));
  out += folder_id_xml(e.folder, "ParentFolderId");
  if (!e.old_folder.empty()) {
    out += "<t:OldItemId Id=\"" + e.old_item + "\"/>";
    out += folder_id_xml(e.old_folder, "OldParentFolderId");
  }
  return out + "</t:" + e.type + ">";
}

std::string Service::subscribe(const xmlNode* req, const Ctx& ctx) {
  const char* op = "Subscribe";
  try {
    xmlNode* r = elements(req).at(0);
    std::string kind = local(r);
    if (kind == "PushSubscriptionRequest")
      throw ItemError{"ErrorInvalidSubscriptionRequest",
                      "Push subscriptions are not supported by ews-emulator."};
    Subscription s;
    s.id = make_opaque(kSubscriptionKind, random_bytes(18));
    s.mailbox = ctx.mailbox;
    s.streaming = kind == "StreamingSubscriptionRequest";
    s.all_folders = as_bool(attr_or(r, "SubscribeToAllFolders"));
    for (xmlNode* f : elements(child(r, kTNs, "FolderIds"))) {
      Folder folder = resolve_folder(f, ctx);
      s.folders.insert(folder.id);
      s.mailbox = folder.mailbox;
    }
    for (xmlNode* t : elements(child(r, kTNs, "EventTypes"))) s.types.insert(text(t));
    s.last_seq = store_.last_event_seq();
    if (xmlNode* wm = child(r, kTNs, "Watermark")) {
      auto raw = open_opaque(kWatermarkKind, text(wm));
      if (!raw || raw->size() != 8)
        throw ItemError{"ErrorInvalidWatermark", "The watermark is invalid."};
      s.last_seq = static_cast<std::int64_t>(from_be64(*raw));
    }
    if (xmlNode* t = child(r, kTNs, "Timeout")) s.timeout_minutes = std::atoi(text(t).c_str());
    s.last_use = std::chrono::steady_clock::now();
    std::string payload = "<m:SubscriptionId>" + s.id + "</m:SubscriptionId>";
    if (!s.streaming) payload += "<m:Watermark>" + watermark(s.last_seq) + "</m:Watermark>";
    subs_[s.id] = s;
    return wrap(op, ok_msg(op, payload));
  } catch (const ItemError& e) {
    return wrap(op, err_msg(op, e, ""));
  }
}

std::string Service::get_events(const xmlNode* req, const Ctx& ctx) {
  const char* op = "GetEvents";
  try {
    std::string id = child_text(req, kMNs, "SubscriptionId");
    auto it = subs_.find(id);
    if (it == subs_.end() || it->second.streaming || it->second.mailbox != ctx.mailbox) {
      if (it == subs_.end() || it->second.mailbox != ctx.mailbox)
        throw ItemError{"ErrorSubscriptionNotFound", "The specified subscription was not found."};
      throw ItemError{"ErrorInvalidSubscription",
                      "GetEvents cannot be used with a streaming subscription."};
    }
    Subscription& s = it->second;
    auto now = std::chrono::steady_clock::now();
    if (now - s.last_use > minute_ * s.timeout_minutes) {
      subs_.erase(it);
      throw ItemError{"ErrorExpiredSubscription", "The subscription has expired."};
    }
    s.last_use = now;
    auto raw = open_opaque(kWatermarkKind, child_text(req, kMNs, "Watermark"));
    if (!raw || raw->size() != 8)
      throw ItemError{"ErrorInvalidWatermark", "The watermark is invalid."};
    auto from = static_cast<std::int64_t>(from_be64(*raw));
    auto events = store_.events_after(s.mailbox, from, 200);
    std::string xml;
    int n = 0;
    std::int64_t last = from;
    bool more = false;
    for (const auto& e : events) {
      if (!matches(s, e)) {
        last = e.seq;
        continue;
      }
      if (n == 50) {
        more = true;
        break;
      }
      xml += event_xml(e, true);
      last = e.seq;
      ++n;
    }
    if (events.size() == 200 && !more) more = true;
    if (n == 0)
      xml = "<t:StatusEvent><t:Watermark>" + watermark(last) + "</t:Watermark></t:StatusEvent>";
    s.last_seq = last;
    return wrap(op, ok_msg(op, fmt::format("<m:Notification><t:SubscriptionId>{}</t:SubscriptionId>"
                                           "<t:PreviousWatermark>{}</t:PreviousWatermark>"
                                           "<t:MoreEvents>{}</t:MoreEvents>{}</m:Notification>",
                                           id, watermark(from), more ? "true" : "false", xml)));
  } catch (const ItemError& e) {
    return wrap(op, err_msg(op, e, ""));
  }
}

std::string Service::get_streaming_events(const xmlNode* req, const Ctx& ctx,
                                          std::optional<StreamPlan>& stream) {
  const char* op = "GetStreamingEvents";
  StreamPlan plan;
  std::string bad;
  for (xmlNode* s : elements(child(req, kMNs, "SubscriptionIds"))) {
    std::string id = text(s);
    auto it = subs_.find(id);
    if (it == subs_.end() || !it->second.streaming || it->second.mailbox != ctx.mailbox)
      bad += "<t:SubscriptionId>" + esc(id) + "</t:SubscriptionId>";
    else
      plan.subscriptions.push_back(id);
  }
  plan.timeout_minutes = std::atoi(child_text(req, kMNs, "ConnectionTimeout").c_str());
  if (!bad.empty())
    return wrap(
        op, err_msg(op, {"ErrorSubscriptionNotFound", "The specified subscription was not found."},
                    "<m:ErrorSubscriptionIds>" + bad + "</m:ErrorSubscriptionIds>"));
  stream = plan;
  return wrap(op, ok_msg(op, "<m:ConnectionStatus>OK</m:ConnectionStatus>"));
}

std::string Service::stream_events(const std::vector<std::string>& ids) {
  std::string notifications;
  for (const auto& id : ids) {
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    Subscription& s = it->second;
    std::string xml;
    for (;;) {
      auto events = store_.events_after(s.mailbox, s.last_seq, 200);
      for (const auto& e : events) {
        if (matches(s, e)) xml += event_xml(e, false);
        s.last_seq = e.seq;
      }
      if (events.size() < 200) break;
    }
    if (!xml.empty())
      notifications += "<m:Notification><t:SubscriptionId>" + id + "</t:SubscriptionId>" + xml +
                       "</m:Notification>";
  }
  if (notifications.empty()) return {};
  const char* op = "GetStreamingEvents";
  return envelope(wrap(op, ok_msg(op, "<m:Notifications>" + notifications + "</m:Notifications>")));
}

std::string Service::stream_status(const char* status) {
  const char* op = "GetStreamingEvents";
  return envelope(
      wrap(op, ok_msg(op, std::string("<m:ConnectionStatus>") + status + "</m:ConnectionStatus>")));
}

std::string Service::unsubscribe(const xmlNode* req, const Ctx& ctx) {
  const char* op = "Unsubscribe";
  std::string id = child_text(req, kMNs, "SubscriptionId");
  auto it = subs_.find(id);
  if (it == subs_.end() || it->second.mailbox != ctx.mailbox)
    return wrap(
        op, err_msg(op, {"ErrorSubscriptionNotFound", "The specified subscription was not found."},
                    ""));
  subs_.erase(it);
  emitted_ = true;  // wakes a stream of this subscription so it can close
  return wrap(op, ok_msg(op, ""));
}

// ------------------------------------------------------------------ directory

std::string Service::resolve_names(const xmlNode* req, const Ctx&) {
  const char* op = "ResolveNames";
  std::string entry = lower(child_text(req, kMNs, "UnresolvedEntry"));
  if (entry.rfind("smtp:", 0) == 0) entry = entry.substr(5);
  std::vector<User> found;
  for (const auto& u : store_.users())
    if (!entry.empty() && lower(u.email).rfind(entry, 0) == 0) found.push_back(u);
  if (found.empty())
    return wrap(op, err_msg(op, {"ErrorNameResolutionNoResults", "No results were found."}, ""));
  std::string set = fmt::format(
      "<m:ResolutionSet TotalItemsInView=\"{}\" "
      "IncludesLastItemInRange=\"true\">",
      found.size());
  for (const auto& u : found) set += "<t:Resolution>" + mailbox_xml(u.id) + "</t:Resolution>";
  set += "</m:ResolutionSet>";
  if (found.size() == 1) return wrap(op, ok_msg(op, set));
  return wrap(
      op, err_msg(op, {"ErrorNameResolutionMultipleResults", "Multiple results were found."}, set,
                  "Warning"));
}

std::string Service::convert_id(const xmlNode* req, const Ctx&) {
  const char* op = "ConvertId";
  std::string dest = attr_or(req, "DestinationFormat");
  std::string out;
  for (xmlNode* a : elements(child(req, kMNs, "SourceIds"))) {
    std::string id = attr_or(a, "Id");
    if (!open_opaque(kItemIdKind, id) && !open_opaque('\x01', id)) {
      out += err_msg(op, {"ErrorInvalidIdMalformed", "Id is malformed."}, "");
      continue;
    }
    out += ok_msg(op, fmt::format("<m:AlternateId xsi:type=\"t:AlternateIdType\" Format=\"{}\" "
                                  "Id=\"{}\" Mailbox=\"{}\"/>",
                                  esc(dest), esc(id), esc(attr_or(a, "Mailbox"))));
  }
  return wrap(op, out);
}

}  // namespace ews_emulator
