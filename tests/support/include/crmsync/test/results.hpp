// Machine-readable results of the long-running randomized tests (trials, model seeds): one
// line per trial or seed, "kind key=value ...", appended to the file named by CRMSYNC_RESULTS.
// scripts/reliability sums them into its report, so the figures come from what really ran.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace crmsync::test {

inline void record_result(const std::string& line) {
  const char* path = std::getenv("CRMSYNC_RESULTS");
  if (!path || !*path) return;
  // Appended and flushed per line: a crash of the test still leaves the trials before it.
  std::ofstream(path, std::ios::app) << line << '\n' << std::flush;
}

}  // namespace crmsync::test
