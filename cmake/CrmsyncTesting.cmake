# Test prerequisites outside the build (tools, the shared reference folder, GSSAPI): a test that
# needs a missing one never passes. Under CI (CI=true) or with CRMSYNC_REQUIRE_ALL=1 (scripts/test
# exports it) a missing one is an error naming what to install: here at configure time, in the
# test itself at run time (tests/catch_main/include/crmsync/test/prerequisite.hpp). Elsewhere
# configuring warns, and the tests that need it say SKIPPED and exit with
# CRMSYNC_TEST_SKIP_CODE, which CTest counts as skipped.

# The exit code of a skipped test; catch_main's kSkipExitCode is the same (a static_assert).
set(CRMSYNC_TEST_SKIP_CODE 77)

# ON when CI or CRMSYNC_REQUIRE_ALL is set to anything but "", 0, false, no, off (any case):
# the test binaries read the same variables, with the same rule, when they run.
set(CRMSYNC_STRICT_PREREQUISITES OFF)
foreach(var CI CRMSYNC_REQUIRE_ALL)
  string(TOLOWER "$ENV{${var}}" value)
  if(NOT value STREQUAL "" AND NOT value MATCHES "^(0|false|no|off)$")
    set(CRMSYNC_STRICT_PREREQUISITES ON)
  endif()
endforeach()

# A test prerequisite found missing while configuring: `what` is not there, `install` says
# where it comes from. Fatal when strict; otherwise a warning, and the tests that need it stay
# registered and report SKIPPED.
function(crmsync_test_prerequisite_missing what install)
  if(NOT CRMSYNC_BUILD_TESTS)
    return()
  endif()
  if(CRMSYNC_STRICT_PREREQUISITES)
    message(FATAL_ERROR "${what} was not found; install: ${install}. CI=true or "
                        "CRMSYNC_REQUIRE_ALL=1: the tests that need it may not be skipped.")
  endif()
  message(WARNING "${what} was not found (install: ${install}); the tests that need it will "
                  "report SKIPPED (CTest: Not Run, Skipped).")
endfunction()

# find_program for a tool that tests run: `var` is the cached path, or a missing prerequisite.
function(crmsync_find_test_program var program install)
  find_program(${var} ${program})
  if(NOT ${var})
    crmsync_test_prerequisite_missing("${program}" "${install}")
  endif()
endfunction()

# catch_discover_tests with SKIP_RETURN_CODE ${CRMSYNC_TEST_SKIP_CODE} added to the tests'
# PROPERTIES: every test case is run in its own process, so a test case that skipped is
# counted as skipped on its own. Every Catch executable registers its tests through this (a
# test checks it: tests/prerequisites).
function(crmsync_discover_tests target)
  set(args ${ARGN})
  list(FIND args PROPERTIES at)
  if(at EQUAL -1)
    list(APPEND args PROPERTIES SKIP_RETURN_CODE ${CRMSYNC_TEST_SKIP_CODE})
  else()
    math(EXPR at "${at} + 1")
    list(INSERT args ${at} SKIP_RETURN_CODE ${CRMSYNC_TEST_SKIP_CODE})
  endif()
  catch_discover_tests(${target} ${args})
endfunction()
