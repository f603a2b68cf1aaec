// The pieces of EWS responses that the operations' files share (internal to the emulator):
// response messages in their wrapper, the common errors, change keys and folder ids.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "items.hpp"
#include "util.hpp"
#include "xml.hpp"

namespace ews_emulator {

// Opaque id kinds (first byte of the base64 payload).
inline constexpr char kItemIdKind = '\x02';
inline constexpr char kChangeKeyKind = '\x03';
inline constexpr const char* kFolderChangeKey = "AQAAAA==";

inline std::string wrap(const std::string& op, const std::string& messages) {
  return fmt::format(
      "<m:{0}Response xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:m=\"{1}\" "
      "xmlns:t=\"{2}\"><m:ResponseMessages>{3}</m:ResponseMessages></m:{0}Response>",
      op, kMNs, kTNs, messages);
}

inline std::string ok_msg(const std::string& op, const std::string& payload) {
  return fmt::format(
      "<m:{0}ResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>"
      "{1}</m:{0}ResponseMessage>",
      op, payload);
}

inline std::string err_msg(const std::string& op, const ItemError& e, const std::string& payload,
                           const char* cls = "Error") {
  return fmt::format(
      "<m:{0}ResponseMessage ResponseClass=\"{4}\"><m:MessageText>{1}</m:MessageText>"
      "<m:ResponseCode>{2}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{3}"
      "</m:{0}ResponseMessage>",
      op, esc(e.text), e.code, payload, cls);
}

inline ItemError not_found() {
  return {"ErrorItemNotFound", "The specified object was not found in the store."};
}

inline std::string change_key(std::int64_t cn) {
  return make_opaque(kChangeKeyKind, be64(static_cast<std::uint64_t>(cn)));
}

inline std::string folder_id_xml(const std::string& id, const char* element = "FolderId") {
  return fmt::format("<t:{} Id=\"{}\" ChangeKey=\"{}\"/>", element, id, kFolderChangeKey);
}

}  // namespace ews_emulator
