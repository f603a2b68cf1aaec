#include "daemon_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "daemon_client.hpp"

namespace crmsync::cli {
namespace {

void print_bar(bool tty, const std::string& step, std::int64_t done, std::int64_t total,
               std::string& last_line) {
  std::string line;
  if (total > 0) {
    int width = 30;
    int filled = static_cast<int>(width * std::min(done, total) / total);
    line = fmt::format("{:<13} [{}{}] {}/{}", step, std::string(filled, '#'),
                       std::string(width - filled, ' '), done, total);
  } else {
    line = fmt::format("{:<13} ...", step);
  }
  if (tty) {
    std::cerr << "\r" << line << "\033[K" << std::flush;
  } else if (step != last_line) {
    std::cerr << "step: " << step << "\n";
  }
  last_line = tty ? line : step;
}

int run_sync(const GlobalOptions& global, bool wait, bool allow_mass_delete) {
  auto c = open_connection(global);
  if (!c.client) return c.exit_code;
  auto& client = *c.client;
  std::int64_t after = 0;
  if (wait) {
    rapidjson::Document status;
    if (int rc = client.get_json("/v1/status", status); rc != kExitOk) return rc;
    after = int_or(status, "last_event_id");
  }
  auto r = client.post("/v1/sync", fmt::format("{{\"wait\":false,\"allow_mass_delete\":{}}}",
                                               allow_mass_delete ? "true" : "false"));
  if (!r.ok()) return unreachable(client.base_url(), r.error());
  if (r->status != 202) {
    std::cerr << "crmsync: sync refused: HTTP " << r->status << " " << r->body << "\n";
    return r->status == 401 ? kExitUsage : kExitItemErrors;
  }
  rapidjson::Document accepted;
  accepted.Parse(r->body.c_str());
  std::int64_t request = accepted.HasParseError() ? 0 : int_or(accepted, "request");
  if (!wait) {
    std::cout << "sync requested (request " << request << ")\n";
    return kExitOk;
  }
  bool tty = ::isatty(2) == 1;
  std::string last_line;
  std::int64_t my_cycle = -1;
  for (;;) {
    rapidjson::Document events;
    if (int rc = client.get_json(fmt::format("/v1/events?after={}&timeout=30", after), events);
        rc != kExitOk)
      return rc;
    if (!events.IsArray()) return kExitItemErrors;
    for (const auto& e : events.GetArray()) {
      after = std::max(after, int_or(e, "id"));
      std::string type = str_or(e, "type");
      const auto& data = e["data"];
      if (type == "cycle-started" && data.HasMember("requests") && data["requests"].IsArray()) {
        for (const auto& id : data["requests"].GetArray())
          if (id.IsInt64() && id.GetInt64() == request) my_cycle = int_or(data, "cycle");
        continue;
      }
      if (type == "progress") {
        if (int_or(data, "cycle", -1) != my_cycle) continue;
        print_bar(tty, str_or(data, "step"), int_or(data, "done"), int_or(data, "total"),
                  last_line);
        continue;
      }
      if (type != "cycle-finished" || !data.HasMember("requests") || !data["requests"].IsArray())
        continue;
      bool mine = false;
      for (const auto& id : data["requests"].GetArray())
        mine |= id.IsInt64() && id.GetInt64() == request;
      if (!mine) continue;
      if (tty && !last_line.empty()) std::cerr << "\r\033[K";
      std::string result = str_or(data, "result");
      // The cycle's details are in the status (last_cycle) now.
      rapidjson::Document status;
      if (client.get_json("/v1/status", status) == kExitOk && status["last_cycle"].IsObject() &&
          int_or(status["last_cycle"], "id") == int_or(data, "cycle")) {
        const auto& lc = status["last_cycle"];
        std::cout << fmt::format("sync {}: {} to CRM, {} to store, {} conflicts, {} item errors",
                                 result, int_or(lc, "to_crm"), int_or(lc, "to_store"),
                                 int_or(lc, "conflicts"), int_or(lc, "item_errors"));
        if (int_or(lc, "held_deletions") > 0)
          std::cout << fmt::format(", {} deletions held back (rerun with --allow-mass-delete)",
                                   int_or(lc, "held_deletions"));
        std::cout << "\n";
        if (lc.HasMember("notices") && lc["notices"].IsArray())
          for (const auto& n : lc["notices"].GetArray())
            if (n.IsString()) std::cout << "notice: " << n.GetString() << "\n";
        if (lc.HasMember("failure") && lc["failure"].IsString())
          std::cout << "failure: " << lc["failure"].GetString() << "\n";
      } else {
        std::cout << "sync " << result << "\n";
      }
      return exit_code_for_result(result);
    }
  }
}

int run_status(const GlobalOptions& global, bool json) {
  auto c = open_connection(global);
  if (!c.client) return c.exit_code;
  rapidjson::Document s;
  std::string raw;
  if (int rc = c.client->get_json("/v1/status", s, &raw); rc != kExitOk) return rc;
  if (json) {
    std::cout << raw << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("daemon      {} (pid {}) at {}\n", str_or(s, "state"), int_or(s, "pid"),
                           c.client->base_url());
  std::cout << fmt::format("profile     {}  client {}  role {}\n", str_or(s, "profile"),
                           str_or(s, "client_id"), str_or(s, "role"));
  const auto& lease = s["lease"];
  if (lease.IsObject() && lease["holder"].IsString())
    std::cout << fmt::format("lease       held by {} (epoch {}) until {}\n",
                             str_or(lease, "holder"), int_or(lease, "epoch"),
                             str_or(lease, "expires"));
  else
    std::cout << "lease       none (primary lease not in use yet)\n";
  const auto& lc = s["last_cycle"];
  if (lc.IsObject() && lc["result"].IsString())
    std::cout << fmt::format("last sync   {} at {} ({} to CRM, {} to store)\n",
                             str_or(lc, "result"), str_or(lc, "finished"), int_or(lc, "to_crm"),
                             int_or(lc, "to_store"));
  else
    std::cout << "last sync   none yet\n";
  if (s["step"].IsString())
    std::cout << fmt::format("running     {} {}/{}\n", str_or(s, "step"),
                             int_or(s["progress"], "done"), int_or(s["progress"], "total"));
  std::cout << fmt::format("next sync   {}\n", str_or(s, "next_sync", "off"));
  std::cout << fmt::format("queue depth {}\n", int_or(s, "queue_depth"));
  if (s["needs_login"].IsArray() && !s["needs_login"].Empty()) {
    std::string sides;
    for (const auto& side : s["needs_login"].GetArray())
      if (side.IsString()) sides += (sides.empty() ? "" : ", ") + std::string(side.GetString());
    std::cout << fmt::format("sign-in     needed for {}: run crmsync login\n", sides);
  }
  std::cout << "\n";
  std::cout << fmt::format("{:<12} {:>8} {:>8} {:>8} {:>10}\n", "kind", "mapped", "pending",
                           "errors", "conflicts");
  if (s["counts"].IsObject())
    for (auto it = s["counts"].MemberBegin(); it != s["counts"].MemberEnd(); ++it)
      std::cout << fmt::format("{:<12} {:>8} {:>8} {:>8} {:>10}\n", it->name.GetString(),
                               int_or(it->value, "mapped"), int_or(it->value, "pending"),
                               int_or(it->value, "errors"), int_or(it->value, "conflicts"));
  if (s["notices"].IsArray())
    for (const auto& n : s["notices"].GetArray())
      if (n.IsString()) std::cout << "notice: " << n.GetString() << "\n";
  return kExitOk;
}

int run_list(const GlobalOptions& global, bool json, bool errors) {
  auto c = open_connection(global);
  if (!c.client) return c.exit_code;
  rapidjson::Document d;
  std::string raw;
  if (int rc = c.client->get_json(errors ? "/v1/errors" : "/v1/conflicts", d, &raw); rc != kExitOk)
    return rc;
  if (json) {
    std::cout << raw << "\n";
    return kExitOk;
  }
  if (!d.IsArray() || d.Empty()) {
    std::cout << (errors ? "no item errors\n" : "no conflicts\n");
    return kExitOk;
  }
  // The ids are what `errors retry|ignore ID` and `conflicts resolve ID` take (U2).
  if (errors) {
    std::cout << fmt::format("{:>6} {:<12} {:<38} {:>8}  {}\n", "id", "kind", "crm id", "attempts",
                             "error");
    for (const auto& e : d.GetArray())
      std::cout << fmt::format("{:>6} {:<12} {:<38} {:>8}  {}\n", int_or(e, "id"),
                               str_or(e, "entity"), str_or(e, "crm_id"), int_or(e, "attempts"),
                               str_or(e, "error"));
  } else {
    std::cout << fmt::format("{:>6} {:<12} {:<18} {:<7} {:<20} {:<20} {}\n", "id", "kind", "field",
                             "winner", "base", "crm value", "mailbox value");
    for (const auto& e : d.GetArray())
      std::cout << fmt::format(
          "{:>6} {:<12} {:<18} {:<7} {:<20} {:<20} {}\n", int_or(e, "id"), str_or(e, "entity"),
          str_or(e, "field"), str_or(e, "winner") == "store" ? "mailbox" : str_or(e, "winner"),
          str_or(e, "base_value", "?"), str_or(e, "crm_value"), str_or(e, "store_value"));
  }
  return kExitOk;
}

}  // namespace

int exit_code_for_result(const std::string& result) {
  if (result == "ok") return kExitOk;
  if (result == "mass-delete-held") return kExitMassDelete;
  return kExitItemErrors;
}

void add_daemon_commands(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher) {
  struct Options {
    bool wait = false;
    bool allow_mass_delete = false;
    bool json = false;
  };
  auto o = std::make_shared<Options>();

  auto* sync = app.add_subcommand("sync", "ask the running daemon for a sync now");
  sync->add_flag("--wait", o->wait, "wait for the cycle and print its result (progress on a tty)");
  sync->add_flag("--allow-mass-delete", o->allow_mass_delete,
                 "confirm deletions the mass-delete guard held back (SPEC D10)");
  sync->footer(
      "Exit codes: 0 ok; 1 the cycle finished with item errors or failed; 2 usage or "
      "config error; 3 daemon unreachable; 4 the mass-delete guard held deletions.");
  dispatcher.add(sync, [o, &global] { return run_sync(global, o->wait, o->allow_mass_delete); });

  auto* status = app.add_subcommand("status", "the daemon's state, lease, last sync and counts");
  status->add_flag("--json", o->json, "print /v1/status as JSON");
  dispatcher.add(status, [o, &global] { return run_status(global, o->json); });

  auto* errors = app.add_subcommand("errors", "items that failed to sync, with the reason");
  errors->add_flag("--json", o->json, "print /v1/errors as JSON");
  dispatcher.add(errors, [o, &global] { return run_list(global, o->json, true); });

  auto* conflicts = app.add_subcommand("conflicts", "field conflicts and who won");
  conflicts->add_flag("--json", o->json, "print /v1/conflicts as JSON");
  dispatcher.add(conflicts, [o, &global] { return run_list(global, o->json, false); });
}

}  // namespace crmsync::cli
