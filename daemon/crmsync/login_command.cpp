#include "login_command.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "crmsync/http/client.hpp"
#include "crmsync/oauth/oauth.hpp"
#include "crmsync/runtime/runtime.hpp"
#include "daemon_client.hpp"

namespace crmsync::cli {
namespace {

struct LoginOptions {
  bool crm = false;
  bool mailbox = false;
  bool json = false;
};

// The first stdout line with --json, for scripts: what to show the user.
std::string prompt_json(const oauth::DeviceCode& code) {
  rapidjson::StringBuffer out;
  rapidjson::Writer<rapidjson::StringBuffer> w(out);
  w.StartObject();
  w.Key("verification_uri");
  w.String(code.verification_uri.c_str());
  w.Key("user_code");
  w.String(code.user_code.c_str());
  w.Key("expires_in");
  w.Int64(code.expires_in);
  w.EndObject();
  return out.GetString();
}

int sign_in(const SignIn& s, const std::string& ca_file, bool json) {
  http::ClientOptions options;
  options.ca_file = ca_file;
  http::Client client(options);
  auto code = oauth::start_device_flow(client, s.authority, s.scope);
  if (!code.ok()) {
    std::cerr << "crmsync: login (" << s.side << "): " << code.error().message() << "\n";
    return kExitItemErrors;
  }
  if (json) {
    std::cout << prompt_json(*code) << std::endl;
  } else {
    std::cout << "To sign in to " << s.side << ", open " << code->verification_uri
              << " and enter the code " << code->user_code << " (valid for "
              << code->expires_in / 60 << " minutes)." << std::endl;
  }
  auto tokens =
      oauth::poll_device_flow(client, s.authority, *code, system_clock(),
                              [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); });
  if (!tokens.ok()) {
    std::cerr << "crmsync: login (" << s.side << "): " << tokens.error().message() << "\n";
    return kExitItemErrors;
  }
  if (tokens->refresh_token.empty()) {
    std::cerr << "crmsync: login (" << s.side
              << "): the sign-in service sent no refresh token (is offline_access granted?)\n";
    return kExitItemErrors;
  }
  if (auto saved = oauth::save_refresh_token(s.token_store, tokens->refresh_token); !saved.ok()) {
    std::cerr << "crmsync: login (" << s.side << "): " << saved.error().message() << "\n";
    return kExitItemErrors;
  }
  if (!json) std::cout << "signed in (" << s.side << ")" << std::endl;
  return kExitOk;
}

int run_login(const GlobalOptions& global, const LoginOptions& o) {
  auto config = load_cli_config(global);
  if (!config) return kExitUsage;
  const bool all = !o.crm && !o.mailbox;
  std::vector<SignIn> sides;
  if (o.crm || all) {
    if (auto s = crm_sign_in(*config))
      sides.push_back(*s);
    else if (o.crm)
      return usage_error(
          "crm.auth.type is not device_code: the CRM side signs in without "
          "crmsync login");
  }
  if (o.mailbox || all) {
    if (auto s = mailbox_sign_in(*config))
      sides.push_back(*s);
    else if (o.mailbox)
      return usage_error("store.type " + config->store.type +
                         " signs in without crmsync login (store.type graph with store.auth.type "
                         "device_code signs in with it)");
  }
  if (sides.empty())
    return usage_error(
        "nothing signs in with crmsync login in this config (crm.auth.type or, for Graph, "
        "store.auth.type device_code does)");
  for (const auto& s : sides)
    if (int rc = sign_in(s, s.side == "crm" ? config->crm.ca_file : config->store.ca_file, o.json);
        rc != kExitOk)
      return rc;
  return kExitOk;
}

}  // namespace

void add_login_command(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher) {
  auto o = std::make_shared<LoginOptions>();
  auto* login = app.add_subcommand(
      "login", "sign in as yourself with a code shown here and entered in a browser (SPEC U3)");
  login->add_flag("--crm", o->crm, "only the CRM side");
  login->add_flag("--mailbox", o->mailbox, "only the mailbox side");
  login->add_flag("--json", o->json,
                  "first stdout line: {\"verification_uri\",\"user_code\",\"expires_in\"}");
  login->footer("Exit codes: 0 signed in; 1 declined, expired or refused; 2 config error.");
  dispatcher.add(login, [o, &global] { return run_login(global, *o); });
}

}  // namespace crmsync::cli
