// One function per fuzz target: feeds one untrusted input to a parser's public entry point
// and checks what must hold for any input (SPEC X3): a clean error or a value, never a
// crash, and the properties each parser promises (round trips, limits). The libFuzzer
// executables in tests/fuzz/ and the regression tests in tests/fuzz_regressions/ both call
// these, so a reproducer fails the normal build's tests exactly as it failed the fuzzer.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace crmsync::fuzz {

struct Outcome {
  bool accepted = false;  // the input parsed (false: the parser answered a clean error)
  std::string violation;  // non-empty: a property the parser broke (a bug)
};

// CRM SOAP replies: soap::parse_envelope (XML reader, faults), then every crm_soap response
// reader (Retrieve, RetrieveMultiple, RetrieveEntityChanges, ExecuteMultiple, WhoAmI,
// RetrieveUserPrivileges) and error_from_fault on what it gives.
Outcome crm_response(std::string_view input);
// EWS replies as the EWS store adapter reads them: ews::parse_response for every operation it
// sends, then the readers of response messages (items, sync and find pages, subscriptions,
// events, folders) and the streamed-body splitter.
Outcome ews_response(std::string_view input);
// The CRM emulator's Service::handle on a request body, against a fresh in-memory store.
Outcome crm_emulator_request(std::string_view input);
// crmsync::parse_fields; what it accepts must survive serialize_fields -> parse_fields exactly.
Outcome original_state(std::string_view input);
// crmsync::parse_store_value: byte 0 picks the item kind, then "field=text".
Outcome store_value(std::string_view input);
// The mock mailbox's decode_fields; what it accepts must survive encode_fields exactly.
Outcome field_codec(std::string_view input);

// The daemon's crmsync::parse_config on a configuration file's text.
Outcome config(std::string_view input);
// Raw HTTP request bytes, parsed by Beast's parser with the endpoint's limits, then the
// endpoint's pure api::route() (auth before dispatch, loopback Host, JSON error replies).
Outcome api_route(std::string_view input);

struct Target {
  std::string_view name;  // the folder name under tests/fuzz/corpus and tests/fuzz/regressions
  Outcome (*run)(std::string_view input);
};
std::span<const Target> targets();

// For LLVMFuzzerTestOneInput: runs the target and aborts with the violation on stderr.
int run_or_abort(Outcome (*run)(std::string_view), const unsigned char* data, std::size_t size);

}  // namespace crmsync::fuzz
