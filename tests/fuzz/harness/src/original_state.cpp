// Target original_state: crmsync::parse_fields, and the round trip it promises.
#include "crmsync/core/original_state.hpp"
#include "crmsync/fuzz/harness.hpp"
#include "exact.hpp"

namespace crmsync::fuzz {

Outcome original_state(std::string_view input) {
  Outcome out;
  auto parsed = parse_fields(input);
  if (!parsed.ok()) {
    if (!parsed.error().is(ErrorKind::kInvalid))
      out.violation = "parse_fields answered " + parsed.error().describe();
    return out;
  }
  out.accepted = true;
  // Whatever parse_fields accepts, serialize_fields writes so that it reads back exactly,
  // and the writing is canonical (the same values give the same bytes).
  const std::string xml = serialize_fields(*parsed);
  auto again = parse_fields(xml);
  if (!again.ok()) {
    out.violation = "serialize_fields wrote what parse_fields refuses: " + again.error().describe();
    return out;
  }
  if (auto d = difference(*parsed, *again); !d.empty()) {
    out.violation = "round trip changed " + d;
    return out;
  }
  if (serialize_fields(*again) != xml) out.violation = "serialize_fields is not canonical";
  return out;
}

}  // namespace crmsync::fuzz
