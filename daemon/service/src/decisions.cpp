#include "decisions.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "crmsync/core/deletion_rules.hpp"
#include "crmsync/core/policy.hpp"
#include "crmsync/model/mapping.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync::service {
namespace {

using Type = status::Decision::Type;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, std::string_view s) {
  // Store and CRM text may hold anything; JSON must be UTF-8 (the endpoint's rule).
  if (!is_valid_utf8(s)) {
    w.String("\xEF\xBF\xBD");
    return;
  }
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

status::DecisionReply json_reply(int status, const rapidjson::StringBuffer& buf) {
  return {status, std::string(buf.GetString(), buf.GetSize())};
}

// How an adapter's or the cache's error answers: what the user can do about it.
status::DecisionReply error_reply(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::kNotFound:
      return refusal(404, e.message());
    case ErrorKind::kInvalid:
      return refusal(400, e.message());
    case ErrorKind::kConflict:
      return refusal(409, e.message() + " (the item changed meanwhile: try again)");
    case ErrorKind::kTransient:
      return refusal(503, e.message());
    case ErrorKind::kPermission:
      return refusal(403, e.message());
    default:
      return refusal(500, e.message());
  }
}

std::string mailbox_of(const DecisionContext& ctx) {
  return "the mailbox of profile " + ctx.profile;
}

// The item, or the refusal: 404 naming the profile for an id of another mailbox.
Result<StoreItem> find_item(Runtime& rt, const std::string& entry_id, const DecisionContext& ctx) {
  auto item = rt.store->get(EntryId(entry_id));
  if (!item.ok() && item.error().is(ErrorKind::kNotFound))
    return Error::NotFound("no item " + entry_id + " in " + mailbox_of(ctx));
  return item;
}

std::string summary(const StoreItem& it) {
  if (it.item.kind != ItemKind::kContact) return it.item.text("Subject");
  std::string name = it.item.text("FirstName");
  std::string last = it.item.text("LastName");
  if (!last.empty()) name += (name.empty() ? "" : " ") + last;
  std::string email = it.item.text("Email1Address");
  if (!email.empty()) name += (name.empty() ? "" : " ") + ("<" + email + ">");
  return name;
}

bool matches(const StoreItem& it, const std::string& needle) {
  if (needle.empty()) return true;
  std::string hay = summary(it);
  for (const char* f : {"CompanyName", "JobTitle", "Location", "Body"})
    hay += " " + it.item.text(f);
  return ascii_lower(hay).find(ascii_lower(needle)) != std::string::npos;
}

// ---- items -----------------------------------------------------------------------------

DecisionOutcome list_items(Runtime& rt, const status::Decision& d) {
  std::vector<ItemKind> kinds;
  if (d.kind.empty())
    kinds.assign(std::begin(kAllItemKinds), std::end(kAllItemKinds));
  else
    kinds.push_back(parse_item_kind(d.kind).value());
  std::vector<StoreItem> found;
  for (ItemKind k : kinds) {
    auto items =
        rt.store->scan_modified_since(k, UtcTime{std::numeric_limits<std::int64_t>::min() / 2});
    if (!items.ok()) return {error_reply(items.error()), {}, false};
    for (auto& it : *items)
      if ((!d.tracked || it.link.tracked == *d.tracked) && matches(it, d.text))
        found.push_back(std::move(it));
  }
  std::stable_sort(found.begin(), found.end(), [](const StoreItem& a, const StoreItem& b) {
    return a.item.modified > b.item.modified;
  });
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  std::size_t n = 0;
  for (const auto& it : found) {
    if (n++ == d.limit) break;
    auto m = rt.cache->mapping_by_entry_id(it.entry_id);
    if (!m.ok()) return {error_reply(m.error()), {}, false};
    std::optional<PendingChange> pending;
    if (*m) {
      auto p = rt.cache->pending_change_of((*m)->map_id);
      if (!p.ok()) return {error_reply(p.error()), {}, false};
      pending = std::move(*p);
    }
    w.StartObject();
    w.Key("entry_id");
    str(w, it.entry_id.str());
    w.Key("kind");
    str(w, to_string(it.item.kind));
    w.Key("folder");
    str(w, to_string(it.folder));
    w.Key("tracked");
    w.Bool(it.link.tracked);
    w.Key("crm_id");
    if (it.link.crm_id)
      str(w, it.link.crm_id->str());
    else
      w.Null();
    w.Key("linked");
    w.Bool(*m && (*m)->linked);
    w.Key("summary");
    str(w, summary(it));
    w.Key("categories");
    w.StartArray();
    for (const auto& c : it.categories) str(w, c);
    w.EndArray();
    w.Key("modified");
    str(w, it.item.modified.iso());
    w.Key("pending");
    w.Bool(pending.has_value());
    w.Key("error");
    if (pending && !pending->last_error.empty())
      str(w, pending->last_error);
    else
      w.Null();
    w.EndObject();
  }
  w.EndArray();
  return {json_reply(200, buf), {}, false};
}

