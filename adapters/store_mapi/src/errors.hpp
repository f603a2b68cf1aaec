// MAPI's HRESULTs as crmsync errors (kinds chosen by what the caller does, STYLE.md 4-5), and
// the clear messages of a failed start: no MAPI, no provider, no such profile.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crmsync/model/result.hpp"

namespace crmsync::mapi {

// The MAPI codes the adapter meets ([MS-OXCDATA] 2.4, mapicode.h), as unsigned 32-bit values.
namespace hr {
inline constexpr std::uint32_t kOk = 0x00000000;
inline constexpr std::uint32_t kErrorsReturned = 0x00040380;  // MAPI_W_ERRORS_RETURNED
inline constexpr std::uint32_t kCallFailed = 0x80004005;      // MAPI_E_CALL_FAILED = E_FAIL
inline constexpr std::uint32_t kNoSupport = 0x80040102;
inline constexpr std::uint32_t kNotEnoughMemory = 0x8007000E;
inline constexpr std::uint32_t kInvalidParameter = 0x80070057;
inline constexpr std::uint32_t kNoAccess = 0x80070005;
inline constexpr std::uint32_t kInvalidEntryId = 0x80040107;
inline constexpr std::uint32_t kObjectChanged = 0x80040109;
inline constexpr std::uint32_t kObjectDeleted = 0x8004010A;
inline constexpr std::uint32_t kBusy = 0x8004010B;
inline constexpr std::uint32_t kNotFound = 0x8004010F;
inline constexpr std::uint32_t kLogonFailed = 0x80040111;
inline constexpr std::uint32_t kNetworkError = 0x80040115;
inline constexpr std::uint32_t kCorruptData = 0x8004011B;
inline constexpr std::uint32_t kNotInitialized = 0x80040605;
inline constexpr std::uint32_t kCollision = 0x80040604;
inline constexpr std::uint32_t kEndOfSession = 0x80040200;
inline constexpr std::uint32_t kUnknownEntryId = 0x80040201;
inline constexpr std::uint32_t kTimeout = 0x80040401;
inline constexpr std::uint32_t kUserCancel = 0x80040113;
inline constexpr std::uint32_t kUnconfigured = 0x8004011C;
inline constexpr std::uint32_t kFailOneProvider = 0x8004011D;
inline constexpr std::uint32_t kPasswordChangeRequired = 0x80040120;
inline constexpr std::uint32_t kPasswordExpired = 0x80040121;
}  // namespace hr

// "MAPI_E_NOT_FOUND", or "0x8004DEAD" for a code not in the table.
std::string hresult_name(std::uint32_t code);

// The error a failed MAPI call stands for, with `what` (the operation) and the code named:
// not found / deleted / invalid entry id -> kNotFound; object changed / collision ->
// kConflict; network, busy, timeout, end of session, out of memory -> kTransient; no access,
// logon failed, password -> kPermission; corrupt data -> kCorrupt; invalid parameter ->
// kInvalid; anything else -> kInternal.
Error error_of(std::uint32_t code, std::string_view what);

// A start that cannot work, said so that the user knows what to install or configure.
// The MAPI DLL is missing, or lacks an entry point (kPermission: stop until reconfigured).
Error library_missing(std::string_view library, std::string_view detail);
// MAPIInitialize failed: no Extended MAPI provider (Outlook) on this machine, usually.
Error initialize_failed(std::uint32_t code);
// MAPILogonEx failed for `profile`.
Error logon_failed(std::uint32_t code, std::string_view profile);

}  // namespace crmsync::mapi
