// Who a SOAP request acts as (SPEC U3): a user's sign-in identities beyond the admin-made
// opaque token (Entra oid/upn for JWTs from `--authority`, an application user's client id,
// an NTLM account), the prvActOnBehalfOfAnotherUser privilege, and the Organization Service's
// CallerId SOAP header that makes a request act as another systemuser.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tinyxml2.h>

#include "model.hpp"
#include "store.hpp"

namespace crm_emulator {

namespace err {
// "Principal user (Id=…) is missing prvActOnBehalfOfAnotherUser privilege": Dataverse's
// privilege-check failure (documented: "Principal user is missing privilege …", -2147220960).
inline constexpr int kPrivilegeDenied = -2147220960;  // 0x80040220
// A valid token whose user is not a user of the organization [memory: Dataverse's
// "The user is not a member of the organization."].
inline constexpr int kUserNotInOrg = -2147015328;  // 0x80072560
}  // namespace err

inline constexpr const char* kPrivActOnBehalfId = "6e5d9a3c-1f4b-4e0a-9b2d-5c7e8f900009";

// A systemuser's sign-in identities and the privileges that live beside the users table.
struct Identity {
  std::string user_id;
  std::string upn;              // lower-case; "" = none
  std::string oid;              // lower-case guid; "" = none
  std::string auth = "bearer";  // "bearer" (opaque token or JWT) or "negotiate" (NTLM only)
  std::string ntlm_user;        // DOMAIN\user; "" = none
  std::string password;         // of the NTLM account
  bool application = false;     // an application user (client credentials), no licence, no mailbox
  std::string client_id;        // an application user's app (client) id, lower-case
  bool act_on_behalf = false;   // prvActOnBehalfOfAnotherUser
};

// The identities table (same SQLite connection as the Store; wiped with the users).
class Identities {
 public:
  explicit Identities(Store& store);
  static void ensure_schema(Store& store);

  std::optional<Identity> get(const std::string& user_id);
  // nullopt when nobody has it. Case-insensitive for upn, ntlm_user.
  std::optional<Identity> by_oid(const std::string& oid);
  std::optional<Identity> by_upn(const std::string& upn);
  std::optional<Identity> by_client_id(const std::string& client_id);
  std::optional<Identity> by_ntlm_user(const std::string& ntlm_user);
  std::vector<Identity> all();
  void put(const Identity& identity);
  void wipe();

 private:
  Store& store_;
};

// The CallerId header of a SOAP envelope (`<CallerId xmlns="http://schemas.microsoft.com/xrm/
// 2011/Contracts">GUID</CallerId>` in s:Header, as the .NET SDK's OrganizationWebProxyClient
// sends it): the lower-case guid, "" when there is none. Throws Fault on a malformed guid.
std::string caller_id_header(const tinyxml2::XMLElement* envelope);

// The user a request of `caller` acts as when it names `caller_id` ("" = itself): that user,
// when `caller` holds prvActOnBehalfOfAnotherUser; otherwise the Fault Dynamics answers.
User act_as(Store& store, const User& caller, const std::string& caller_id);

// Bearer JWTs from a trusted authority (`--authority URL`, e.g. login-emulator).
class JwtChecker {
 public:
  JwtChecker(std::string authority_url, std::string ca_file);
  ~JwtChecker();
  void set_audiences(std::vector<std::string> audiences) { audiences_ = std::move(audiences); }
  const std::vector<std::string>& audiences() const { return audiences_; }
  const std::string& authority_url() const { return authority_url_; }
  void set_leeway(int seconds) { leeway_s_ = seconds; }

  struct Result {
    std::optional<User> user;
    int http_status = 401;    // when refused: 401 (bad token) or 403 (not a user here)
    std::string description;  // why, for the 401's error_description
  };
  Result check(Store& store, std::string_view jwt);

  // A JWT (three base64url parts) rather than an admin-made opaque token.
  static bool looks_like_jwt(std::string_view token);

 private:
  struct State;
  std::string authority_url_, ca_file_;
  std::vector<std::string> audiences_;
  int leeway_s_ = 300;
  std::unique_ptr<State> state_;
};

}  // namespace crm_emulator
