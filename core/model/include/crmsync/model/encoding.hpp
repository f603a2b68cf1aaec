// Encodings that both the adapters and the core write: base64 (Basic's user:password,
// NTLM's tokens, the original state's unsafe text) and XML escaping (the SOAP writer, the
// original state's attributes).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace crmsync {

// Standard alphabet, '=' padding.
std::string base64_encode(std::string_view bytes);
// Strict: the alphabet, '=' padding only at the end, whole quanta (missing padding allowed;
// a caller that requires it checks the length); nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

// Which control characters xml_escape() writes as character references. CR always (a
// parser would normalise it); kAll adds every other one below U+0020, so that an attribute
// value's tab and line feed are not normalised to spaces either.
enum class XmlControls { kOnlyCr, kAll };
// Escapes &, <, >, " and ' (fit for text and attribute values) and the control characters
// `controls` names.
std::string xml_escape(std::string_view text, XmlControls controls = XmlControls::kOnlyCr);

}  // namespace crmsync
