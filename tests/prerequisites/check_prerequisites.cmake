# Checks the test-prerequisite rule from outside the test processes (cmake -P, see
# CMakeLists.txt here). Lists are given with "|" between items. The environment of CI runs
# (CI, CRMSYNC_REQUIRE_ALL, CRMSYNC_TEST_PRETEND_MISSING) is removed first; SET adds what a
# check needs.
#   MODE=run        PROBE CASE SET EXIT (a number, or "failure": neither 0 nor the skip code)
#                   MATCH (regexes the output must contain)
#   MODE=ctest      PROBE_DIR SCRATCH SET EXIT MATCH: CTest runs the probe's discovered tests
#                   as they are registered in the build (their *_include-*.cmake file)
#   MODE=registered BUILD_DIR SCRATCH SKIP_CODE: every test case that catch_discover_tests
#                   registered has SKIP_RETURN_CODE SKIP_CODE
#   MODE=configure  MODULE SET EXIT MATCH: cmake/CrmsyncTesting.cmake with a tool that is not
#                   there
cmake_minimum_required(VERSION 3.25)

set(clean_env --unset=CI --unset=CRMSYNC_REQUIRE_ALL --unset=CRMSYNC_TEST_PRETEND_MISSING)
foreach(var SET MATCH)
  string(REPLACE "|" ";" ${var} "${${var}}")
endforeach()

function(expect rc output)
  if(EXIT STREQUAL "failure")
    if(rc EQUAL 0 OR rc EQUAL 77 OR NOT rc MATCHES "^[0-9]+$")
      message(FATAL_ERROR "expected a failure (exit neither 0 nor 77), got ${rc}:\n${output}")
    endif()
  elseif(NOT rc STREQUAL EXIT)
    message(FATAL_ERROR "expected exit ${EXIT}, got ${rc}:\n${output}")
  endif()
  foreach(re IN LISTS MATCH)
    if(NOT output MATCHES "${re}")
      message(FATAL_ERROR "the output does not contain '${re}':\n${output}")
    endif()
  endforeach()
  message(STATUS "exit ${rc} as expected; output:\n${output}")
endfunction()

if(MODE STREQUAL "run")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${clean_env} ${SET} ${PROBE} ${CASE}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  expect("${rc}" "${out}${err}")

elseif(MODE STREQUAL "ctest")
  file(GLOB includes "${PROBE_DIR}/prerequisite_probe_include-*.cmake")
  if(NOT includes)
    message(FATAL_ERROR "no prerequisite_probe_include-*.cmake in ${PROBE_DIR}")
  endif()
  file(REMOVE_RECURSE "${SCRATCH}")
  set(testfile "")
  foreach(f IN LISTS includes)
    string(APPEND testfile "include(\"${f}\")\n")
  endforeach()
  file(WRITE "${SCRATCH}/CTestTestfile.cmake" "${testfile}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${clean_env} ${SET}
                          ${CMAKE_CTEST_COMMAND} --test-dir ${SCRATCH} --output-on-failure
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    set(rc 1)  # CTest says 8 for failed tests; any failure will do
  endif()
  expect("${rc}" "${out}${err}")

elseif(MODE STREQUAL "registered")
  # A scratch folder that includes the build's tests: ctest writes its log there, not into the
  # build folder that the running ctest writes to.
  file(REMOVE_RECURSE "${SCRATCH}")
  file(WRITE "${SCRATCH}/CTestTestfile.cmake" "subdirs(\"${BUILD_DIR}\")\n")
  execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${SCRATCH} --show-only=json-v1
                  RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ctest --show-only failed (${rc}): ${err}")
  endif()
  string(JSON tests GET "${json}" tests)
  string(JSON count LENGTH "${tests}")
  set(catch_tests 0)
  set(offenders "")
  math(EXPR last "${count} - 1")
  foreach(i RANGE ${last})
    string(JSON test GET "${tests}" ${i})
    string(JSON name GET "${test}" name)
    # add_test() in a CMakeLists.txt has a backtrace; catch_discover_tests registers its tests
    # when ctest starts (TEST_INCLUDE_FILES), without one.
    string(JSON backtrace ERROR_VARIABLE no_backtrace GET "${test}" backtrace)
    if(NOT no_backtrace OR name MATCHES "_NOT_BUILT-")
      continue()
    endif()
    math(EXPR catch_tests "${catch_tests} + 1")
    set(code "")
    string(JSON properties ERROR_VARIABLE none GET "${test}" properties)
    if(NOT none)
      string(JSON n LENGTH "${properties}")
      math(EXPR n "${n} - 1")
      foreach(j RANGE ${n})
        string(JSON property GET "${properties}" ${j})
        string(JSON property_name GET "${property}" name)
        if(property_name STREQUAL "SKIP_RETURN_CODE")
          string(JSON code GET "${property}" value)
        endif()
      endforeach()
    endif()
    if(NOT code STREQUAL SKIP_CODE)
      string(APPEND offenders "\n  ${name} (SKIP_RETURN_CODE '${code}')")
    endif()
  endforeach()
  if(catch_tests EQUAL 0)
    message(FATAL_ERROR "no test registered by catch_discover_tests in ${BUILD_DIR}")
  endif()
  if(offenders)
    message(FATAL_ERROR "registered without SKIP_RETURN_CODE ${SKIP_CODE} (use "
                        "crmsync_discover_tests):${offenders}")
  endif()
  message(STATUS "${catch_tests} Catch test cases, each with SKIP_RETURN_CODE ${SKIP_CODE}")

elseif(MODE STREQUAL "configure")
  set(script "${SCRATCH}.cmake")
  file(WRITE "${script}"
       "set(CRMSYNC_BUILD_TESTS ON)\n"
       "include(\"${MODULE}\")\n"
       "crmsync_find_test_program(PROBE_TOOL crmsync-no-such-tool "
       "\"Debian package crmsync-probe-package\")\n"
       "message(STATUS \"configured on\")\n")
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${clean_env} ${SET} ${CMAKE_COMMAND} -P ${script}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  expect("${rc}" "${out}${err}")

else()
  message(FATAL_ERROR "MODE must be run, ctest, registered or configure")
endif()
