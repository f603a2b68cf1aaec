// The mailbox's master category list (SPEC U1; internal to store_mapi, Windows only), as Outlook
// 2007 and later keep it ([MS-OXOCFG] 2.2.5.2.2): an associated message of the Calendar folder,
// class IPM.Configuration.CategoryList, its PidTagRoamingXmlStream the category list document.
// The track category is added once, with crmsync's colour; the rest of the document is
// written back as it was. Not run against a real Outlook here (see the README).
#pragma once

#include <string>

#include "crmsync/core/category_store.hpp"
#include "crmsync/model/clock.hpp"
#include "mailbox.hpp"

namespace crmsync::mapi {

class MasterCategories {
 public:
  // Both must outlive this.
  MasterCategories(Mailbox& mailbox, Clock& clock) : mailbox_(mailbox), clock_(clock) {}

  // Adds `name` unless the list has it, making the message when the mailbox has none; once
  // per adapter after success. Best effort, as in the EWS adapter: callers go on when it fails.
  Result<void> ensure(const std::string& name);

 private:
  Result<void> add(const std::string& name, UtcTime now);
  Mailbox& mailbox_;
  Clock& clock_;
  MasterListPace pace_;
};

}  // namespace crmsync::mapi