// ---- track, untrack, regarding: the explorer's buttons ---------------------------------

status::DecisionReply recorded(Runtime& rt, const StoreItem& item, Action action,
                               bool delete_in_crm, const DecisionContext& ctx) {
  StoreEvent e;
  e.kind = item.item.kind;
  e.entry_id = item.entry_id;
  e.action = action;
  e.surface = Surface::kExplorer;
  e.delete_in_crm = delete_in_crm;
  auto seq = rt.store->record_decision(e);
  if (!seq.ok()) return error_reply(seq.error());
  // What T2 makes of it here (the worker's event poll acts on the event the same way).
  const Timing timing = immediate_sync(e, classify(item.item.kind, item.folder), ctx.role);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("entry_id");
  str(w, item.entry_id.str());
  w.Key("action");
  str(w, to_string(action));
  w.Key("delete_in_crm");
  w.Bool(delete_in_crm);
  w.Key("event");
  w.Int64(*seq);
  w.Key("timing");
  str(w, to_string(timing));
  w.EndObject();
  return json_reply(200, buf);
}

status::DecisionReply track(Runtime& rt, const status::Decision& d, const DecisionContext& ctx,
                            bool on) {
  auto item = find_item(rt, d.entry_id, ctx);
  if (!item.ok()) return error_reply(item.error());
  if (item->link.tracked == on)
    return refusal(409, "item " + d.entry_id + (on ? " is tracked already" : " is not tracked"));
  return recorded(rt, *item, on ? Action::kTrack : Action::kUntrack, !on && d.delete_in_crm, ctx);
}

// Set regarding in the explorer: the field, then the event; an untracked item is tracked with
// it, as the seed's button does.
status::DecisionReply regarding(Runtime& rt, const status::Decision& d,
                                const DecisionContext& ctx) {
  auto item = find_item(rt, d.entry_id, ctx);
  if (!item.ok()) return error_reply(item.error());
  if (!is_known_store_field(item->item.kind, "Regarding"))
    return refusal(400, "a " + std::string(to_string(item->item.kind)) +
                            " has no Regarding (tasks, appointments and e-mails do)");
  auto ref = EntityRef::parse(d.regarding);
  if (!ref.ok()) return refusal(400, ref.error().message());
  const Value wanted{*ref};
  if (const Value* now = item->item.find("Regarding");
      now != nullptr && equivalent(*now, wanted) && item->link.tracked)
    return refusal(409, "item " + d.entry_id + " is regarding " + d.regarding + " already");
  auto key =
      rt.store->update(item->entry_id, item->change_key, {{"Regarding", wanted}}, std::nullopt);
  if (!key.ok()) return error_reply(key.error());
  return recorded(rt, *item, item->link.tracked ? Action::kSetRegarding : Action::kTrack, false,
                  ctx);
}

status::DecisionReply find_regarding(Runtime& rt, const status::Decision& d) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  for (const auto& entity : d.entities) {
    auto found = rt.crm->find_by_name(entity, d.text, d.limit);
    if (!found.ok()) return error_reply(found.error());
    for (const auto& r : *found) {
      w.StartObject();
      w.Key("regarding");
      str(w, r.str());
      w.Key("entity");
      str(w, r.entity);
      w.Key("id");
      str(w, r.id.str());
      w.Key("name");
      str(w, r.name);
      w.EndObject();
    }
  }
  w.EndArray();
  return json_reply(200, buf);
}

// ---- conflicts (M3) ----------------------------------------------------------------------

