// MAPI's start-up entry points with results a test sets through fake_mapi_set, counting the
// calls (fake_mapi_counts). No session is ever returned: logon succeeds nowhere here.
#include <windows.h>

#include <cstring>

namespace {

long g_init_hr = 0;
long g_logon_hr = static_cast<long>(0x80040111);  // MAPI_E_LOGON_FAILED
int g_init_calls = 0;
int g_uninit_calls = 0;
int g_logon_calls = 0;
wchar_t g_profile[256] = {};
unsigned long g_init_flags = 0;   // MAPIINIT_0.ulFlags of the last MAPIInitialize
unsigned long g_logon_flags = 0;  // flags of the last MAPILogonEx

// MAPIINIT_0 as mapix.h lays it out: ulVersion, then ulFlags.
struct MapiInit {
  unsigned long version;
  unsigned long flags;
};

}  // namespace

extern "C" {

__declspec(dllexport) void fake_mapi_set(long init_hr, long logon_hr) {
  g_init_hr = init_hr;
  g_logon_hr = logon_hr;
  g_init_calls = g_uninit_calls = g_logon_calls = 0;
  g_profile[0] = 0;
}

__declspec(dllexport) void fake_mapi_counts(int* init, int* uninit, int* logon,
                                            const wchar_t** profile) {
  *init = g_init_calls;
  *uninit = g_uninit_calls;
  *logon = g_logon_calls;
  *profile = g_profile;
}

__declspec(dllexport) void fake_mapi_flags(unsigned long* init, unsigned long* logon) {
  *init = g_init_flags;
  *logon = g_logon_flags;
}

__declspec(dllexport) long WINAPI MAPIInitialize(void* init) {
  ++g_init_calls;
  g_init_flags = init ? static_cast<MapiInit*>(init)->flags : 0;
  return g_init_hr;
}

__declspec(dllexport) void WINAPI MAPIUninitialize() {
  ++g_uninit_calls;
}

__declspec(dllexport) long WINAPI
    MAPILogonEx(ULONG_PTR, wchar_t* profile, wchar_t*, ULONG flags, void** session) {
  ++g_logon_calls;
  g_logon_flags = flags;
  if (profile) wcsncpy(g_profile, profile, 255);
  *session = nullptr;
  return g_logon_hr;
}

__declspec(dllexport) ULONG WINAPI MAPIFreeBuffer(void*) {
  return 0;
}

__declspec(dllexport) long WINAPI MAPIAllocateBuffer(ULONG, void** out) {
  *out = nullptr;
  return static_cast<long>(0x8007000E);  // MAPI_E_NOT_ENOUGH_MEMORY
}

__declspec(dllexport) long WINAPI MAPIAllocateMore(ULONG, void*, void** out) {
  *out = nullptr;
  return static_cast<long>(0x8007000E);
}

}  // extern "C"
