// The StoreAdapter over Microsoft Graph v1.0 (REST/JSON) for Microsoft 365 mailboxes: contacts,
// the primary calendar, Microsoft To Do's default list and the Inbox, Sent Items and Drafts,
// with the lease and the handoff queue as hidden messages of the mailbox. Pure header.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "crmsync/core/store_adapter.hpp"
#include "crmsync/core/track_category.hpp"
#include "crmsync/http/client.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync {

struct GraphAuth {
  enum class Type {
    kBearer,      // Authorization: Bearer <contents of token_file>, re-read per request
    kDeviceCode,  // signed in as the user (crmsync login): access tokens from a refresh token
  };
  Type type = Type::kBearer;
  std::string token_file;
  // device code: the Entra ID authority ("https://login.microsoftonline.com/"), the tenant,
  // the public client's id, the scopes asked for and the refresh token's file.
  std::string authority = "https://login.microsoftonline.com/";
  std::string tenant;
  std::string client_id;
  std::string scope;
  std::string token_store;
};

struct GraphStoreConfig {
  // Graph's root; the adapter appends "v1.0/...". http:// only for a loopback host (tests).
  std::string url = "https://graph.microsoft.com/";
  // "me" (the signed-in user) or the mailbox's user principal name.
  std::string user = "me";
  GraphAuth auth;
  std::string ca_file;  // PEM CAs to trust (private CA); empty = system trust store
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  std::size_t max_response_bytes = 32u << 20;

  // The adapter's own SQLite file (never the daemon's cache): delta links, the items it knows
  // (id, change key, link, category) and the local sequence of events. Several adapters (and
  // processes) of one mailbox may share it.
  std::string state_path;

  // The user's zone (IANA, the config's `timezone`; "" = the machine's): events are written in
  // it (as Outlook writes them) and all-day events' midnights are its midnights.
  std::string time_zone;
  // The calendar's delta window around now (calendarView/delta needs one).
  int calendar_past_days = 365;
  int calendar_future_days = 730;

  // SPEC U1: the category that means "track in CRM" ("" turns it off).
  std::string track_category = std::string(kDefaultTrackCategory);

  int page_size = 100;  // Prefer: odata.maxpagesize of delta rounds and lists
  int batch_size = 20;  // requests per $batch (Graph's limit is 20); 1 = no $batch

  // Polling the delta links in wait_for_events (no webhooks without a public URL): poll_min
  // after a change was seen or written, doubling up to poll_max while nothing changes.
  std::chrono::milliseconds poll_min{2'000};
  std::chrono::milliseconds poll_max{60'000};

  // Retries of transient failures (429/503/504 honour Retry-After).
  int max_attempts = 5;
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30'000};
  // How the adapter waits between attempts; empty = std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// The Graph adapter's StoreAdapter, with what only it offers.
// The Graph store: a StoreAdapter; record_decision (SPEC U2) as the port says: kTrack sets the
// tracked mark, kUntrack clears the whole CRM link, both with the track category in step;
// kSetRegarding only records the event; kInvalid for another action.
class GraphStore : public StoreAdapter {};

// Opens the adapter: checks the config and opens (creates) the state file; no network yet.
// kInvalid for a bad config, kCorrupt for a state file of a newer version or another mailbox.
Result<std::unique_ptr<GraphStore>> open_graph_store(const GraphStoreConfig& config, Clock& clock);
// The same on a transport of the caller's choice (tests: a scripted fake, a request counter).
Result<std::unique_ptr<GraphStore>> open_graph_store(const GraphStoreConfig& config, Clock& clock,
                                                     std::unique_ptr<http::Transport> transport);

}  // namespace crmsync
