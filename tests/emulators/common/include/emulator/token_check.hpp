// Bearer token checks for the emulators that trust an authority (`--authority URL`, e.g.
// login-emulator): fetch its OpenID configuration and JWKS, then check a JWT's RS256
// signature, issuer, audience, lifetime and scopes, and map it to the caller (oid, upn).
// Only RS256 is taken: "none", HS256 and every other alg are refused by name.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace emulator::token {

// The RSA signing keys of a JWKS document, by kid.
class KeySet {
 public:
  KeySet();
  ~KeySet();
  KeySet(KeySet&&) noexcept;
  KeySet& operator=(KeySet&&) noexcept;

  // Reads {"keys":[{"kty":"RSA","kid","n","e"[,"use":"sig"]}...]}; keys of other types or
  // uses are skipped, RSA keys under 2048 bits refused. nullopt with `error` when malformed.
  static std::optional<KeySet> from_jwks(std::string_view json, std::string& error);
  std::size_t size() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct Expectations {
  // The exact iss; "{tenantid}" in it (a /common or /organizations configuration) stands for
  // the token's tid.
  std::string issuer;
  std::vector<std::string> audiences;  // aud must be one of them
  // Each must be in scp (delegated token) or roles (app token).
  std::vector<std::string> scopes;
  bool allow_app_tokens = true;
  std::int64_t now = 0;  // UTC seconds; 0: the system clock
  int leeway_s = 300;    // clock skew allowed on exp and nbf
  std::size_t max_token_bytes = 16 * 1024;
};

enum class Problem {
  kNone,
  kTooLarge,
  kMalformed,
  kAlgorithm,  // not RS256
  kUnknownKey,
  kSignature,
  kIssuer,
  kAudience,
  kExpired,
  kNotYetValid,
  kScope,
  kAppToken,  // an app-only token where a user is required
};

struct Caller {
  bool app = false;  // an app-only (client credentials) token
  std::string oid;   // the user's (or the app's service principal's) object id
  std::string upn;   // upn, else preferred_username; empty for app tokens
  std::string tid;
  std::string client_id;            // azp / appid
  std::vector<std::string> scopes;  // scp, split
  std::vector<std::string> roles;
  std::int64_t expires = 0;
};

struct Verdict {
  Problem problem = Problem::kNone;
  std::string error;  // says what was wrong, for the 401's error_description
  Caller caller;
  explicit operator bool() const { return problem == Problem::kNone; }
};

Verdict verify(std::string_view jwt, const KeySet& keys, const Expectations& expect);

// What an emulator needs of its authority: the issuer and the keys.
struct Authority {
  std::string issuer;
  KeySet keys;
};

// GETs `authority_url` + "/v2.0/.well-known/openid-configuration", then its jwks_uri.
// http:// or https:// (verified against `ca_file`, or the system store when empty).
std::optional<Authority> fetch_authority(const std::string& authority_url,
                                         const std::string& ca_file, std::string& error);

// base64url without padding (RFC 7515 §2), and its strict inverse.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace emulator::token
