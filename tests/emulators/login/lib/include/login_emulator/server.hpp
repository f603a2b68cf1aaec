// login-emulator: a local Entra ID (Azure AD) authority for tests — the device code,
// refresh token and client credentials grants of the v2.0 endpoints, RS256 JWTs, JWKS and
// the OpenID configuration — over SQLite, with a JSON admin API. See README.md.
#pragma once

#include <optional>
#include <string>

#include "emulator/server.hpp"

namespace login_emulator {

struct Options {
  emulator::CommonOptions common;
  int interval_s = 5;           // the device flow's polling interval (0: no rate check)
  int code_lifetime_s = 900;    // device codes (Entra: 15 minutes)
  int token_lifetime_s = 3599;  // access tokens, unless the token_lifetime_s fault says less
  // The base of the issuer and the endpoints; empty: the scheme and the request's Host.
  std::string public_url;
};

std::optional<std::string> parse_args(int argc, char** argv, Options& out);

// Runs until SIGTERM/SIGINT; the first stdout line is `listening on HOST:PORT`.
int run(const Options& options);

}  // namespace login_emulator
