// The operations every item collection shares: list (with $filter on extended properties,
// $select, $top/$skip paging), create, get, update (If-Match), delete, and delta rounds with
// opaque tokens per mailbox and collection.
#include "service.hpp"

namespace graph_emulator {

namespace {

constexpr int kListPage = 10;
constexpr int kDeltaPage = 50;

const std::set<std::string> kServerManaged = {"id",
                                              "changeKey",
                                              "createdDateTime",
                                              "lastModifiedDateTime",
                                              "parentFolderId",
                                              "bodyLastModifiedDateTime"};

BodyRules rules_for(const KindInfo& k, bool patch) {
  BodyRules r;
  r.patch = patch;
  if (k.kind == "todoTask") {
    if (!patch) r.inline_navigation.insert("linkedResources");
  } else {
    r.inline_navigation.insert("singleValueExtendedProperties");
  }
  return r;
}

void strip(rapidjson::Document& d) {
  std::vector<std::string> drop;
  for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m) {
    std::string key = m->name.GetString();
    if (key.find('@') != std::string::npos || kServerManaged.count(key)) drop.push_back(key);
  }
  for (const auto& k : drop) d.RemoveMember(k.c_str());
}

std::string raw_query_without(const std::string& query, const std::set<std::string>& names) {
  std::string out;
  for (const auto& part : split(query, '&')) {
    if (part.empty()) continue;
    std::string key;
    emulator::percent_decode(part.substr(0, part.find('=')), key, true);
    key = lower(key);
    if (!key.empty() && key[0] != '$') key = "$" + key;
    if (names.count(key)) continue;
    out += (out.empty() ? "" : "&") + part;
  }
  return out;
}

emulator::Reply entity_reply(Ctx& c, Service& s, int status, const Item& it, const KindInfo& k,
                             bool linked = false) {
  RenderOptions o;
  o.context = true;
  o.context_url = context_url(c, k.segment + "/$entity");
  o.linked = linked;
  c.reply_headers.push_back({"ETag", "W/\"" + it.change_key + "\""});
  return json_reply(c, status, entity_json(c, s.csdl(), it, o));
}

// What an update may not change (the docs of each resource).
void check_patch(const KindInfo& k, rapidjson::Document& data, const rapidjson::Document& patch) {
  if (k.kind == "event") {
    // event.md: "After you set transactionId when creating an event, you cannot change
    // transactionId in a subsequent update."
    if (patch.HasMember("transactionId") &&
        (!patch["transactionId"].IsString() ||
         str_member(data, "transactionId") != patch["transactionId"].GetString()))
      throw bad_request("ErrorInvalidRequest",
                        "The transactionId of an event cannot be changed after it is created.");
    // event-update.md: updating location replaces the locations collection.
    if (patch.HasMember("location") && !patch.HasMember("locations"))
      data.RemoveMember("locations");
  }
  if (k.kind == "message" && data.HasMember("isDraft") && data["isDraft"].IsFalse()) {
    // message-update.md: body, subject, internetMessageId and replyTo are "Updatable only if
    // isDraft = true".
    for (const char* p : {"body", "subject", "internetMessageId", "replyTo"})
      if (patch.HasMember(p))
        throw bad_request("ErrorInvalidPropertyUpdateSentMessage",
                          std::string("The property '") + p +
                              "' can be updated only while the message is a draft.");
  }
}

}  // namespace

Item load_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id) {
  auto it = s.store().item(c.user.id, id);
  if (!it || it->kind != k.kind) throw not_found();
  return *it;
}

void merge_ext_props(rapidjson::Value& data, const rapidjson::Value& incoming,
                     rapidjson::Document::AllocatorType& a) {
  if (!data.HasMember("singleValueExtendedProperties")) {
    rapidjson::Value arr(rapidjson::kArrayType);
    data.AddMember("singleValueExtendedProperties", arr, a);
  }
  auto& have = data["singleValueExtendedProperties"];
  if (incoming.IsNull()) return;
  for (const auto& e : incoming.GetArray()) {
    std::string id = str_member(e, "id");
    if (id.empty() || !e.HasMember("value") || !e["value"].IsString())
      throw bad_request("ErrorInvalidProperty",
                        "An extended property needs an \"id\" and a string \"value\".");
    std::string key = canonical_ext_id(id);
    bool replaced = false;
    for (auto& h : have.GetArray())
      if (canonical_ext_id(str_member(h, "id")) == key) {
        h["value"].SetString(e["value"].GetString(), a);
        replaced = true;
      }
    if (!replaced) {
      rapidjson::Value v(rapidjson::kObjectType);
      v.AddMember("id", rapidjson::Value(id.c_str(), a), a);
      v.AddMember("value", rapidjson::Value(e["value"].GetString(), a), a);
      have.PushBack(v, a);
    }
  }
}

