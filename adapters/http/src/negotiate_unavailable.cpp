// Builds without GSSAPI (Windows, or no libkrb5-dev): NTLM/Negotiate is refused clearly.
// SSPI, Windows' own NTLM, is not implemented.
#include "crmsync/http/auth.hpp"

namespace crmsync::http {

Result<void> negotiate_available() {
  return Error::Invalid(
      "NTLM/Negotiate is not supported by this build: it needs GSSAPI (Debian: libkrb5-dev, "
      "and gss-ntlmssp at run time); SSPI on Windows is not implemented");
}

Result<std::shared_ptr<Authenticator>> make_negotiate_authenticator(NegotiateOptions) {
  auto why = negotiate_available();
  return why.error();
}

}  // namespace crmsync::http
