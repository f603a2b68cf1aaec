// Test prerequisites that the build cannot guarantee: a tool, a Python module, a GSSAPI
// mechanism, the shared reference folder. A test that needs a missing one never passes:
//  - strict (CI=true, or CRMSYNC_REQUIRE_ALL=1 as scripts/test exports): it fails, naming what
//    to install;
//  - otherwise: it says "SKIPPED: ..." and the test process exits with kSkipExitCode, which
//    CTest counts as skipped (every discovered test has SKIP_RETURN_CODE kSkipExitCode:
//    crmsync_discover_tests in cmake/CrmsyncTesting.cmake); a failure elsewhere still fails.
// CRMSYNC_TEST_PRETEND_MISSING=id[,id...] makes the prerequisites with those ids (or "all")
// missing, to see the rule at work: CI=true CRMSYNC_TEST_PRETEND_MISSING=xmllint ctest ...
#pragma once

#include <string_view>

namespace crmsync::test {

// The exit code of a test process that skipped for a missing prerequisite and failed nothing.
inline constexpr int kSkipExitCode = 77;

struct Prerequisite {
  std::string_view id;       // the name CRMSYNC_TEST_PRETEND_MISSING uses
  std::string_view what;     // what the tests need
  std::string_view install;  // where it comes from: the Debian package, or the folder
};

namespace prereq {
inline constexpr Prerequisite kReference{
    "reference", "the shared reference folder (official schemas and samples)",
    "../shared/reference beside the source tree (not a Debian package)"};
inline constexpr Prerequisite kXmllint{"xmllint", "xmllint (schema validation)",
                                       "Debian package libxml2-utils"};
inline constexpr Prerequisite kExchangelib{"exchangelib",
                                           "the Python module exchangelib (/usr/bin/python3)",
                                           "Debian package python3-exchangelib"};
inline constexpr Prerequisite kRequestsNtlm{"requests_ntlm",
                                            "the Python module requests_ntlm (/usr/bin/python3)",
                                            "Debian package python3-requests-ntlm"};
inline constexpr Prerequisite kNtlm{
    "ntlm", "NTLM through GSSAPI (the NTLMSSP mechanism)",
    "Debian packages gss-ntlmssp (run time) and libkrb5-dev (build time)"};
inline constexpr Prerequisite kChromium{"chromium", "/usr/bin/chromium (headless)",
                                        "Debian package chromium"};
inline constexpr Prerequisite kOpenssl{"openssl", "the openssl command", "Debian package openssl"};
inline constexpr Prerequisite kMsal{"msal", "the Python module msal (/usr/bin/python3)",
                                    "Debian package python3-msal"};
inline constexpr Prerequisite kNode{
    "node", "node with Microsoft's Graph SDK in tests/emulators/graph/client/node_modules",
    "Debian packages nodejs and npm, then scripts/setup (npm ci in tests/emulators/graph/client)"};
}  // namespace prereq

// True when the current test may use `p` (`present`, and not pretended missing). Otherwise
// the test fails (strict; it goes on, FAIL_CHECK) or is marked skipped, with a message that
// names `p.install` and `detail` (the path looked at, the reason given); false is returned.
// Only from inside a running test case.
bool prerequisite(const Prerequisite& p, bool present, std::string_view detail = {});

// CI or CRMSYNC_REQUIRE_ALL set to anything but "", 0, false, no, off (any case).
bool strict_prerequisites();

// Whether `program` is an executable file in one of PATH's folders.
bool on_path(std::string_view program);

// What the test process returns for Catch's result: kSkipExitCode when a test skipped and
// nothing failed (after a summary of the skips), never kSkipExitCode for a failure.
int process_exit_code(int catch_result);

}  // namespace crmsync::test

// Ends the test case (void) unless `p` is there: failed when strict, skipped otherwise.
#define REQUIRE_PREREQUISITE(...)                            \
  do {                                                       \
    if (!::crmsync::test::prerequisite(__VA_ARGS__)) return; \
  } while (0)
