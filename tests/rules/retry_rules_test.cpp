// SPEC E1 and E3 (core/rules retry_rules.hpp).
#include <catch2/catch.hpp>

#include "crmsync/core/retry_rules.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

TEST_CASE("E1: a failed item waits 30 s, then twice as long each time, at most an hour") {
  CHECK(rules::item_backoff(0) == 30s);
  CHECK(rules::item_backoff(1) == 60s);
  CHECK(rules::item_backoff(2) == 120s);
  CHECK(rules::item_backoff(6) == 1920s);
  CHECK(rules::item_backoff(7) == 1h);
  CHECK(rules::item_backoff(50) == 1h);
}

TEST_CASE("E1: an item's own failure does not end the cycle") {
  CHECK_FALSE(rules::ends_cycle(Error::Invalid("too long")));
  CHECK_FALSE(rules::ends_cycle(Error::NotFound("gone")));
  CHECK_FALSE(rules::ends_cycle(Error::Conflict("moved")));
  CHECK_FALSE(rules::ends_cycle(Error::Internal("bug")));
}

TEST_CASE("E3: transient, permission and corrupt failures end the cycle") {
  CHECK(rules::ends_cycle(Error::Transient("timeout")));
  CHECK(rules::ends_cycle(Error::Permission("denied")));
  CHECK(rules::ends_cycle(Error::Corrupt("schema")));
  CHECK(rules::ends_cycle(Error::Invalid("whole service").with_retry(Retry::kStop)));
}
