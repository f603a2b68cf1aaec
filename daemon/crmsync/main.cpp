// crmsync: the command-line client. Each command group registers itself on the app;
// main only parses, maps parse errors to exit code 2, and runs the chosen command.
#include <CLI/CLI.hpp>

#include "command.hpp"
#include "daemon_command.hpp"
#include "decision_command.hpp"
#include "local_command.hpp"
#include "login_command.hpp"
#include "mailbox_command.hpp"

int main(int argc, char** argv) {
  using namespace crmsync::cli;
  CLI::App app{"crmsync: keeps a mailbox and Microsoft Dynamics CRM in sync", "crmsync"};
  // Options of a parent are accepted after its subcommands (`--config` anywhere).
  app.fallthrough();
  app.require_subcommand(1);
  GlobalOptions global;
  app.add_option("--config", global.config,
                 "config file (default $XDG_CONFIG_HOME/crmsync/config.json); accepted before "
                 "or after the subcommand");
  Dispatcher dispatcher;
  add_mailbox_command(app, global, dispatcher);
  add_daemon_commands(app, global, dispatcher);
  add_decision_commands(app, global, dispatcher);  // after: conflicts and errors get verbs
  add_local_commands(app, global, dispatcher);
  add_login_command(app, global, dispatcher);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help (rc 0) or the parse error on stderr
    return rc == 0 ? kExitOk : kExitUsage;
  }
  return dispatcher.run();
}
