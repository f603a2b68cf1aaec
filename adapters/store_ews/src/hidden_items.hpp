// The lease and the handoff queue of SPEC §6 as hidden items of the mailbox (internal to
// store_ews): Messages in the root folder, outside the IPM subtree that users and the engine
// see, with item class IPM.Configuration.crmsync.lease / .queue and their values as named
// string properties in the form every store shares (crmsync/core/hidden_text.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "caller.hpp"
#include "crmsync/core/lease.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync::ews {

class HiddenItems final : public LeaseStore, public HandoffQueue {
 public:
  // Both must outlive this.
  HiddenItems(Caller& caller, Clock& clock) : caller_(caller), clock_(clock) {}

  // LeaseStore: the version is "Id|ChangeKey"; a write is UpdateItem with that ChangeKey and
  // NeverOverwrite (compare-and-swap).
  Result<Versioned> read_lease() override;
  Result<std::string> write_lease(const std::string& expected_version,
                                  const LeaseRecord& next) override;

  // HandoffQueue: entries oldest first (creation time, then a sequence property); remove is
  // a hard delete.
  Result<void> enqueue(const QueuedChange& c) override;
  Result<std::vector<QueuedChange>> peek(std::size_t max) override;
  Result<void> remove(const std::string& id) override;
  Result<std::int64_t> depth() override;

 private:
  struct Hidden {
    ItemRef ref;
    std::string created;
    Props props;
  };
  Result<ItemRef> create(std::string_view item_class, const Props& props);
  // Every hidden item of a class, oldest first (creation time, then the queue's sequence).
  Result<std::vector<Hidden>> items(std::string_view item_class,
                                    const std::vector<std::string>& names);

  Caller& caller_;
  Clock& clock_;
  std::int64_t queue_counter_ = 0;
};

}  // namespace crmsync::ews
