// ews-emulator: a local Exchange Web Services endpoint (SOAP 1.1 at
// /EWS/Exchange.asmx) over SQLite, with a JSON admin API for tests.
#pragma once

#include <optional>
#include <string>

namespace ews_emulator {

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string db;
  std::string schemas;  // directory holding ews-envelope-validate.xsd and types.xsd
  // Length of an EWS "minute" (subscription Timeout, ConnectionTimeout; keep-alives
  // go out every half minute). Tests shorten it; 60000 otherwise.
  int minute_ms = 60000;
  // The connection-bound schemes a 401 offers besides Basic and Bearer (--ntlm-schemes).
  bool offer_negotiate = true;  // WWW-Authenticate: Negotiate (SPNEGO carrying NTLMSSP)
  bool offer_ntlm = true;       // WWW-Authenticate: NTLM (bare NTLMSSP)
};

// Parse argv; returns an error message on bad usage.
std::optional<std::string> parse_args(int argc, char** argv, Options& out);

// Run until SIGTERM/SIGINT. Prints "listening on HOST:PORT" on stdout first.
// Returns the process exit code.
int run(const Options& options);

}  // namespace ews_emulator
