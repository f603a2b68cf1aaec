#include "decision_command.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "crmsync/model/text.hpp"
#include "daemon_client.hpp"
#include "daemon_command.hpp"

namespace crmsync::cli {
namespace {

struct Options {
  std::string id;
  std::string regarding;
  std::string search;
  std::string entity;
  std::string kind;
  std::string keep;
  std::vector<std::int64_t> ids;
  std::int64_t number = 0;
  int limit = 0;
  bool tracked = false;
  bool untracked = false;
  bool delete_in_crm = false;
  bool json = false;
};

// application/x-www-form-urlencoded, for the query of GET /v1/items.
std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

// Sends one decision and prints its answer (`print`, or the JSON with --json). Exit codes:
// 0 done; 2 refused as bad or unknown (400, 404); 1 refused otherwise (409: it changes
// nothing, e.g. a replay); 3 the daemon is unreachable; a cycle's answer, its result's code.
int send(const GlobalOptions& global, const std::string& method, const std::string& target,
         const std::string& body, bool json,
         const std::function<void(const rapidjson::Document&)>& print) {
  auto c = open_connection(global);
  if (!c.client) return c.exit_code;
  auto r = method == "GET" ? c.client->get(target) : c.client->post(target, body);
  if (!r.ok()) return unreachable(c.client->base_url(), r.error());
  rapidjson::Document d;
  d.Parse(r->body.c_str());
  if (r->status == 401) {
    std::cerr << "crmsync: the daemon refused the API token (http.token_file out of date?)\n";
    return kExitUsage;
  }
  if (r->status >= 400) {
    std::cerr << "crmsync: " << (d.IsObject() ? str_or(d, "error") : r->body) << "\n";
    return r->status == 400 || r->status == 404 ? kExitUsage : kExitItemErrors;
  }
  if (d.HasParseError()) {
    std::cerr << "crmsync: " << target << ": the daemon's answer is not JSON\n";
    return kExitItemErrors;
  }
  if (json)
    std::cout << r->body << "\n";
  else
    print(d);
  if (d.IsObject() && d.HasMember("cycle") && d["cycle"].IsObject())
    return exit_code_for_result(str_or(d["cycle"], "result"));
  return kExitOk;
}

void print_cycle(const rapidjson::Document& d) {
  const auto& c = d["cycle"];
  std::cout << fmt::format(
      "cycle {}: {} to CRM, {} to store, {} deleted in CRM, {} deleted in "
      "the mailbox, {} item errors\n",
      str_or(c, "result"), int_or(c, "to_crm"), int_or(c, "to_store"), int_or(c, "deleted_in_crm"),
      int_or(c, "deleted_in_store"), int_or(c, "item_errors"));
  if (c["failure"].IsString()) std::cout << "failure: " << c["failure"].GetString() << "\n";
}

// What T2 makes of a decision on this client.
std::string timing_text(const std::string& timing) {
  if (timing == "now") return "syncs now";
  if (timing == "hand-to-primary") return "handed to the primary client";
  if (timing == "never") return "never synced from this client";
  return "syncs at the next sync";
}

int run_items(const GlobalOptions& global, const Options& o) {
  if (o.tracked && o.untracked) return usage_error("items: --tracked or --untracked, not both");
  std::string q;
  auto add = [&q](const std::string& k, const std::string& v) {
    q += (q.empty() ? "?" : "&") + k + "=" + url_encode(v);
  };
  if (!o.kind.empty()) add("kind", o.kind);
  if (!o.search.empty()) add("search", o.search);
  if (o.tracked || o.untracked) add("tracked", o.tracked ? "true" : "false");
  if (o.limit > 0) add("limit", std::to_string(o.limit));
  return send(global, "GET", "/v1/items" + q, "", o.json, [](const rapidjson::Document& d) {
    if (!d.IsArray() || d.Empty()) {
      std::cout << "no items\n";
      return;
    }
    std::cout << fmt::format("{:<49} {:<12} {:<8} {:<37} {}\n", "ENTRY_ID", "KIND", "TRACKED",
                             "CRM_ID", "SUMMARY");
    for (const auto& it : d.GetArray()) {
      std::string note = it["error"].IsString() ? "  [error: " + str_or(it, "error") + "]"
                         : it["pending"].IsBool() && it["pending"].GetBool() ? "  [pending]"
                                                                             : "";
      std::cout << fmt::format("{:<49} {:<12} {:<8} {:<37} {}{}\n", str_or(it, "entry_id"),
                               str_or(it, "kind"),
                               it["tracked"].IsBool() && it["tracked"].GetBool() ? "yes" : "no",
                               str_or(it, "crm_id"), str_or(it, "summary", ""), note);
    }
  });
}

void print_decided(const rapidjson::Document& d) {
  std::cout << fmt::format("{} {}: {} (event {})\n", str_or(d, "action"), str_or(d, "entry_id"),
                           timing_text(str_or(d, "timing")), int_or(d, "event"));
}

int run_regarding(const GlobalOptions& global, const Options& o) {
  if (!o.search.empty()) {
    std::string q = "?search=" + url_encode(o.search);
    if (!o.entity.empty()) q += "&entity=" + url_encode(o.entity);
    return send(global, "GET", "/v1/regarding/candidates" + q, "", o.json,
                [](const rapidjson::Document& d) {
                  if (!d.IsArray() || d.Empty()) {
                    std::cout << "no CRM record has that name\n";
                    return;
                  }
                  for (const auto& r : d.GetArray())
                    std::cout << fmt::format("{:<48} {}\n", str_or(r, "regarding"),
                                             str_or(r, "name", ""));
                });
  }
  if (o.id.empty() || o.regarding.empty())
    return usage_error("regarding: give ID ENTITY:GUID, or --search TEXT to find the record");
  return send(
      global, "POST", "/v1/items/regarding",
      "{\"entry_id\":" + json_quote(o.id) + ",\"regarding\":" + json_quote(o.regarding) + "}",
      o.json, print_decided);
}

std::string ids_body(const std::vector<std::int64_t>& ids) {
  std::string body = "{\"ids\":[";
  for (std::size_t i = 0; i < ids.size(); ++i) body += (i ? "," : "") + std::to_string(ids[i]);
  return body + "]}";
}

}  // namespace

void add_decision_commands(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher) {
  auto o = std::make_shared<Options>();

  auto* items = app.add_subcommand("items", "the mailbox's items as the daemon knows them");
  items->add_option("--kind", o->kind, "contact|task|appointment|email");
  items->add_option("--search", o->search, "only items whose name or subject has this text");
  items->add_flag("--tracked", o->tracked, "only tracked items");
  items->add_flag("--untracked", o->untracked, "only untracked items");
  items->add_option("--limit", o->limit, "at most this many (default 200, at most 1000)")
      ->check(CLI::Range(1, 1000));
  items->add_flag("--json", o->json, "print /v1/items as JSON");
  dispatcher.add(items, [o, &global] { return run_items(global, *o); });

  auto* track = app.add_subcommand("track", "track an item in CRM (as the explorer's button)");
  track->add_option("ID", o->id, "entry id (crmsync items)")->required();
  track->add_flag("--json", o->json, "print the daemon's answer as JSON");
  dispatcher.add(track, [o, &global] {
    return send(global, "POST", "/v1/items/track", "{\"entry_id\":" + json_quote(o->id) + "}",
                o->json, print_decided);
  });

  auto* untrack = app.add_subcommand("untrack", "stop tracking an item");
  untrack->add_option("ID", o->id, "entry id")->required();
  untrack->add_flag("--delete-in-crm", o->delete_in_crm,
                    "also delete the CRM record where the rules allow it (D2, D3, D5, D11)");
  untrack->add_flag("--json", o->json, "print the daemon's answer as JSON");
  dispatcher.add(untrack, [o, &global] {
    return send(global, "POST", "/v1/items/untrack",
                "{\"entry_id\":" + json_quote(o->id) +
                    ",\"delete_in_crm\":" + (o->delete_in_crm ? "true" : "false") + "}",
                o->json, print_decided);
  });

  auto* regarding = app.add_subcommand("regarding", "set the CRM record an item is regarding");
  regarding->add_option("ID", o->id, "entry id");
  regarding->add_option("ENTITY:GUID", o->regarding, "e.g. account:6f1c...");
  regarding->add_option("--search", o->search, "list CRM records with this text in their name");
  regarding->add_option("--entity", o->entity, "search this entity (default: account, contact)");
  regarding->add_flag("--json", o->json, "print the daemon's answer as JSON");
  dispatcher.add(regarding, [o, &global] { return run_regarding(global, *o); });

  auto* conflicts = app.get_subcommand("conflicts");
  auto* resolve = conflicts->add_subcommand("resolve", "settle a conflict: keep one side's value");
  resolve->add_option("CONFLICT", o->number, "the conflict's id (crmsync conflicts)")->required();
  resolve
      ->add_option("--keep", o->keep,
                   "crm, mailbox, or merged (the value the sync chose: only dismiss it)")
      ->required()
      ->check(CLI::IsMember({"crm", "mailbox", "merged"}));
  resolve->add_flag("--json", o->json, "print the daemon's answer as JSON");
  dispatcher.add(resolve, [o, &global] {
    return send(global, "POST", "/v1/conflicts/resolve",
                fmt::format("{{\"id\":{},\"keep\":{}}}", o->number, json_quote(o->keep)), o->json,
                [o](const rapidjson::Document& d) {
                  std::cout << fmt::format(
                      "conflict {} settled: {} kept{}\n", o->number, o->keep,
                      d["written"].IsBool() && d["written"].GetBool()
                          ? " (written to the mailbox item; CRM follows at the next sync)"
                          : "");
                });
  });

  auto* deletions =
      app.add_subcommand("deletions", "deletions the mass-delete guard holds back (D10)");
  deletions->add_flag("--json", o->json, "print /v1/deletions as JSON");
  dispatcher.add(deletions, [o, &global] {
    return send(global, "GET", "/v1/deletions", "", o->json, [](const rapidjson::Document& d) {
      if (!d.IsArray() || d.Empty()) {
        std::cout << "no deletions are held back\n";
        return;
      }
      std::cout << fmt::format("{:>6} {:<12} {:<8} {:<22} {:<38} {}\n", "id", "kind", "deletes",
                               "because", "crm id", "entry id");
      for (const auto& h : d.GetArray())
        std::cout << fmt::format("{:>6} {:<12} {:<8} {:<22} {:<38} {}\n", int_or(h, "id"),
                                 str_or(h, "entity"), str_or(h, "side"), str_or(h, "change"),
                                 str_or(h, "crm_id"), str_or(h, "entry_id"));
    });
  });
  for (const char* verb : {"confirm", "reject"}) {
    const bool confirm = std::string(verb) == "confirm";
    auto* sub = deletions->add_subcommand(
        verb, confirm ? "apply held deletions now (all, or the given ids)"
                      : "keep both sides: unlink the pairs instead (all, or the given ids)");
    sub->add_option("IDS", o->ids, "held deletion ids (crmsync deletions)");
    sub->add_flag("--json", o->json, "print the daemon's answer as JSON");
    dispatcher.add(sub, [o, &global, confirm] {
      return send(global, "POST", confirm ? "/v1/deletions/confirm" : "/v1/deletions/reject",
                  ids_body(o->ids), o->json, [confirm](const rapidjson::Document& d) {
                    const char* k = confirm ? "confirmed" : "rejected";
                    std::cout << (confirm ? "confirmed" : "rejected") << ":";
                    if (d[k].IsArray())
                      for (const auto& id : d[k].GetArray()) std::cout << " " << id.GetInt64();
                    std::cout << "\n";
                    if (confirm) print_cycle(d);
                  });
    });
  }

  auto* errors = app.get_subcommand("errors");
  for (const char* verb : {"retry", "ignore"}) {
    const bool retry = std::string(verb) == "retry";
    auto* sub = errors->add_subcommand(
        verb, retry ? "retry an item now" : "drop an item's failed change (the pair stays)");
    sub->add_option("ID", o->number, "the error's id (crmsync errors)")->required();
    sub->add_flag("--json", o->json, "print the daemon's answer as JSON");
    dispatcher.add(sub, [o, &global, retry] {
      return send(global, "POST", retry ? "/v1/errors/retry" : "/v1/errors/ignore",
                  fmt::format("{{\"id\":{}}}", o->number), o->json,
                  [o, retry](const rapidjson::Document& d) {
                    if (!retry) {
                      std::cout << "ignored " << o->number
                                << (d["unlinked"].IsBool() && d["unlinked"].GetBool()
                                        ? " (never synced: the item is untracked)\n"
                                        : "\n");
                    } else if (d.HasMember("request")) {
                      std::cout << "retried at the next sync (request " << int_or(d, "request")
                                << ")\n";
                    } else {
                      std::cout << "retried " << o->number << "\n";
                      print_cycle(d);
                    }
                  });
    });
  }
}

}  // namespace crmsync::cli
