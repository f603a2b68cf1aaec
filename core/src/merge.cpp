#include "crmsync/core/merge.hpp"

namespace crmsync {
namespace {

const Value kNull{};

const Value& get(const FieldMap& m, const std::string& f) {
  auto it = m.find(f);
  return it == m.end() ? kNull : it->second;
}

void put(FieldMap& m, const std::string& f, const Value& v) {
  if (!is_null(v)) m.insert_or_assign(f, v);
}

}  // namespace

FieldMap syncable_fields(CrmEntity entity, const FieldMap& store_fields, bool with_crm_only) {
  FieldMap out;
  for (const auto& f : mapping_for(entity).fields) {
    bool take =
        f.direction == Direction::kBoth || (with_crm_only && f.direction == Direction::kCrmToStore);
    if (!take) continue;
    auto it = store_fields.find(f.store_field);
    if (it != store_fields.end() && !is_null(it->second))
      out.insert_or_assign(it->first, it->second);
  }
  return out;
}

MergeOutcome merge_fields(const MergeInput& in) {
  MergeOutcome out;
  const bool crm_newer_or_tie = in.crm_modified >= in.store_modified;
  for (const auto& f : mapping_for(in.entity).fields) {
    if (f.direction == Direction::kStoreToCrmOnce) continue;
    const std::string name(f.store_field);
    const Value& s = get(*in.store, name);
    const Value& c = get(*in.crm, name);
    if (f.direction == Direction::kCrmToStore) {
      // The daemon's one-way fields follow CRM whenever CRM's value changed.
      const bool c_changed =
          in.original == nullptr ? !equivalent(s, c) : !equivalent(c, get(*in.original, name));
      if (c_changed && !equivalent(s, c)) out.to_store.insert_or_assign(name, c);
      put(out.merged, name, c_changed ? c : (in.original ? get(*in.original, name) : c));
      continue;
    }
    if (in.original == nullptr) {  // E2: empty base
      if (equivalent(s, c)) {
        put(out.merged, name, s);
      } else if (is_null(c)) {
        out.to_crm.insert_or_assign(name, s);
        put(out.merged, name, s);
      } else if (is_null(s)) {
        out.to_store.insert_or_assign(name, c);
        put(out.merged, name, c);
      } else {
        out.to_store.insert_or_assign(name, c);
        put(out.merged, name, c);
        out.conflicts.push_back({name, s, c, true});
      }
      continue;
    }
    const Value& o = get(*in.original, name);
    const bool s_changed = !equivalent(s, o);
    const bool c_changed = !equivalent(c, o);
    if (!s_changed && !c_changed) {
      put(out.merged, name, o);
    } else if (c_changed && !s_changed) {
      out.to_store.insert_or_assign(name, c);
      put(out.merged, name, c);
    } else if (s_changed && !c_changed) {
      out.to_crm.insert_or_assign(name, s);
      put(out.merged, name, s);
    } else if (equivalent(s, c)) {
      put(out.merged, name, s);
    } else if (crm_newer_or_tie) {
      out.to_store.insert_or_assign(name, c);
      put(out.merged, name, c);
      out.conflicts.push_back({name, s, c, true});
    } else {
      out.to_crm.insert_or_assign(name, s);
      put(out.merged, name, s);
      out.conflicts.push_back({name, s, c, false});
    }
  }
  return out;
}

MergeOutcome merge_store_changes_only(const MergeInput& in) {
  MergeOutcome out;
  for (const auto& f : mapping_for(in.entity).fields) {
    if (f.direction == Direction::kStoreToCrmOnce) continue;
    const std::string name(f.store_field);
    const Value& s = get(*in.store, name);
    const Value& c = get(*in.crm, name);
    const Value& base = in.original ? get(*in.original, name) : c;
    if (f.direction == Direction::kCrmToStore) {  // the daemon's one-way fields stay put
      put(out.merged, name, in.original ? base : s);
      continue;
    }
    put(out.merged, name, s);
    if (equivalent(s, base)) continue;
    out.to_crm.insert_or_assign(name, s);
    if (!equivalent(c, base) && !equivalent(c, s)) out.conflicts.push_back({name, s, c, false});
  }
  return out;
}

}  // namespace crmsync
