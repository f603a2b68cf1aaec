// Step 4: what prepare set aside takes effect once the changes are applied (R1: a CRM token,
// a modifiedon watermark or a sweep time advances only now; S2: the store's scan watermark).
// Items that failed keep their own change rows (E1), so the tokens advance anyway.
#include "cycle_context.hpp"

namespace crmsync::cycle {

void post(Cycle& c) {
  std::vector<std::pair<std::string, std::optional<std::string>>> values;
  for (CrmEntity e : kAllCrmEntities) {
    for (const std::string& key : {token_key(e), modified_key(e), sweep_key(e)}) {
      if (auto value = c.must(c.cache.get_meta(pending(key)))) {
        values.emplace_back(key, *value);
        values.emplace_back(pending(key), std::nullopt);
      }
    }
  }
  if (auto wm = c.must(c.cache.get_meta(std::string(kWatermarkPendingKey)))) {
    values.emplace_back(std::string(kWatermarkKey), *wm);
    values.emplace_back(std::string(kWatermarkPendingKey), std::nullopt);
  }
  if (!values.empty()) c.must(c.cache.set_meta(values));
  c.crash("post");
}

}  // namespace crmsync::cycle
