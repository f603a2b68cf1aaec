// Target field_codec: the mock mailbox's stored JSON (decode_fields), and its round trip.
#include "field_codec.hpp"
#include "crmsync/fuzz/harness.hpp"
#include "exact.hpp"

namespace crmsync::fuzz {

Outcome field_codec(std::string_view input) {
  Outcome out;
  auto decoded = store_mock::decode_fields(input);
  if (!decoded.ok()) {
    if (!decoded.error().is(ErrorKind::kCorrupt))
      out.violation = "decode_fields answered " + decoded.error().describe();
    return out;
  }
  out.accepted = true;
  // What the mailbox reads back is what it would have let in (UTF-8 text, real dates).
  for (const auto& [name, value] : *decoded) {
    if (auto valid = store_mock::validate_value(name, value, std::size_t(-1)); !valid.ok()) {
      out.violation = "decode_fields gave a value the mailbox refuses: " + valid.error().describe();
      return out;
    }
    if (is_null(value)) {
      out.violation = "decode_fields gave a null value for " + name;
      return out;
    }
  }
  // encode_fields drops nulls; decode_fields never yields one, so the round trip is exact.
  const std::string json = store_mock::encode_fields(*decoded);
  auto again = store_mock::decode_fields(json);
  if (!again.ok()) {
    out.violation = "encode_fields wrote what decode_fields refuses: " + again.error().describe();
    return out;
  }
  if (auto d = difference(*decoded, *again); !d.empty()) {
    out.violation = "round trip changed " + d;
    return out;
  }
  if (store_mock::encode_fields(*again) != json) out.violation = "encode_fields is not canonical";
  return out;
}

}  // namespace crmsync::fuzz
