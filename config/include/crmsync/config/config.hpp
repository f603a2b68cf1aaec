// The daemon's configuration: one JSON file (DESIGN.md "Config"), loaded and validated.
// Every problem is reported with the file and the key path, e.g.
//   config.json: sync.interval_minutes: must be an integer >= 0
// Unknown keys are errors. Relative paths are resolved against the file's directory.
// Secrets never appear in messages.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/core/role.hpp"
#include "crmsync/core/track_category.hpp"
#include "crmsync/model/item.hpp"
#include "crmsync/model/result.hpp"

namespace crmsync {

struct CrmAuthConfig {
  enum class Type { kBearer, kClientCredentials, kDeviceCode, kNegotiate };
  Type type = Type::kBearer;
  // bearer: exactly one of these.
  std::string token_file;
  std::string token_env;
  // client_credentials.
  std::string token_endpoint;
  std::string client_id;
  std::string client_secret_file;
  std::string client_secret_env;
  std::string client_secret;  // resolved from client_secret_env at load time (a secret)
  std::string scope;
  std::string resource;
  // device_code (SPEC U3, `crmsync login`): the Entra ID tenant and the public client's id;
  // the refresh token lives in a file of the profile's under $XDG_STATE_HOME/crmsync/.
  std::string tenant;
  std::string authority = "https://login.microsoftonline.com/";
  // negotiate (on-premises Dynamics with AD; "ntlm" is the same): NTLM through GSSAPI.
  std::string username;       // "DOMAIN\\user" or "user@domain"
  std::string password_file;  // re-read per handshake, never kept in the config
};

// How crmsync signs in to Exchange Web Services (store.type "ews").
struct EwsAuthConfig {
  // negotiate ("ntlm" is the same): NTLM through GSSAPI with gss-ntlmssp, per connection.
  enum class Type { kBasic, kBearer, kNegotiate };
  Type type = Type::kBasic;
  std::string username;       // basic; negotiate: "DOMAIN\\user" or "user@domain"
  std::string password_file;  // basic, negotiate: re-read, never kept in the config
  std::string token_file;     // bearer: read per request (another process refreshes it)
};

// How crmsync signs in to Microsoft Graph (store.type "graph").
struct GraphAuthConfig {
  enum class Type { kBearer, kDeviceCode };
  Type type = Type::kBearer;
  std::string token_file;  // bearer: read per request (another process refreshes it)
  // device_code (SPEC U3, `crmsync login --mailbox`): the Entra ID tenant and the public
  // client's id; the refresh token lives in a file of the profile's under $XDG_STATE_HOME.
  std::string tenant;
  std::string client_id;
  std::string authority = "https://login.microsoftonline.com/";
};

struct Config {
  std::string source;  // the file it came from
  std::string profile = "default";
  std::string client_id;  // default: the host name
  Role role = Role::kPrimary;
  std::string cache;
  std::string timezone;  // IANA name; empty = the machine's zone
  std::string log_level = "info";

  struct Store {
    std::string type = "mock";  // "mock", "ews", "graph" or "mapi" (opened by Windows builds only)
    std::string path;           // mock: the mailbox file
    std::string profile;        // mapi: the Outlook (MAPI) profile's name
    // ews: the endpoint (".../EWS/Exchange.asmx", no autodiscover) and the mailbox's address.
    std::string url;
    std::string mailbox;
    bool impersonate = false;  // a service account acting for `mailbox`
    EwsAuthConfig auth;
    std::string ca_file;
    std::int64_t connect_timeout_ms = 10'000;
    std::int64_t request_timeout_ms = 60'000;
    std::string state_path;  // the adapter's sync state; default: beside the cache
    // graph: Graph's root in `url` (default https://graph.microsoft.com/), "me" or the
    // mailbox's user principal name, the sign-in, and the calendar's delta window.
    std::string user = "me";
    GraphAuthConfig graph_auth;
    int calendar_past_days = 365;
    int calendar_future_days = 730;

    // Equal for two configs that open the same mailbox (a reload with another identity
    // starts the store's event cursor over).
    std::string identity() const {
      if (type == "ews") return type + "|" + url + "|" + mailbox + "|" + state_path;
      if (type == "graph") return type + "|" + url + "|" + user + "|" + state_path;
      if (type == "mapi") return type + "|" + profile;
      return type + "|" + path;
    }
  } store;

  struct Crm {
    std::string url;
    CrmAuthConfig auth;
    std::string ca_file;
    std::int64_t request_timeout_ms = 60'000;  // the deadline of one CRM request's reply
    // The user an application identity (client_credentials) acts for, by UPN (SPEC U3):
    // required with client_credentials, so that ownership and the rules are the user's.
    std::string act_as;
  } crm;

  struct Sync {
    int interval_minutes = 15;  // 0 = no automatic sync
    std::map<CrmEntity, bool> entities;
    bool update_company_field = true;
    std::int64_t reconcile_batch = 50;
    bool user_filters = true;  // U4: the user's Outlook filters pick what syncs
    // U1: the category that is the user's "Track in CRM" in every client; "" = off.
    std::string track_category = std::string(kDefaultTrackCategory);
    double mass_delete_ratio = 0.5;
    std::int64_t mass_delete_min = 20;
  } sync;

  struct Lease {
    int ttl_seconds = 60;
  } lease;

  struct Http {
    std::string listen = "127.0.0.1:8787";
    std::string host = "127.0.0.1";  // parsed from listen (no brackets)
    std::uint16_t port = 8787;
    std::string token_file;  // default: api-token next to the cache
  } http;

  // Where the running daemon records its address and pid, so the CLI finds it.
  std::string runtime_file() const { return cache + ".runtime.json"; }
};

// The default location: $XDG_CONFIG_HOME/crmsync/config.json, else
// ~/.config/crmsync/config.json.
std::string default_config_path();

// Parses and validates `text` as if read from `source`. kInvalid with every problem, one
// per line, when anything is wrong.
Result<Config> parse_config(const std::string& text, const std::string& source);

// Reads and parses the file (at most 1 MiB). kInvalid as above; kNotFound when missing.
Result<Config> load_config(const std::string& path);

// The problems of an error returned by load_config/parse_config, one per entry.
std::vector<std::string> config_problems(const Error& e);

// Checks that the listen host is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_host(const std::string& host);

}  // namespace crmsync
