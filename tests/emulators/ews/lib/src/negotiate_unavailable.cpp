// Built without GSSAPI: NTLM is refused with the reason.
#include "negotiate.hpp"

namespace ews_emulator {

std::string negotiate_unavailable() {
  return "ews-emulator was built without GSSAPI (Debian package libkrb5-dev)";
}

struct Acceptor::Impl {};
Acceptor::Acceptor() = default;
Acceptor::~Acceptor() = default;
Acceptor::Step Acceptor::step(const std::string&) {
  Step s;
  s.error = negotiate_unavailable();
  return s;
}

}  // namespace ews_emulator
