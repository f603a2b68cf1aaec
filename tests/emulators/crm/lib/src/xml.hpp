// Namespace-aware reading on top of tinyxml2 (which has no namespace support),
// and escaping for the hand-written response envelopes.
#pragma once

#include <string>
#include <string_view>

#include <tinyxml2.h>

namespace crm_emulator::xml {

inline constexpr const char* kSoap = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr const char* kServices = "http://schemas.microsoft.com/xrm/2011/Contracts/Services";
inline constexpr const char* kXrm = "http://schemas.microsoft.com/xrm/2011/Contracts";
inline constexpr const char* kCrm = "http://schemas.microsoft.com/crm/2011/Contracts";
inline constexpr const char* kXrm2012 = "http://schemas.microsoft.com/xrm/2012/Contracts";
inline constexpr const char* kXrm71 = "http://schemas.microsoft.com/xrm/7.1/Contracts";
inline constexpr const char* kGeneric =
    "http://schemas.datacontract.org/2004/07/System.Collections.Generic";
inline constexpr const char* kSer = "http://schemas.microsoft.com/2003/10/Serialization/";
inline constexpr const char* kArrays = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
inline constexpr const char* kXsi = "http://www.w3.org/2001/XMLSchema-instance";
inline constexpr const char* kXsd = "http://www.w3.org/2001/XMLSchema";

struct QName {
  std::string ns;
  std::string local;
};

std::string_view local_name(const tinyxml2::XMLElement* e);
// The namespace bound to prefix ("" = default) in scope at e; empty if unbound.
std::string lookup_ns(const tinyxml2::XMLElement* e, std::string_view prefix);
QName element_qname(const tinyxml2::XMLElement* e);
// Resolve "p:Local" found in an attribute value of e. Throws Fault if the prefix is unbound.
QName resolve(const tinyxml2::XMLElement* e, std::string_view qname);
// First child element with this local name (any prefix), or nullptr.
const tinyxml2::XMLElement* child(const tinyxml2::XMLElement* e, std::string_view local);
// The xsi:type of e, resolved; local empty if absent.
QName xsi_type(const tinyxml2::XMLElement* e);
bool is_nil(const tinyxml2::XMLElement* e);
std::string text(const tinyxml2::XMLElement* e);
std::string child_text(const tinyxml2::XMLElement* e, std::string_view local);

std::string escape(std::string_view s);

}  // namespace crm_emulator::xml
