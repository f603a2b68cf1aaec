// graph-emulator's request handling: auth, faults, routing of /v1.0/{me|users/{id}}/...,
// $batch, and the resources (contacts, calendar, To Do, mail, master categories).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "csdl.hpp"
#include "emulator/admin.hpp"
#include "emulator/http.hpp"
#include "emulator/token_check.hpp"
#include "graph_emulator/server.hpp"
#include "store.hpp"
#include "util.hpp"

namespace graph_emulator {

// One kind of Outlook item the emulator serves.
struct KindInfo {
  std::string kind;       // store kind and CSDL type: contact, event, message, todoTask
  std::string container;  // contactFolder, calendar, mailFolder, todoTaskList
  std::string scope;      // Contacts, Calendars, Mail, Tasks (+ .Read / .ReadWrite)
  std::string segment;    // the collection's segment in @odata.context: contacts, events, ...
};
const KindInfo& kind_info(const std::string& kind);

// The parsed query options and Prefer header of one request.
struct Query {
  std::map<std::string, std::string> params;  // decoded; $-options keyed in lower case
  std::vector<std::string> select;            // $select
  bool expand_ext = false;                    // $expand=singleValueExtendedProperties(...)
  std::vector<std::string> expand_ext_ids;    // its $filter=id eq '...' (or ...) ids
  bool expand_linked = false;                 // $expand=linkedResources
  // $filter=singleValueExtendedProperties/any(ep: ep/id eq 'X' and ep/value eq 'Y')
  struct ExtFilter {
    std::string id, value, op;  // op: eq, ne
  };
  std::optional<ExtFilter> ext_filter;
  // $filter={createdDateTime|lastModifiedDateTime|receivedDateTime} {ge|gt|le|lt|eq} {value}
  // (on message delta only receivedDateTime ge|gt, message-delta.md).
  struct TimeFilter {
    std::string prop, op;
    std::int64_t ms = 0;
  };
  std::optional<TimeFilter> time_filter;
  std::string time_zone;  // Prefer: outlook.timezone="..." ("" = UTC)
  std::string body_type;  // Prefer: outlook.body-content-type="text"|"html" ("" = as stored)
  int max_page_size = 0;  // Prefer: odata.maxpagesize=N (0: none)
  bool has(const std::string& k) const { return params.count(k) != 0; }
  std::string get(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? "" : it->second;
  }
};

// Who is calling (from the bearer token).
struct Caller {
  std::optional<User> user;  // the token's user (none for an app-only token)
  bool app = false;
  std::set<std::string> scopes;  // scp or roles, e.g. Contacts.ReadWrite
  bool all_scopes = false;       // an emulator token: its own mailbox, every permission
};

struct Ctx {
  const emulator::Request& req;
  std::string method;
  std::string base;               // "http://127.0.0.1:PORT/v1.0/"
  std::string owner_path;         // "me" or "users/{id}" as requested (percent-encoded)
  std::vector<std::string> segs;  // decoded segments after the owner
  User user;                      // the mailbox
  Caller caller;
  Query q;
  std::vector<emulator::Header> reply_headers;
};

class Service {
 public:
  Service(const Options& options, Store& store, const Csdl& csdl, emulator::Admin& admin,
          std::optional<emulator::token::Authority> authority);
  emulator::Reply handle(const emulator::Request& req);

  // One Graph request (also a $batch member); throws GraphError.
  emulator::Reply graph(const emulator::Request& req, const Caller& caller);

  Store& store() { return store_; }
  const Csdl& csdl() const { return csdl_; }

 private:
  emulator::Reply protocol(const emulator::Request& req);
  Caller authenticate(const emulator::Request& req);
  emulator::Reply batch(const emulator::Request& req, const Caller& caller);
  emulator::Reply route(Ctx& c);
  emulator::Reply user_entity(Ctx& c);
  void admin_routes();

