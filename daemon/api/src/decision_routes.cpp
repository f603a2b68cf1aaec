#include "decision_routes.hpp"

#include <rapidjson/document.h>

#include <cctype>
#include <set>

#include "crmsync/model/item.hpp"
#include "crmsync/model/text.hpp"

#include "json_out.hpp"

namespace crmsync::api {
namespace {

using json::key;
using json::str;
using json::Writer;
using Type = status::Decision::Type;

constexpr std::size_t kMaxEntryId = 512;  // EWS ids are ~150 characters, MAPI's ~140
constexpr std::size_t kMaxSearch = 200;
constexpr std::size_t kMaxIds = 1000;
constexpr std::int64_t kMaxItems = 1000;
constexpr std::int64_t kMaxCandidates = 50;

Routed reply(int status, const std::string& message) {
  Routed r;
  r.response = error_response(status, message);
  return r;
}

Routed defer(status::Decision d) {
  Routed r;
  r.defer = Routed::Defer::kDecision;
  r.decision = std::move(d);
  return r;
}

// Entry ids are opaque to us but a store's own alphabet: hex (mock, MAPI), base64 (EWS),
// base64url (Graph). Anything else is no item of any store.
bool valid_entry_id(const std::string& id) {
  if (id.empty() || id.size() > kMaxEntryId) return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '+' && c != '/' && c != '=' && c != '_' && c != '-') return false;
  return true;
}

// Text a user typed to search by: UTF-8 without control characters.
bool valid_text(const std::string& s) {
  if (s.size() > kMaxSearch || !is_valid_utf8(s)) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

bool valid_logical_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded: %XX and '+' for a space; nullopt when malformed.
std::optional<std::string> percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_digit(s[i + 1]);
      const int lo = hex_digit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// GET /v1/items?kind=K&search=TEXT&tracked=true|false&limit=N
Routed items(const QueryParams& params) {
  status::Decision d;
  d.type = Type::kItems;
  std::set<std::string> seen;
  for (const auto& [k, raw] : params) {
    if (!seen.insert(k).second) return reply(400, "parameter " + k.substr(0, 64) + " given twice");
    auto v = percent_decode(raw);
    if (!v) return reply(400, "parameter " + k.substr(0, 64) + " is not URL-encoded");
    if (k == "kind") {
      if (!parse_item_kind(*v).ok())
        return reply(400, "kind must be contact, task, appointment or email");
      d.kind = *v;
    } else if (k == "search") {
      if (!valid_text(*v))
        return reply(400,
                     "search must be UTF-8 text without control characters, at most 200 "
                     "bytes");
      d.text = *v;
    } else if (k == "tracked") {
      if (*v != "true" && *v != "false") return reply(400, "tracked must be true or false");
      d.tracked = *v == "true";
    } else if (k == "limit") {
      std::int64_t n = 0;
      if (!json::parse_int(*v, n) || n < 1 || n > kMaxItems)
        return reply(400, "limit must be an integer from 1 to " + std::to_string(kMaxItems));
      d.limit = static_cast<std::size_t>(n);
    } else {
      return reply(400, "unknown parameter " + k.substr(0, 64));
    }
  }
  return defer(std::move(d));
}

// GET /v1/regarding/candidates?search=TEXT&entity=account&limit=N
Routed candidates(const QueryParams& params) {
  status::Decision d;
  d.type = Type::kFindRegarding;
  d.limit = 20;
  std::set<std::string> seen;
  for (const auto& [k, raw] : params) {
    if (!seen.insert(k).second) return reply(400, "parameter " + k.substr(0, 64) + " given twice");
    auto v = percent_decode(raw);
    if (!v) return reply(400, "parameter " + k.substr(0, 64) + " is not URL-encoded");
    if (k == "search") {
      if (v->empty() || !valid_text(*v))
        return reply(400,
                     "search must be 1 to 200 bytes of UTF-8 text without control "
                     "characters");
      d.text = *v;
    } else if (k == "entity") {
      if (!valid_logical_name(*v))
        return reply(400, "entity must be a CRM logical name (a-z, 0-9, _)");
      d.entities = {*v};
    } else if (k == "limit") {
      std::int64_t n = 0;
      if (!json::parse_int(*v, n) || n < 1 || n > kMaxCandidates)
        return reply(400, "limit must be an integer from 1 to " + std::to_string(kMaxCandidates));
      d.limit = static_cast<std::size_t>(n);
    } else {
      return reply(400, "unknown parameter " + k.substr(0, 64));
    }
  }
  if (d.text.empty()) return reply(400, "search is required");
  if (d.entities.empty()) d.entities = {"account", "contact"};
  return defer(std::move(d));
}

// One key of a POST body: its name, what it holds, and whether it must be there.
struct Key {
  const char* name;
  enum Kind { kEntryId, kBool, kId, kIds, kKeep, kRegarding } kind;
  bool required;
};

// Reads the JSON object `body` into `d` by `keys`; the problem when it does not fit.
std::optional<std::string> read_body(const std::string& body, const std::vector<Key>& keys,
                                     status::Decision& d) {
  const bool blank = body.find_first_not_of(" \t\r\n") == std::string::npos;
  rapidjson::Document doc;
  if (!blank) doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (blank || doc.HasParseError() || !doc.IsObject()) {
    bool needed = false;
    for (const auto& k : keys) needed |= k.required;
    if (blank && !needed) return std::nullopt;
    return std::string("body must be a JSON object");
  }
  std::set<std::string> given;
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    std::string name(it->name.GetString(), it->name.GetStringLength());
    const Key* k = nullptr;
    for (const auto& c : keys)
      if (name == c.name) k = &c;
    if (k == nullptr) return "unknown key " + name.substr(0, 64);
    if (!given.insert(name).second) return "key " + name + " given twice";
    const auto& v = it->value;
    switch (k->kind) {
      case Key::kEntryId: {
        std::string s = v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : "";
        if (!valid_entry_id(s)) return name + " must be a store entry id";
        d.entry_id = std::move(s);
        break;
      }
      case Key::kBool:
        if (!v.IsBool()) return name + " must be true or false";
        d.delete_in_crm = v.GetBool();
        break;
      case Key::kId:
        if (!v.IsInt64() || v.GetInt64() < 1) return name + " must be a positive integer";
        d.id = v.GetInt64();
        break;
      case Key::kIds: {
        if (!v.IsArray() || v.Size() > kMaxIds)
          return name + " must be an array of at most " + std::to_string(kMaxIds) + " ids";
        std::set<std::int64_t> ids;
        for (const auto& e : v.GetArray()) {
          if (!e.IsInt64() || e.GetInt64() < 1) return name + " must hold positive integers";
          if (!ids.insert(e.GetInt64()).second) return name + " names an id twice";
          d.ids.push_back(e.GetInt64());
        }
        break;
      }
      case Key::kKeep: {
        std::string s = v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : "";
        if (s != "crm" && s != "mailbox" && s != "merged")
          return name + " must be crm, mailbox or merged";
        d.keep = std::move(s);
        break;
      }
      case Key::kRegarding: {
        std::string s = v.IsString() ? std::string(v.GetString(), v.GetStringLength()) : "";
        if (s.size() > 128 || !EntityRef::parse(s).ok())
          return name + " must be ENTITY:GUID (e.g. account:6f1c...)";
        d.regarding = std::move(s);
        break;
      }
    }
  }
  for (const auto& k : keys)
    if (k.required && !given.count(k.name)) return std::string(k.name) + " is required";
  return std::nullopt;
}

Routed post(Type type, const std::string& body, const std::vector<Key>& keys) {
  status::Decision d;
  d.type = type;
  if (auto problem = read_body(body, keys, d)) return reply(400, *problem);
  return defer(std::move(d));
}

}  // namespace

