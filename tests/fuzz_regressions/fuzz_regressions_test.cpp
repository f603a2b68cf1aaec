// Replays the fuzzers' findings and seeds through the harness (crmsync/fuzz/harness.hpp).
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "crmsync/fuzz/harness.hpp"

namespace fs = std::filesystem;
using crmsync::fuzz::Outcome;
using crmsync::fuzz::targets;

namespace {

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename() != "README.md") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// A reproducer was a crash or a broken property; now it is a clean error, unless its name
// says it is valid input the parser once mishandled ("accept-...").
TEST_CASE("fuzz regressions end in a clean error") {
  std::size_t replayed = 0;
  for (const auto& t : targets()) {
    for (const auto& file : files_in(fs::path(CRMSYNC_FUZZ_DIR) / "regressions" / t.name)) {
      INFO(t.name << ": " << file.filename().string());
      const Outcome o = t.run(read(file));
      CHECK(o.violation == "");
      const bool valid = file.filename().string().rfind("accept-", 0) == 0;
      CHECK(o.accepted == valid);
      ++replayed;
    }
  }
  INFO("replayed " << replayed << " reproducers");
  SUCCEED();
}

TEST_CASE("fuzz seeds keep every property") {
  std::size_t seeds = 0;
  for (const auto& t : targets()) {
    for (const auto& file : files_in(fs::path(CRMSYNC_FUZZ_DIR) / "corpus" / t.name)) {
      INFO(t.name << ": " << file.filename().string());
      CHECK(t.run(read(file)).violation == "");
      ++seeds;
    }
  }
  CHECK(seeds > 0);
}
