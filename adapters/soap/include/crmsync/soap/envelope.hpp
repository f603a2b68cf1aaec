// SOAP 1.1 envelopes: reading the Body (or its Fault), and the Dynamics CRM fault detail.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crmsync/soap/xml.hpp"

namespace crmsync::soap {

struct Fault {
  QName code;          // faultcode, resolved ("…/soap/envelope/", "Client")
  std::string string;  // faultstring
  // OrganizationServiceFault in detail, when present:
  std::optional<std::int64_t> error_code;  // the HRESULT as a signed number
  std::string message;
  std::vector<std::pair<std::string, std::string>> details;  // ErrorDetails key -> value text
  // The most useful human text: Message, else faultstring.
  const std::string& text() const { return message.empty() ? string : message; }
};

struct Envelope {
  std::optional<Element> body;  // the first element inside soap:Body, unless a fault
  std::optional<Fault> fault;
};

// Parses a SOAP 1.1 envelope. kInvalid when the text is not XML (see parse_xml), the root is
// not soap:Envelope, there is no Body, or a Fault is malformed (non-numeric ErrorCode).
Result<Envelope> parse_envelope(std::string_view xml, const ParseLimits& limits = {});

// Reads an OrganizationServiceFault element (any of its namespaces; members by local name).
Result<Fault> parse_organization_fault(const Element& fault_element);

// "<s:Envelope xmlns:s=…><s:Body>" + body + "</s:Body></s:Envelope>"
std::string wrap_envelope(std::string_view body_xml);

}  // namespace crmsync::soap