std::string deletions_json(const status::Snapshot& state) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const auto& h : state.deletions) {
    w.StartObject();
    key(w, "id");
    w.Int64(h.id);
    key(w, "entity");
    str(w, h.entity);
    key(w, "crm_id");
    str(w, h.crm_id);
    key(w, "entry_id");
    str(w, h.entry_id);
    key(w, "side");
    str(w, h.side);
    key(w, "change");
    str(w, h.change);
    key(w, "at");
    str(w, h.at.iso());
    w.EndObject();
  }
  w.EndArray();
  return std::string(buf.GetString(), buf.GetSize());
}

std::optional<Routed> route_decision(const std::string& path, const QueryParams& params,
                                     const std::string& body, const status::Snapshot& state) {
  if (path == "/v1/items") return items(params);
  if (path == "/v1/regarding/candidates") return candidates(params);
  if (path == "/v1/deletions") {
    if (!params.empty()) return reply(400, "no query parameters here");
    Routed r;
    r.response.body = deletions_json(state);
    return r;
  }
  struct PostRoute {
    const char* path;
    Type type;
    std::vector<Key> keys;
  };
  static const PostRoute kPosts[] = {
      {"/v1/items/track", Type::kTrack, {{"entry_id", Key::kEntryId, true}}},
      {"/v1/items/untrack",
       Type::kUntrack,
       {{"entry_id", Key::kEntryId, true}, {"delete_in_crm", Key::kBool, false}}},
      {"/v1/items/regarding",
       Type::kRegarding,
       {{"entry_id", Key::kEntryId, true}, {"regarding", Key::kRegarding, true}}},
      {"/v1/conflicts/resolve",
       Type::kResolveConflict,
       {{"id", Key::kId, true}, {"keep", Key::kKeep, true}}},
      {"/v1/deletions/confirm", Type::kConfirmDeletions, {{"ids", Key::kIds, false}}},
      {"/v1/deletions/reject", Type::kRejectDeletions, {{"ids", Key::kIds, false}}},
      {"/v1/errors/retry", Type::kRetryError, {{"id", Key::kId, true}}},
      {"/v1/errors/ignore", Type::kIgnoreError, {{"id", Key::kId, true}}},
  };
  for (const auto& p : kPosts) {
    if (path != p.path) continue;
    if (!params.empty()) return reply(400, "no query parameters here; send a JSON body");
    return post(p.type, body, p.keys);
  }
  return std::nullopt;
}

}  // namespace crmsync::api
