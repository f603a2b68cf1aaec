// When a store change is synchronized (SPEC T2–T5, the paper's Appendix B), as a table
// (core/rules: pure, tested row by row in tests/rules).
#pragma once

#include "crmsync/core/role.hpp"
#include "crmsync/core/store_adapter.hpp"

namespace crmsync {

// What a client does with one store event.
enum class Timing {
  kNow,            // replicate at once (an immediate sync of this item)
  kNextSync,       // wait for the next manual or periodic sync
  kHandToPrimary,  // a secondary's non-e-mail change: queue it for the primary (T5)
  kNever,          // not this client's business (a delegate's non-e-mail items, P4; drafts, T3)
};
std::string_view to_string(Timing t);

// Which column of T2's table an item falls in.
enum class ItemClass { kMail, kDraftMail, kNonMail };
ItemClass classify(ItemKind kind, Folder folder);

// The immediate-sync decision for one event. Events from elsewhere (Surface::kNone) and
// intermediate phases (an inspector save before its close) wait for the next sync.
Timing immediate_sync(const StoreEvent& event, ItemClass item, Role role);

}  // namespace crmsync
