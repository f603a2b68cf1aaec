// Probes of the test-prerequisite rule (crmsync/test/prerequisite.hpp), which
// check_prerequisites.cmake runs with a chosen environment. With nothing set they pass; with
// CRMSYNC_TEST_PRETEND_MISSING=probe their prerequisite is missing.
#include <catch2/catch.hpp>

#include "crmsync/test/prerequisite.hpp"

namespace {

constexpr crmsync::test::Prerequisite kProbe{"probe", "the probe prerequisite",
                                             "Debian package crmsync-probe-package"};

}  // namespace

TEST_CASE("probe: a test that needs the probe prerequisite throughout", "[probe-whole]") {
  REQUIRE_PREREQUISITE(kProbe, true);
  CHECK(true);
}

TEST_CASE("probe: one check of a test needs the probe prerequisite", "[probe-check]") {
  if (crmsync::test::prerequisite(kProbe, true)) CHECK(true);
  CHECK(1 + 1 == 2);
}

// Hidden: fails whatever the environment (run by check_prerequisites.cmake only).
TEST_CASE("probe: a failure beside a missing prerequisite", "[.probe-failing]") {
  if (crmsync::test::prerequisite(kProbe, true)) CHECK(true);
  CHECK(1 + 1 == 3);
}
