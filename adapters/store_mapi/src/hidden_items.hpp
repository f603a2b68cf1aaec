// The lease and the handoff queue of SPEC §6 as associated (FAI) messages in the store's root
// folder (internal to store_mapi, Windows only), classes IPM.Configuration.crmsync.lease and
// .queue, with the EWS adapter's string-valued named properties in the form every store shares
// (crmsync/core/hidden_text.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "crmsync/core/lease.hpp"
#include "crmsync/model/clock.hpp"
#include "mailbox.hpp"

namespace crmsync::mapi {

class HiddenItems final : public LeaseStore, public HandoffQueue {
 public:
  // All must outlive this.
  HiddenItems(Session& session, Mailbox& mailbox, Clock& clock)
      : session_(session), mailbox_(mailbox), clock_(clock) {}

  // LeaseStore: the version is "entry id|change key" in hex; a write opens the message,
  // compares the change key and saves (MAPI_E_OBJECT_CHANGED -> kConflict).
  Result<Versioned> read_lease() override;
  Result<std::string> write_lease(const std::string& expected_version,
                                  const LeaseRecord& next) override;

  // HandoffQueue: oldest first (creation time, then a sequence property); remove is a hard
  // delete.
  Result<void> enqueue(const QueuedChange& c) override;
  Result<std::vector<QueuedChange>> peek(std::size_t max) override;
  Result<void> remove(const std::string& id) override;
  Result<std::int64_t> depth() override;

 private:
  struct Hidden {
    Binary entry_id;
    Binary change_key;
    std::map<Named, std::string> props;
    std::string prop(Named n) const {
      auto it = props.find(n);
      return it == props.end() ? std::string() : it->second;
    }
  };
  using Strings = std::vector<std::pair<Named, std::string>>;
  Result<std::vector<Hidden>> items(std::u16string_view cls, std::span<const Named> props);
  // A new associated message; its entry id and change key.
  Result<std::pair<Binary, Binary>> create(std::u16string_view cls, const Strings& props);
  Result<void> erase(const Binary& id);

  Session& session_;
  Mailbox& mailbox_;
  Clock& clock_;
  std::int64_t queue_counter_ = 0;
};

}  // namespace crmsync::mapi
