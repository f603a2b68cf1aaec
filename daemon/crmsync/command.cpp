#include "command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>

namespace crmsync::cli {

int Dispatcher::run() const {
  // The deepest parsed command: `conflicts resolve` parses `conflicts` too.
  for (const auto& leaf : leaves_)
    if (leaf.app->parsed() && leaf.app->get_subcommands().empty()) return leaf.run();
  return usage_error("no command given (see --help)");
}

int report(const Error& e) {
  std::cerr << "crmsync: " << e.describe() << "\n";
  switch (e.kind()) {
    case ErrorKind::kInvalid:
    case ErrorKind::kNotFound:
    case ErrorKind::kCorrupt:
    case ErrorKind::kPermission:
      return kExitUsage;
    default:
      return kExitItemErrors;
  }
}

int usage_error(const std::string& message) {
  std::cerr << "crmsync: " << message << "\n";
  return kExitUsage;
}

}  // namespace crmsync::cli
