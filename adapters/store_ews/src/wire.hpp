// Small pieces of the EWS wire format that the codec's files share (internal to store_ews):
// extended property URIs (our named properties, MAPI tags), and defensive readers of the
// types namespace. The public codec is codec.hpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "codec.hpp"

namespace crmsync::ews::detail {

using soap::Element;
using soap::XmlWriter;

// An extended property: a named property of a set, or a plain MAPI tag.
struct Ext {
  std::string_view set;  // property set GUID; "" = a plain tag
  std::string_view tag;  // "0x3A07"
  std::string_view name;
  int id = 0;  // numeric LID of a named property
  std::string_view type = "String";
};

constexpr Ext named(std::string_view name, std::string_view type = "String") {
  return Ext{kPropertySet, {}, name, 0, type};
}
constexpr Ext tag(std::string_view t) {
  return Ext{{}, t, {}, 0, "String"};
}

// The CRM link, as named properties of our set.
inline constexpr Ext kTracked = named("Tracked", "Boolean");
inline constexpr Ext kCrmId = named("CrmId");
inline constexpr Ext kCrmIdPending = named("CrmIdPending", "Boolean");
inline constexpr Ext kCrmEntity = named("CrmEntity");
// SPEC U1: the track category the tracked mark stands for (crmsync/core/category_store.hpp).
inline constexpr Ext kTrackCategory = named("TrackCategory");

// ---- writing
void write_ext_uri(XmlWriter& w, const Ext& e);
void write_ext(XmlWriter& w, const Ext& e, std::string_view value);
std::string ext_uri_xml(const Ext& e);
std::string folder_id_xml(Folder f);

// ---- reading
const Element* tchild(const Element& e, std::string_view local);
const Element* mchild(const Element& e, std::string_view local);
std::string attr(const Element& e, std::string_view local);
std::optional<long> parse_tag(std::string_view t);
bool iequal(std::string_view a, std::string_view b);
// The value of an extended property of an item, nullptr when absent.
const std::string* ext_value(const Element& item, const Ext& e);
bool ext_flag(const Element& item, const Ext& e);  // "true" or "1"
std::string trimmed(std::string_view s);

}  // namespace crmsync::ews::detail
