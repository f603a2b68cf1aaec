// The mailbox's master category list (SPEC U1; internal to store_ews): the "CategoryList" user
// configuration of the calendar folder, whose XmlData is Outlook's category list document
// ([MS-OXOCFG] 2.2.5.2.2). The track category is added once, with crmsync's colour; the rest of
// the document (the user's categories, other clients' attributes) is written back as it was.
#pragma once

#include <string>

#include "caller.hpp"
#include "crmsync/core/category_store.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync::ews {

class MasterCategories {
 public:
  // Both must outlive this.
  MasterCategories(Caller& caller, Clock& clock) : caller_(caller), clock_(clock) {}

  // Adds `name` unless the list has it (GetUserConfiguration, then UpdateUserConfiguration, or
  // CreateUserConfiguration for a mailbox without a list); once per adapter after success.
  // The list only gives the category its colour in Outlook: callers go on when this fails, and
  // a later write that adds the category to an item tries again (MasterListPace). EWS has no
  // change key on a user configuration: a list another client saves between the read and the
  // write loses that client's change.
  Result<void> ensure(const std::string& name);

 private:
  Result<void> add(const std::string& name, UtcTime now);
  Caller& caller_;
  Clock& clock_;
  MasterListPace pace_;
};

}  // namespace crmsync::ews
