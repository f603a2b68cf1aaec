// The CLI's side of the loopback endpoint: finds the running daemon (runtime file next to
// the cache), reads the API token from http.token_file, and sends requests.
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string>

#include "command.hpp"
#include "crmsync/config/config.hpp"
#include "crmsync/http/client.hpp"

namespace crmsync::cli {

// The config of --config (or the default path); prints the problems and returns nullopt on
// failure (exit code 2).
std::optional<Config> load_cli_config(const GlobalOptions& global);

class DaemonClient {
 public:
  // nullopt after printing why (`exit_code` says 2 or 3).
  static std::optional<DaemonClient> connect(const Config& config, int& exit_code);

  // GET/POST; kTransient when the daemon is unreachable.
  Result<http::Response> get(const std::string& target);
  Result<http::Response> post(const std::string& target, const std::string& body);
  // GET that must answer 200 with JSON; prints and returns the exit code otherwise.
  int get_json(const std::string& target, rapidjson::Document& out, std::string* raw = nullptr);
  const std::string& base_url() const { return base_url_; }

 private:
  DaemonClient(std::string base_url, std::string token);
  Result<http::Response> send(http::Request req);

  std::string base_url_;
  std::string token_;
  std::shared_ptr<http::Client> client_;
};

// "crmsync: cannot reach crmsyncd at URL: <why>" and kExitUnreachable.
int unreachable(const std::string& where, const Error& e);

// The config and a client of its daemon; `client` is empty (and `exit_code` says why, 2 or 3)
// when either failed.
struct Connection {
  std::optional<Config> config;
  std::optional<DaemonClient> client;
  int exit_code = kExitOk;
};
Connection open_connection(const GlobalOptions& global);

// A member of a JSON object as text or integer, or the fallback.
std::string str_or(const rapidjson::Value& obj, const char* key, const char* fallback = "-");
std::int64_t int_or(const rapidjson::Value& obj, const char* key, std::int64_t fallback = 0);

}  // namespace crmsync::cli
