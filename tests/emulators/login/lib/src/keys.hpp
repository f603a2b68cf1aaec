// The authority's signing key (RSA 2048, kept in the database as PKCS#8 PEM so that restarts
// keep it), RS256 JWT signing, its JWKS entry, and random identifiers.
#pragma once

#include <memory>
#include <string>

namespace login_emulator {

class SigningKey {
 public:
  // Reads `pem`, or makes a new key when it is empty (pem() then gives it to store).
  explicit SigningKey(const std::string& pem);
  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  const std::string& pem() const { return pem_; }
  // RFC 7638 JWK thumbprint (SHA-256, base64url).
  const std::string& kid() const { return kid_; }
  // {"kty":"RSA","use":"sig","kid","n","e","alg":"RS256"}
  std::string jwk_json() const;
  // The compact JWS of `claims_json` with the header {"typ":"JWT","alg":"RS256","kid"}.
  std::string sign_jwt(const std::string& claims_json) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pem_, kid_, n_, e_;
};

// `bytes` random bytes, base64url.
std::string random_token(std::size_t bytes);
// A random (version 4) GUID, lower case.
std::string random_guid();
// A user code as Entra shows them: 9 characters of A-Z and 2-9 (no 0/O, 1/I).
std::string random_user_code();
// A pairwise subject: base64url of SHA-256 of `seed` (43 characters, like Entra's sub).
std::string pairwise_subject(const std::string& seed);

}  // namespace login_emulator
