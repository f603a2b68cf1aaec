// SPEC §9's error classes as pure functions: E1 (an item that fails keeps its change and is
// retried with backoff) and E3 (a failure of the whole service ends the cycle; the next one
// resumes where it stopped).
#pragma once

#include <chrono>

#include "crmsync/model/result.hpp"

namespace crmsync::rules {

// E1: how long a failed item waits before its next attempt: 30 s, 1 min, 2 min ... capped at
// one hour. `attempts` = the failures so far.
std::chrono::milliseconds item_backoff(int attempts);

// E3: an error that ends the cycle rather than one item: its retry class, decided where it
// was born, is not the item's own - the service cannot answer now (Retry::kWait: kTransient
// by default), or refuses us or our state is unusable (Retry::kStop: kPermission, kCorrupt by
// default). The engine does not look at the kind for this.
bool ends_cycle(const Error& e);

}  // namespace crmsync::rules
