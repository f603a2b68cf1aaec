#include "crmsync/fakes/fake_crm.hpp"

#include "crmsync/model/text.hpp"

#include <algorithm>
#include <set>
#include <string>

namespace crmsync::fakes {

FakeCrm::FakeCrm(Clock& clock) : clock_(clock), me_(CrmId::generate()), other_(CrmId::generate()) {}

std::optional<Error> FakeCrm::take_fault() {
  if (faults_.empty()) return std::nullopt;
  Error e = faults_.front();
  faults_.pop_front();
  return e;
}

std::optional<Error> FakeCrm::take_write_fault() {
  if (auto f = take_fault()) return f;
  if (write_faults_.empty()) return std::nullopt;
  Error e = write_faults_.front();
  write_faults_.pop_front();
  return e;
}

void FakeCrm::fail_next_writes(int calls, Error e) {
  for (int i = 0; i < calls; ++i) write_faults_.push_back(e);
}

void FakeCrm::fail_next(int calls, Error e) {
  for (int i = 0; i < calls; ++i) faults_.push_back(e);
}

void FakeCrm::touch(Stored& s) {
  s.version = ++seq_;
  s.record.row_version = row_versions_ ? std::to_string(s.version) : std::string();
  // CRM keeps seconds; a write always moves modifiedon forward.
  UtcTime now = clock_.now();
  s.record.modified_on = std::max(now, UtcTime{s.record.modified_on.ms + 1});
  s.record.attributes.insert_or_assign("modifiedon", Value{s.record.modified_on});
}

Result<void> FakeCrm::check_lengths(const FieldMap& attributes) const {
  for (const auto& [name, value] : attributes) {
    auto it = max_length_.find(name);
    if (it == max_length_.end()) continue;
    if (const auto* s = std::get_if<std::string>(&value); s && s->size() > it->second)
      return Error::Invalid("A validation error occurred. The length of the '" + name +
                            "' attribute exceeded the maximum allowed length of '" +
                            std::to_string(it->second) + "'.");
  }
  return Ok();
}

Result<CrmIdentity> FakeCrm::who_am_i() {
  if (auto f = take_fault()) return *f;
  return CrmIdentity{me_, CrmId::generate(), CrmId::generate()};
}

Result<CrmPrivileges> FakeCrm::privileges(const CrmId&) {
  if (auto f = take_fault()) return *f;
  return CrmPrivileges{sync_privilege_};
}

Result<CrmChangePage> FakeCrm::changes_since(CrmEntity entity, const std::string& data_version,
                                             int page_number, const std::string& cookie) {
  ++counters_.change_requests;
  if (no_tracking_.count(entity))
    return Error::Invalid("Change tracking is not enabled for entity " +
                          std::string(to_string(entity)));
  if (auto f = take_fault()) return *f;
  std::int64_t since = data_version.empty() ? 0 : std::stoll(data_version);
  if (!data_version.empty() && since < oldest_token_)
    return Error::Conflict("the change tracking token expired: a full sync is needed");
  // The cookie carries the snapshot taken on page 1: later writes wait for the next sync.
  std::int64_t snapshot = cookie.empty() ? seq_ : std::stoll(cookie);
  struct Change {
    std::int64_t version;
    const CrmRecord* record;
    CrmId removed;
  };
  std::vector<Change> changes;
  for (const auto& [id, s] : records_)
    if (s.record.entity == entity && s.version > since && s.version <= snapshot)
      changes.push_back({s.version, &s.record, {}});
  for (const auto& t : tombstones_)  // a full fetch (no token) names no removal, as Dynamics
    if (!data_version.empty() && t.entity == entity && t.version > since && t.version <= snapshot)
      changes.push_back({t.version, nullptr, t.id});
  std::sort(changes.begin(), changes.end(), [](auto& a, auto& b) { return a.version < b.version; });
  CrmChangePage page;
  std::size_t first = static_cast<std::size_t>(page_number - 1) * page_size_;
  for (std::size_t i = first; i < changes.size() && i < first + page_size_; ++i) {
    if (changes[i].record != nullptr)
      page.new_or_updated.push_back(*changes[i].record);
    else
      page.removed.push_back(changes[i].removed);
  }
  page.page_number = page_number;
  page.more = first + page_size_ < changes.size();
  page.paging_cookie = std::to_string(snapshot);
  page.data_version = std::to_string(snapshot);
  return page;
}

Result<CrmRecordPage> FakeCrm::page_of(std::vector<CrmRecord> all, int page_number) {
  CrmRecordPage page;
  std::size_t first = static_cast<std::size_t>(page_number - 1) * page_size_;
  for (std::size_t i = first; i < all.size() && i < first + page_size_; ++i)
    page.records.push_back(std::move(all[i]));
  page.page_number = page_number;
  page.more = first + page_size_ < all.size();
  page.paging_cookie = std::to_string(page_number);
  return page;
}

Result<CrmRecordPage> FakeCrm::modified_since(CrmEntity entity, UtcTime since, int page_number,
                                              const std::string&) {
  ++counters_.queries;
  if (auto f = take_fault()) return *f;
  std::vector<CrmRecord> all;
  for (const auto& [id, s] : records_)
    if (s.record.entity == entity && s.record.modified_on >= since) all.push_back(s.record);
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.modified_on < b.modified_on; });
  return page_of(std::move(all), page_number);
}

