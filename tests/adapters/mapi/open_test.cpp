// open_mapi_store's start-up for real, without a mail profile: a missing MAPI DLL, a DLL
// without MAPI's entry points, the system's MAPI (under wine: no provider), and a MAPI whose
// initialization or logon fails (crmsync-fake-mapi.dll, next to this executable).
#include <catch2/catch.hpp>

#include <windows.h>

#include "crmsync/store_mapi/mapi_store.hpp"

using namespace crmsync;

namespace {

struct FakeMapi {
  HMODULE module = LoadLibraryW(L"crmsync-fake-mapi.dll");
  void (*set)(long, long) = nullptr;
  void (*counts)(int*, int*, int*, const wchar_t**) = nullptr;
  void (*flags)(unsigned long*, unsigned long*) = nullptr;
  FakeMapi() {
    REQUIRE(module != nullptr);
    set = reinterpret_cast<void (*)(long, long)>(
        reinterpret_cast<void*>(GetProcAddress(module, "fake_mapi_set")));
    counts = reinterpret_cast<void (*)(int*, int*, int*, const wchar_t**)>(
        reinterpret_cast<void*>(GetProcAddress(module, "fake_mapi_counts")));
    flags = reinterpret_cast<void (*)(unsigned long*, unsigned long*)>(
        reinterpret_cast<void*>(GetProcAddress(module, "fake_mapi_flags")));
    REQUIRE(set);
    REQUIRE(counts);
    REQUIRE(flags);
  }
  ~FakeMapi() { FreeLibrary(module); }
};

MapiStoreConfig config(std::string library, std::string profile = "crmsync test profile") {
  MapiStoreConfig c;
  c.profile = std::move(profile);
  c.library = std::move(library);
  return c;
}

Error open_error(const MapiStoreConfig& c) {
  FakeClock clock;
  auto r = open_mapi_store(c, clock);
  REQUIRE_FALSE(r.ok());
  INFO(r.error().describe());
  return r.error();
}

}  // namespace

TEST_CASE("MAPI open without a profile name is kInvalid", "[mapi][open]") {
  Error e = open_error(config("crmsync-fake-mapi.dll", ""));
  CHECK(e.is(ErrorKind::kInvalid));
  CHECK(e.message().find("store.profile") != std::string::npos);
}

TEST_CASE("MAPI open names a missing MAPI DLL", "[mapi][open]") {
  Error e = open_error(config("crmsync-no-such-mapi.dll"));
  CHECK(e.is(ErrorKind::kPermission));
  CHECK(e.message().find("MAPI is not available") != std::string::npos);
  CHECK(e.message().find("crmsync-no-such-mapi.dll") != std::string::npos);
  CHECK(e.message().find("Outlook") != std::string::npos);
}

TEST_CASE("MAPI open names the entry point a DLL lacks", "[mapi][open]") {
  Error e = open_error(config("kernel32.dll"));
  CHECK(e.is(ErrorKind::kPermission));
  CHECK(e.message().find("it has no MAPIInitialize") != std::string::npos);
}

TEST_CASE("MAPI open with the system MAPI and no such profile fails clearly", "[mapi][open]") {
  // Under wine mapi32.dll has no provider (MAPIInitialize fails); on a Windows with Outlook
  // the logon to a profile that does not exist fails. Either way the message says which.
  Error e = open_error(config("mapi32.dll", "crmsync no such profile 7f3a"));
  CHECK(e.is(ErrorKind::kPermission));
  const std::string& m = e.message();
  const bool no_provider = m.find("MAPIInitialize failed") != std::string::npos;
  const bool no_profile = m.find("profile 'crmsync no such profile 7f3a'") != std::string::npos;
  CHECK((no_provider || no_profile));
}

TEST_CASE("MAPI open reports a failed logon with the profile and undoes MAPIInitialize",
          "[mapi][open]") {
  FakeMapi fake;
  fake.set(0, static_cast<long>(0x80040111));  // MAPI_E_LOGON_FAILED
  Error e = open_error(config("crmsync-fake-mapi.dll", "Outlook \xC3\xA9t\xC3\xA9"));
  CHECK(e.is(ErrorKind::kPermission));
  CHECK(e.message().find("MAPI logon to profile 'Outlook \xC3\xA9t\xC3\xA9' failed with "
                         "MAPI_E_LOGON_FAILED") != std::string::npos);
  CHECK(e.message().find("no MAPI profile of that name") != std::string::npos);
  int init = 0, uninit = 0, logon = 0;
  const wchar_t* profile = nullptr;
  fake.counts(&init, &uninit, &logon, &profile);
  CHECK(init == 1);
  CHECK(uninit == 1);
  CHECK(logon == 1);
  CHECK(std::wstring(profile) == L"Outlook \u00E9t\u00E9");  // passed as Unicode (MAPI_UNICODE)
}

TEST_CASE("MAPI open reports a failed MAPIInitialize and does not log on", "[mapi][open]") {
  FakeMapi fake;
  fake.set(static_cast<long>(0x80040605), 0);  // MAPI_E_NOT_INITIALIZED
  Error e = open_error(config("crmsync-fake-mapi.dll"));
  CHECK(e.is(ErrorKind::kPermission));
  CHECK(e.message().find("MAPIInitialize failed with MAPI_E_NOT_INITIALIZED") != std::string::npos);
  int init = 0, uninit = 0, logon = 0;
  const wchar_t* profile = nullptr;
  fake.counts(&init, &uninit, &logon, &profile);
  CHECK(init == 1);
  CHECK(uninit == 0);
  CHECK(logon == 0);
}

TEST_CASE("MAPI open maps an unreachable server at logon to kTransient", "[mapi][open]") {
  FakeMapi fake;
  fake.set(0, static_cast<long>(0x80040115));  // MAPI_E_NETWORK_ERROR
  Error e = open_error(config("crmsync-fake-mapi.dll"));
  CHECK(e.is(ErrorKind::kTransient));
  CHECK(e.message().find("not reachable") != std::string::npos);
}

TEST_CASE(
    "MAPI_NT_SERVICE goes to MAPIInitialize and MAPILogonEx only when crmsyncd runs as a "
    "Windows service",
    "[mapi][open]") {
  constexpr unsigned long kNtService = 0x00010000;    // MAPI_NT_SERVICE, mapidefs.h
  constexpr unsigned long kMultithread = 0x00000001;  // MAPI_MULTITHREAD_NOTIFICATIONS
  FakeMapi fake;
  for (bool service : {false, true}) {
    INFO("windows_service " << service);
    fake.set(0, static_cast<long>(0x80040111));  // initialize ok, logon fails
    auto c = config("crmsync-fake-mapi.dll");
    c.windows_service = service;
    open_error(c);
    unsigned long init = 0, logon = 0;
    fake.flags(&init, &logon);
    CHECK((init & kMultithread) != 0);
    CHECK(((init & kNtService) != 0) == service);
    CHECK(((logon & kNtService) != 0) == service);
  }
}