  const Options& options_;
  Store& store_;
  const Csdl& csdl_;
  emulator::Admin& admin_;
  std::optional<emulator::token::Authority> authority_;
  int sync_state_faults_ = 0;  // the next N delta token requests answer 410
  double unavailable_rate_ = 0;
};

// ---- query.cpp
Query parse_query(const emulator::Request& req, const std::string& type, const Csdl& csdl);
std::string canonical_ext_id(const std::string& id);  // for comparisons; throws if malformed
bool ext_filter_matches(const rapidjson::Value& data, const Query::ExtFilter& f);
bool time_filter_matches(const Item& it, const rapidjson::Value& data, const Query::TimeFilter& f);

// ---- body.cpp: the request's JSON body, checked against the CSDL.
rapidjson::Document parse_body(const emulator::Request& req, const Csdl& csdl,
                               const std::string& type, const BodyRules& rules);
void check_if_match(const emulator::Request& req, const Item& it);

// ---- render.cpp
struct RenderOptions {
  bool context = false;  // write @odata.context (a single entity's answer)
  std::string context_url;
  bool linked = false;  // write linkedResources (the create answer)
};
void render_item(Writer& w, const Ctx& c, const Csdl& csdl, const Item& it,
                 const RenderOptions& o = {});
std::string entity_json(const Ctx& c, const Csdl& csdl, const Item& it, const RenderOptions& o);
std::string context_url(const Ctx& c, const std::string& tail);
emulator::Reply json_reply(const Ctx& c, int status, std::string body);

// ---- items.cpp: the generic collection operations.
emulator::Reply list_items(Ctx& c, Service& s, const KindInfo& k, const Container& parent);
// One page of `hits` ($skip, then $top or Prefer: odata.maxpagesize, else 10) with a nextLink.
emulator::Reply page_reply(Ctx& c, Service& s, const std::string& context_tail,
                           const std::vector<Item>& hits);
emulator::Reply create_item(Ctx& c, Service& s, const KindInfo& k, const Container& parent);
emulator::Reply get_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id);
emulator::Reply patch_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id);
emulator::Reply delete_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id);
emulator::Reply delta(Ctx& c, Service& s, const KindInfo& k, const Container& parent,
                      const std::string& link_path, int& sync_state_faults);
Item load_item(Ctx& c, Service& s, const KindInfo& k, const std::string& id);

// A delta round: the changes in (from, to], the last seq already sent, the initial request's
// query options (kept in the token, not repeated on the links).
struct DeltaRound {
  std::int64_t from = 0, to = 0, after = 0;
  std::string params;
  bool initial = false;
};
struct DeltaEntry {
  std::int64_t seq = 0;
  std::string json;
};
// Reads $deltatoken/$skiptoken (410 syncStateNotFound for one that is unknown, expired, of
// another mailbox or collection) and sets c.q from the round's options.
DeltaRound begin_delta(Ctx& c, Service& s, const std::string& type, const std::string& collection,
                       const std::string& link_path, int& sync_state_faults);
// Pages `entries` (ordered by seq) and answers with a nextLink or a deltaLink.
emulator::Reply finish_delta(Ctx& c, Service& s, const std::string& type,
                             const std::string& collection, const DeltaRound& round,
                             const std::vector<DeltaEntry>& entries, const std::string& link_path);
std::string removed_entry(const std::string& type, const std::string& id);
void merge_ext_props(rapidjson::Value& data, const rapidjson::Value& incoming,
                     rapidjson::Document::AllocatorType& a);

// ---- kinds.cpp: what each kind adds on create and update; folders, calendars, lists.
void prepare_item(Ctx& c, Service& s, const KindInfo& k, rapidjson::Document& data, Item& it,
                  bool create);
void render_container(Writer& w, const Ctx& c, const Container& box, Service& s);

// ---- todo.cpp
void prepare_task(rapidjson::Document& d, rapidjson::Document::AllocatorType& a, bool create);
emulator::Reply linked_resources(Ctx& c, Service& s, Item& task, std::size_t at);

// ---- categories.cpp
emulator::Reply master_categories(Ctx& c, Service& s, std::size_t at);

// ---- events.cpp: calendar specifics.
void prepare_event(Ctx& c, rapidjson::Document& data, bool create);
struct Instance {
  std::string id;
  std::int64_t start_ms = 0, end_ms = 0, original_start_ms = 0;
  bool cancelled = false;
};
// The instances of a series master within [from, to) (cancelled ones flagged).
std::vector<Instance> instances(const rapidjson::Value& master, const std::string& master_id,
                                std::int64_t from, std::int64_t to);
std::int64_t event_time(const rapidjson::Value& data, const char* which);  // start/end in UTC ms
emulator::Reply calendar_view(Ctx& c, Service& s, bool is_delta, int& sync_state_faults);
emulator::Reply event_occurrence(Ctx& c, Service& s, const std::string& id);
// GET /events/{id}/instances?startDateTime&endDateTime: a series' occurrences and exceptions
// in the window (a single instance: itself when it is in the window).
emulator::Reply event_instances(Ctx& c, Service& s, const std::string& id);
bool is_occurrence_id(const std::string& id);

}  // namespace graph_emulator
