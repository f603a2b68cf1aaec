#include "errors.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace crmsync::crm_soap {
namespace {

std::optional<double> number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string t(s);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

std::optional<int> clamp_ms(double ms) {
  if (ms < 0) return std::nullopt;
  if (ms > 24.0 * 3600 * 1000) ms = 24.0 * 3600 * 1000;
  return static_cast<int>(ms);
}

}  // namespace

std::optional<int> retry_after_header_ms(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  auto v = number(value);
  if (!v) return std::nullopt;
  return clamp_ms(*v * 1000);
}

std::optional<int> timespan_ms(std::string_view value) {
  if (value.empty()) return std::nullopt;
  if (value.front() == 'P') {  // xs:duration, time part only (PT1H2M3.5S)
    auto t = value.find('T');
    if (t == std::string_view::npos) return std::nullopt;
    double total = 0;
    std::string_view rest = value.substr(t + 1);
    while (!rest.empty()) {
      auto unit = rest.find_first_of("HMS");
      if (unit == std::string_view::npos) return std::nullopt;
      auto n = number(rest.substr(0, unit));
      if (!n) return std::nullopt;
      total += *n * (rest[unit] == 'H' ? 3600 : rest[unit] == 'M' ? 60 : 1);
      rest = rest.substr(unit + 1);
    }
    return clamp_ms(total * 1000);
  }
  // [d.]hh:mm:ss[.fffffff]
  double days = 0;
  auto first_colon = value.find(':');
  if (first_colon == std::string_view::npos) return std::nullopt;
  std::string_view head = value.substr(0, first_colon);
  if (auto dot = head.find('.'); dot != std::string_view::npos) {
    auto d = number(head.substr(0, dot));
    if (!d) return std::nullopt;
    days = *d;
    head = head.substr(dot + 1);
  }
  auto second_colon = value.find(':', first_colon + 1);
  if (second_colon == std::string_view::npos) return std::nullopt;
  auto h = number(head);
  auto m = number(value.substr(first_colon + 1, second_colon - first_colon - 1));
  auto s = number(value.substr(second_colon + 1));
  if (!h || !m || !s) return std::nullopt;
  return clamp_ms(((days * 24 + *h) * 3600 + *m * 60 + *s) * 1000);
}

Error error_from_fault(const soap::Fault& fault) {
  const std::string text = fault.text().substr(0, 500);
  if (!fault.error_code) {
    // A SOAP fault without a CRM error code: the server rejected the message itself.
    return Error::Invalid(fmt::format("CRM fault {}: {}", fault.code.local, text));
  }
  const std::int64_t code = *fault.error_code;
  const std::string described =
      fmt::format("CRM fault 0x{:08X}: {}", static_cast<std::uint32_t>(code), text);
  switch (code) {
    case kDuplicateRecord:
      return Error::Conflict(described);
    case kObjectDoesNotExist:
      return Error::NotFound(described);
    case kConcurrencyVersionMismatch:
      // CRM moved since the record was read (SPEC U6): read it again and merge again.
      return Error::Conflict(described);
    case kExpiredVersionStamp:
      // The change-tracking token is too old (or not this org's): re-read everything.
      return Error::Conflict("change tracking token expired; a full sync is needed: " + described);
    case -2147204784:    // 0x80044150 SQL timeout
    case -2147180286:    // 0x80048402 SQL error (deadlock)
    case -2147015902:    // service protection: number of requests
    case -2147015903:    // service protection: execution time
    case -2147015898: {  // service protection: concurrent requests
      std::optional<int> wait;
      for (const auto& [k, v] : fault.details)
        if (k == "Retry-After") wait = timespan_ms(v);
      return Error::Transient(described, wait);
    }
    case -2147220960:  // 0x80040220 principal user is missing a privilege
    case -2147204720:  // 0x80044190 caller is disabled
    case -2147180284:  // 0x80048404 no roles assigned
      return Error::Permission(described);
    case kRecordAccessDenied:
      // The privilege is there but this record is not the user's to touch (owned out of the
      // user's reach, not shared): this item stays refused, the others go on (E1).
      return Error::Permission(described).with_retry(Retry::kItem);
    default:
      // Validation (0x80044331 length, 0x80041103 unknown attribute, 0x80040203 invalid
      // argument, 0x8006088D no RowVersion where IfRowVersionMatches needs one, plug-in
      // aborts...): final for this item, with the server's words.
      return Error::Invalid(described);
  }
}

}  // namespace crmsync::crm_soap
