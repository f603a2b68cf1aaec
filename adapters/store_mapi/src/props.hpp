// MAPI property tags, property sets and named properties as plain data (no Windows header),
// with the documented values of [MS-OXPROPS]. The live adapter resolves named properties to
// tags per store (IMAPIProp::GetIDsFromNames); the unit tests check these tables against the
// mingw-w64 headers where those define the same names.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace crmsync::mapi {

// Property types ([MS-OXCDATA] 2.11.1).
enum class PropType : std::uint16_t {
  kLong = 0x0003,      // PT_LONG
  kDouble = 0x0005,    // PT_DOUBLE
  kError = 0x000A,     // PT_ERROR: the property is missing from a row or GetProps reply
  kBoolean = 0x000B,   // PT_BOOLEAN
  kUnicode = 0x001F,   // PT_UNICODE (UTF-16LE)
  kSysTime = 0x0040,   // PT_SYSTIME (FILETIME)
  kBinary = 0x0102,    // PT_BINARY
  kMvUnicode = 0x101F  // PT_MV_UNICODE
};

constexpr std::uint32_t prop_tag(PropType type, std::uint16_t id) {
  return (static_cast<std::uint32_t>(id) << 16) | static_cast<std::uint16_t>(type);
}
constexpr std::uint16_t prop_id(std::uint32_t tag) {
  return static_cast<std::uint16_t>(tag >> 16);
}
constexpr PropType prop_type(std::uint32_t tag) {
  return static_cast<PropType>(tag & 0xFFFF);
}
std::string_view to_string(PropType t);

// A GUID in its in-memory layout (Data1..Data4 as Windows' GUID), so that it can be copied
// into a GUID as is.
struct Guid {
  std::uint32_t data1 = 0;
  std::uint16_t data2 = 0;
  std::uint16_t data3 = 0;
  std::array<std::uint8_t, 8> data4{};
  auto operator<=>(const Guid&) const = default;
  // Registry form without braces, lower case: "00062004-0000-0000-c000-000000000046".
  std::string str() const;
};

// Property sets ([MS-OXPROPS] 1.3.2).
inline constexpr Guid kPsetidAddress{0x00062004, 0, 0, {0xC0, 0, 0, 0, 0, 0, 0, 0x46}};
inline constexpr Guid kPsetidTask{0x00062003, 0, 0, {0xC0, 0, 0, 0, 0, 0, 0, 0x46}};
inline constexpr Guid kPsetidAppointment{0x00062002, 0, 0, {0xC0, 0, 0, 0, 0, 0, 0, 0x46}};
inline constexpr Guid kPsetidCommon{0x00062008, 0, 0, {0xC0, 0, 0, 0, 0, 0, 0, 0x46}};
inline constexpr Guid kPsPublicStrings{0x00020329, 0, 0, {0xC0, 0, 0, 0, 0, 0, 0, 0x46}};
// crmsync's own set: the CRM link, Regarding, the lease and the queue. The same set and
// names as the EWS adapter (adapters/store_ews), so that clients on both see one mailbox.
inline constexpr Guid kPsetidCrmsync{
    0xc3a7d2f0, 0x5b1e, 0x4e8a, {0x9f, 0x6d, 0x2a, 0x4b, 0x8c, 0x1e, 0x7f, 0x35}};

// A named property: (set, numeric id) or (set, string name), and the type it holds.
struct NamedProp {
  std::string_view label;  // for messages and tests: "PidLidTaskStatus", "crmsync:CrmId"
  Guid set;
  std::variant<std::uint32_t, std::u16string_view> name;  // MNID_ID or MNID_STRING
  PropType type;
};

// Every named property the adapter uses, in one table; Named::k... index it. The live adapter
// resolves the whole table with one GetIDsFromNames(MAPI_CREATE) per store.
enum class Named : std::size_t {
  kEmail1Address,
  kEmail1AddrType,
  kEmail2Address,
  kEmail2AddrType,
  kEmail3Address,
  kEmail3AddrType,
  kYomiFirstName,
  kYomiLastName,
  kInstantMessagingAddress,
  kTaskStatus,
  kTaskStartDate,
  kTaskDueDate,
  kTaskComplete,
  kPercentComplete,
  kTaskDateCompleted,
  kTaskEstimatedEffort,
  kReminderTime,
  kReminderSet,
  kReminderDelta,
  kMileage,
  kBilling,
  kAppointmentStartWhole,
  kAppointmentEndWhole,
  kAppointmentSubType,
  kAppointmentDuration,
  kBusyStatus,
  kLocation,
  kKeywords,
  kTracked,
  kCrmId,
  kCrmIdPending,
  kCrmEntity,
  kRegarding,
  kTrackCategory,  // SPEC U1: the track category the tracked mark stands for
  kLeaseHolder,
  kLeaseEpoch,
  kLeaseExpires,
  kQueueClient,
  kQueueKind,
  kQueueEntryId,
  kQueueAction,
  kQueueDelete,
  kQueueAt,
  kQueueSeq,
  kCount
};
std::span<const NamedProp> named_props();
const NamedProp& named(Named n);