Result<CrmRecordPage> FakeCrm::sweep_ids(CrmEntity entity, int page_number, const std::string&) {
  ++counters_.queries;
  if (auto f = take_fault()) return *f;
  std::vector<CrmRecord> all;
  for (const auto& [id, s] : records_) {
    if (s.record.entity != entity) continue;
    CrmRecord r;
    r.entity = entity;
    r.id = id;
    r.owner = s.record.owner;
    for (const auto& [k, v] : s.record.attributes)
      if (std::holds_alternative<PartyList>(v) || k == "ownerid") r.attributes.emplace(k, v);
    all.push_back(std::move(r));
  }
  return page_of(std::move(all), page_number);
}

Result<std::vector<SyncFilter>> FakeCrm::sync_filters() {
  ++counters_.queries;
  if (auto f = take_fault()) return *f;
  std::vector<SyncFilter> out;
  for (const auto& f : filters_) out.push_back({f.entity, f.name, f.name});
  return out;
}

Result<CrmRecordPage> FakeCrm::filtered(const SyncFilter& filter,
                                        std::optional<UtcTime> modified_since, bool ids_only,
                                        int page_number, const std::string&) {
  ++counters_.queries;
  if (auto f = take_fault()) return *f;
  ++counters_.filtered_queries;
  std::vector<CrmRecord> all;
  for (const auto& f : filters_) {
    if (f.entity != filter.entity || f.name != filter.fetchxml) continue;
    for (const auto& [id, s] : records_)
      if (s.record.entity == filter.entity && f.selects(s.record) &&
          (!modified_since || s.record.modified_on >= *modified_since)) {
        CrmRecord r = s.record;
        if (ids_only) r.attributes.clear();
        all.push_back(std::move(r));
      }
  }
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.id.str() < b.id.str(); });
  return page_of(std::move(all), page_number);
}

Result<CrmRecord> FakeCrm::retrieve(CrmEntity entity, const CrmId& id) {
  ++counters_.retrieves;
  if (auto f = take_fault()) return *f;
  auto it = records_.find(id);
  if (it == records_.end() || it->second.record.entity != entity)
    return Error::NotFound(std::string(to_string(entity)) + " With Id = " + id.str() +
                           " Does Not Exist");
  return it->second.record;
}

