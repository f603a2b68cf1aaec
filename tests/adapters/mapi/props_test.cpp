// The property-tag and named-property tables against the mingw-w64 MAPI headers (where those
// define the same property) and against [MS-OXPROPS]' documented values.
#include <catch2/catch.hpp>

#include <windows.h>

#include <initguid.h>
#include <mapidefs.h>
#define USES_PS_PUBLIC_STRINGS
#include <mapiguid.h>
#include <mapitags.h>

#include <cstring>
#include <set>

#include "props.hpp"

using namespace crmsync::mapi;

TEST_CASE("MAPI property types are the documented PT_ values", "[mapi][props]") {
  CHECK(static_cast<ULONG>(PropType::kLong) == PT_LONG);
  CHECK(static_cast<ULONG>(PropType::kDouble) == PT_DOUBLE);
  CHECK(static_cast<ULONG>(PropType::kError) == PT_ERROR);
  CHECK(static_cast<ULONG>(PropType::kBoolean) == PT_BOOLEAN);
  CHECK(static_cast<ULONG>(PropType::kUnicode) == PT_UNICODE);
  CHECK(static_cast<ULONG>(PropType::kSysTime) == PT_SYSTIME);
  CHECK(static_cast<ULONG>(PropType::kBinary) == PT_BINARY);
  CHECK(static_cast<ULONG>(PropType::kMvUnicode) == PT_MV_UNICODE);
  CHECK(prop_tag(PropType::kUnicode, 0x3A06) == PROP_TAG(PT_UNICODE, 0x3A06));
  CHECK(prop_id(tag::kGivenName) == 0x3A06);
  CHECK(prop_type(tag::kBirthday) == PropType::kSysTime);
  CHECK(to_string(PropType::kUnicode) == "PT_UNICODE");
}

TEST_CASE("MAPI fixed tags equal the mingw-w64 header's Unicode tags", "[mapi][props]") {
  const std::pair<std::uint32_t, ULONG> pairs[] = {
      {tag::kEntryId, PR_ENTRYID},
      {tag::kParentEntryId, PR_PARENT_ENTRYID},
      {tag::kLastModificationTime, PR_LAST_MODIFICATION_TIME},
      {tag::kCreationTime, PR_CREATION_TIME},
      {tag::kMessageClass, PR_MESSAGE_CLASS_W},
      {tag::kSubject, PR_SUBJECT_W},
      {tag::kBody, PR_BODY_W},
      {tag::kImportance, PR_IMPORTANCE},
      {tag::kDisplayName, PR_DISPLAY_NAME_W},
      {tag::kAddrType, PR_ADDRTYPE_W},
      {tag::kEmailAddress, PR_EMAIL_ADDRESS_W},
      {tag::kRecipientType, PR_RECIPIENT_TYPE},
      {tag::kRowId, PR_ROWID},
      {tag::kIpmSubtreeEntryId, PR_IPM_SUBTREE_ENTRYID},
      {tag::kIpmSentMailEntryId, PR_IPM_SENTMAIL_ENTRYID},
      {tag::kIpmWastebasketEntryId, PR_IPM_WASTEBASKET_ENTRYID},
      {tag::kGivenName, PR_GIVEN_NAME_W},
      {tag::kSurname, PR_SURNAME_W},
      {tag::kMiddleName, PR_MIDDLE_NAME_W},
      {tag::kNickname, PR_NICKNAME_W},
      {tag::kDisplayNamePrefix, PR_DISPLAY_NAME_PREFIX_W},
      {tag::kTitle, PR_TITLE_W},
      {tag::kDepartmentName, PR_DEPARTMENT_NAME_W},
      {tag::kCompanyName, PR_COMPANY_NAME_W},
      {tag::kAssistant, PR_ASSISTANT_W},
      {tag::kAssistantTelephoneNumber, PR_ASSISTANT_TELEPHONE_NUMBER_W},
      {tag::kBusinessFaxNumber, PR_BUSINESS_FAX_NUMBER_W},
      {tag::kBusinessTelephoneNumber, PR_BUSINESS_TELEPHONE_NUMBER_W},
      {tag::kBusiness2TelephoneNumber, PR_BUSINESS2_TELEPHONE_NUMBER_W},
      {tag::kHomeTelephoneNumber, PR_HOME_TELEPHONE_NUMBER_W},
      {tag::kHome2TelephoneNumber, PR_HOME2_TELEPHONE_NUMBER_W},
      {tag::kMobileTelephoneNumber, PR_MOBILE_TELEPHONE_NUMBER_W},
      {tag::kCarTelephoneNumber, PR_CAR_TELEPHONE_NUMBER_W},
      {tag::kOtherTelephoneNumber, PR_OTHER_TELEPHONE_NUMBER_W},
      {tag::kPagerTelephoneNumber, PR_PAGER_TELEPHONE_NUMBER_W},
      {tag::kChildrensNames, PR_CHILDRENS_NAMES_W},
      {tag::kGovernmentIdNumber, PR_GOVERNMENT_ID_NUMBER_W},
      {tag::kFtpSite, PR_FTP_SITE_W},
      {tag::kManagerName, PR_MANAGER_NAME_W},
      {tag::kSpouseName, PR_SPOUSE_NAME_W},
      {tag::kBirthday, PR_BIRTHDAY},
      {tag::kWeddingAnniversary, PR_WEDDING_ANNIVERSARY},
      {tag::kBusinessHomePage, PR_BUSINESS_HOME_PAGE_W},
      {tag::kOfficeLocation, PR_OFFICE_LOCATION_W},
      {tag::kProfession, PR_PROFESSION_W},
      {tag::kLocality, PR_LOCALITY_W},
      {tag::kCountry, PR_COUNTRY_W},
      {tag::kPostOfficeBox, PR_POST_OFFICE_BOX_W},
      {tag::kPostalCode, PR_POSTAL_CODE_W},
      {tag::kStateOrProvince, PR_STATE_OR_PROVINCE_W},
      {tag::kStreetAddress, PR_STREET_ADDRESS_W},
      {tag::kSenderName, PR_SENDER_NAME_W},
      {tag::kSenderAddrType, PR_SENDER_ADDRTYPE_W},
      {tag::kSenderEmailAddress, PR_SENDER_EMAIL_ADDRESS_W},
      {tag::kSentRepresentingName, PR_SENT_REPRESENTING_NAME_W},
      {tag::kSentRepresentingAddrType, PR_SENT_REPRESENTING_ADDRTYPE_W},
      {tag::kSentRepresentingEmailAddress, PR_SENT_REPRESENTING_EMAIL_ADDRESS_W},
      {tag::kClientSubmitTime, PR_CLIENT_SUBMIT_TIME},
      {tag::kMessageDeliveryTime, PR_MESSAGE_DELIVERY_TIME},
  };
  for (const auto& [ours, header] : pairs) {
    INFO("tag 0x" << std::hex << ours);
    CHECK(ours == header);
  }
}

