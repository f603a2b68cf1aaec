// libFuzzer entry point of the ews_response target (see crmsync/fuzz/harness.hpp).
#include <cstddef>
#include <cstdint>

#include "crmsync/fuzz/harness.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return crmsync::fuzz::run_or_abort(crmsync::fuzz::ews_response, data, size);
}
