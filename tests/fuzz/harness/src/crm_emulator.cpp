// Target crm_emulator: one request body for the emulated Organization Service, without
// sockets. Every bad request must become a Fault (the SOAP fault the real server sends).
#include <exception>

#include "crmsync/fuzz/harness.hpp"
#include "service.hpp"
#include "store.hpp"

namespace crmsync::fuzz {

Outcome crm_emulator_request(std::string_view input) {
  Outcome out;
  // One in-memory organization per process, emptied before every input (cheaper than a new
  // database), so that every run starts from the same state and reproduces on its own.
  static crm_emulator::Store store(":memory:");
  static crm_emulator::Service service(store);
  service.reset();
  const std::string token = "fuzz-token";
  service.add_user("Fuzz User", token);
  const auto caller = store.user_by_token(token);
  if (!caller) {
    out.violation = "the fuzz user was not stored";
    return out;
  }
  try {
    std::string reply = service.handle("", std::string(input), *caller);
    out.accepted = true;
    if (reply.empty()) out.violation = "an empty reply";
  } catch (const crm_emulator::Fault& f) {
    if (f.http_status < 400)
      out.violation = "a fault with HTTP status " + std::to_string(f.http_status);
    // The fault must be writable as an envelope.
    if (crm_emulator::Service::fault_envelope(f).empty()) out.violation = "an empty fault envelope";
  } catch (const std::exception& e) {
    // The server would answer "Unexpected error", but a request it cannot read is a Fault
    // with the real server's code; anything else escaping is a bug in the request parser.
    out.violation = std::string("an exception that is not a Fault: ") + e.what();
  }
  return out;
}

}  // namespace crmsync::fuzz
