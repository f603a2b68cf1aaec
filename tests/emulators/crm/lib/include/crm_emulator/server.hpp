// crm-emulator: a local Dynamics CRM Organization Service (SOAP 1.1 /web
// endpoint) over SQLite, with a JSON admin API for tests.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace crm_emulator {

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string db;
  std::string tls_cert;
  std::string tls_key;
  bool seed_demo = false;
  // Service protection: SOAP requests per user per 300 s (Dynamics' 6000); 0 = unlimited
  // (benchmarks, which measure crmsync rather than the throttle).
  int throttle_limit = 6000;
  std::string demo_token = "demo-token";
  // Bearer JWTs from this authority (e.g. login-emulator's http://127.0.0.1:P/organizations)
  // are taken besides the admin-made opaque tokens; "" = opaque tokens only.
  std::string authority;
  std::string authority_ca;  // CA file for an https authority ("" = the system's)
  // The organization URL: the audience JWTs must carry ("" = this server's own base URL,
  // http(s)://HOST:PORT, known once it listens).
  std::string org_url;
  int token_leeway_s = 300;  // clock skew allowed on a JWT's exp/nbf (tests set 0)
};

// Parse argv; returns an error message on bad usage.
std::optional<std::string> parse_args(int argc, char** argv, Options& out);

// Run until SIGTERM/SIGINT. Prints "listening on HOST:PORT" (and the demo user
// line when seeded) on stdout. Returns the process exit code.
int run(const Options& options);

}  // namespace crm_emulator
