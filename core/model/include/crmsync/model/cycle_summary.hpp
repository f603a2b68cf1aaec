// What one sync cycle did, in counts and notices: the engine fills it (CycleReport is one)
// and the daemon's status snapshot keeps it (status::CycleInfo holds one). Plain data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace crmsync {

struct CycleSummary {
  std::vector<std::string> notices;  // G5, E2, D10 ...
  std::int64_t to_store = 0;         // items written to the store
  std::int64_t to_crm = 0;           // records written to CRM
  std::int64_t deleted_in_store = 0;
  std::int64_t deleted_in_crm = 0;
  std::int64_t unlinked = 0;
  std::int64_t conflicts = 0;
  std::int64_t item_errors = 0;
  std::int64_t held_deletions = 0;
  std::int64_t queued = 0;                     // changes handed to the primary (T5)
  std::int64_t dequeued = 0;                   // changes taken from the handoff queue
  std::map<std::string, std::int64_t> synced;  // "contact:crm-to-store" -> count
};

}  // namespace crmsync
