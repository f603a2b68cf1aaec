#include "crmsync/core/hidden_text.hpp"

#include <charconv>

namespace crmsync {

LeaseText lease_text(const LeaseRecord& r) {
  return {r.holder, std::to_string(r.epoch), r.expires.iso()};
}

Result<LeaseRecord> parse_lease_text(const LeaseText& t) {
  LeaseRecord r;
  r.holder = t.holder;
  if (!t.epoch.empty()) {
    auto [end, ec] = std::from_chars(t.epoch.data(), t.epoch.data() + t.epoch.size(), r.epoch);
    if (ec != std::errc{} || end != t.epoch.data() + t.epoch.size())
      return Error::Invalid("lease item: bad epoch '" + t.epoch.substr(0, 64) + "'");
  }
  if (!t.expires.empty()) {
    auto e = UtcTime::parse(t.expires);
    if (!e) return Error::Invalid("lease item: bad expiry '" + t.expires.substr(0, 64) + "'");
    r.expires = *e;
  }
  return r;
}

QueuedText queued_text(const QueuedChange& c) {
  return {c.client_id,
          std::string(to_string(c.kind)),
          c.entry_id.str(),
          std::string(to_string(c.action)),
          c.delete_in_crm ? "true" : "false",
          c.at.iso()};
}

Result<QueuedChange> parse_queued_text(const QueuedText& t, std::string id) {
  auto kind = parse_item_kind(t.kind);
  auto action = parse_action(t.action);
  auto at = UtcTime::parse(t.at);
  if (!kind || !action || !at)
    return Error::Invalid("handoff queue item " + id.substr(0, 64) + ": malformed properties");
  QueuedChange c;
  c.id = std::move(id);
  c.client_id = t.client_id;
  c.kind = *kind;
  c.entry_id = EntryId(t.entry_id);
  c.action = *action;
  c.delete_in_crm = t.delete_in_crm == "true";
  c.at = *at;
  return c;
}

}  // namespace crmsync
