// The emulators' listener: `--listen 127.0.0.1:PORT --db F [--tls-cert F --tls-key F]`, the
// first stdout line `listening on HOST:PORT`, one io_context on one thread, one coroutine per
// connection, requests handled one at a time (the SQLite connection is not shared across
// threads), SIGTERM/SIGINT stop it with exit code 0.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "emulator/http.hpp"

namespace emulator {

struct CommonOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 0;  // 0: the system picks one
  std::string db;
  std::string tls_cert;  // PEM chain; with tls_key, the listener speaks HTTPS only
  std::string tls_key;
  std::size_t body_limit = 32u * 1024u * 1024u;  // larger bodies get 413 and the connection closes
  std::size_t header_limit = 64u * 1024u;        // larger headers get 431 and the connection closes
  std::string server_name = "emulator";          // the Server header
  // The answer to a request the listener refuses before the emulator sees it (413 body too
  // large, 431 headers too large, 400 malformed HTTP): the emulator's own error shape. Unset:
  // plain text. The connection closes after it either way.
  std::function<Reply(int status, const std::string& text)> refusal;
};

// An emulator's own command-line flag: `--name VALUE` (takes_value) or `--name`.
struct Flag {
  std::string name;
  bool takes_value = true;
  // Gets the value ("" for a switch); returns an error message to refuse it.
  std::function<std::optional<std::string>(const std::string& value)> set;
};

// Parses the common flags and `extra`; an error message on bad usage (--db is required,
// --tls-cert and --tls-key go together).
std::optional<std::string> parse_args(int argc, char** argv, CommonOptions& out,
                                      const std::vector<Flag>& extra = {});

struct Listening {
  std::string host;
  unsigned short port = 0;
  bool tls = false;
};

// Binds, calls `on_listening` (before anything is printed: the emulator may learn its port),
// prints `listening on HOST:PORT`, then serves `handle` until SIGTERM/SIGINT. Returns 0.
// `handle` runs on the serving thread, one request at a time.
int serve(const CommonOptions& options, const std::function<Reply(const Request&)>& handle,
          const std::function<void(const Listening&)>& on_listening = {});

}  // namespace emulator
