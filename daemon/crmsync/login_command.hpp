// `crmsync login [--crm] [--mailbox] [--json]`: signs the user in with the device code flow
// (SPEC U3) for the sides whose config says device_code, and keeps the refresh tokens.
#pragma once

#include "command.hpp"

namespace crmsync::cli {

void add_login_command(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher);

}  // namespace crmsync::cli
