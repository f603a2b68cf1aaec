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

// E3: an error that ends the cycle rather than one item: the service is unreachable
// (kTransient), refuses us (kPermission), our own state is unusable (kCorrupt), or the error
// is about the whole service.
bool ends_cycle(const Error& e);

}  // namespace crmsync::rules
