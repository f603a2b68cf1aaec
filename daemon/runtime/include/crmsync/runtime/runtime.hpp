// Everything one sync needs, built from a Config: time zone, cache, store, CRM adapter and
// engine. Used by crmsyncd (on its worker thread) and by `crmsync once`.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "crmsync/config/config.hpp"
#include "crmsync/core/cache.hpp"
#include "crmsync/core/crm_adapter.hpp"
#include "crmsync/core/engine.hpp"
#include "crmsync/core/store_adapter.hpp"
#include "crmsync/model/clock.hpp"
#include "crmsync/model/timezone.hpp"
#include "crmsync/oauth/oauth.hpp"

namespace crmsync {

struct Runtime {
  std::unique_ptr<TimeZone> zone;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<StoreAdapter> store;
  std::unique_ptr<CrmAdapter> crm;
  std::unique_ptr<Engine> engine;  // declared last: destroyed first
};

// The engine's settings from the configuration (G1, G2, S3, D10, the role and zone).
EngineSettings engine_settings(const Config& config, const TimeZone* zone);

// A side that signs in as the user with the device code flow (SPEC U3): where, for what,
// and the file its refresh token is kept in.
struct SignIn {
  std::string side;  // "crm" or "mailbox"
  oauth::Authority authority;
  std::string scope;
  std::string token_store;
};
// The CRM side's sign-in when crm.auth.type is device_code.
std::optional<SignIn> crm_sign_in(const Config& config);
// The mailbox side's when the store is Graph with store.auth.type device_code.
std::optional<SignIn> mailbox_sign_in(const Config& config);

// How the process runs, where an adapter must know it.
struct RuntimeOptions {
  bool windows_service = false;  // under the Windows service control manager (MAPI_NT_SERVICE)
};

// Opens the cache (creating its directory), the store and the CRM adapter, and builds the
// engine. `clock` must outlive the runtime. Errors name what failed ("cache /x: ...").
Result<std::unique_ptr<Runtime>> open_runtime(const Config& config, Clock& clock,
                                              CrashPoints* crash_points = nullptr,
                                              const RuntimeOptions& options = {});

// One line per CycleReport field that matters to a user: result, counts, notices, failure.
std::string describe_report(const CycleReport& report);

}  // namespace crmsync
