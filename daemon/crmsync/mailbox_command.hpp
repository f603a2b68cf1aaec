// `crmsync mailbox --db F <verb> ...`: act as the user on a mock mailbox (DESIGN.md contract).
#pragma once

#include "command.hpp"

namespace crmsync::cli {

void add_mailbox_command(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher);

}  // namespace crmsync::cli