// Property tags with fixed ids ([MS-OXPROPS]); Unicode string types throughout.
namespace tag {
inline constexpr std::uint32_t kEntryId = prop_tag(PropType::kBinary, 0x0FFF);
inline constexpr std::uint32_t kParentEntryId = prop_tag(PropType::kBinary, 0x0E09);
inline constexpr std::uint32_t kChangeKey = prop_tag(PropType::kBinary, 0x65E2);
inline constexpr std::uint32_t kLastModificationTime = prop_tag(PropType::kSysTime, 0x3008);
inline constexpr std::uint32_t kCreationTime = prop_tag(PropType::kSysTime, 0x3007);
inline constexpr std::uint32_t kMessageClass = prop_tag(PropType::kUnicode, 0x001A);
inline constexpr std::uint32_t kSubject = prop_tag(PropType::kUnicode, 0x0037);
inline constexpr std::uint32_t kBody = prop_tag(PropType::kUnicode, 0x1000);
inline constexpr std::uint32_t kImportance = prop_tag(PropType::kLong, 0x0017);
inline constexpr std::uint32_t kDisplayName = prop_tag(PropType::kUnicode, 0x3001);
inline constexpr std::uint32_t kAddrType = prop_tag(PropType::kUnicode, 0x3002);
inline constexpr std::uint32_t kEmailAddress = prop_tag(PropType::kUnicode, 0x3003);
inline constexpr std::uint32_t kSmtpAddress = prop_tag(PropType::kUnicode, 0x39FE);
inline constexpr std::uint32_t kRecipientType = prop_tag(PropType::kLong, 0x0C15);
inline constexpr std::uint32_t kRowId = prop_tag(PropType::kLong, 0x3000);
// Store: the default folders ([MS-OXOSFLD] 2.2).
inline constexpr std::uint32_t kIpmSubtreeEntryId = prop_tag(PropType::kBinary, 0x35E0);
inline constexpr std::uint32_t kIpmSentMailEntryId = prop_tag(PropType::kBinary, 0x35E4);
inline constexpr std::uint32_t kIpmWastebasketEntryId = prop_tag(PropType::kBinary, 0x35E3);
// On the Inbox and the root folder (PidTagIpm*EntryId, [MS-OXOSFLD] 2.2.3).
inline constexpr std::uint32_t kIpmAppointmentEntryId = prop_tag(PropType::kBinary, 0x36D0);
inline constexpr std::uint32_t kIpmContactEntryId = prop_tag(PropType::kBinary, 0x36D1);
inline constexpr std::uint32_t kIpmTaskEntryId = prop_tag(PropType::kBinary, 0x36D4);
inline constexpr std::uint32_t kIpmDraftsEntryId = prop_tag(PropType::kBinary, 0x36D7);
// Contacts ([MS-OXOCNTC]).
inline constexpr std::uint32_t kGivenName = prop_tag(PropType::kUnicode, 0x3A06);
inline constexpr std::uint32_t kSurname = prop_tag(PropType::kUnicode, 0x3A11);
inline constexpr std::uint32_t kMiddleName = prop_tag(PropType::kUnicode, 0x3A44);
inline constexpr std::uint32_t kNickname = prop_tag(PropType::kUnicode, 0x3A4F);
inline constexpr std::uint32_t kDisplayNamePrefix = prop_tag(PropType::kUnicode, 0x3A45);
inline constexpr std::uint32_t kTitle = prop_tag(PropType::kUnicode, 0x3A17);
inline constexpr std::uint32_t kDepartmentName = prop_tag(PropType::kUnicode, 0x3A18);
inline constexpr std::uint32_t kCompanyName = prop_tag(PropType::kUnicode, 0x3A16);
inline constexpr std::uint32_t kAssistant = prop_tag(PropType::kUnicode, 0x3A30);
inline constexpr std::uint32_t kAssistantTelephoneNumber = prop_tag(PropType::kUnicode, 0x3A2E);
inline constexpr std::uint32_t kBusinessFaxNumber = prop_tag(PropType::kUnicode, 0x3A24);
inline constexpr std::uint32_t kBusinessTelephoneNumber = prop_tag(PropType::kUnicode, 0x3A08);
inline constexpr std::uint32_t kBusiness2TelephoneNumber = prop_tag(PropType::kUnicode, 0x3A1B);
inline constexpr std::uint32_t kHomeTelephoneNumber = prop_tag(PropType::kUnicode, 0x3A09);
inline constexpr std::uint32_t kHome2TelephoneNumber = prop_tag(PropType::kUnicode, 0x3A2F);
inline constexpr std::uint32_t kMobileTelephoneNumber = prop_tag(PropType::kUnicode, 0x3A1C);
inline constexpr std::uint32_t kCarTelephoneNumber = prop_tag(PropType::kUnicode, 0x3A1E);
inline constexpr std::uint32_t kOtherTelephoneNumber = prop_tag(PropType::kUnicode, 0x3A1F);
inline constexpr std::uint32_t kPagerTelephoneNumber = prop_tag(PropType::kUnicode, 0x3A21);
inline constexpr std::uint32_t kChildrensNames = prop_tag(PropType::kMvUnicode, 0x3A58);
inline constexpr std::uint32_t kGovernmentIdNumber = prop_tag(PropType::kUnicode, 0x3A07);
inline constexpr std::uint32_t kFtpSite = prop_tag(PropType::kUnicode, 0x3A4C);
inline constexpr std::uint32_t kManagerName = prop_tag(PropType::kUnicode, 0x3A4E);
inline constexpr std::uint32_t kSpouseName = prop_tag(PropType::kUnicode, 0x3A48);
inline constexpr std::uint32_t kBirthday = prop_tag(PropType::kSysTime, 0x3A42);
inline constexpr std::uint32_t kWeddingAnniversary = prop_tag(PropType::kSysTime, 0x3A41);
inline constexpr std::uint32_t kBusinessHomePage = prop_tag(PropType::kUnicode, 0x3A51);
inline constexpr std::uint32_t kOfficeLocation = prop_tag(PropType::kUnicode, 0x3A19);
inline constexpr std::uint32_t kProfession = prop_tag(PropType::kUnicode, 0x3A46);
// The mailing address (Outlook's MailingAddress*: PidTagLocality etc., [MS-OXOCNTC] 2.2.1.3).
inline constexpr std::uint32_t kLocality = prop_tag(PropType::kUnicode, 0x3A27);
inline constexpr std::uint32_t kCountry = prop_tag(PropType::kUnicode, 0x3A26);
inline constexpr std::uint32_t kPostOfficeBox = prop_tag(PropType::kUnicode, 0x3A2B);
inline constexpr std::uint32_t kPostalCode = prop_tag(PropType::kUnicode, 0x3A2A);
inline constexpr std::uint32_t kStateOrProvince = prop_tag(PropType::kUnicode, 0x3A28);
inline constexpr std::uint32_t kStreetAddress = prop_tag(PropType::kUnicode, 0x3A29);
// Messages ([MS-OXOMSG]).
inline constexpr std::uint32_t kSenderName = prop_tag(PropType::kUnicode, 0x0C1A);
inline constexpr std::uint32_t kSenderAddrType = prop_tag(PropType::kUnicode, 0x0C1E);
inline constexpr std::uint32_t kSenderEmailAddress = prop_tag(PropType::kUnicode, 0x0C1F);
inline constexpr std::uint32_t kSenderSmtpAddress = prop_tag(PropType::kUnicode, 0x5D01);
inline constexpr std::uint32_t kSentRepresentingName = prop_tag(PropType::kUnicode, 0x0042);
inline constexpr std::uint32_t kSentRepresentingAddrType = prop_tag(PropType::kUnicode, 0x0064);
inline constexpr std::uint32_t kSentRepresentingEmailAddress = prop_tag(PropType::kUnicode, 0x0065);
inline constexpr std::uint32_t kSentRepresentingSmtpAddress = prop_tag(PropType::kUnicode, 0x5D02);
inline constexpr std::uint32_t kClientSubmitTime = prop_tag(PropType::kSysTime, 0x0039);
inline constexpr std::uint32_t kMessageDeliveryTime = prop_tag(PropType::kSysTime, 0x0E06);
inline constexpr std::uint32_t kInternetMessageId = prop_tag(PropType::kUnicode, 0x1035);
// Configuration data ([MS-OXOCFG] 2.2.2): which streams an associated message holds, and its
// XML stream (the master category list's document).
inline constexpr std::uint32_t kRoamingDatatypes = prop_tag(PropType::kLong, 0x7C06);
inline constexpr std::uint32_t kRoamingXmlStream = prop_tag(PropType::kBinary, 0x7C08);
}  // namespace tag

// Recipient types (PidTagRecipientType): To = required attendee, Cc = optional attendee.
inline constexpr std::int32_t kRecipientTo = 1;
inline constexpr std::int32_t kRecipientCc = 2;

// The message classes of items the adapter creates, and of the hidden items (the same
// classes as the EWS adapter's hidden items).
inline constexpr std::u16string_view kLeaseClass = u"IPM.Configuration.crmsync.lease";
inline constexpr std::u16string_view kQueueClass = u"IPM.Configuration.crmsync.queue";
// The master category list: an associated message of the Calendar folder ([MS-OXOCFG]
// 2.2.5.2.2), its PidTagRoamingDatatypes "XML stream" (0x00000004 in the current [MS-OXOCFG];
// Office 2007 and 2010's pages say 0x40000000).
inline constexpr std::u16string_view kCategoryListClass = u"IPM.Configuration.CategoryList";
inline constexpr std::int32_t kRoamingXmlStreamFlag = 0x00000004;

}  // namespace crmsync::mapi
