#include "props.hpp"

#include <cstdio>

namespace crmsync::mapi {
namespace {

using T = PropType;

constexpr NamedProp lid(std::string_view label, const Guid& set, std::uint32_t id, PropType type) {
  return {label, set, id, type};
}
constexpr NamedProp ours(std::string_view label, std::u16string_view name, PropType type) {
  return {label, kPsetidCrmsync, name, type};
}

// In the order of Named. Ids and types as [MS-OXPROPS] documents them.
constexpr NamedProp kNamed[] = {
    lid("PidLidEmail1EmailAddress", kPsetidAddress, 0x8083, T::kUnicode),
    lid("PidLidEmail1AddressType", kPsetidAddress, 0x8082, T::kUnicode),
    lid("PidLidEmail2EmailAddress", kPsetidAddress, 0x8093, T::kUnicode),
    lid("PidLidEmail2AddressType", kPsetidAddress, 0x8092, T::kUnicode),
    lid("PidLidEmail3EmailAddress", kPsetidAddress, 0x80A3, T::kUnicode),
    lid("PidLidEmail3AddressType", kPsetidAddress, 0x80A2, T::kUnicode),
    lid("PidLidYomiFirstName", kPsetidAddress, 0x802C, T::kUnicode),
    lid("PidLidYomiLastName", kPsetidAddress, 0x802D, T::kUnicode),
    lid("PidLidInstantMessagingAddress", kPsetidAddress, 0x8062, T::kUnicode),
    lid("PidLidTaskStatus", kPsetidTask, 0x8101, T::kLong),
    lid("PidLidTaskStartDate", kPsetidTask, 0x8104, T::kSysTime),
    lid("PidLidTaskDueDate", kPsetidTask, 0x8105, T::kSysTime),
    lid("PidLidTaskComplete", kPsetidTask, 0x811C, T::kBoolean),
    lid("PidLidPercentComplete", kPsetidTask, 0x8102, T::kDouble),
    lid("PidLidTaskDateCompleted", kPsetidTask, 0x810F, T::kSysTime),
    lid("PidLidTaskEstimatedEffort", kPsetidTask, 0x8110, T::kLong),
    lid("PidLidReminderTime", kPsetidCommon, 0x8502, T::kSysTime),
    lid("PidLidReminderSet", kPsetidCommon, 0x8503, T::kBoolean),
    lid("PidLidReminderDelta", kPsetidCommon, 0x8501, T::kLong),
    lid("PidLidMileage", kPsetidCommon, 0x8534, T::kUnicode),
    lid("PidLidBilling", kPsetidCommon, 0x8535, T::kUnicode),
    lid("PidLidAppointmentStartWhole", kPsetidAppointment, 0x820D, T::kSysTime),
    lid("PidLidAppointmentEndWhole", kPsetidAppointment, 0x820E, T::kSysTime),
    lid("PidLidAppointmentSubType", kPsetidAppointment, 0x8215, T::kBoolean),
    lid("PidLidAppointmentDuration", kPsetidAppointment, 0x8213, T::kLong),
    lid("PidLidBusyStatus", kPsetidAppointment, 0x8205, T::kLong),
    lid("PidLidLocation", kPsetidAppointment, 0x8208, T::kUnicode),
    {"PidNameKeywords", kPsPublicStrings, u"Keywords", T::kMvUnicode},
    ours("crmsync:Tracked", u"Tracked", T::kBoolean),
    ours("crmsync:CrmId", u"CrmId", T::kUnicode),
    ours("crmsync:CrmIdPending", u"CrmIdPending", T::kBoolean),
    ours("crmsync:CrmEntity", u"CrmEntity", T::kUnicode),
    ours("crmsync:Regarding", u"Regarding", T::kUnicode),
    ours("crmsync:TrackCategory", u"TrackCategory", T::kUnicode),
    ours("crmsync:LeaseHolder", u"LeaseHolder", T::kUnicode),
    ours("crmsync:LeaseEpoch", u"LeaseEpoch", T::kUnicode),
    ours("crmsync:LeaseExpires", u"LeaseExpires", T::kUnicode),
    ours("crmsync:QueueClient", u"QueueClient", T::kUnicode),
    ours("crmsync:QueueKind", u"QueueKind", T::kUnicode),
    ours("crmsync:QueueEntryId", u"QueueEntryId", T::kUnicode),
    ours("crmsync:QueueAction", u"QueueAction", T::kUnicode),
    ours("crmsync:QueueDelete", u"QueueDelete", T::kUnicode),
    ours("crmsync:QueueAt", u"QueueAt", T::kUnicode),
    ours("crmsync:QueueSeq", u"QueueSeq", T::kUnicode),
};
static_assert(std::size(kNamed) == static_cast<std::size_t>(Named::kCount),
              "one table row per Named");

}  // namespace

std::string_view to_string(PropType t) {
  switch (t) {
    case T::kLong:
      return "PT_LONG";
    case T::kDouble:
      return "PT_DOUBLE";
    case T::kError:
      return "PT_ERROR";
    case T::kBoolean:
      return "PT_BOOLEAN";
    case T::kUnicode:
      return "PT_UNICODE";
    case T::kSysTime:
      return "PT_SYSTIME";
    case T::kBinary:
      return "PT_BINARY";
    case T::kMvUnicode:
      return "PT_MV_UNICODE";
  }
  return "PT_?";
}

std::string Guid::str() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                static_cast<unsigned>(data1), data2, data3, data4[0], data4[1], data4[2], data4[3],
                data4[4], data4[5], data4[6], data4[7]);
  return buf;
}

std::span<const NamedProp> named_props() {
  return kNamed;
}

const NamedProp& named(Named n) {
  return kNamed[static_cast<std::size_t>(n)];
}

}  // namespace crmsync::mapi
