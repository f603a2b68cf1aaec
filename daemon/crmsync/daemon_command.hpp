// Commands that talk to a running crmsyncd: sync [--wait] [--allow-mass-delete],
// status|errors|conflicts [--json] (DESIGN.md contract). Exit 3 when it is unreachable.
#pragma once

#include "command.hpp"

namespace crmsync::cli {

void add_daemon_commands(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher);
// Exit code for a cycle result ("ok", "item-errors", "mass-delete-held", "failed", ...).
int exit_code_for_result(const std::string& result);

}  // namespace crmsync::cli
