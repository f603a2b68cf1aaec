// Where the bearer token comes from: a file, an environment variable, or OAuth 2.0 client
// credentials (cached until shortly before expiry).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/http/client.hpp"

namespace crmsync::crm_soap {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The token to send ("" = no Authorization header). kPermission when it cannot be had
  // for a reason retrying will not fix; kTransient when the token endpoint is unreachable.
  virtual Result<std::string> token() = 0;
  // The server refused the token: forget a cached one. True when a new one may differ.
  virtual bool invalidate() { return false; }
  // Every secret this source knows (tokens, client secret), so that no message shows them.
  virtual std::vector<std::string> secrets() const = 0;
};

// kInvalid when the configuration misses what its type needs.
Result<std::unique_ptr<TokenSource>> make_token_source(const SoapCrmAuth& auth, Clock& clock,
                                                       http::Transport& transport);

// Replaces every occurrence of each secret (4+ characters) by "***".
std::string redact(std::string text, const std::vector<std::string>& secrets);
Error redact(const Error& error, const std::vector<std::string>& secrets);

}  // namespace crmsync::crm_soap
