#include "errors.hpp"

#include <cstdio>
#include <utility>

namespace crmsync::mapi {
namespace {

constexpr std::pair<std::uint32_t, std::string_view> kNames[] = {
    {hr::kOk, "S_OK"},
    {hr::kErrorsReturned, "MAPI_W_ERRORS_RETURNED"},
    {hr::kCallFailed, "MAPI_E_CALL_FAILED"},
    {hr::kNoSupport, "MAPI_E_NO_SUPPORT"},
    {hr::kNotEnoughMemory, "MAPI_E_NOT_ENOUGH_MEMORY"},
    {hr::kInvalidParameter, "MAPI_E_INVALID_PARAMETER"},
    {hr::kNoAccess, "MAPI_E_NO_ACCESS"},
    {hr::kInvalidEntryId, "MAPI_E_INVALID_ENTRYID"},
    {hr::kObjectChanged, "MAPI_E_OBJECT_CHANGED"},
    {hr::kObjectDeleted, "MAPI_E_OBJECT_DELETED"},
    {hr::kBusy, "MAPI_E_BUSY"},
    {hr::kNotFound, "MAPI_E_NOT_FOUND"},
    {hr::kLogonFailed, "MAPI_E_LOGON_FAILED"},
    {hr::kNetworkError, "MAPI_E_NETWORK_ERROR"},
    {hr::kCorruptData, "MAPI_E_CORRUPT_DATA"},
    {hr::kNotInitialized, "MAPI_E_NOT_INITIALIZED"},
    {hr::kCollision, "MAPI_E_COLLISION"},
    {hr::kEndOfSession, "MAPI_E_END_OF_SESSION"},
    {hr::kUnknownEntryId, "MAPI_E_UNKNOWN_ENTRYID"},
    {hr::kTimeout, "MAPI_E_TIMEOUT"},
    {hr::kUserCancel, "MAPI_E_USER_CANCEL"},
    {hr::kUnconfigured, "MAPI_E_UNCONFIGURED"},
    {hr::kFailOneProvider, "MAPI_E_FAILONEPROVIDER"},
    {hr::kPasswordChangeRequired, "MAPI_E_PASSWORD_CHANGE_REQUIRED"},
    {hr::kPasswordExpired, "MAPI_E_PASSWORD_EXPIRED"},
};

}  // namespace

std::string hresult_name(std::uint32_t code) {
  for (const auto& [c, name] : kNames)
    if (c == code) return std::string(name);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(code));
  return buf;
}

Error error_of(std::uint32_t code, std::string_view what) {
  const std::string m = std::string(what) + ": " + hresult_name(code);
  switch (code) {
    case hr::kNotFound:
    case hr::kObjectDeleted:
    case hr::kInvalidEntryId:
    case hr::kUnknownEntryId:
      return Error::NotFound(m);
    case hr::kObjectChanged:
    case hr::kCollision:
      return Error::Conflict(m);
    case hr::kNetworkError:
    case hr::kBusy:
    case hr::kTimeout:
    case hr::kEndOfSession:
    case hr::kNotEnoughMemory:
    case hr::kFailOneProvider:
      return Error::Transient(m);
    case hr::kNoAccess:
    case hr::kLogonFailed:
    case hr::kPasswordChangeRequired:
    case hr::kPasswordExpired:
    case hr::kUserCancel:
      return Error::Permission(m);
    case hr::kCorruptData:
      return Error::Corrupt(m);
    case hr::kInvalidParameter:
      return Error::Invalid(m);
  }
  return Error::Internal(m);
}

Error library_missing(std::string_view library, std::string_view detail) {
  return Error::Permission("MAPI is not available: cannot use " + std::string(library) + " (" +
                           std::string(detail) +
                           "); install Outlook (Extended MAPI) for the \"mapi\" store");
}

Error initialize_failed(std::uint32_t code) {
  return Error::Permission("MAPI is not available: MAPIInitialize failed with " +
                           hresult_name(code) +
                           "; no Extended MAPI provider is installed (install Outlook, in the "
                           "daemon's bitness) or MAPI is not the default mail client");
}

Error logon_failed(std::uint32_t code, std::string_view profile) {
  std::string why;
  switch (code) {
    case hr::kNotFound:
    case hr::kLogonFailed:
    case hr::kUnconfigured:
    case hr::kCallFailed:
      why = "no MAPI profile of that name, or it cannot be opened without a dialog";
      break;
    case hr::kUserCancel:
      why = "the logon needs a dialog (a password or profile choice) and the daemon shows none";
      break;
    case hr::kPasswordChangeRequired:
    case hr::kPasswordExpired:
      why = "the password of the profile's account must be changed";
      break;
    case hr::kNetworkError:
    case hr::kTimeout:
      return Error::Transient("MAPI logon to profile '" + std::string(profile) + "' failed with " +
                              hresult_name(code) + ": the server is not reachable");
    default:
      why = "see Control Panel > Mail > Show Profiles";
  }
  return Error::Permission("MAPI logon to profile '" + std::string(profile) + "' failed with " +
                           hresult_name(code) + ": " + why +
                           " (store.profile in the config names an existing Outlook profile)");
}

}  // namespace crmsync::mapi
