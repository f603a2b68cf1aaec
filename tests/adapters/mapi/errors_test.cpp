// MAPI's HRESULTs as crmsync error kinds, and the start-up messages.
#include <catch2/catch.hpp>

#include <windows.h>

#include <mapicode.h>
#include <mapidefs.h>

#include "errors.hpp"

using namespace crmsync;
using namespace crmsync::mapi;

TEST_CASE("MAPI codes are the mapicode.h values", "[mapi][errors]") {
  CHECK(hr::kNotFound == static_cast<std::uint32_t>(MAPI_E_NOT_FOUND));
  CHECK(hr::kObjectChanged == static_cast<std::uint32_t>(MAPI_E_OBJECT_CHANGED));
  CHECK(hr::kObjectDeleted == static_cast<std::uint32_t>(MAPI_E_OBJECT_DELETED));
  CHECK(hr::kLogonFailed == static_cast<std::uint32_t>(MAPI_E_LOGON_FAILED));
  CHECK(hr::kNotInitialized == static_cast<std::uint32_t>(MAPI_E_NOT_INITIALIZED));
  CHECK(hr::kNetworkError == static_cast<std::uint32_t>(MAPI_E_NETWORK_ERROR));
  CHECK(hr::kCallFailed == static_cast<std::uint32_t>(MAPI_E_CALL_FAILED));
  CHECK(hr::kNoAccess == static_cast<std::uint32_t>(MAPI_E_NO_ACCESS));
  CHECK(hr::kInvalidEntryId == static_cast<std::uint32_t>(MAPI_E_INVALID_ENTRYID));
  CHECK(hr::kUserCancel == static_cast<std::uint32_t>(MAPI_E_USER_CANCEL));
  CHECK(hr::kErrorsReturned == static_cast<std::uint32_t>(MAPI_W_ERRORS_RETURNED));
}

TEST_CASE("MAPI errors get the kind the caller acts on", "[mapi][errors]") {
  const std::pair<std::uint32_t, ErrorKind> cases[] = {
      {hr::kNotFound, ErrorKind::kNotFound},        {hr::kObjectDeleted, ErrorKind::kNotFound},
      {hr::kInvalidEntryId, ErrorKind::kNotFound},  {hr::kObjectChanged, ErrorKind::kConflict},
      {hr::kCollision, ErrorKind::kConflict},       {hr::kNetworkError, ErrorKind::kTransient},
      {hr::kBusy, ErrorKind::kTransient},           {hr::kTimeout, ErrorKind::kTransient},
      {hr::kEndOfSession, ErrorKind::kTransient},   {hr::kNoAccess, ErrorKind::kPermission},
      {hr::kLogonFailed, ErrorKind::kPermission},   {hr::kCorruptData, ErrorKind::kCorrupt},
      {hr::kInvalidParameter, ErrorKind::kInvalid}, {hr::kCallFailed, ErrorKind::kInternal},
      {0x8004DEADu, ErrorKind::kInternal},
  };
  for (const auto& [code, kind] : cases) {
    Error e = error_of(code, "SaveChanges");
    INFO(e.describe());
    CHECK(e.kind() == kind);
    CHECK(e.message().rfind("SaveChanges: ", 0) == 0);
  }
  CHECK(error_of(hr::kObjectChanged, "x").message() == "x: MAPI_E_OBJECT_CHANGED");
  CHECK(error_of(0x8004DEADu, "x").message() == "x: 0x8004DEAD");
  CHECK(error_of(hr::kNetworkError, "x").retryable());
  CHECK(error_of(hr::kNetworkError, "x").retry() == Retry::kWait);
}

TEST_CASE("MAPI start-up errors say what to install or configure", "[mapi][errors]") {
  Error missing = library_missing("mapi32.dll", "not found");
  CHECK(missing.is(ErrorKind::kPermission));
  CHECK(missing.message().find("MAPI is not available") != std::string::npos);
  CHECK(missing.message().find("mapi32.dll") != std::string::npos);
  CHECK(missing.message().find("Outlook") != std::string::npos);

  Error init = initialize_failed(hr::kNotInitialized);
  CHECK(init.is(ErrorKind::kPermission));
  CHECK(init.message().find("MAPIInitialize failed with MAPI_E_NOT_INITIALIZED") !=
        std::string::npos);

  Error logon = logon_failed(hr::kLogonFailed, "Outlook");
  CHECK(logon.is(ErrorKind::kPermission));
  CHECK(logon.message().find("profile 'Outlook'") != std::string::npos);
  CHECK(logon.message().find("no MAPI profile of that name") != std::string::npos);
  CHECK(logon_failed(hr::kUserCancel, "p").message().find("dialog") != std::string::npos);
  CHECK(logon_failed(hr::kNetworkError, "p").is(ErrorKind::kTransient));
}
