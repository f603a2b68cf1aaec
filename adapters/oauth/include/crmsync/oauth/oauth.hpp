// Signing in as the user (SPEC U3): OAuth 2.0's device authorization grant (RFC 8628) against
// Entra ID's v2.0 endpoints, refresh tokens kept in a file only the user can read, and access
// tokens refreshed before they expire. Shared by every adapter that signs in with it (the CRM
// adapter today, the Graph store next). Pure header: JSON and HTTP stay in the sources.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/http/client.hpp"
#include "crmsync/model/clock.hpp"
#include "crmsync/model/result.hpp"

namespace crmsync::oauth {

// An Entra ID (or compatible) authority and the public client registered there.
struct Authority {
  std::string base = "https://login.microsoftonline.com/";  // ends with '/'
  std::string tenant;                  // a tenant id or domain, or "organizations"
  std::string client_id;               // the public client's application id
  std::string devicecode_url() const;  // {base}{tenant}/oauth2/v2.0/devicecode
  std::string token_url() const;       // {base}{tenant}/oauth2/v2.0/token
};

// What the user is shown (RFC 8628 3.2, with Entra's field names).
struct DeviceCode {
  std::string device_code;  // a secret: never shown
  std::string user_code;
  std::string verification_uri;
  std::string message;
  std::int64_t expires_in = 900;  // seconds
  std::int64_t interval = 5;      // seconds between polls
};

struct Tokens {
  std::string access_token;
  std::string refresh_token;  // empty when the server sent none (no offline_access)
  std::string scope;
  std::int64_t expires_in = 3600;
};

// Waits for `d`; tests pass one that moves a fake clock.
using Sleep = std::function<void(std::chrono::milliseconds)>;

// Asks for a device code for `scope` (space-separated). kPermission with the server's error
// (unauthorized_client, invalid_scope, ...), kTransient when unreachable or 5xx/429, kInvalid
// for a reply that is not the documented JSON.
Result<DeviceCode> start_device_flow(http::Transport& transport, const Authority& authority,
                                     const std::string& scope);

// Polls the token endpoint every `interval` seconds (5 more after each slow_down) until the
// user signs in (the tokens), declines (kPermission "access_denied"), or the code expires
// (kPermission "expired_token"); authorization_pending keeps polling. `clock`'s monotonic time
// bounds the wait by expires_in. Transient failures of a poll are retried at the interval.
Result<Tokens> poll_device_flow(http::Transport& transport, const Authority& authority,
                                const DeviceCode& code, Clock& clock, const Sleep& sleep);

// The refresh_token grant. A refused refresh token (invalid_grant, interaction_required, ...)
// is kPermission marked needs_login (is_needs_login); kTransient when unreachable.
Result<Tokens> refresh(http::Transport& transport, const Authority& authority,
                       const std::string& refresh_token, const std::string& scope);

// True for the error that means "the user must sign in again" (no refresh token, or the
// server refused it): the side stops syncing until `crmsync login`, nothing queued is lost.
bool is_needs_login(const Error& error);
Error needs_login(std::string why);

// Where a profile's refresh token for one side ("crm", "mailbox") lives:
// $XDG_STATE_HOME/crmsync/<profile>.<side>.refresh-token ($HOME/.local/state when unset).
std::string token_store_path(std::string_view profile, std::string_view side);

// The refresh token in `path`; nullopt when there is none yet. kPermission when the file is
// readable by others than its owner (it is refused, not used) or unreadable.
Result<std::optional<std::string>> load_refresh_token(const std::string& path);
// Writes the token atomically (a temporary file of mode 0600 in the same folder, fsync,
// rename), creating the folder (0700) when missing.
Result<void> save_refresh_token(const std::string& path, const std::string& token);

// Access tokens for one scope from a stored refresh token: cached until a minute before they
// expire, refreshed then (the rotated refresh token is saved), dropped when the server refuses
// one (invalidate). Not thread-safe: one adapter, one thread.
class AccessTokens {
 public:
  AccessTokens(Authority authority, std::string scope, std::string store_path, Clock& clock,
               http::Transport& transport);
  // kPermission needs_login when no refresh token is stored or the server refused it.
  Result<std::string> token();
  void invalidate() { cached_.clear(); }
  // Every token seen, so that no message shows them.
  std::vector<std::string> secrets() const;

 private:
  Authority authority_;
  std::string scope_;
  std::string store_path_;
  Clock& clock_;
  http::Transport& transport_;
  std::string cached_;
  MonoTime expires_{};
  std::vector<std::string> seen_;
};

}  // namespace crmsync::oauth
