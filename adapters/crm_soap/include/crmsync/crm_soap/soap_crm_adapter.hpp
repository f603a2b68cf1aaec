// The CrmAdapter that talks to Dynamics CRM over the Organization Service's SOAP 1.1
// endpoint (<base url>/XRMServices/2011/Organization.svc/web). Pure header.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "crmsync/core/crm_adapter.hpp"
#include "crmsync/model/clock.hpp"

namespace crmsync {

struct SoapCrmAuth {
  enum class Type {
    kNone,               // no Authorization header (a server that needs none)
    kBearerFile,         // Authorization: Bearer <contents of token_file>, re-read per request
    kBearerEnv,          // Authorization: Bearer <$token_env>
    kClientCredentials,  // OAuth 2.0 client credentials against token_endpoint, cached
    kDeviceCode,         // signed in as the user (crmsync login): refresh token in token_store
    kNegotiate,  // on-premises (AD): NTLM/Negotiate per connection, username + password_file
  };
  Type type = Type::kNone;
  std::string token_file;
  std::string token_env;
  // Client credentials: POST grant_type=client_credentials&client_id&client_secret&scope
  // (and/or resource) to token_endpoint; the access_token is cached until shortly before
  // expires_in runs out.
  std::string token_endpoint;
  std::string client_id;
  std::string client_secret;       // or:
  std::string client_secret_file;  // read once, whitespace trimmed
  std::string scope;               // v2 endpoints: "https://org.crm.dynamics.com/.default"
  std::string resource;            // v1 endpoints: "https://org.crm.dynamics.com/"
  // Device code sign-in (SPEC U3): the authority (base URL, tenant, public client id), the
  // delegated scope ("https://org.crm.dynamics.com/user_impersonation offline_access") and
  // the refresh token's file (oauth::token_store_path).
  std::string authority;
  std::string tenant;
  std::string token_store;
  // Negotiate: "DOMAIN\\user" or "user@domain"; the password file is re-read per handshake.
  std::string username;
  std::string password_file;
};

struct SoapCrmConfig {
  std::string base_url;  // the organization's URL; the adapter appends the service path
  SoapCrmAuth auth;
  // An application identity acting for a user (SPEC U3): that user's UPN (systemuser
  // domainname, else internalemailaddress). Resolved to its systemuserid once; every request
  // then carries it as CallerId, so WhoAmI, ownership and the rules are that user's.
  std::string act_as;
  std::string ca_file;  // PEM CAs to trust (private CA); empty = system trust store
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};
  std::size_t max_response_bytes = 64u << 20;
  int page_size = 500;  // RetrieveEntityChanges / RetrieveMultiple page size

  // Retries of transient failures, per adapter call: at most max_attempts tries and at most
  // retry_budget of waiting; backoff doubles from backoff_base up to backoff_max, with
  // jitter, and is never shorter than a server's Retry-After.
  int max_attempts = 5;
  std::chrono::milliseconds retry_budget{120'000};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30'000};
  // How the adapter waits between attempts; empty = std::this_thread::sleep_for. Tests
  // record the waits (and move a FakeClock) instead of sleeping.
  std::function<void(std::chrono::milliseconds)> sleep;
  std::uint64_t jitter_seed = 0;  // 0 = random
};

// The adapter; `clock` must outlive it. A configuration it cannot use (bad URL, missing
// auth fields) makes every call return kInvalid naming the problem.
std::unique_ptr<CrmAdapter> make_soap_crm_adapter(const SoapCrmConfig& config, Clock& clock);
// The same with what the configuration needs checked first: for negotiate, the GSSAPI NTLM
// mechanism (kInvalid naming the package when missing) and the connection-bound handshake.
Result<std::unique_ptr<CrmAdapter>> open_soap_crm_adapter(const SoapCrmConfig& config,
                                                          Clock& clock);

}  // namespace crmsync