// The merge already wrote the winner to both sides. Keeping the other side's value is the
// user's edit of the mailbox item: the engine sends it to CRM as a store change (M1) at the
// next sync. Only while the field still holds what the merge left: a later edit decides.
status::DecisionReply resolve(Runtime& rt, const status::Decision& d) {
  auto c = rt.cache->conflict(d.id);
  if (!c.ok()) return error_reply(c.error());
  if (!*c) return refusal(404, "no conflict " + std::to_string(d.id) + " (settled already?)");
  const ConflictRecord& rec = **c;
  const std::string winner = rec.winner == "crm" ? "crm" : "mailbox";
  bool written = false;
  if (d.keep != "merged" && d.keep != winner) {
    auto item = rt.store->get(rec.entry_id);
    if (!item.ok() && item.error().is(ErrorKind::kNotFound))
      return refusal(409, "the item of conflict " + std::to_string(d.id) +
                              " is gone from the mailbox: only --keep merged dismisses it");
    if (!item.ok()) return error_reply(item.error());
    const Value& merged = rec.winner == "crm" ? rec.crm_value : rec.store_value;
    const Value* now = item->item.find(rec.field);
    if (!equivalent(now ? *now : Value{}, merged))
      return refusal(409, "field " + rec.field + " changed since conflict " + std::to_string(d.id) +
                              " (it is now '" + display(now ? *now : Value{}) +
                              "'): it syncs as it is; --keep merged dismisses the conflict");
    const Value& keep = d.keep == "crm" ? rec.crm_value : rec.store_value;
    auto key = rt.store->update(rec.entry_id, item->change_key, {{rec.field, keep}}, std::nullopt);
    if (!key.ok()) return error_reply(key.error());
    written = true;
  }
  auto dropped = rt.cache->drop_conflict(d.id);
  if (!dropped.ok()) return error_reply(dropped.error());
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("id");
  w.Int64(d.id);
  w.Key("field");
  str(w, rec.field);
  w.Key("keep");
  str(w, d.keep);
  w.Key("written");  // the mailbox item changed: CRM follows at the next sync
  w.Bool(written);
  w.EndObject();
  return json_reply(200, buf);
}

// ---- held deletions (D10) and item errors (E1) ---------------------------------------------

// The held deletions `d` names (all when it names none); the refusal when one is not held.
Result<std::vector<status::HeldDeletion>> chosen_deletions(Runtime& rt, const status::Decision& d,
                                                           const DecisionContext& ctx) {
  auto held = held_deletions(*rt.cache, ctx, std::numeric_limits<std::size_t>::max());
  if (!held.ok()) return held.error();
  if (held->empty()) return Error::Conflict("no deletions are held back");
  if (d.ids.empty()) return held;
  std::map<std::int64_t, status::HeldDeletion> by_id;
  for (auto& h : *held) by_id.emplace(h.id, std::move(h));
  std::vector<status::HeldDeletion> out;
  for (std::int64_t id : d.ids) {
    auto it = by_id.find(id);
    if (it == by_id.end())
      return Error::NotFound("no held deletion " + std::to_string(id) +
                             " (see crmsync deletions; applied or rejected already?)");
    out.push_back(it->second);
  }
  return out;
}

DecisionOutcome confirm(Runtime& rt, const status::Decision& d, const DecisionContext& ctx) {
  auto chosen = chosen_deletions(rt, d, ctx);
  if (!chosen.ok())
    return {chosen.error().is(ErrorKind::kConflict) ? refusal(409, chosen.error().message())
                                                    : error_reply(chosen.error()),
            {},
            false};
  // The user's confirmation (--allow-mass-delete) for these items only: a cycle of them.
  CycleOptions o;
  o.allow_mass_delete = true;
  std::vector<EntryId> items;
  DecisionOutcome out;
  for (const auto& h : *chosen) {
    if (!h.entry_id.empty()) items.emplace_back(h.entry_id);
    out.ids.push_back(h.id);
  }
  o.only_items = std::move(items);
  out.cycle = std::move(o);
  return out;
}

// Nothing is deleted on either side: the pair is unlinked, as D6 keeps a contact the user owns.
status::DecisionReply reject(Runtime& rt, const status::Decision& d, const DecisionContext& ctx) {
  auto chosen = chosen_deletions(rt, d, ctx);
  if (!chosen.ok())
    return chosen.error().is(ErrorKind::kConflict) ? refusal(409, chosen.error().message())
                                                   : error_reply(chosen.error());
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("rejected");
  w.StartArray();
  for (const auto& h : *chosen) {
    if (!h.entry_id.empty()) {
      auto item = rt.store->get(EntryId(h.entry_id));
      if (item.ok() && (item->link.tracked || item->link.crm_id)) {
        auto r = rt.store->update(item->entry_id, item->change_key, {}, CrmLink{});
        if (!r.ok()) return error_reply(r.error());
      } else if (!item.ok() && !item.error().is(ErrorKind::kNotFound)) {
        return error_reply(item.error());
      }
    }
    auto r = rt.cache->forget_mapping(MapId(h.id));
    if (!r.ok()) return error_reply(r.error());
    w.Int64(h.id);
  }
  w.EndArray();
  w.EndObject();
  return json_reply(200, buf);
}

