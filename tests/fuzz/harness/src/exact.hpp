// Exact comparison of field values for round-trip properties: unlike Value's operator==,
// which ignores display names, every member counts.
#pragma once

#include <string>

#include "crmsync/model/value.hpp"

namespace crmsync::fuzz {

bool same(const Value& a, const Value& b);
// Empty when equal, else the first difference ("field 'x': text 'a' != text 'b'").
std::string difference(const FieldMap& a, const FieldMap& b);
// A short, printable form of a value for violation messages.
std::string show(const Value& v);

}  // namespace crmsync::fuzz
