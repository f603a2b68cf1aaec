#include "crmsync/test/prerequisite.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

namespace crmsync::test {

static_assert(kSkipExitCode == CRMSYNC_TEST_SKIP_CODE,
              "cmake/CrmsyncTesting.cmake and prerequisite.hpp disagree on the skip exit code");

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

bool truthy(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return !(v.empty() || v == "0" || v == "false" || v == "no" || v == "off");
}

bool pretended_missing(std::string_view id) {
  std::stringstream list(env("CRMSYNC_TEST_PRETEND_MISSING"));
  for (std::string item; std::getline(list, item, ',');)
    if (item == id || item == "all") return true;
  return false;
}

struct Skip {
  std::string test;
  std::string what;
  std::string install;
};

// What this process skipped, and which (test, prerequisite) pairs were already reported.
std::vector<Skip>& skips() {
  static std::vector<Skip> s;
  return s;
}
std::set<std::pair<std::string, std::string>>& reported() {
  static std::set<std::pair<std::string, std::string>> r;
  return r;
}

}  // namespace

bool strict_prerequisites() {
  return truthy(env("CI")) || truthy(env("CRMSYNC_REQUIRE_ALL"));
}

bool on_path(std::string_view program) {
#ifdef _WIN32
  const char separator = ';';
#else
  const char separator = ':';
#endif
  std::stringstream path(env("PATH"));
  for (std::string dir; std::getline(path, dir, separator);) {
    if (dir.empty()) continue;
    std::error_code ec;
    auto st = std::filesystem::status(std::filesystem::path(dir) / program, ec);
    if (!ec && std::filesystem::is_regular_file(st) &&
        (st.permissions() & std::filesystem::perms::owner_exec) != std::filesystem::perms::none)
      return true;
  }
  return false;
}

bool prerequisite(const Prerequisite& p, bool present, std::string_view detail) {
  std::string why(detail);
  if (present && pretended_missing(p.id)) {
    present = false;
    why = "pretended missing: CRMSYNC_TEST_PRETEND_MISSING=" + env("CRMSYNC_TEST_PRETEND_MISSING");
  }
  if (present) return true;
  const std::string test = Catch::getResultCapture().getCurrentTestName();
  // Once per test case and prerequisite: a loop of checks says it once.
  if (!reported().emplace(test, std::string(p.id)).second) return false;
  std::string text = std::string(p.what) + " is missing";
  if (!why.empty()) text += " (" + why + ")";
  text += "; install: " + std::string(p.install);
  // Also one unwrapped line on stderr (Catch wraps its messages), for logs and greps.
  const bool strict = strict_prerequisites();
  std::cerr << (strict ? "MISSING PREREQUISITE" : "SKIPPED") << " in \"" << test << "\": " << text
            << std::endl;
  if (strict) {
    FAIL_CHECK("MISSING PREREQUISITE: "
               << text
               << ". CI=true or CRMSYNC_REQUIRE_ALL=1: a test may not skip for a missing "
                  "prerequisite.");
  } else {
    WARN("SKIPPED: " << text << ". (Under CI=true or CRMSYNC_REQUIRE_ALL=1 this fails.)");
    skips().push_back({test, std::string(p.what), std::string(p.install)});
  }
  return false;
}

int process_exit_code(int catch_result) {
  if (catch_result != 0 || skips().empty())
    return catch_result == kSkipExitCode ? kSkipExitCode + 1 : catch_result;
  std::cout << "SKIPPED (exit code " << kSkipExitCode << "): " << skips().size()
            << " missing prerequisite(s):\n";
  for (const auto& s : skips())
    std::cout << "  " << s.test << ": " << s.what << " (install: " << s.install << ")\n";
  std::cout.flush();
  return kSkipExitCode;
}

}  // namespace crmsync::test
