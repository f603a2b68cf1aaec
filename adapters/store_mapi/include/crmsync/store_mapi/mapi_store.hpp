// The StoreAdapter over Extended MAPI (Outlook's store on a Windows desktop, no add-in), with
// the lease and the handoff queue of SPEC §6 as associated (hidden) messages. Windows only.
// Pure header: no MAPI or Windows header leaks to the daemon.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "crmsync/core/store_adapter.hpp"
#include "crmsync/core/track_category.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync {

struct MapiStoreConfig {
  // The MAPI profile to log on to ("store": {"type": "mapi", "profile": "Outlook"}).
  std::string profile;
  // The DLL that exports Extended MAPI. mapi32.dll is the system stub that forwards to the
  // default mail client's MAPI (Outlook's olmapi32.dll). Tests point it elsewhere.
  std::string library = "mapi32.dll";
  // Events (advise-sink notifications) kept in memory for events_after; the oldest go first.
  std::size_t max_events = 100'000;
  // crmsyncd runs under the Windows service control manager: MAPI then wants MAPI_NT_SERVICE
  // on MAPIInitialize and MAPILogonEx (a service has no desktop and its own profile rules).
  bool windows_service = false;
  // SPEC U1: the category that is the user's "Track in CRM" (the config's sync.track_category;
  // "" turns it off), checked at open. Kept in step with the tracked mark on every item the
  // adapter writes, read as the explorer's track or untrack when another client changes it,
  // and added once to the master category list.
  std::string track_category = std::string(kDefaultTrackCategory);
};

// Loads MAPI, initializes it (multithreaded notifications), logs on to the profile without
// UI, opens the default store and its default folders and registers the advise sinks.
// kPermission with a message saying what to install or configure when MAPI is missing,
// has no provider, or the profile does not exist; kInvalid for a bad config.
Result<std::unique_ptr<StoreAdapter>> open_mapi_store(const MapiStoreConfig& config, Clock& clock);

}  // namespace crmsync