TEST_CASE("MAPI tags the mingw-w64 headers lack have their documented values", "[mapi][props]") {
  // [MS-OXPROPS]: PidTagChangeKey 0x65E2 PtypBinary, PidTagIpm*EntryId on the Inbox or the root
  // folder.
  CHECK(tag::kChangeKey == 0x65E20102u);
  CHECK(tag::kIpmAppointmentEntryId == 0x36D00102u);
  CHECK(tag::kIpmContactEntryId == 0x36D10102u);
  CHECK(tag::kIpmTaskEntryId == 0x36D40102u);
  CHECK(tag::kIpmDraftsEntryId == 0x36D70102u);
  CHECK(tag::kSmtpAddress == 0x39FE001Fu);
  CHECK(tag::kSenderSmtpAddress == 0x5D01001Fu);
  CHECK(tag::kSentRepresentingSmtpAddress == 0x5D02001Fu);
  CHECK(tag::kInternetMessageId == 0x1035001Fu);
}

TEST_CASE("MAPI property sets are the documented GUIDs", "[mapi][props]") {
  GUID header = PS_PUBLIC_STRINGS;
  static_assert(sizeof(Guid) == sizeof(GUID));
  CHECK(std::memcmp(&header, &kPsPublicStrings, sizeof(GUID)) == 0);
  CHECK(kPsPublicStrings.str() == "00020329-0000-0000-c000-000000000046");
  CHECK(kPsetidAddress.str() == "00062004-0000-0000-c000-000000000046");
  CHECK(kPsetidTask.str() == "00062003-0000-0000-c000-000000000046");
  CHECK(kPsetidAppointment.str() == "00062002-0000-0000-c000-000000000046");
  CHECK(kPsetidCommon.str() == "00062008-0000-0000-c000-000000000046");
  // The EWS adapter's set (adapters/store_ews/src/codec.hpp): one mailbox, one set of names.
  CHECK(kPsetidCrmsync.str() == "c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35");
}

TEST_CASE("MAPI named property table - one row per name with a usable type", "[mapi][props]") {
  REQUIRE(named_props().size() == static_cast<std::size_t>(Named::kCount));
  std::set<std::string_view> labels;
  std::set<std::pair<std::string, std::u16string>> names;
  for (const NamedProp& p : named_props()) {
    INFO(p.label);
    CHECK(labels.insert(p.label).second);
    std::u16string key =
        std::holds_alternative<std::uint32_t>(p.name)
            ? std::u16string(1, static_cast<char16_t>(std::get<std::uint32_t>(p.name)))
            : std::u16string(std::get<std::u16string_view>(p.name));
    CHECK(names.insert({p.set.str(), key}).second);
    CHECK(p.type != PropType::kError);
    CHECK(p.type != PropType::kBinary);
    if (const auto* id = std::get_if<std::uint32_t>(&p.name)) {
      // Named ids live in 0x8000..0xFFFE.
      CHECK(*id >= 0x8000u);
      CHECK(*id <= 0xFFFEu);
    }
  }
  CHECK(named(Named::kTaskStatus).label == "PidLidTaskStatus");
  CHECK(std::get<std::uint32_t>(named(Named::kTaskStatus).name) == 0x8101u);
  CHECK(named(Named::kTaskStatus).set == kPsetidTask);
  CHECK(std::get<std::uint32_t>(named(Named::kEmail1Address).name) == 0x8083u);
  CHECK(named(Named::kEmail1Address).set == kPsetidAddress);
  CHECK(std::get<std::uint32_t>(named(Named::kAppointmentStartWhole).name) == 0x820Du);
  CHECK(named(Named::kAppointmentStartWhole).set == kPsetidAppointment);
  CHECK(named(Named::kKeywords).set == kPsPublicStrings);
  CHECK(std::get<std::u16string_view>(named(Named::kCrmId).name) == u"CrmId");
  CHECK(named(Named::kTracked).type == PropType::kBoolean);
}
