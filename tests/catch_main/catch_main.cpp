// Catch2's main for every test executable: Catch's result, except that a process whose tests
// skipped for a missing prerequisite (crmsync/test/prerequisite.hpp) and failed nothing exits
// with kSkipExitCode, which CTest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "crmsync/test/prerequisite.hpp"

int main(int argc, char* argv[]) {
  return crmsync::test::process_exit_code(Catch::Session().run(argc, argv));
}