emulator::Reply page_reply(Ctx& c, Service& s, const std::string& context_tail,
                           const std::vector<Item>& hits) {
  std::size_t skip = c.q.has("$skip") ? std::stoul(c.q.get("$skip")) : 0;
  std::size_t page = c.q.has("$top")         ? std::stoul(c.q.get("$top"))
                     : c.q.max_page_size > 0 ? static_cast<std::size_t>(c.q.max_page_size)
                                             : kListPage;
  if (c.q.max_page_size > 0 && !c.q.has("$top"))
    c.reply_headers.push_back({"Preference-Applied", "odata.maxpagesize=" + std::to_string(page)});
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("@odata.context");
  w.String(context_url(c, context_tail).c_str());
  if (skip + page < hits.size() && page > 0) {
    std::string path = c.req.path.substr(6);
    std::string q = raw_query_without(c.req.query, {"$skip"});
    std::string next =
        c.base + path + "?" + q + (q.empty() ? "" : "&") + "%24skip=" + std::to_string(skip + page);
    w.Key("@odata.nextLink");
    w.String(next.c_str());
  }
  w.Key("value");
  w.StartArray();
  for (std::size_t i = skip; i < hits.size() && i < skip + page; ++i)
    render_item(w, c, s.csdl(), hits[i]);
  w.EndArray();
  w.EndObject();
  return json_reply(c, 200, sb.GetString());
}

// $orderby of one primitive property, asc (default) or desc; unset values sort first.
void order_by(const Ctx& c, Service& s, const KindInfo& k, std::vector<Item>& hits) {
  if (!c.q.has("$orderby")) return;
  auto words = split(trim(c.q.get("$orderby")), ' ');
  const CsdlProperty* p = nullptr;
  for (const auto* q : s.csdl().properties(k.kind))
    if (iequal(q->name, words[0]) && !q->collection && !q->navigation &&
        (q->type.rfind("Edm.", 0) == 0 || s.csdl().enum_type(q->type)))
      p = q;
  bool desc = words.size() == 2 && iequal(words[1], "desc");
  if (!p || words.size() > 2 || (words.size() == 2 && !desc && !iequal(words[1], "asc")))
    throw bad_request("ErrorInvalidUrlQuery",
                      "The emulator orders by one primitive property, asc or desc: '" +
                          c.q.get("$orderby") + "'.");
  auto key = [&](const Item& it) -> std::string {
    if (p->name == "createdDateTime") return format_utc(it.created_ms);
    if (p->name == "lastModifiedDateTime") return format_utc(it.modified_ms);
    rapidjson::Document d;
    d.Parse(it.data.c_str(), it.data.size());
    if (!d.HasMember(p->name.c_str()) || d[p->name.c_str()].IsNull()) return "";
    const auto& v = d[p->name.c_str()];
    if (v.IsString()) return lower(v.GetString());
    if (v.IsNumber()) {  // fixed width, so that text order is numeric order
      char buf[32];
      std::snprintf(buf, sizeof buf, "%020.6f", v.GetDouble() + 1e12);
      return buf;
    }
    return v.IsBool() && v.GetBool() ? "1" : "0";
  };
  std::stable_sort(hits.begin(), hits.end(), [&](const Item& a, const Item& b) {
    return desc ? key(b) < key(a) : key(a) < key(b);
  });
}

emulator::Reply list_items(Ctx& c, Service& s, const KindInfo& k, const Container& box) {
  c.q = parse_query(c.req, k.kind, s.csdl());
  std::vector<Item> all = s.store().items(c.user.id, k.kind, box.id);
  std::vector<Item> hits;
  for (auto& it : all) {
    rapidjson::Document d;
    d.Parse(it.data.c_str(), it.data.size());
    if (c.q.ext_filter && !ext_filter_matches(d, *c.q.ext_filter)) continue;
    if (c.q.time_filter && !time_filter_matches(it, d, *c.q.time_filter)) continue;
    if (k.kind == "event" && str_member(d, "type") == "exception") continue;  // not in /events
    hits.push_back(std::move(it));
  }
  order_by(c, s, k, hits);
  return page_reply(c, s, k.segment, hits);
}

