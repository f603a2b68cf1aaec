// The lease record and a queued change as text fields: the form in which the EWS and MAPI
// adapters keep them (string-valued named properties of hidden items), so that a client of
// either adapter reads what the other wrote.
#pragma once

#include <string>

#include "crmsync/core/lease.hpp"

namespace crmsync {

// LeaseHolder, LeaseEpoch (decimal), LeaseExpires (ISO 8601 UTC).
struct LeaseText {
  std::string holder;
  std::string epoch;
  std::string expires;
};
LeaseText lease_text(const LeaseRecord& r);
// Empty epoch and expiry read as 0 and the epoch instant (a lease never written). kInvalid
// naming the field otherwise.
Result<LeaseRecord> parse_lease_text(const LeaseText& t);

// QueueClient, QueueKind, QueueEntryId, QueueAction, QueueDelete ("true"/"false"), QueueAt.
struct QueuedText {
  std::string client_id;
  std::string kind;
  std::string entry_id;
  std::string action;
  std::string delete_in_crm;
  std::string at;
};
QueuedText queued_text(const QueuedChange& c);
// The change with `id` as its queue id; kInvalid naming that id when a field is malformed.
Result<QueuedChange> parse_queued_text(const QueuedText& t, std::string id);

}  // namespace crmsync
