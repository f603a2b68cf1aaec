#include "email_parties.hpp"

#include "crmsync/model/text.hpp"

namespace crmsync::cycle {
namespace {

// The one record an address stands for among its matches: the system user, else the
// contact; none when there is no match or several of the first kind that matches.
std::optional<EntityRef> party_record(const std::vector<EntityRef>& matches) {
  for (const char* kind : {"systemuser", "contact"}) {
    std::set<CrmId> ids;
    for (const auto& r : matches)
      if (r.entity == kind) ids.insert(r.id);
    if (ids.size() == 1) return EntityRef{kind, *ids.begin(), ""};
    if (ids.size() > 1) return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

void EmailParties::want(const StoreItem& item) {
  for (const char* f : {"From", "To", "Cc"}) {
    auto it = item.item.fields.find(f);
    if (it == item.item.fields.end()) continue;
    if (const auto* list = std::get_if<PartyList>(&it->second))
      for (const auto& p : *list)
        if (!p.ref && !p.address.empty())
          if (auto a = ascii_lower(p.address); looked_up_.insert(a).second)
            wanted_.push_back(std::move(a));
  }
}

void EmailParties::ask(CrmAdapter& crm) {
  if (wanted_.empty()) return;
  auto found = crm.find_parties_by_emails(wanted_);
  wanted_.clear();
  if (found.ok())
    for (auto& p : *found) parties_[p.address].push_back(std::move(p.record));
  else
    looked_up_.clear();
}

// The parties resolved by address, as CRM resolves a promoted e-mail's: a system user
// (internalemailaddress) first, else a contact (emailaddress1-3); an address that matches no
// record, or several of one kind, keeps only its address (addressused). Addresses the page's
// lookup did not cover are asked now, in one request for the whole e-mail.
Result<void> EmailParties::resolve(CrmAdapter& crm, FieldMap& attrs) {
  std::vector<std::string> missing;
  for (const char* a : {"from", "to", "cc"}) {
    auto it = attrs.find(a);
    if (it == attrs.end()) continue;
    if (const auto* list = std::get_if<PartyList>(&it->second))
      for (const auto& p : *list)
        if (!p.ref && !p.address.empty())
          if (auto l = ascii_lower(p.address); looked_up_.insert(l).second)
            missing.push_back(std::move(l));
  }
  if (!missing.empty()) {
    auto found = crm.find_parties_by_emails(missing);
    if (!found.ok()) {
      for (const auto& a : missing) looked_up_.erase(a);
      return found.error();
    }
    for (auto& p : *found) parties_[p.address].push_back(std::move(p.record));
  }
  for (const char* a : {"from", "to", "cc"}) {
    auto it = attrs.find(a);
    if (it == attrs.end()) continue;
    auto* list = std::get_if<PartyList>(&it->second);
    if (!list) continue;
    for (auto& p : *list) {
      if (p.ref || p.address.empty()) continue;
      auto found = parties_.find(ascii_lower(p.address));
      if (found != parties_.end()) p.ref = party_record(found->second);
    }
  }
  return Ok();
}

Result<void> EmailParties::complete(Cycle& c, const StoreItem& item, FieldMap& attrs) {
  const bool outgoing = item.folder == Folder::kSentItems;
  attrs.insert_or_assign("directioncode", Value{outgoing});
  attrs.insert_or_assign("statecode", Value{kEmailCompleted});
  attrs.insert_or_assign("statuscode", Value{tracked_email_status(item.folder)});
  auto from = attrs.find("from");
  const auto* senders = from == attrs.end() ? nullptr : std::get_if<PartyList>(&from->second);
  if (outgoing && (senders == nullptr || senders->empty()))
    attrs.insert_or_assign("from",
                           Value{PartyList{Party{"", "", EntityRef{"systemuser", c.me, ""}}}});
  return resolve(c.crm, attrs);
}

}  // namespace crmsync::cycle
