#include <cstdio>
#include <cstdlib>

#include "crmsync/fuzz/harness.hpp"

namespace crmsync::fuzz {

std::span<const Target> targets() {
  static constexpr Target kTargets[] = {
      {"crm_response", crm_response},     {"crm_emulator", crm_emulator_request},
      {"original_state", original_state}, {"store_value", store_value},
      {"field_codec", field_codec},       {"config", config},
      {"api_route", api_route},           {"ews_response", ews_response},
  };
  return kTargets;
}

int run_or_abort(Outcome (*run)(std::string_view), const unsigned char* data, std::size_t size) {
  const Outcome o = run(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!o.violation.empty()) {
    std::fprintf(stderr, "fuzz property violated: %s\n", o.violation.c_str());
    std::abort();
  }
  return 0;
}

}  // namespace crmsync::fuzz
