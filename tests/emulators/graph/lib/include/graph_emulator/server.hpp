// graph-emulator: a local Microsoft Graph v1.0 for Microsoft 365 mailboxes (contacts,
// calendar, To Do, mail, master categories, delta, $batch) over SQLite, held to the Graph
// CSDL, with the emulators' JSON admin API. See README.md.
#pragma once

#include <optional>
#include <string>

#include "emulator/server.hpp"

namespace graph_emulator {

struct Options {
  emulator::CommonOptions common;
  std::string authority;     // --authority URL: also take that authority's RS256 JWTs
  std::string authority_ca;  // --authority-ca F: its TLS CA (https authorities)
  std::string csdl;          // --csdl F; default: ../shared/reference/graph/v1.0-Prod.csdl
};

std::optional<std::string> parse_args(int argc, char** argv, Options& out);

// Runs until SIGTERM/SIGINT; the first stdout line is `listening on HOST:PORT`. Throws (and
// main exits 1) when the CSDL is missing, naming its path.
int run(const Options& options);

}  // namespace graph_emulator
