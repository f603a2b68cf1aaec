// The user's Outlook synchronization filters (SPEC U4) as sync queries: a filter's FetchXML,
// rewritten to ask for the columns crmsync maps, page by page in the primary key's order, and
// (for the incremental sync) only what changed since a time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "crmsync/model/result.hpp"
#include "crmsync/model/value.hpp"

namespace crmsync::crm_soap {

struct FetchPage {
  std::vector<std::string> columns;       // replace the filter's attributes
  std::string primary_key;                // the order, for stable paging
  std::optional<UtcTime> modified_since;  // adds modifiedon ge … when given
  int page = 1;
  int count = 500;
  std::string paging_cookie;  // "" on page 1
};

// The filter's FetchXML with `page` applied. kInvalid for anything but one <fetch> around one
// <entity> named `entity`, for a DTD or an entity declaration (never expanded), or over 256 KiB.
Result<std::string> sync_fetchxml(const std::string& fetchxml, const std::string& entity,
                                  const FetchPage& page);

}  // namespace crmsync::crm_soap
