// The canonical on-disk form of an item's fields: one JSON object per item, each value
// tagged with its type so that it reads back exactly (text with embedded NULs included).
//   "s": ["s", "text"]            "i": ["i", 42]            "b": ["b", true]
//   "t": ["t", ms since epoch]    "d": ["d", 2025, 3, 1]
//   "r": ["r", entity, guid, name]
//   "p": ["p", [[address, name] | [address, name, entity, guid, refname], ...]]
// Nulls are never stored: a field set to null is removed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "crmsync/model/value.hpp"

namespace crmsync::store_mock {

// Checks one value before it is stored: valid UTF-8 text, at most `max_bytes` per text,
// real dates. kInvalid naming the field otherwise.
Result<void> validate_value(std::string_view field, const Value& v, std::size_t max_bytes);

std::string encode_fields(const FieldMap& fields);
// kCorrupt when the text is not what encode_fields() writes (malformed, invalid UTF-8, a date
// that does not exist). A null value (empty text or party list) reads as an absent field.
Result<FieldMap> decode_fields(std::string_view json);

// An item's categories (SPEC U1): a JSON array of strings, in their order.
std::string encode_categories(const std::vector<std::string>& categories);
// kCorrupt when the text is not what encode_categories() writes.
Result<std::vector<std::string>> decode_categories(std::string_view json);

}  // namespace crmsync::store_mock
