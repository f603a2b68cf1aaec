// SPEC U2 until the StoreAdapter port declares it (another change adds
// `virtual Result<std::int64_t> record_decision(const StoreEvent&)` to crmsync_ports): the MAPI
// adapter's method of that signature, reachable by a cast from its StoreAdapter. Once the port
// has it, MapiStore's method overrides it and this interface can go.
#pragma once

#include <cstdint>

#include "crmsync/core/store_adapter.hpp"

namespace crmsync::mapi {

class Decisions {
 public:
  // The user's decision (track, untrack with or without delete in CRM, set regarding) as the
  // explorer's event in the change log; kTrack and kUntrack also set the item's tracked mark
  // (an untrack clears the CRM link) and keep the track category in step. The event's seq;
  // kNotFound for an unknown item, kInvalid for another action.
  virtual Result<std::int64_t> record_decision(const StoreEvent& decision) = 0;

 protected:
  ~Decisions() = default;
};

}  // namespace crmsync::mapi