Result<void> FakeCrm::create(CrmEntity entity, const CrmId& id, const FieldMap& attributes) {
  if (auto f = take_write_fault()) return *f;
  if (records_.count(id)) return Error::Conflict("Cannot insert duplicate key.");
  CRMSYNC_TRY(check_lengths(attributes));
  ++counters_.creates;
  Stored s;
  s.record.entity = entity;
  s.record.id = id;
  s.record.attributes = attributes;
  s.record.owner = me_;
  s.record.attributes.insert_or_assign("ownerid", Value{EntityRef{"systemuser", me_, "Me"}});
  if (!s.record.attributes.count("statecode"))
    s.record.attributes["statecode"] =
        Value{std::int64_t{entity == CrmEntity::kAppointment ? 3 : 0}};
  if (!s.record.attributes.count("statuscode"))
    s.record.attributes["statuscode"] = Value{std::int64_t{entity == CrmEntity::kAppointment ? 5
                                                           : entity == CrmEntity::kTask      ? 2
                                                                                             : 1}};
  touch(s);
  records_[id] = std::move(s);
  if (drop_create_reply_) {
    drop_create_reply_ = false;
    return Error::Transient("connection closed before the reply (the create was committed)");
  }
  return Ok();
}

Result<void> FakeCrm::update(CrmEntity entity, const CrmId& id, const FieldMap& attributes,
                             const std::string& row_version) {
  if (auto f = take_write_fault()) return *f;
  auto it = records_.find(id);
  if (it == records_.end() || it->second.record.entity != entity)
    return Error::NotFound(std::string(to_string(entity)) + " With Id = " + id.str() +
                           " Does Not Exist");
  if (auto hook = update_hooks_.find(id); hook != update_hooks_.end() && !hook->second.empty()) {
    FieldMap other = std::move(hook->second.front());
    hook->second.pop_front();
    edit(id, other);
  }
  if (!row_version.empty() && row_version != it->second.record.row_version)
    return Error::Conflict(
        "The version of the existing record doesn't match the RowVersion property provided.");
  CRMSYNC_TRY(check_lengths(attributes));
  ++counters_.updates;
  for (const auto& [k, v] : attributes) {
    if (std::holds_alternative<std::monostate>(v))
      it->second.record.attributes.erase(k);
    else
      it->second.record.attributes.insert_or_assign(k, v);
  }
  touch(it->second);
  return Ok();
}

Result<void> FakeCrm::remove(CrmEntity entity, const CrmId& id) {
  if (auto f = take_write_fault()) return *f;
  auto it = records_.find(id);
  if (it == records_.end() || it->second.record.entity != entity)
    return Error::NotFound(std::string(to_string(entity)) + " With Id = " + id.str() +
                           " Does Not Exist");
  ++counters_.deletes;
  records_.erase(it);
  tombstones_.push_back({entity, id, ++seq_});
  return Ok();
}

Result<void> FakeCrm::set_state(CrmEntity entity, const CrmId& id, int state, int status) {
  ++counters_.set_states;
  return update(
      entity, id,
      {{"statecode", Value{std::int64_t{state}}}, {"statuscode", Value{std::int64_t{status}}}}, "");
}

Result<std::vector<CrmRecord>> FakeCrm::find_contacts_by_emails(
    const std::vector<std::string>& addresses) {
  if (auto f = take_fault()) return *f;
  std::set<std::string> wanted;
  for (const auto& a : addresses) wanted.insert(ascii_lower(a));
  std::vector<CrmRecord> out;
  for (const auto& [id, s] : records_) {
    if (s.record.entity != CrmEntity::kContact) continue;
    for (const char* a : {"emailaddress1", "emailaddress2", "emailaddress3"}) {
      auto it = s.record.attributes.find(a);
      const auto* text =
          it == s.record.attributes.end() ? nullptr : std::get_if<std::string>(&it->second);
      if (text != nullptr && wanted.count(ascii_lower(*text))) {
        out.push_back(s.record);
        break;
      }
    }
  }
  return out;
}

