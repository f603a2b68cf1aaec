#include "cycle_context.hpp"

#include "crmsync/core/retry_rules.hpp"

namespace crmsync::cycle {

std::string token_key(CrmEntity e) {
  return "crm.token." + std::string(to_string(e));
}
std::string modified_key(CrmEntity e) {
  return "crm.modified." + std::string(to_string(e));
}
std::string sweep_key(CrmEntity e) {
  return "crm.sweep." + std::string(to_string(e));
}
std::string pending(const std::string& key) {
  return key + ".pending";
}

bool same_fields(const FieldMap& a, const FieldMap& b) {
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (!equivalent(v, it == b.end() ? Value{} : it->second)) return false;
  }
  for (const auto& [k, v] : b)
    if (a.find(k) == a.end() && !is_null(v)) return false;
  return true;
}

std::optional<std::int64_t> int_attr(const FieldMap& m, std::string_view name) {
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  if (const auto* v = std::get_if<std::int64_t>(&it->second)) return *v;
  return std::nullopt;
}

std::optional<UtcTime> time_attr(const FieldMap& m, std::string_view name) {
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  if (const auto* v = std::get_if<UtcTime>(&it->second)) return *v;
  return std::nullopt;
}

bool party_has(const FieldMap& attrs, std::string_view name, const CrmId& user) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return false;
  if (const auto* parties = std::get_if<PartyList>(&it->second))
    for (const auto& p : *parties)
      if (p.ref && p.ref->id == user) return true;
  return false;
}

Cycle::Cycle(Cache& cache, StoreAdapter& store, CrmAdapter& crm, Clock& clock,
             const EngineSettings& settings, CrashPoints* crash_points,
             const std::function<void(const Progress&)>& progress, const CycleOptions& options)
    : cache(cache),
      store(store),
      crm(crm),
      clock(clock),
      settings(settings),
      crash_points(crash_points),
      progress(progress),
      allow_mass_delete(options.allow_mass_delete),
      role(options.role.value_or(settings.role)),
      may_act(options.may_act_as_primary) {
  if (options.only_items) only.emplace(options.only_items->begin(), options.only_items->end());
}

Result<void> Cycle::make_durable() {
  if (!cache.in_batch()) return Ok();
  CRMSYNC_TRY(cache.commit_batch());
  return cache.begin_batch();
}

void Cycle::set_pending(const std::string& key, const std::string& value) {
  if (!must(cache.get_meta(pending(key))) && must(cache.get_meta(key)) == value) return;
  must(cache.set_meta({{pending(key), value}}));
}

std::int64_t Cycle::meta_int(std::string_view key) {
  auto v = must(cache.get_meta(std::string(key)));
  return v ? std::stoll(*v) : 0;
}

void Cycle::check_lease() {
  if (primary_like() && may_act && !may_act())
    throw Abort{Error::Permission("the primary lease may have expired: stopped")};
}

void Cycle::item_failed(const PendingChange& row, const Error& e) {
  std::optional<Error> stop;
  batch_item_failed(row, e, stop);
  if (stop) throw Abort{*stop};
}

void Cycle::batch_item_failed(const PendingChange& row, const Error& e,
                              std::optional<Error>& stop) {
  must(cache.record_failure(row.change_id, e.describe(),
                            UtcTime{clock.now().ms + rules::item_backoff(row.attempts).count()}));
  ++report.item_errors;
  if (rules::ends_cycle(e) && !stop) stop = e;
}

bool Cycle::in_filter(const CrmRecord& rec) const {
  if (!rec.owner) return true;
  if (*rec.owner == me) return true;
  if (rec.entity == CrmEntity::kContact) return false;
  for (const auto& [name, value] : rec.attributes)
    if (std::holds_alternative<PartyList>(value) && party_has(rec.attributes, name, me))
      return true;
  return false;
}

bool Cycle::crm_to_store_on(CrmEntity entity) const {
  if (!settings.entity_enabled(entity)) return false;
  return entity == CrmEntity::kEmail || sync_privilege;
}

CrmLink Cycle::tracked_link(const Mapping& m) const {
  CrmLink link;
  link.tracked = true;
  link.crm_id = m.crm_id;
  if (m.entity != crm_entity_of(store_kind_of(m.entity))) link.crm_entity = m.entity;
  return link;
}

std::vector<Result<StoreItem>> Cycle::read_all(const std::vector<EntryId>& ids) {
  if (ids.empty()) return {};
  auto items = store.get_many(ids);
  if (items.size() != ids.size())
    throw Abort{Error::Internal("get_many gave " + std::to_string(items.size()) + " results for " +
                                std::to_string(ids.size()) + " ids")};
  return items;
}

void Cycle::for_each_pending(
    std::string_view step_name, const std::function<void(const PendingChange&, Mapping&)>& fn,
    const std::function<void(const std::vector<PendingChange>&)>& page_start,
    const std::function<void()>& page_end) {
  std::int64_t after = 0, done = 0, total = 0;
  for (const auto& [entity, n] : must(cache.counts())) total += n.pending;
  step(step_name, 0, total);
  const UtcTime now = clock.now();
  for (;;) {
    auto rows = must(cache.pending_changes(after, settings.page_size));
    if (rows.empty()) break;
    batch();
    if (page_start) page_start(rows);
    for (const auto& row : rows) {
      after = row.change_id;
      if (row.held || row.next_attempt > now) continue;
      auto m = must(cache.mapping(row.map_id));
      if (!m) continue;
      if (!wanted(m->entry_id)) continue;
      check_lease();
      fn(row, *m);
      step(step_name, ++done, total);
    }
    if (page_end) page_end();
    commit();
  }
}

void Cycle::keep_mapped(const CrmRecord& rec, FieldMap fields) {
  if (rec.row_version.empty()) return;
  if (mapped_.size() >= settings.page_size && !mapped_.count(rec.id)) return;
  mapped_.insert_or_assign(rec.id, Mapped{rec.row_version, rec.modified_on, std::move(fields)});
}

std::optional<FieldMap> Cycle::take_mapped(const CrmRecord& rec) {
  auto it = mapped_.find(rec.id);
  if (it == mapped_.end()) return std::nullopt;
  Mapped kept = std::move(it->second);
  mapped_.erase(it);
  if (rec.row_version.empty() || kept.row_version != rec.row_version ||
      kept.modified_on != rec.modified_on)
    return std::nullopt;
  return std::move(kept.fields);
}

}  // namespace crmsync::cycle
