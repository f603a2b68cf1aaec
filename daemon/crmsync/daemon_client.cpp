#include "daemon_client.hpp"

#include <iostream>

#include "crmsync/runtime/local_files.hpp"

namespace crmsync::cli {

std::optional<Config> load_cli_config(const GlobalOptions& global) {
  std::string path = global.config.empty() ? default_config_path() : global.config;
  auto cfg = load_config(path);
  if (!cfg.ok()) {
    for (const auto& p : config_problems(cfg.error())) std::cerr << "crmsync: " << p << "\n";
    return std::nullopt;
  }
  return std::move(*cfg);
}

Connection open_connection(const GlobalOptions& global) {
  Connection c;
  c.config = load_cli_config(global);
  if (!c.config) {
    c.exit_code = kExitUsage;
    return c;
  }
  c.client = DaemonClient::connect(*c.config, c.exit_code);
  return c;
}

std::string str_or(const rapidjson::Value& obj, const char* key, const char* fallback) {
  if (!obj.IsObject()) return fallback;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsString()) return fallback;
  return it->value.GetString();
}

std::int64_t int_or(const rapidjson::Value& obj, const char* key, std::int64_t fallback) {
  if (!obj.IsObject()) return fallback;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) return fallback;
  return it->value.GetInt64();
}

int unreachable(const std::string& where, const Error& e) {
  std::cerr << "crmsync: cannot reach crmsyncd at " << where << ": " << e.message()
            << "\ncrmsync: is the daemon running? (start it with `crmsyncd --config FILE`)\n";
  return kExitUnreachable;
}

DaemonClient::DaemonClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {
  http::ClientOptions o;
  o.connect_timeout = std::chrono::seconds(5);
  o.io_timeout = std::chrono::seconds(90);  // long polls wait up to 30 s
  client_ = std::make_shared<http::Client>(o);
}

std::optional<DaemonClient> DaemonClient::connect(const Config& config, int& exit_code) {
  auto info = read_runtime_file(config.runtime_file());
  std::string base;
  if (info.ok()) {
    base = info->base_url();
  } else if (config.http.port != 0) {
    RuntimeInfo guess;
    guess.host = config.http.host == "localhost" ? "127.0.0.1" : config.http.host;
    guess.port = config.http.port;
    base = guess.base_url();
  } else {
    std::cerr << "crmsync: no crmsyncd is running for profile " << config.profile << " ("
              << info.error().message() << ")\n"
              << "crmsync: start it with `crmsyncd --config " << config.source << "`\n";
    exit_code = kExitUnreachable;
    return std::nullopt;
  }
  auto token = read_api_token(config.http.token_file);
  if (!token.ok()) {
    if (token.error().is(ErrorKind::kNotFound)) {
      std::cerr << "crmsync: " << token.error().message() << "\n";
      exit_code = kExitUnreachable;
    } else {
      std::cerr << "crmsync: http.token_file: " << token.error().message() << "\n";
      exit_code = kExitUsage;
    }
    return std::nullopt;
  }
  return DaemonClient(base, *token);
}

Result<http::Response> DaemonClient::send(http::Request req) {
  req.headers.emplace_back("Authorization", "Bearer " + token_);
  return client_->send(req);
}

Result<http::Response> DaemonClient::get(const std::string& target) {
  http::Request r;
  r.method = "GET";
  r.url = base_url_ + target;
  return send(std::move(r));
}

Result<http::Response> DaemonClient::post(const std::string& target, const std::string& body) {
  http::Request r;
  r.method = "POST";
  r.url = base_url_ + target;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = body;
  return send(std::move(r));
}

int DaemonClient::get_json(const std::string& target, rapidjson::Document& out, std::string* raw) {
  auto r = get(target);
  if (!r.ok()) return unreachable(base_url_, r.error());
  if (r->status == 401) {
    std::cerr << "crmsync: the daemon refused the API token (http.token_file out of date?)\n";
    return kExitUsage;
  }
  if (r->status != 200) {
    std::cerr << "crmsync: " << target << ": HTTP " << r->status << ": " << r->body << "\n";
    return kExitItemErrors;
  }
  out.Parse(r->body.c_str());
  if (out.HasParseError()) {
    std::cerr << "crmsync: " << target << ": the daemon's answer is not JSON\n";
    return kExitItemErrors;
  }
  if (raw) *raw = r->body;
  return kExitOk;
}

}  // namespace crmsync::cli