Result<std::vector<EmailParty>> FakeCrm::find_parties_by_emails(
    const std::vector<std::string>& addresses) {
  ++counters_.party_lookups;
  if (auto f = take_fault()) return *f;
  std::set<std::string> wanted;
  for (const auto& a : addresses) wanted.insert(ascii_lower(a));
  std::vector<EmailParty> out;
  for (const auto& [user, address] : user_emails_)
    if (wanted.count(ascii_lower(address)))
      out.push_back({ascii_lower(address), EntityRef{"systemuser", user, ""}});
  for (const auto& [id, s] : records_) {
    if (s.record.entity != CrmEntity::kContact) continue;
    std::set<std::string> own;
    for (const char* a : {"emailaddress1", "emailaddress2", "emailaddress3"}) {
      auto it = s.record.attributes.find(a);
      const auto* text =
          it == s.record.attributes.end() ? nullptr : std::get_if<std::string>(&it->second);
      if (text != nullptr && wanted.count(ascii_lower(*text)) &&
          own.insert(ascii_lower(*text)).second)
        out.push_back({ascii_lower(*text), EntityRef{"contact", id, ""}});
    }
  }
  return out;
}

Result<std::vector<Result<void>>> FakeCrm::execute_batch(const std::vector<CrmOperation>& ops) {
  std::vector<Result<void>> out;
  for (const auto& op : ops) {
    switch (op.type) {
      case CrmOperation::Type::kCreate:
        out.push_back(create(op.entity, op.id, op.attributes));
        break;
      case CrmOperation::Type::kUpdate:
        out.push_back(update(op.entity, op.id, op.attributes, op.row_version));
        break;
      case CrmOperation::Type::kDelete:
        out.push_back(remove(op.entity, op.id));
        break;
      case CrmOperation::Type::kSetState:
        out.push_back(set_state(op.entity, op.id, op.state, op.status));
        break;
    }
  }
  return out;
}

CrmId FakeCrm::seed(CrmEntity entity, FieldMap attributes, std::optional<CrmId> owner) {
  Stored s;
  s.record.entity = entity;
  s.record.id = CrmId::generate();
  s.record.attributes = std::move(attributes);
  s.record.owner = owner.value_or(me_);
  s.record.attributes.insert_or_assign("ownerid",
                                       Value{EntityRef{"systemuser", *s.record.owner, ""}});
  if (!s.record.attributes.count("statecode") && entity != CrmEntity::kContact)
    s.record.attributes["statecode"] = Value{std::int64_t{0}};
  touch(s);
  CrmId id = s.record.id;
  records_[id] = std::move(s);
  return id;
}

void FakeCrm::edit(const CrmId& id, const FieldMap& attributes) {
  auto& s = records_.at(id);
  for (const auto& [k, v] : attributes) {
    if (std::holds_alternative<std::monostate>(v))
      s.record.attributes.erase(k);
    else
      s.record.attributes.insert_or_assign(k, v);
  }
  touch(s);
}

void FakeCrm::stamp(const CrmId& id, UtcTime modified) {
  auto& s = records_.at(id);
  s.record.modified_on = modified;
  s.record.attributes.insert_or_assign("modifiedon", Value{modified});
}

void FakeCrm::reassign(const CrmId& id, const CrmId& owner) {
  auto& s = records_.at(id);
  s.record.owner = owner;
  s.record.attributes.insert_or_assign("ownerid", Value{EntityRef{"systemuser", owner, ""}});
  touch(s);
}

void FakeCrm::erase(const CrmId& id) {
  auto it = records_.find(id);
  tombstones_.push_back({it->second.record.entity, id, ++seq_});
  records_.erase(it);
}

std::optional<CrmRecord> FakeCrm::find(const CrmId& id) const {
  auto it = records_.find(id);
  if (it == records_.end()) return std::nullopt;
  return it->second.record;
}

std::vector<CrmRecord> FakeCrm::all(CrmEntity entity) const {
  std::vector<CrmRecord> out;
  for (const auto& [id, s] : records_)
    if (s.record.entity == entity) out.push_back(s.record);
  return out;
}

}  // namespace crmsync::fakes
