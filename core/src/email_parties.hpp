// U7: what a tracked e-mail's create carries beyond its mapped fields - its direction, its
// completed state, and its parties resolved to CRM records - with the page's party addresses
// looked up in one request (private to crmsync_core; used by store_to_crm.cpp).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cycle_context.hpp"

namespace crmsync::cycle {

// One page's party lookups: addresses asked for and the records they matched.
class EmailParties {
 public:
  // Notes the addresses of the item's parties (From, To, Cc) that name no record yet.
  void want(const StoreItem& item);
  // Asks CRM for every address wanted so far, in one request. On failure nothing is known:
  // each e-mail asks again and handles the failure as its own (E1, E3).
  void ask(CrmAdapter& crm);

  // The e-mail's direction, its completed state (Sent or Received, set through SetState
  // after the create), its parties resolved to CRM records, and the user as the sender of
  // outgoing mail that names none.
  Result<void> complete(Cycle& c, const StoreItem& item, FieldMap& attrs);

 private:
  Result<void> resolve(CrmAdapter& crm, FieldMap& attrs);

  std::set<std::string> looked_up_;                        // lower-cased addresses asked for
  std::map<std::string, std::vector<EntityRef>> parties_;  // address -> users and contacts
  std::vector<std::string> wanted_;                        // to ask at the next ask()
};

}  // namespace crmsync::cycle