emulator::Reply create_item(Ctx& c, Service& s, const KindInfo& k, const Container& box) {
  c.q = parse_query(c.req, k.kind, s.csdl());
  auto data = parse_body(c.req, s.csdl(), k.kind, rules_for(k, false));
  strip(data);
  Item it;
  it.id = new_item_id();
  it.user = c.user.id;
  it.kind = k.kind;
  it.parent = box.id;
  if (k.kind == "event") {
    it.tx = str_member(data, "transactionId");
    // user-post-events.md: a retried POST with the same transactionId does not create a
    // second event; the existing one is the answer.
    if (!it.tx.empty())
      if (auto existing = s.store().by_transaction(c.user.id, it.tx))
        return entity_reply(c, s, 201, *existing, k);
  }
  prepare_item(c, s, k, data, it, true);
  it.data = to_json(data);
  emulator::Db::Transaction t(s.store().db());
  s.store().insert(it);
  t.commit();
  return entity_reply(c, s, 201, it, k, true);
}

emulator::Reply get_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id) {
  c.q = parse_query(c.req, k.kind, s.csdl());
  Item it = load_item(c, s, k, id);
  return entity_reply(c, s, 200, it, k);
}

emulator::Reply patch_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id) {
  c.q = parse_query(c.req, k.kind, s.csdl());
  Item it = load_item(c, s, k, id);
  check_if_match(c.req, it);
  auto patch = parse_body(c.req, s.csdl(), k.kind, rules_for(k, true));
  strip(patch);
  rapidjson::Document data;
  data.Parse(it.data.c_str(), it.data.size());
  auto& a = data.GetAllocator();
  check_patch(k, data, patch);
  for (auto m = patch.MemberBegin(); m != patch.MemberEnd(); ++m) {
    std::string key = m->name.GetString();
    if (key == "singleValueExtendedProperties") {
      merge_ext_props(data, m->value, a);
      continue;
    }
    rapidjson::Value v;
    v.CopyFrom(m->value, a);
    put_value(data, key, v, a);
  }
  prepare_item(c, s, k, data, it, false);
  it.data = to_json(data);
  emulator::Db::Transaction t(s.store().db());
  s.store().update(it);
  t.commit();
  return entity_reply(c, s, 200, it, k);
}

emulator::Reply delete_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id) {
  Item it = load_item(c, s, k, id);
  check_if_match(c.req, it);
  emulator::Db::Transaction t(s.store().db());
  s.store().remove(it);
  if (k.kind == "event") {  // a series goes with its exceptions
    for (auto& other : s.store().items(c.user.id, "event", it.parent)) {
      rapidjson::Document d;
      d.Parse(other.data.c_str(), other.data.size());
      if (str_member(d, "type") == "exception" && str_member(d, "seriesMasterId") == it.id)
        s.store().remove(other);
    }
  }
  t.commit();
  auto r = json_reply(c, 204, "");
  r.content_type = "text/plain";
  return r;
}

std::string removed_entry(const std::string& type, const std::string& id) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("@odata.type");
  w.String(("#microsoft.graph." + type).c_str());
  w.Key("id");
  w.String(id.c_str());
  w.Key("@removed");
  w.StartObject();
  w.Key("reason");
  w.String("deleted");
  w.EndObject();
  w.EndObject();
  return sb.GetString();
}

DeltaRound begin_delta(Ctx& c, Service& s, const std::string& type, const std::string& collection,
                       const std::string& link_path, int& sync_state_faults) {
  c.q = parse_query(c.req, type, s.csdl());
  auto gone = [&] {
    GraphError e(410, "syncStateNotFound",
                 "The sync state generation is not found. The delta token is expired and data "
                 "must be synchronized again.");
    e.headers.push_back({"Location", c.base + link_path + "?$deltatoken="});
    return e;
  };
  DeltaRound r;
  bool delta_token = c.q.has("$deltatoken");
  if (delta_token || c.q.has("$skiptoken")) {
    std::string token = c.q.get(delta_token ? "$deltatoken" : "$skiptoken");
    if (sync_state_faults > 0) {
      --sync_state_faults;
      throw gone();
    }
    auto st = s.store().state(token);
    if (!st || st->user != c.user.id || st->collection != collection ||
        st->delta_token != delta_token)
      throw gone();
    r.params = st->params;
    r.from = delta_token ? st->to : st->from;
    r.to = delta_token ? s.store().seq() : st->to;
    r.after = delta_token ? st->to : st->after;
    // The initial request's options travel in the token; the Prefer headers are this request's.
    emulator::Request again = c.req;
    again.query = r.params;
    c.q = parse_query(again, type, s.csdl());
    r.initial = r.from == 0;
    return r;
  }
  r.initial = true;
  r.params = raw_query_without(c.req.query, {"$skiptoken", "$deltatoken"});
  r.to = s.store().seq();
  return r;
}

