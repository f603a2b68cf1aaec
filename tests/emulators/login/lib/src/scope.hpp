// Entra's reading of a v2.0 `scope` parameter: OIDC scopes, and delegated permissions of one
// resource ("https://org.crm.dynamics.com/user_impersonation"; a bare "Mail.ReadWrite" is
// Microsoft Graph's).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace login_emulator {

inline constexpr const char* kGraph = "https://graph.microsoft.com";

struct Scope {
  std::string resource;             // the access token's aud
  std::vector<std::string> names;   // scp: the permissions without the resource prefix
  std::vector<std::string> echoed;  // the response's `scope` (Graph short, others full)
  bool openid = false, profile = false, email = false, offline_access = false;
  bool default_scope = false;  // "<resource>/.default"

  std::string scp() const;       // names, space-separated
  std::string response() const;  // echoed + the OIDC scopes asked for
  std::string stored() const;    // what a refresh token keeps to be read again
};

// The scope, or nullopt with Entra's AADSTS code and message in `code`/`error`.
std::optional<Scope> parse_scope(const std::string& text, int& code, std::string& error);

}  // namespace login_emulator
