#include "crmsync/fakes/store_wrapper.hpp"

namespace crmsync::fakes {

std::optional<Error> StoreWrapper::take_fault() {
  if (faults_.empty()) return std::nullopt;
  Error e = faults_.front();
  faults_.pop_front();
  return e;
}

void StoreWrapper::fail_next_writes(int calls, Error e) {
  for (int i = 0; i < calls; ++i) faults_.push_back(e);
}

Result<std::vector<StoreItem>> StoreWrapper::scan_modified_since(ItemKind kind, UtcTime since) {
  ++counters_.scans;
  return inner().scan_modified_since(kind, since);
}
Result<std::vector<StoreItemHeader>> StoreWrapper::scan_headers_since(ItemKind kind,
                                                                      UtcTime since) {
  ++counters_.header_scans;
  return inner().scan_headers_since(kind, since);
}
Result<StoreItem> StoreWrapper::get(const EntryId& id) {
  ++counters_.gets;
  return inner().get(id);
}
std::vector<Result<StoreItem>> StoreWrapper::get_many(const std::vector<EntryId>& ids) {
  ++counters_.get_manys;
  return inner().get_many(ids);
}
Result<std::optional<StoreItem>> StoreWrapper::find_by_crm_id(const CrmId& id) {
  ++counters_.finds;
  return inner().find_by_crm_id(id);
}
std::vector<Result<std::optional<StoreItem>>> StoreWrapper::find_by_crm_ids(
    const std::vector<CrmId>& ids) {
  ++counters_.find_manys;
  return inner().find_by_crm_ids(ids);
}
Result<StoreItem> StoreWrapper::create(const NewStoreItem& item) {
  if (auto f = take_fault()) return *f;
  ++counters_.creates;
  return inner().create(item);
}
std::vector<Result<StoreItem>> StoreWrapper::create_many(const std::vector<NewStoreItem>& items) {
  ++counters_.create_manys;
  // Faults take the items in order, one each, as one-by-one creates would; the rest go to the
  // inner store in one call, so that its batched path runs.
  std::vector<std::optional<Error>> faults;
  std::vector<NewStoreItem> pass;
  for (const auto& item : items) {
    faults.push_back(take_fault());
    if (!faults.back()) pass.push_back(item);
  }
  counters_.creates += static_cast<int>(pass.size());
  auto created = pass.empty() ? std::vector<Result<StoreItem>>{} : inner().create_many(pass);
  std::vector<Result<StoreItem>> out;
  std::size_t next = 0;
  for (auto& fault : faults) {
    if (fault)
      out.emplace_back(*fault);
    else if (next < created.size())
      out.push_back(std::move(created[next++]));
    else
      out.emplace_back(Error::Internal("create_many: no result"));
  }
  return out;
}
Result<std::string> StoreWrapper::update(const EntryId& id, const std::string& key,
                                         const FieldMap& changes,
                                         const std::optional<CrmLink>& link) {
  if (auto f = take_fault()) return *f;
  ++counters_.updates;
  return inner().update(id, key, changes, link);
}
Result<void> StoreWrapper::remove(const EntryId& id) {
  if (auto f = take_fault()) return *f;
  ++counters_.deletes;
  return inner().remove(id);
}
Result<std::vector<StoreEvent>> StoreWrapper::events_after(std::int64_t after, std::size_t max) {
  if (lose_events_) return std::vector<StoreEvent>{};
  return inner().events_after(after, max);
}

}  // namespace crmsync::fakes
