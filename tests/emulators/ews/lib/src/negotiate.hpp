// NTLM for ews-emulator: a GSSAPI acceptor (gss-ntlmssp) per connection. The plugin checks
// the client's answer against NTLM_USER_FILE (lines DOMAIN:user:password), which the server
// writes from its users. Written apart from crmsync's client on purpose.
#pragma once

#include <memory>
#include <string>

namespace ews_emulator {

// Why NTLM cannot be served here ("" when it can): GSSAPI not built in, gss-ntlmssp missing.
std::string negotiate_unavailable();

// One connection's handshake (NTLMSSP, bare or inside SPNEGO).
class Acceptor {
 public:
  Acceptor();
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  struct Step {
    enum State { kContinue, kComplete, kFailed } state = kFailed;
    std::string token;  // for the client (the challenge; SPNEGO's last word), may be empty
    std::string name;   // kComplete: "DOMAIN\user" as the client authenticated
    std::string error;  // kFailed: why (for stderr; never a secret)
  };
  Step step(const std::string& client_token);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ews_emulator