// The pair of an item error, or the refusal.
Result<std::pair<Mapping, PendingChange>> errored(Runtime& rt, const status::Decision& d) {
  auto m = rt.cache->mapping(MapId(d.id));
  if (!m.ok()) return m.error();
  auto row = rt.cache->pending_change_of(MapId(d.id));
  if (!row.ok()) return row.error();
  if (!*m || !*row || (*row)->last_error.empty())
    return Error::NotFound("no item error " + std::to_string(d.id) +
                           " (see crmsync errors; synced or ignored already?)");
  return std::make_pair(std::move(**m), std::move(**row));
}

DecisionOutcome retry(Runtime& rt, const status::Decision& d) {
  auto e = errored(rt, d);
  if (!e.ok()) return {error_reply(e.error()), {}, false};
  auto due = rt.cache->retry_change_now(MapId(d.id));
  if (!due.ok()) return {error_reply(due.error()), {}, false};
  if (e->first.entry_id.empty()) return {{}, {}, true};  // not in the mailbox yet: a full sync
  CycleOptions o;
  o.only_items = std::vector<EntryId>{e->first.entry_id};
  return {{}, std::move(o), false};
}

// The change is dropped: a synced pair stays linked (the next change on either side syncs
// again); an item never synced is untracked, so that the scan does not take it up again.
status::DecisionReply ignore(Runtime& rt, const status::Decision& d) {
  auto e = errored(rt, d);
  if (!e.ok()) return error_reply(e.error());
  Mapping m = e->first;
  bool unlinked = false;
  if (m.linked) {
    // The item as it is now counts as seen (C5's check), or the next scan (S2) would take the
    // same change up again; the next edit on either side syncs, the ignored fields with it.
    auto item = rt.store->get(m.entry_id);
    if (item.ok()) {
      m.store_change_key = item->change_key;
      auto saved = rt.cache->save_mapping(m);
      if (!saved.ok()) return error_reply(saved.error());
    } else if (!item.error().is(ErrorKind::kNotFound)) {
      return error_reply(item.error());
    }
    auto r = rt.cache->drop_change(m.map_id);
    if (!r.ok()) return error_reply(r.error());
  } else {
    if (!m.entry_id.empty()) {
      auto item = rt.store->get(m.entry_id);
      if (item.ok() && (item->link.tracked || item->link.crm_id)) {
        auto r = rt.store->update(m.entry_id, item->change_key, {}, CrmLink{});
        if (!r.ok()) return error_reply(r.error());
      } else if (!item.ok() && !item.error().is(ErrorKind::kNotFound)) {
        return error_reply(item.error());
      }
    }
    auto r = rt.cache->forget_mapping(m.map_id);
    if (!r.ok()) return error_reply(r.error());
    unlinked = true;
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("ignored");
  w.Int64(d.id);
  w.Key("unlinked");
  w.Bool(unlinked);
  w.EndObject();
  return json_reply(200, buf);
}

// The answer's key for what a cycle did.
const char* reply_key(Type t) {
  return t == Type::kConfirmDeletions ? "confirmed"
         : t == Type::kRetryError     ? "retried"
                                      : "decided";
}

}  // namespace

std::string_view to_string(status::Decision::Type t) {
  switch (t) {
    case Type::kItems:
      return "items";
    case Type::kTrack:
      return "track";
    case Type::kUntrack:
      return "untrack";
    case Type::kRegarding:
      return "regarding";
    case Type::kFindRegarding:
      return "find-regarding";
    case Type::kResolveConflict:
      return "resolve-conflict";
    case Type::kConfirmDeletions:
      return "confirm-deletions";
    case Type::kRejectDeletions:
      return "reject-deletions";
    case Type::kRetryError:
      return "retry-error";
    case Type::kIgnoreError:
      return "ignore-error";
  }
  return "?";
}

status::DecisionReply refusal(int status, const std::string& message) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("error");
  str(w, message);
  w.EndObject();
  return json_reply(status, buf);
}

