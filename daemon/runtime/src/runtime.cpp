#include "crmsync/runtime/runtime.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "crmsync/config/time_zone.hpp"
#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/store_ews/ews_store.hpp"
#include "crmsync/store_graph/graph_store.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#if CRMSYNC_HAVE_MAPI
#include "crmsync/store_mapi/mapi_store.hpp"
#endif

namespace crmsync {

std::optional<SignIn> crm_sign_in(const Config& config) {
  const auto& a = config.crm.auth;
  if (a.type != CrmAuthConfig::Type::kDeviceCode) return std::nullopt;
  SignIn s;
  s.side = "crm";
  s.authority = oauth::Authority{a.authority, a.tenant, a.client_id};
  // Dynamics' delegated permission is the organization's user_impersonation (the resource is
  // the organization's origin); offline_access brings the refresh token.
  auto url = http::Url::parse(config.crm.url);
  std::string origin = url.ok() ? url->origin() : config.crm.url;
  while (!origin.empty() && origin.back() == '/') origin.pop_back();
  s.scope = origin + "/user_impersonation offline_access";
  s.token_store = oauth::token_store_path(config.profile, "crm");
  return s;
}

std::optional<SignIn> mailbox_sign_in(const Config& config) {
  if (config.store.type != "graph" ||
      config.store.graph_auth.type != GraphAuthConfig::Type::kDeviceCode)
    return std::nullopt;
  const auto& a = config.store.graph_auth;
  SignIn s;
  s.side = "mailbox";
  s.authority = oauth::Authority{a.authority, a.tenant, a.client_id};
  // Graph's delegated scopes are named by its resource (a national cloud's own host; a local
  // test server stands for graph.microsoft.com); offline_access brings the refresh token.
  std::string resource = "https://graph.microsoft.com";
  if (auto url = http::Url::parse(config.store.url); url.ok() && url->tls) {
    const std::string& h = url->host;
    if (h != "localhost" && h.rfind("127.", 0) != 0 && h != "::1") resource = url->origin();
  }
  for (const char* scope : {"User.Read", "Contacts.ReadWrite", "Calendars.ReadWrite",
                            "Tasks.ReadWrite", "Mail.ReadWrite", "MailboxSettings.ReadWrite"})
    s.scope += resource + "/" + scope + " ";
  s.scope += "offline_access";
  s.token_store = oauth::token_store_path(config.profile, "mailbox");
  return s;
}

namespace {

SoapCrmConfig crm_config(const Config& config) {
  SoapCrmConfig c;
  c.base_url = config.crm.url;
  c.act_as = config.crm.act_as;
  c.ca_file = config.crm.ca_file;
  c.request_timeout = std::chrono::milliseconds(config.crm.request_timeout_ms);
  const auto& a = config.crm.auth;
  if (a.type == CrmAuthConfig::Type::kBearer) {
    if (!a.token_file.empty()) {
      c.auth.type = SoapCrmAuth::Type::kBearerFile;
      c.auth.token_file = a.token_file;
    } else {
      c.auth.type = SoapCrmAuth::Type::kBearerEnv;
      c.auth.token_env = a.token_env;
    }
  } else if (a.type == CrmAuthConfig::Type::kNegotiate) {
    c.auth.type = SoapCrmAuth::Type::kNegotiate;
    c.auth.username = a.username;
    c.auth.password_file = a.password_file;
  } else if (auto sign_in = crm_sign_in(config)) {
    c.auth.type = SoapCrmAuth::Type::kDeviceCode;
    c.auth.authority = sign_in->authority.base;
    c.auth.tenant = sign_in->authority.tenant;
    c.auth.client_id = sign_in->authority.client_id;
    c.auth.scope = sign_in->scope;
    c.auth.token_store = sign_in->token_store;
  } else {
    c.auth.type = SoapCrmAuth::Type::kClientCredentials;
    c.auth.token_endpoint = a.token_endpoint;
    c.auth.client_id = a.client_id;
    c.auth.client_secret = a.client_secret;
    c.auth.client_secret_file = a.client_secret_file;
    c.auth.scope = a.scope;
    c.auth.resource = a.resource;
  }
  return c;
}

EwsStoreConfig ews_config(const Config& config) {
  const Config::Store& store = config.store;
  EwsStoreConfig c;
  c.time_zone = config.timezone;  // all-day events' midnights: the user's zone
  c.url = store.url;
  c.mailbox = store.mailbox;
  c.impersonate = store.impersonate;
  switch (store.auth.type) {
    case EwsAuthConfig::Type::kBasic:
      c.auth.type = EwsAuth::Type::kBasic;
      break;
    case EwsAuthConfig::Type::kBearer:
      c.auth.type = EwsAuth::Type::kBearer;
      break;
    case EwsAuthConfig::Type::kNegotiate:
      c.auth.type = EwsAuth::Type::kNegotiate;
      break;
  }
  c.auth.username = store.auth.username;
  c.auth.password_file = store.auth.password_file;
  c.auth.token_file = store.auth.token_file;
  c.ca_file = store.ca_file;
  c.connect_timeout = std::chrono::milliseconds(store.connect_timeout_ms);
  c.request_timeout = std::chrono::milliseconds(store.request_timeout_ms);
  c.state_path = store.state_path;
  c.track_category = config.sync.track_category;  // U1
  return c;
}

GraphStoreConfig graph_config(const Config& config) {
  const Config::Store& store = config.store;
  GraphStoreConfig c;
  c.url = store.url;
  c.user = store.user;
  c.time_zone = config.timezone;  // events are written in the user's zone (all-day midnights)
  c.track_category = config.sync.track_category;  // U1
  if (auto sign_in = mailbox_sign_in(config)) {
    c.auth.type = GraphAuth::Type::kDeviceCode;
    c.auth.authority = sign_in->authority.base;
    c.auth.tenant = sign_in->authority.tenant;
    c.auth.client_id = sign_in->authority.client_id;
    c.auth.scope = sign_in->scope;
    c.auth.token_store = sign_in->token_store;
  } else {
    c.auth.type = GraphAuth::Type::kBearer;
    c.auth.token_file = store.graph_auth.token_file;
  }
  c.ca_file = store.ca_file;
  c.connect_timeout = std::chrono::milliseconds(store.connect_timeout_ms);
  c.request_timeout = std::chrono::milliseconds(store.request_timeout_ms);
  c.state_path = store.state_path;
  c.calendar_past_days = store.calendar_past_days;
  c.calendar_future_days = store.calendar_future_days;
  return c;
}

Result<void> ensure_parent(const std::string& file, const char* what) {
  auto dir = std::filesystem::path(file).parent_path();
  if (dir.empty()) return {};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Error::Permission(
        fmt::format("{} {}: cannot create its directory: {}", what, file, ec.message()));
  return {};
}

}  // namespace

EngineSettings engine_settings(const Config& config, const TimeZone* zone) {
  EngineSettings s;
  s.role = config.role;
  s.client_id = config.client_id;  // names this client in the handoff queue (T5)
  s.entities = config.sync.entities;
  s.update_company_field = config.sync.update_company_field;
  s.reconcile_batch = static_cast<std::size_t>(config.sync.reconcile_batch);
  s.mass_delete_ratio = config.sync.mass_delete_ratio;
  s.mass_delete_min = config.sync.mass_delete_min;
  s.user_filters = config.sync.user_filters;
  s.zone = zone;
  return s;
}

Result<std::unique_ptr<Runtime>> open_runtime(const Config& config, Clock& clock,
                                              CrashPoints* crash_points,
                                              [[maybe_unused]] const RuntimeOptions& options) {
  auto rt = std::make_unique<Runtime>();
  auto zone = make_time_zone(config.timezone);
  if (!zone.ok()) return zone.error().context("timezone");
  rt->zone = std::move(*zone);

  if (auto r = ensure_parent(config.cache, "cache"); !r.ok()) return r.error();
  auto cache = Cache::open(config.cache);
  if (!cache.ok()) return cache.error().context("cache " + config.cache);
  rt->cache = std::move(*cache);

  if (config.store.type == "mock") {
    if (auto r = ensure_parent(config.store.path, "store"); !r.ok()) return r.error();
    auto store =
        open_mock_mailbox(config.store.path, clock, TrackCategory(config.sync.track_category));
    if (!store.ok()) return store.error().context("store " + config.store.path);
    rt->store = std::move(*store);
  } else if (config.store.type == "ews") {
    if (auto r = ensure_parent(config.store.state_path, "EWS state"); !r.ok()) return r.error();
    auto store = open_ews_store(ews_config(config), clock);
    if (!store.ok()) return store.error().context("EWS store " + config.store.mailbox);
    rt->store = std::move(*store);
  } else if (config.store.type == "graph") {
    if (auto r = ensure_parent(config.store.state_path, "Graph state"); !r.ok()) return r.error();
    auto store = open_graph_store(graph_config(config), clock);
    if (!store.ok()) return store.error().context("Graph store " + config.store.user);
    rt->store = std::move(*store);
  } else if (config.store.type == "mapi") {
#if CRMSYNC_HAVE_MAPI
    MapiStoreConfig mapi;
    mapi.profile = config.store.profile;
    mapi.windows_service = options.windows_service;
    mapi.track_category = config.sync.track_category;  // U1
    auto store = open_mapi_store(mapi, clock);
    if (!store.ok()) return store.error().context("MAPI profile " + config.store.profile);
    rt->store = std::move(*store);
#else
    // The config is valid anywhere (it moves with its user); Extended MAPI is Windows'.
    return Error::Invalid(
        "store.type mapi: Outlook through Extended MAPI is only built for Windows; on this "
        "machine use store.type ews (Exchange) or mock");
#endif
  } else {
    return Error::Invalid("store.type " + config.store.type + " is not supported by this build");
  }

  auto crm = open_soap_crm_adapter(crm_config(config), clock);
  if (!crm.ok()) return crm.error().context("crm");
  rt->crm = std::move(*crm);
  rt->engine = std::make_unique<Engine>(*rt->cache, *rt->store, *rt->crm, clock,
                                        engine_settings(config, rt->zone.get()), crash_points);
  return rt;
}

std::string describe_report(const CycleReport& r) {
  std::string out = fmt::format("result: {}\n", to_string(r.result));
  out += fmt::format("to store: {}  to CRM: {}  deleted in store: {}  deleted in CRM: {}\n",
                     r.to_store, r.to_crm, r.deleted_in_store, r.deleted_in_crm);
  out += fmt::format("unlinked: {}  conflicts: {}  item errors: {}  held deletions: {}\n",
                     r.unlinked, r.conflicts, r.item_errors, r.held_deletions);
  for (const auto& [key, n] : r.synced) out += fmt::format("  {}: {}\n", key, n);
  for (const auto& n : r.notices) out += "notice: " + n + "\n";
  if (r.failure) out += "failure: " + r.failure->describe() + "\n";
  return out;
}

}  // namespace crmsync
