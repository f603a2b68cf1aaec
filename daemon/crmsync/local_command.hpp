// Commands that need no daemon: `once [--allow-mass-delete]` (one full cycle in-process)
// and `config check`.
#pragma once

#include "command.hpp"

namespace crmsync::cli {

void add_local_commands(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher);

}  // namespace crmsync::cli
