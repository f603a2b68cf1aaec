// Connection-bound authentication (NTLM, Negotiate): a handshake of several request/401 legs
// that authenticates one TCP connection, not one request. Client runs the legs; an
// Authenticator only turns the server's tokens into the next token. Pure header: GSSAPI stays
// in negotiate_gssapi.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "crmsync/model/result.hpp"

namespace crmsync::http {

// One handshake on one connection; dropped with the connection. One thread at a time.
class Handshake {
 public:
  Handshake() = default;
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;
  virtual ~Handshake() = default;

  // The HTTP scheme this handshake speaks ("Negotiate" or "NTLM").
  virtual std::string scheme() const = 0;
  // The next token (raw bytes) for the server, given the server's last token (empty at the
  // start). "" once this side has nothing more to send. kInvalid: a malformed server token;
  // kPermission: the credentials cannot be used.
  virtual Result<std::string> step(const std::string& server_token) = 0;
};

// Makes handshakes; shared by the connections of a Client. Methods may be called from the
// threads of several Clients at once.
class Authenticator {
 public:
  Authenticator() = default;
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;
  virtual ~Authenticator() = default;

  // Whether a 401 offering these schemes (the WWW-Authenticate values' first words, e.g.
  // {"Negotiate", "NTLM", "Basic"}) is one this authenticator answers.
  virtual bool accepts(const std::vector<std::string>& offered) const = 0;
  // Starts a handshake with `host` in one of the offered schemes (as accepts()). Reads the
  // credentials now, so a changed password file counts from the next connection on.
  // kInvalid: setup (mechanism missing, unreadable password file); kPermission: refused.
  virtual Result<std::unique_ptr<Handshake>> begin(const std::string& host,
                                                   const std::vector<std::string>& offered) = 0;
};

struct NegotiateOptions {
  std::string username;       // "DOMAIN\\user" or "user@domain"
  std::string password_file;  // re-read whenever a connection authenticates
};

// NTLM through GSSAPI with gss-ntlmssp: the NTLMSSP mechanism, inside SPNEGO when the server
// offers Negotiate (SPNEGO is limited to NTLMSSP: no Kerberos). kInvalid when this build has
// no GSSAPI (Windows: SSPI is not implemented).
Result<std::shared_ptr<Authenticator>> make_negotiate_authenticator(NegotiateOptions options);

// Ok when NTLM through GSSAPI can work here; else kInvalid saying what is missing (GSSAPI in
// this build, or the gss-ntlmssp package).
Result<void> negotiate_available();

}  // namespace crmsync::http
