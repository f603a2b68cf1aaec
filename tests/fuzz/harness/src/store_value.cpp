// Target store_value: crmsync::parse_store_value, the CLI's text form of a store field.
// Input: byte 0 picks the item kind and, when below 0x80, a known field of that kind (the
// rest of the input is the text); otherwise "field=text".
#include "crmsync/fuzz/harness.hpp"
#include "crmsync/model/mapping.hpp"

namespace crmsync::fuzz {

Outcome store_value(std::string_view input) {
  Outcome out;
  if (input.empty()) return out;
  const auto selector = static_cast<unsigned char>(input[0]);
  input.remove_prefix(1);
  const ItemKind kind = static_cast<ItemKind>(selector % 4);
  std::string_view field;
  std::string_view text;
  const auto known = known_store_fields(kind);
  if (selector < 0x80 && !known.empty()) {
    field = known[(selector / 4) % known.size()];
    text = input;
  } else {
    auto eq = input.find('=');
    field = input.substr(0, eq);
    text = eq == std::string_view::npos ? std::string_view{} : input.substr(eq + 1);
  }
  auto v = parse_store_value(kind, field, text);
  if (!v.ok()) {
    if (!v.error().is(ErrorKind::kInvalid))
      out.violation = "parse_store_value answered " + v.error().describe();
    return out;
  }
  out.accepted = true;
  if (!is_known_store_field(kind, field)) {
    out.violation = "an unknown field was accepted";
    return out;
  }
  // The canonical text forms read back as the same value.
  if (const auto* d = std::get_if<Date>(&*v)) {
    auto back = Date::parse(d->iso());
    if (!back.ok() || *back != *d) out.violation = "Date " + d->iso() + " does not read back";
  } else if (const auto* t = std::get_if<UtcTime>(&*v)) {
    auto back = UtcTime::parse(t->iso());
    if (!back.ok() || *back != *t) out.violation = "time " + t->iso() + " does not read back";
  } else if (const auto* r = std::get_if<EntityRef>(&*v)) {
    auto back = EntityRef::parse(r->str());
    if (!back.ok() || *back != *r) out.violation = "reference " + r->str() + " does not read back";
  } else if (const auto* p = std::get_if<PartyList>(&*v)) {
    for (const auto& party : *p)
      if (party.address.find('@') == std::string::npos)
        out.violation = "a party without an e-mail address";
  }
  return out;
}

}  // namespace crmsync::fuzz