Result<std::vector<status::HeldDeletion>> held_deletions(Cache& cache, const DecisionContext& ctx,
                                                         std::size_t limit) {
  // The guard's own facts (the engine's D10 step): pending deletions, those made since the
  // last confirmation (the engine keeps them in the cache's meta values), the synced pairs.
  auto pending = cache.pending_deletions();
  if (!pending.ok()) return pending.error();
  auto linked = cache.linked_count();
  if (!linked.ok()) return linked.error();
  rules::MassDeleteFacts f;
  f.pending_in_store = pending->in_store;
  f.pending_in_crm = pending->in_crm;
  for (auto [key, made] : {std::pair{"d10.deleted_in_store", &f.made_in_store},
                           std::pair{"d10.deleted_in_crm", &f.made_in_crm}}) {
    auto v = cache.get_meta(key);
    if (!v.ok()) return v.error();
    if (*v) *made = std::stoll(**v);
  }
  f.linked = *linked;
  f.ratio = ctx.mass_delete_ratio;
  f.min = ctx.mass_delete_min;
  const rules::MassDeleteVerdict verdict = rules::mass_delete_guard(f);
  std::vector<status::HeldDeletion> out;
  for (auto [side, held] : {std::pair{Cache::Side::kCrm, verdict.hold_crm},
                            std::pair{Cache::Side::kStore, verdict.hold_store}}) {
    if (!held) continue;
    auto pairs = cache.pending_deletion_pairs(side, limit - out.size());
    if (!pairs.ok()) return pairs.error();
    for (MapId id : *pairs) {
      auto m = cache.mapping(id);
      if (!m.ok()) return m.error();
      auto row = cache.pending_change_of(id);
      if (!row.ok()) return row.error();
      if (!*m || !*row) continue;
      const bool in_crm = side == Cache::Side::kCrm;
      status::HeldDeletion h;
      h.id = id.value();
      h.entity = std::string(to_string((*m)->entity));
      h.crm_id = (*m)->crm_id.str();
      h.entry_id = (*m)->entry_id.str();
      h.side = in_crm ? "crm" : "mailbox";
      h.change =
          std::string(in_crm ? to_string((*row)->store_change) : to_string((*row)->crm_change));
      h.at = in_crm ? (*row)->store_timestamp : (*row)->crm_timestamp;
      out.push_back(std::move(h));
    }
  }
  return out;
}

DecisionOutcome act_on_decision(Runtime& rt, const status::Decision& d,
                                const DecisionContext& ctx) {
  switch (d.type) {
    case Type::kItems:
      return list_items(rt, d);
    case Type::kTrack:
      return {track(rt, d, ctx, true), {}, false};
    case Type::kUntrack:
      return {track(rt, d, ctx, false), {}, false};
    case Type::kRegarding:
      return {regarding(rt, d, ctx), {}, false};
    case Type::kFindRegarding:
      return {find_regarding(rt, d), {}, false};
    case Type::kResolveConflict:
      return {resolve(rt, d), {}, false};
    case Type::kConfirmDeletions:
      return confirm(rt, d, ctx);
    case Type::kRejectDeletions:
      return {reject(rt, d, ctx), {}, false};
    case Type::kRetryError:
      return retry(rt, d);
    case Type::kIgnoreError:
      return {ignore(rt, d), {}, false};
  }
  return {refusal(400, "unknown decision"), {}, false};
}

status::DecisionReply cycle_reply(const status::Decision& d, const DecisionOutcome& o,
                                  const status::CycleInfo& c) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key(reply_key(d.type));
  if (d.type == Type::kRetryError) {
    w.Int64(d.id);
  } else {
    w.StartArray();
    for (auto id : o.ids) w.Int64(id);
    w.EndArray();
  }
  w.Key("cycle");
  w.StartObject();
  w.Key("id");
  w.Int64(c.id);
  w.Key("result");
  str(w, c.result);
  w.Key("to_crm");
  w.Int64(c.summary.to_crm);
  w.Key("to_store");
  w.Int64(c.summary.to_store);
  w.Key("deleted_in_crm");
  w.Int64(c.summary.deleted_in_crm);
  w.Key("deleted_in_store");
  w.Int64(c.summary.deleted_in_store);
  w.Key("item_errors");
  w.Int64(c.summary.item_errors);
  w.Key("failure");
  if (c.failure)
    str(w, *c.failure);
  else
    w.Null();
  w.EndObject();
  w.EndObject();
  return json_reply(200, buf);
}

status::DecisionReply queued_reply(const status::Decision& d, std::int64_t request) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key(reply_key(d.type));
  w.Int64(d.id);
  w.Key("request");  // the manual sync that retries it (crmsync sync --wait follows one)
  w.Int64(request);
  w.EndObject();
  return json_reply(202, buf);
}

}  // namespace crmsync::service