emulator::Reply finish_delta(Ctx& c, Service& s, const std::string& type,
                             const std::string& collection, const DeltaRound& round,
                             const std::vector<DeltaEntry>& entries, const std::string& link_path) {
  std::size_t page = c.q.has("$top")         ? std::stoul(c.q.get("$top"))
                     : c.q.max_page_size > 0 ? static_cast<std::size_t>(c.q.max_page_size)
                                             : kDeltaPage;
  if (page == 0) page = 1;
  if (c.q.max_page_size > 0)
    c.reply_headers.push_back(
        {"Preference-Applied", "odata.maxpagesize=" + std::to_string(c.q.max_page_size)});
  std::size_t n = 0;
  while (n < entries.size() && (n < page || entries[n].seq == entries[n - 1].seq)) ++n;
  DeltaState st;
  st.token = random_token(48);
  st.user = c.user.id;
  st.collection = collection;
  st.params = round.params;
  std::string link;
  if (n < entries.size()) {
    st.from = round.from;
    st.to = round.to;
    st.after = entries[n - 1].seq;
    link = c.base + link_path + "?$skiptoken=" + st.token;
  } else {
    st.from = st.to = st.after = round.to;
    st.delta_token = true;
    link = c.base + link_path + "?$deltatoken=" + st.token;
  }
  s.store().put_state(st);
  std::string body =
      "{\"@odata.context\":" +
      emulator::json_string(c.base + "$metadata#Collection(" + type + ")") + "," +
      emulator::json_string(st.delta_token ? "@odata.deltaLink" : "@odata.nextLink") + ":" +
      emulator::json_string(link) + ",\"value\":[";
  for (std::size_t i = 0; i < n; ++i) body += (i ? "," : "") + entries[i].json;
  body += "]}";
  return json_reply(c, 200, body);
}

emulator::Reply delta(Ctx& c, Service& s, const KindInfo& k, const Container& box,
                      const std::string& link_path, int& sync_state_faults) {
  std::string collection = k.kind + ":" + box.id;
  DeltaRound round = begin_delta(c, s, k.kind, collection, link_path, sync_state_faults);
  bool message = k.kind == "message";
  if (c.q.time_filter && (!message || c.q.time_filter->prop != "receivedDateTime" ||
                          (c.q.time_filter->op != "ge" && c.q.time_filter->op != "gt")))
    throw bad_request("ErrorInvalidUrlQuery",
                      "Change tracking takes only receivedDateTime ge|gt, on messages.");
  // message-delta.md: $filter only receivedDateTime ge|gt, $orderby only receivedDateTime desc
  // (taken; pages stay in change order), changeType created|updated|deleted.
  std::vector<const char*> unsupported{"$search", "$skip"};
  if (!message || c.q.ext_filter) unsupported.push_back("$filter");
  if (!message || !iequal(trim(c.q.get("$orderby")), "receivedDateTime desc"))
    unsupported.push_back("$orderby");
  for (const char* o : unsupported)
    if (c.q.has(o))
      throw bad_request("ErrorInvalidUrlQuery", std::string("The query option '") + o +
                                                    "' is not supported with change tracking "
                                                    "of this collection.");
  std::string change_type;
  for (const auto& [key, value] : c.q.params)
    if (iequal(key, "changeType")) change_type = lower(value);
  if (!change_type.empty() && (!message || (change_type != "created" && change_type != "updated" &&
                                            change_type != "deleted")))
    throw bad_request("ErrorInvalidUrlQuery",
                      "changeType takes created, updated or deleted (message delta only).");
  std::vector<DeltaEntry> entries;
  for (const auto& it : s.store().changed(c.user.id, k.kind, box.id, round.after, round.to)) {
    bool created = it.created_seq > round.from;
    if (!change_type.empty()) {
      std::string kind = it.deleted ? "deleted" : created ? "created" : "updated";
      if (kind != change_type) continue;
    }
    if (it.deleted) {
      if (!round.initial) entries.push_back({it.seq, removed_entry(k.kind, it.id)});
      continue;
    }
    if (c.q.time_filter) {
      rapidjson::Document d;
      d.Parse(it.data.c_str(), it.data.size());
      if (!time_filter_matches(it, d, *c.q.time_filter)) continue;
    }
    rapidjson::StringBuffer sb;
    Writer w(sb);
    render_item(w, c, s.csdl(), it);
    entries.push_back({it.seq, sb.GetString()});
  }
  return finish_delta(c, s, k.kind, collection, round, entries, link_path);
}

}  // namespace graph_emulator
