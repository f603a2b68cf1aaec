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
  return inner_.scan_modified_since(kind, since);
}
Result<StoreItem> StoreWrapper::get(const EntryId& id) {
  ++counters_.gets;
  return inner_.get(id);
}
std::vector<Result<StoreItem>> StoreWrapper::get_many(const std::vector<EntryId>& ids) {
  ++counters_.get_manys;
  return inner_.get_many(ids);
}
Result<std::optional<StoreItem>> StoreWrapper::find_by_crm_id(const CrmId& id) {
  ++counters_.finds;
  return inner_.find_by_crm_id(id);
}
std::vector<Result<std::optional<StoreItem>>> StoreWrapper::find_by_crm_ids(
    const std::vector<CrmId>& ids) {
  ++counters_.find_manys;
  return inner_.find_by_crm_ids(ids);
}
Result<StoreItem> StoreWrapper::create(const NewStoreItem& item) {
  if (auto f = take_fault()) return *f;
  ++counters_.creates;
  return inner_.create(item);
}
Result<std::string> StoreWrapper::update(const EntryId& id, const std::string& key,
                                         const FieldMap& changes,
                                         const std::optional<CrmLink>& link) {
  if (auto f = take_fault()) return *f;
  ++counters_.updates;
  return inner_.update(id, key, changes, link);
}
Result<void> StoreWrapper::remove(const EntryId& id) {
  if (auto f = take_fault()) return *f;
  ++counters_.deletes;
  return inner_.remove(id);
}
Result<std::vector<StoreEvent>> StoreWrapper::events_after(std::int64_t after, std::size_t max) {
  if (lose_events_) return std::vector<StoreEvent>{};
  return inner_.events_after(after, max);
}
bool StoreWrapper::wait_for_events(std::int64_t after, std::chrono::milliseconds timeout) {
  return inner_.wait_for_events(after, timeout);
}

}  // namespace crmsync::fakes
