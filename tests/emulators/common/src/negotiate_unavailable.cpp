// Built without GSSAPI: NTLM is refused with the reason.
#include "emulator/negotiate.hpp"

namespace emulator {

std::string negotiate_unavailable() {
  return "the emulator was built without GSSAPI (Debian package libkrb5-dev)";
}

struct Acceptor::Impl {};
Acceptor::Acceptor() = default;
Acceptor::~Acceptor() = default;
Acceptor::Step Acceptor::step(const std::string&) {
  Step s;
  s.error = negotiate_unavailable();
  return s;
}

}  // namespace emulator
