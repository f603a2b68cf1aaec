// What every `crmsync` command shares: exit codes (DESIGN.md contract), global options,
// and the dispatcher that runs the one leaf subcommand the user chose.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "crmsync/model/result.hpp"

namespace CLI {
class App;
}

namespace crmsync::cli {

// Exit codes of the CLI contract (DESIGN.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitItemErrors = 1,  // the cycle finished with item errors; for mailbox: the operation failed
  kExitUsage = 2,       // usage or config error: bad arguments, unknown kind/field/id, bad value
  kExitUnreachable = 3,
  kExitMassDelete = 4,
  kExitNeedsLogin = 5,  // a side's sign-in is gone or refused: run `crmsync login` (SPEC U3)
};

struct GlobalOptions {
  std::string config;  // --config FILE, accepted before or after any subcommand
};

// Leaf subcommands and what they run once parsing is done.
class Dispatcher {
 public:
  void add(CLI::App* leaf, std::function<int()> run) { leaves_.push_back({leaf, std::move(run)}); }
  // Runs the parsed leaf; kExitUsage when none was chosen.
  int run() const;

 private:
  struct Leaf {
    CLI::App* app;
    std::function<int()> run;
  };
  std::vector<Leaf> leaves_;
};

// Prints "crmsync: <kind>: <message>" on stderr and returns the exit code for the error:
// kInvalid, kNotFound, kCorrupt, kPermission → kExitUsage; the rest → kExitItemErrors.
int report(const Error& e);
int usage_error(const std::string& message);

}  // namespace crmsync::cli
