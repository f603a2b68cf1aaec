// The CLI's view of store items: the JSON shape of `crmsync mailbox list|show --json`
// and the readable table printed without --json.
//
// JSON item: {"entry_id","kind","folder","tracked","crm_id","crm_id_pending","crm_entity",
//             "change_key","fields":{...},"categories":[...],"modified"}
// Field values by type: text → string; integer → number; bool → true/false;
// time → ISO 8601 UTC string; date → "YYYY-MM-DD"; Regarding → "entity:guid";
// party lists → array of {"address","name"} (plus "ref":"entity:guid" when resolved).
// crm_id and crm_entity are null when absent; modified is an ISO 8601 UTC string.
#pragma once

#include <string>
#include <vector>

#include "crmsync/core/store_adapter.hpp"

namespace crmsync::cli {

std::string item_to_json(const StoreItem& item);
std::string items_to_json(const std::vector<StoreItem>& items);
// One line per item: entry id, kind, folder, tracked, CRM id, modified, a summary.
std::string items_to_table(const std::vector<StoreItem>& items);
// The item as "name: value" lines.
std::string item_to_text(const StoreItem& item);

}  // namespace crmsync::cli
