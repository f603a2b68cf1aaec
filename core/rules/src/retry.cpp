#include "crmsync/core/retry_rules.hpp"

#include <algorithm>

namespace crmsync::rules {

std::chrono::milliseconds item_backoff(int attempts) {
  auto d = std::chrono::seconds(30) * (1LL << std::min(attempts, 7));
  return std::min<std::chrono::milliseconds>(d, std::chrono::hours(1));
}

bool ends_cycle(const Error& e) {
  return e.retry() != Retry::kItem;
}

}  // namespace crmsync::rules
