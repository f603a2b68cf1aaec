// The StoreAdapter over Exchange Web Services (SOAP 1.1 at .../EWS/Exchange.asmx), with the
// lease and the handoff queue as hidden items in the mailbox. Pure header.
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

struct EwsAuth {
  enum class Type {
    kBasic,   // Authorization: Basic username:<contents of password_file>
    kBearer,  // Authorization: Bearer <contents of token_file>
    // NTLM through GSSAPI (gss-ntlmssp), inside SPNEGO when the server offers Negotiate:
    // username ("DOMAIN\\user" or "user@domain") + password_file, per connection.
    kNegotiate,
  };
  Type type = Type::kBasic;
  std::string username;
  // Re-read per request (negotiate: whenever a connection authenticates), trailing whitespace
  // trimmed.
  std::string password_file;
  std::string token_file;  // re-read per request (token refresh by another process)
};

struct EwsStoreConfig {
  std::string url;      // "https://mail.example.org/EWS/Exchange.asmx"
  std::string mailbox;  // the mailbox's SMTP address (sent as X-AnchorMailbox)
  // A service account acting for `mailbox` (ExchangeImpersonation; on-premises it needs the
  // ApplicationImpersonation role). Off: the credentials are the mailbox owner's.
  bool impersonate = false;
  EwsAuth auth;
  std::string ca_file;  // PEM CAs to trust (private CA); empty = system trust store
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  std::size_t max_response_bytes = 64u << 20;

  // The adapter's own small SQLite file: per-folder SyncFolderItems states, the items it
  // knows (id, change key) and the local sequence of events it synthesized. Never the
  // daemon's cache. Several adapters (and processes) may share one file.
  std::string state_path;

  int page_size = 100;      // FindItem page, SyncFolderItems MaxChangesReturned
  int get_batch_size = 50;  // ItemIds per GetItem
  // The user's zone (IANA name, the config's `timezone`; "" = the machine's). Appointments are
  // written with it as their StartTimeZone/EndTimeZone (its Windows id): an all-day event's
  // midnights are that zone's, where Exchange moves the start and end of such an event.
  std::string time_zone;

  // Notifications in wait_for_events: a streaming subscription, each GetStreamingEvents
  // connection kept for stream_connection_minutes (1..30, in the server's minutes). Where the
  // server (or the transport) refuses streaming, a pull subscription polled every
  // poll_interval.
  int stream_connection_minutes = 30;
  std::chrono::milliseconds poll_interval{1'000};

  // SPEC U1: the category that is the user's "Track in CRM" from any client (the config's
  // sync.track_category; "" turns it off), checked at open (TrackCategory::from_config). The
  // adapter keeps it in step with the tracked mark on every item it writes, turns another
  // client's adding or removing it into the explorer's track or untrack, and adds it once to
  // the mailbox's master category list.
  std::string track_category = std::string(kDefaultTrackCategory);

  // Retries of transient failures (ErrorServerBusy honours BackOffMilliseconds).
  int max_attempts = 5;
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30'000};
  // How the adapter waits between attempts; empty = std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Opens the adapter: checks the config and opens (creates) the state file; no network yet.
// kInvalid for a bad config, kCorrupt for a state file of a newer version.
Result<std::unique_ptr<StoreAdapter>> open_ews_store(const EwsStoreConfig& config, Clock& clock);
// The same on a transport of the caller's choice (tests: a scripted fake).
Result<std::unique_ptr<StoreAdapter>> open_ews_store(const EwsStoreConfig& config, Clock& clock,
                                                     std::unique_ptr<http::Transport> transport);

}  // namespace crmsync
