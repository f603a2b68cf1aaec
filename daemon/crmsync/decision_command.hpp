// The user's decisions through the running daemon (SPEC U2), each the button of the seed's
// Outlook client it replaces: items [--kind K] [--search TEXT] [--tracked|--untracked],
// track ID, untrack ID [--delete-in-crm], regarding ID ENTITY:GUID (or --search TEXT),
// conflicts resolve ID --keep crm|mailbox|merged, deletions [confirm|reject [IDS]],
// errors retry|ignore ID. Registered after add_daemon_commands (conflicts and errors get
// their verbs). Exit codes: 0 done, 2 bad or unknown id, 1 refused (a replay changes
// nothing), 3 daemon unreachable, 4 a confirmation's cycle still held deletions.
#pragma once

#include "command.hpp"

namespace crmsync::cli {

void add_decision_commands(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher);

}  // namespace crmsync::cli
